"""Where a transcript download's organizer and meeting ids come from: a notification's resource
path, the online meeting id itself, or the meeting's join URL."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from graph.types import MeetingRef

# users('{id}')/onlineMeetings('{id}')/transcripts('{id}'), with or without the quotes and
# parentheses (Graph writes both forms), also under communications/ for tenant-wide resources.
_SEGMENT = r"(?:\('(?P<{0}>[^']+)'\)|/(?P<{0}_bare>[^/()']+))"
_RESOURCE = re.compile(
    r"^/?(?:(?:users|Users)" + _SEGMENT.format("user") + r"/)?"
    r"(?:communications/)?(?:onlineMeetings|OnlineMeetings)" + _SEGMENT.format("meeting") + r"/"
    r"(?P<kind>transcripts|recordings)" + _SEGMENT.format("item") + r"$"
)


@dataclass(frozen=True)
class MediaPath:
    """What a notification's resource names: a transcript or a recording of a meeting."""

    kind: str  # "transcript" or "recording"
    item_id: str
    meeting_id: str
    organizer_id: str | None


def parse_media_resource(resource: str) -> MediaPath | None:
    """The transcript or recording a notification's ``resource`` names; None for anything
    else (a resource this service does not subscribe to)."""
    match = _RESOURCE.match(resource.strip())
    if match is None:
        return None
    parts = match.groupdict()
    meeting = parts["meeting"] or parts["meeting_bare"]
    item = parts["item"] or parts["item_bare"]
    user = parts["user"] or parts["user_bare"]
    kind = "transcript" if parts["kind"] == "transcripts" else "recording"
    return MediaPath(kind, item, meeting, user or organizer_from_meeting_id(meeting))


def organizer_from_meeting_id(meeting_id: str) -> str | None:
    """An online meeting id is base64 of ``1*{organizer object id}*0**{chat thread id}``."""
    padded = meeting_id + "=" * (-len(meeting_id) % 4)
    try:
        decoded = base64.b64decode(padded, altchars=b"-_", validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = decoded.split("*")
    if len(parts) >= 3 and parts[0] == "1" and _looks_like_guid(parts[1]):
        return parts[1]
    return None


def organizer_from_join_url(join_url: str) -> str | None:
    """Classic join URLs carry ``context={"Tid": ..., "Oid": organizer}``; the short
    ``/meet/`` form does not."""
    try:
        query = parse_qs(urlsplit(join_url).query)
    except ValueError:
        return None
    for raw in query.get("context", []):
        try:
            context = json.loads(unquote(raw))
        except ValueError:
            continue
        if isinstance(context, dict):
            oid = context.get("Oid")
            if isinstance(oid, str) and _looks_like_guid(oid):
                return oid
    return None


def meeting_ref(path: MediaPath) -> MeetingRef | None:
    if path.organizer_id is None:
        return None
    return MeetingRef(path.organizer_id, path.meeting_id)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _looks_like_guid(value: str) -> bool:
    return bool(_GUID.match(value))
