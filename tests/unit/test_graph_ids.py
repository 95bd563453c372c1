"""Where the organizer and meeting ids of a transcript come from."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from graph.ids import (
    MediaPath,
    organizer_from_join_url,
    organizer_from_meeting_id,
    parse_media_resource,
)

ORGANIZER = "420b90d4-6a7b-4c5e-9f1d-2b3c4d5e6f70"
THREAD = "19:meeting_MjdhNjM4YzUtYzExZi00OTFkLTkzZTAtNTVlNmZmMDhkNGU2@thread.v2"


def meeting_id(organizer: str = ORGANIZER) -> str:
    return base64.b64encode(f"1*{organizer}*0**{THREAD}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "resource",
    [
        "users('{u}')/onlineMeetings('{m}')/transcripts('T1')",
        "users/{u}/onlineMeetings/{m}/transcripts/T1",
        "/users('{u}')/onlineMeetings('{m}')/transcripts('T1')",
    ],
)
def test_user_scoped_transcript_resources(resource: str) -> None:
    path = parse_media_resource(resource.format(u=ORGANIZER, m=meeting_id()))
    assert path == MediaPath("transcript", "T1", meeting_id(), ORGANIZER)


def test_tenant_scoped_resource_takes_the_organizer_from_the_meeting_id() -> None:
    path = parse_media_resource(f"communications/onlineMeetings('{meeting_id()}')/recordings('R9')")
    assert path == MediaPath("recording", "R9", meeting_id(), ORGANIZER)


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "users('x')/events('y')",
        "chats('19:abc')/messages('1')",
        "users('x')/onlineMeetings('y')/transcripts('z')/content",
        "users('x')/onlineMeetings('y')/attendanceReports('z')",
    ],
)
def test_other_resources_are_not_media(resource: str) -> None:
    assert parse_media_resource(resource) is None


def test_meeting_id_that_is_not_the_encoded_form_names_no_organizer() -> None:
    assert organizer_from_meeting_id("not base64 at all!") is None
    assert organizer_from_meeting_id(base64.b64encode(b"2*abc*0**x").decode()) is None
    assert organizer_from_meeting_id(base64.b64encode(b"\xff\xfe").decode()) is None


def test_classic_join_url_carries_the_organizer() -> None:
    context = quote(json.dumps({"Tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "Oid": ORGANIZER}))
    url = f"https://teams.microsoft.com/l/meetup-join/{quote(THREAD)}/0?context={context}"
    assert organizer_from_join_url(url) == ORGANIZER


@pytest.mark.parametrize(
    "url",
    [
        "https://teams.microsoft.com/meet/2481234567?p=abcdef",
        "https://teams.microsoft.com/l/meetup-join/x/0?context=not-json",
        "https://teams.microsoft.com/l/meetup-join/x/0?context=%7B%22Oid%22%3A%2042%7D",
        "https://teams.microsoft.com/l/meetup-join/x/0?context=%7B%22Oid%22%3A%22me%22%7D",
    ],
)
def test_join_urls_without_a_usable_organizer(url: str) -> None:
    assert organizer_from_join_url(url) is None
