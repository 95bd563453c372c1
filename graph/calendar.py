"""A user's calendar view as plain values: what ``GET /users/{id}/calendarView`` answers
("List calendarView", Microsoft Graph v1.0), read from the SDK's ``event`` models.

Only the fields in :data:`EVENT_FIELDS` are asked for (``$select``). Times are asked for in UTC
(``Prefer: outlook.timezone="UTC"``); a zone Graph answers in anyway is converted from its
Windows or IANA name. Rooms and other resources among the attendees are left out: they are
not people.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from tzlocal.windows_tz import win_tz

from graph.types import CalendarEvent, EventPerson, GraphError

EVENT_FIELDS = ("id", "iCalUId", "subject", "start", "end", "isCancelled", "organizer", "attendees")
# Asked on every page: nextLinks carry the query, not the headers.
PREFER_UTC = 'outlook.timezone="UTC"'


def graph_window(moment: datetime) -> str:
    """A window bound as the calendar view takes it: ISO 8601 with its offset."""
    if moment.tzinfo is None:
        raise ValueError("the calendar window must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calendar_event(item: Event) -> CalendarEvent:
    if not item.id:
        raise GraphError(200, "malformedResponse", "a calendar event without an id")
    start, end = _moment(item.start), _moment(item.end)
    if start is None or end is None:
        raise GraphError(200, "malformedResponse", f"event {item.id} without its start or end")
    organizer = item.organizer
    return CalendarEvent(
        id=item.id,
        uid=item.i_cal_u_id or item.id,
        start=start,
        end=end,
        subject=item.subject,
        cancelled=bool(item.is_cancelled),
        organizer=_person(organizer.email_address) if organizer is not None else None,
        attendees=tuple(
            person for person in (_attendee(a) for a in item.attendees or []) if person is not None
        ),
    )


def _attendee(attendee: Attendee) -> EventPerson | None:
    if attendee.type == AttendeeType.Resource:
        return None
    return _person(attendee.email_address)


def _person(address: EmailAddress | None) -> EventPerson | None:
    email = (address.address or "").strip().lower() if address is not None else ""
    if "@" not in email:
        return None
    name = (address.name or "").strip() if address is not None else ""
    return EventPerson(email=email, name=name or None)


def _moment(value: DateTimeTimeZone | None) -> datetime | None:
    """A ``dateTimeTimeZone`` as an aware UTC datetime."""
    if value is None or not value.date_time:
        return None
    try:
        local = datetime.fromisoformat(value.date_time)
    except ValueError:
        raise GraphError(
            200, "malformedResponse", f"an event time {value.date_time!r} is not ISO 8601"
        ) from None
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    zone = value.time_zone or "UTC"
    try:
        return local.replace(tzinfo=ZoneInfo(win_tz.get(zone, zone))).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            200, "malformedResponse", f"an event in an unknown zone {zone!r}"
        ) from None
