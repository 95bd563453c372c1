"""A user's calendar view through GraphClient and the real msgraph-sdk, against the local
Graph; and the local Graph refusing what Graph refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import pytest_asyncio
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.event import Event

from graph.calendar import EVENT_FIELDS, calendar_event
from graph.client import GraphClient
from graph.types import CalendarEvent, EventPerson, GraphAuthError
from tests.fakes.graph import FakeGraph
from tests.protocol.test_graph_client import _client

REP = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as graph:
        yield graph


@pytest_asyncio.fixture
async def graph(fake: FakeGraph) -> AsyncIterator[GraphClient]:
    async with _client(fake) as client:
        yield client


async def test_every_page_of_the_window_comes_back_in_utc(
    fake: FakeGraph, graph: GraphClient
) -> None:
    added = [
        fake.calendar.add_event(
            REP,
            NOW + timedelta(minutes=10 * i),
            subject=f"Call {i}",
            organizer=("maria@northwind.test", "Maria Chen"),
            attendees=[("Daniel@Contoso.example", "Daniel Ortiz")],
            rooms=[("room-4@northwind.test", "Room 4")],
        )
        for i in range(5)
    ]
    fake.calendar.add_event(REP, NOW + timedelta(hours=5), subject="Later")
    fake.calendar.add_event("someone-else", NOW, subject="Not theirs")

    found = await graph.calendar_view(REP, NOW, NOW + timedelta(hours=1), page_size=2)

    assert [e.subject for e in found] == [f"Call {i}" for i in range(5)]
    first = found[0]
    assert first == CalendarEvent(
        id=added[0].id,
        uid=added[0].ical_uid,
        start=NOW,
        end=NOW + timedelta(minutes=30),
        subject="Call 0",
        cancelled=False,
        organizer=EventPerson("maria@northwind.test", "Maria Chen"),
        # The room is a resource, not a person.
        attendees=(EventPerson("daniel@contoso.example", "Daniel Ortiz"),),
    )
    assert first.start.tzinfo is not None
    requests = fake.calls("GET", contains="/calendarView")
    assert len(requests) == 3, "five events in pages of two"
    assert fake.calendar.asked_zones == ["UTC", "UTC", "UTC"], "every page asked for UTC"
    query = requests[0].query
    assert query["startDateTime"] == "2026-12-01T14:00:00Z"
    assert query["endDateTime"] == "2026-12-01T15:00:00Z"
    assert query["$select"].split(",") == list(EVENT_FIELDS)
    assert query["$top"] == "2"
    # Later pages are the nextLink as Graph gave it: the same window and selection.
    assert requests[2].query["$skip"] == "4"
    assert requests[2].query["$select"] == query["$select"]


async def test_times_in_another_zone_are_read_back_to_utc(fake: FakeGraph) -> None:
    fake.calendar.add_event(REP, NOW, subject="Berlin")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{fake.base_url}/users/{REP}/calendarView",
            params={"startDateTime": "2026-12-01T13:00:00Z", "endDateTime": "2026-12-01T16:00:00Z"},
            headers={
                "Authorization": f"Bearer {await _token(fake)}",
                "Prefer": 'outlook.timezone="W. Europe Standard Time"',
            },
        ) as response,
    ):
        body = await response.json()
        assert response.headers["Preference-Applied"] == (
            'outlook.timezone="W. Europe Standard Time"'
        )
    [event] = body["value"]
    assert event["start"] == {
        "dateTime": "2026-12-01T15:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    # Without $select, the whole event.
    assert {"body", "webLink"} <= set(event)
    # The SDK's own model of it, read as the client reads every page.
    parsed = JsonParseNode(event).get_object_value(Event)
    assert calendar_event(parsed).start == NOW


async def _token(fake: FakeGraph) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            fake.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ) as response,
    ):
        token: str = (await response.json())["access_token"]
        return token


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"endDateTime": "2026-12-01T15:00:00Z"}, 400, "ErrorInvalidParameter"),
        ({"startDateTime": "2026-12-01T14:00:00Z"}, 400, "ErrorInvalidParameter"),
        (
            {"startDateTime": "tomorrow", "endDateTime": "2026-12-01T15:00:00Z"},
            400,
            "ErrorInvalidParameter",
        ),
        (
            {
                "startDateTime": "2026-12-01T14:00:00Z",
                "endDateTime": "2026-12-01T15:00:00Z",
                "$select": "subject,attendeez",
            },
            400,
            "RequestBroker--ParseUri",
        ),
    ],
)
async def test_the_local_graph_refuses_what_graph_refuses(
    fake: FakeGraph, params: dict[str, str], status: int, code: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{fake.base_url}/users/{REP}/calendarView",
            params=params,
            headers={"Authorization": f"Bearer {await _token(fake)}"},
        ) as response,
    ):
        assert response.status == status
        assert (await response.json())["error"]["code"] == code


async def test_no_token_and_no_permission_are_refused(fake: FakeGraph, graph: GraphClient) -> None:
    window = {"startDateTime": "2026-12-01T14:00:00Z", "endDateTime": "2026-12-01T15:00:00Z"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.base_url}/users/{REP}/calendarView", params=window) as response,
    ):
        assert response.status == 401
    fake.calendar.granted = False
    with pytest.raises(GraphAuthError) as refused:
        await graph.calendar_view(REP, NOW, NOW + timedelta(hours=1))
    assert refused.value.status == 403
