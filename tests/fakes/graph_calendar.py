"""The calendars of the local Graph: ``GET /v1.0/users/{id}/calendarView`` as "List
calendarView" (Microsoft Graph v1.0) documents it, mounted by ``FakeGraph``.

- ``startDateTime`` and ``endDateTime`` are required (ISO 8601; no offset means UTC); without
  them Graph answers 400 ``ErrorInvalidParameter``. Every event, occurrence and exception that
  overlaps the window is listed, in start order.
- The app needs ``Calendars.Read`` (or ``Calendars.ReadBasic``): ``granted`` false answers
  403 ``ErrorAccessDenied``.
- ``$select`` names the properties returned (``id`` and ``@odata.etag`` always come); a name
  the event resource does not have is a 400. Without it the whole event comes back.
- ``Prefer: outlook.timezone="..."`` (a Windows or IANA zone) sets the zone of ``start`` and
  ``end`` and is echoed in ``Preference-Applied``; without it they are in UTC.
- Pages of ``$top`` events (Graph's default is 10), an ``@odata.nextLink`` with ``$skip``
  that keeps the rest of the query.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from tzlocal.windows_tz import win_tz

from tests.fakes.graph_support import graph_error

WINDOW_REQUIRED = (
    "This request requires a time window specified by the query string parameters "
    "StartDateTime and EndDateTime."
)
MAX_PAGE = 1000


@dataclass
class StoredEvent:
    user_id: str
    id: str
    ical_uid: str
    start: datetime
    end: datetime
    subject: str | None
    cancelled: bool
    organizer: tuple[str, str | None]
    is_organizer: bool = False
    # (address, name, "required" / "optional" / "resource")
    attendees: list[tuple[str, str | None, str]] = field(default_factory=list)


class Calendars:
    """Every user's calendar; ``add_event`` puts an event in one."""

    def __init__(self, *, page_size: int = 10) -> None:
        self.page_size = page_size
        # Whether the app was granted Calendars.Read.
        self.granted = True
        self._events: dict[str, StoredEvent] = {}
        # The zone each request asked for with ``Prefer: outlook.timezone`` (None: none).
        self.asked_zones: list[str | None] = []

    def add_event(
        self,
        user_id: str,
        start: datetime,
        *,
        minutes: int = 30,
        subject: str | None = "Customer call",
        organizer: tuple[str, str | None] | None = None,
        attendees: list[tuple[str, str | None]] | None = None,
        rooms: list[tuple[str, str | None]] | None = None,
        cancelled: bool = False,
        ical_uid: str | None = None,
    ) -> StoredEvent:
        """An event in ``user_id``'s calendar; ``attendees`` and ``organizer`` are ``(address,
        display name)``; ``rooms`` are attendees of type resource."""
        if start.tzinfo is None:
            raise ValueError("events start at an aware time")
        event_id = "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(60)).decode()
        event = StoredEvent(
            user_id=user_id,
            id=event_id,
            ical_uid=ical_uid or "040000008200E00074C5B7101A82E008" + secrets.token_hex(40).upper(),
            start=start,
            end=start + timedelta(minutes=minutes),
            subject=subject,
            cancelled=cancelled,
            organizer=organizer or (f"{user_id}@organizer.test", None),
            is_organizer=organizer is None,
            attendees=[(a, n, "required") for a, n in attendees or []]
            + [(a, n, "resource") for a, n in rooms or []],
        )
        self._events[event_id] = event
        return event

    async def view(self, request: web.Request, base_url: str) -> web.Response:
        if not self.granted:
            return graph_error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        query = {key.lower(): value for key, value in request.query.items()}
        raw_start, raw_end = query.get("startdatetime"), query.get("enddatetime")
        if not raw_start or not raw_end:
            return graph_error(400, "ErrorInvalidParameter", WINDOW_REQUIRED)
        start, end = _bound(raw_start), _bound(raw_end)
        if start is None or end is None:
            raw, name = (raw_start, "StartDateTime") if start is None else (raw_end, "EndDateTime")
            return graph_error(
                400, "ErrorInvalidParameter", f"The value '{raw}' of parameter '{name}' is invalid."
            )
        selected = _selection(query.get("$select"))
        if isinstance(selected, web.Response):
            return selected
        top, skip = query.get("$top"), query.get("$skip", "0")
        if (top is not None and not top.isdigit()) or not skip.isdigit():
            return graph_error(400, "BadRequest", "$top and $skip must be whole numbers.")
        size = min(int(top), MAX_PAGE) if top is not None else self.page_size
        asked, zone_name, zone = _preferred_zone(request.headers.getall("Prefer", []))
        self.asked_zones.append(asked)
        user = request.match_info["uid"]
        events = sorted(
            (
                e
                for e in self._events.values()
                if e.user_id == user and e.start < end and e.end > start
            ),
            key=lambda e: (e.start, e.id),
        )
        offset = int(skip)
        page = events[offset : offset + max(size, 1)]
        body: dict[str, Any] = {
            "@odata.context": f"{base_url}/$metadata#users('{user}')/calendarView",
            "value": [_shown(_event_json(e, zone_name, zone), selected) for e in page],
        }
        if offset + size < len(events):
            following = {**request.query, "$skip": str(offset + size)}
            body["@odata.nextLink"] = str(request.url.with_query(following))
        headers = {"Preference-Applied": f'outlook.timezone="{zone_name}"'}
        return web.json_response(body, headers=headers)


def _bound(raw: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _preferred_zone(values: list[str]) -> tuple[str | None, str, ZoneInfo]:
    """The zone ``Prefer: outlook.timezone`` asks for, and the one applied: UTC when none, or
    one Graph does not know, is named."""
    for value in values:
        for part in value.split(","):
            name, _, wanted = part.strip().partition("=")
            if name.strip().lower() != "outlook.timezone":
                continue
            zone = wanted.strip().strip('"')
            try:
                return zone, zone, ZoneInfo(win_tz.get(zone, zone))
            except (ZoneInfoNotFoundError, ValueError):
                return zone, "UTC", ZoneInfo("UTC")
    return None, "UTC", ZoneInfo("UTC")


def _when(moment: datetime, zone_name: str, zone: ZoneInfo) -> dict[str, str]:
    local = moment.astimezone(zone)
    # Graph writes the zone's wall time with seven fractional digits and no offset.
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0", "timeZone": zone_name}


def _address(address: str, name: str | None) -> dict[str, Any]:
    return {"emailAddress": {"name": name or address, "address": address}}


def _event_json(event: StoredEvent, zone_name: str, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{base64.b64encode(event.id[-12:].encode()).decode()}"',
        "id": event.id,
        "createdDateTime": "2026-11-01T09:00:00.0000000Z",
        "lastModifiedDateTime": "2026-11-01T09:00:00.0000000Z",
        "iCalUId": event.ical_uid,
        "subject": event.subject,
        "bodyPreview": "",
        "body": {"contentType": "html", "content": ""},
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": event.cancelled,
        "isOrganizer": event.is_organizer,
        "showAs": "free" if event.cancelled else "busy",
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}",
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
        "start": _when(event.start, zone_name, zone),
        "end": _when(event.end, zone_name, zone),
        "location": {"displayName": "Microsoft Teams Meeting"},
        "organizer": _address(*event.organizer),
        "attendees": [
            {
                "type": kind,
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                **_address(address, name),
            }
            for address, name, kind in event.attendees
        ],
    }


# Every property the fake's events carry, as Graph spells it; $select matches them in any case.
_SAMPLE = StoredEvent(
    "u", "id", "uid", datetime.now(UTC), datetime.now(UTC), None, False, ("a@b", None)
)
_PROPERTIES = {
    name.lower(): name
    for name in _event_json(_SAMPLE, "UTC", ZoneInfo("UTC"))
    if not name.startswith("@")
}


def _selection(raw: str | None) -> list[str] | web.Response | None:
    if raw is None:
        return None
    chosen: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        known = _PROPERTIES.get(name.lower())
        if known is None:
            return graph_error(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.event'.",
            )
        chosen.append(known)
    return chosen


def _shown(event: dict[str, Any], selected: list[str] | None) -> dict[str, Any]:
    if selected is None:
        return event
    keep = {"@odata.etag", "id", *selected}
    return {key: value for key, value in event.items() if key in keep}
