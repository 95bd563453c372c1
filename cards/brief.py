"""The brief before a customer meeting: the meeting, the last conversations, the promises due
and the other open tasks on both sides, and the people, each item with the call it comes from.

Plain data in (``Brief``), a card out. The day the brief is for (``Brief.today``, in the rep's
time zone) decides which promises are due; nothing here reads the clock. Every list is capped
and every text clipped, so the card stays far below Teams' message limit whatever it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cards.elements import (
    Element,
    action_set,
    card,
    column,
    columns,
    container,
    open_url,
    plain,
    span,
    text,
)
from cards.wording import client_time, due_label, local_time

MAX_CALLS = 3
MAX_TASKS = 12
MAX_PEOPLE = 12
# A promise is due when its date is at most this many days away (or past).
DUE_WITHIN_DAYS = 7
MAX_TEXT = 300


@dataclass(frozen=True)
class BriefMeeting:
    subject: str | None
    # ISO 8601, aware.
    start: str


@dataclass(frozen=True)
class BriefCall:
    """One of the last conversations: when, the note's first sentence, its review page."""

    run_id: str
    started: str | None
    # The zone its date is shown in: the rep's when known, else the call's own.
    zone: str
    sentence: str
    review_url: str | None = None


@dataclass(frozen=True)
class BriefTask:
    """An open task of a call: ``ours`` for the rep's side, else the customer's commitment."""

    title: str
    ours: bool
    owner: str
    due_date: str | None
    call_started: str | None
    zone: str


@dataclass(frozen=True)
class BriefPerson:
    name: str
    email: str
    # Earlier calls (that the rep may see) they were on, and the latest of them.
    calls: int = 0
    last_call: str | None = None
    zone: str = "UTC"


@dataclass(frozen=True)
class Brief:
    customer: str
    today: date
    meeting: BriefMeeting | None = None
    # The rep's time zone, when known; the meeting's time is then shown in it.
    zone: str | None = None
    calls: Sequence[BriefCall] = ()
    tasks: Sequence[BriefTask] = ()
    people: Sequence[BriefPerson] = ()

    @property
    def knows_something(self) -> bool:
        """Whether there is anything to brief on: a conversation or an open task."""
        return bool(self.calls or self.tasks)


def build_brief_card(brief: Brief) -> dict[str, Any]:
    customer = _clip(brief.customer)
    heading = f"Before your meeting with {customer}" if brief.meeting else f"Brief: {customer}"
    body: list[Element] = [plain(span(heading, weight="bolder", size="large"))]
    if brief.meeting is not None:
        body.extend(_meeting(brief.meeting, brief.zone))
    body.extend(_calls(brief.calls))
    due, rest = _split(brief.tasks, brief.today)
    body.extend(_tasks("Promises due", due, customer, brief.today))
    body.extend(_tasks("Open tasks", rest, customer, brief.today))
    body.extend(_people(brief.people, bool(brief.meeting)))
    if not brief.knows_something:
        body.append(text("No earlier calls with them that you can see.", subtle=True))
    body.append(
        text(
            "From your Smart Notes calls. The notes are AI generated: open a call to check.",
            size="small",
            subtle=True,
        )
    )
    return card(body, fallback_text=f"{heading}: last calls, open tasks and people.")


def _section(title: str) -> Element:
    return text(title, weight="bolder", spacing="medium")


def _meeting(meeting: BriefMeeting, zone: str | None) -> list[Element]:
    when = local_time(meeting.start, zone) if zone else client_time(meeting.start)
    items: list[Element] = []
    if meeting.subject:
        items.append(plain(span(_clip(meeting.subject), weight="bolder")))
    items.append(text(when, size="small", subtle=True, spacing="none"))
    return items


def _calls(calls: Sequence[BriefCall]) -> list[Element]:
    if not calls:
        return []
    rows: list[Element] = [_section("Last conversations")]
    for call in calls[:MAX_CALLS]:
        details: list[Element] = [
            text(_day(call.started, call.zone) or "Date unknown", size="small", subtle=True),
            plain(_clip(call.sentence) or "No note yet.", spacing="none"),
        ]
        cols = [column(details)]
        if call.review_url:
            cols.append(column([action_set([open_url("Open", call.review_url)])], "auto"))
        rows.append(container([columns(*cols)], separator=True))
    return rows


def _split(tasks: Sequence[BriefTask], today: date) -> tuple[list[BriefTask], list[BriefTask]]:
    """Promises due (soonest first), then the rest (by due date, undated last); at most
    ``MAX_TASKS`` in all, the due ones first."""
    horizon = today + timedelta(days=DUE_WITHIN_DAYS)
    due: list[BriefTask] = []
    rest: list[BriefTask] = []
    for task in tasks:
        deadline = _date(task.due_date)
        (due if deadline is not None and deadline <= horizon else rest).append(task)
    due.sort(key=lambda t: t.due_date or "")
    rest.sort(key=lambda t: (t.due_date is None, t.due_date or ""))
    due = due[:MAX_TASKS]
    return due, rest[: MAX_TASKS - len(due)]


def _tasks(title: str, tasks: Sequence[BriefTask], customer: str, today: date) -> list[Element]:
    if not tasks:
        return []
    rows: list[Element] = [_section(title)]
    for task in tasks:
        deadline = _date(task.due_date)
        if deadline is not None and deadline < today:
            label = span(
                f"Overdue (due {deadline:%a %d %b %Y})", weight="bolder", color="attention"
            )
        elif deadline is not None and deadline <= today + timedelta(days=DUE_WITHIN_DAYS):
            label = span(due_label(task.due_date), weight="bolder", color="warning")
        else:
            label = span(due_label(task.due_date), subtle=True)
        side = "Your side" if task.ours else "Their side"
        owner = f" ({_clip(task.owner, 80)})" if task.owner else ""
        source = (
            f" · from the call on {_day(task.call_started, task.zone)}" if task.call_started else ""
        )
        rows.append(
            container(
                [
                    plain(span(_clip(task.title), weight="bolder")),
                    plain(
                        label, " · ", span(f"{side}{owner}{source}", subtle=True), spacing="none"
                    ),
                ],
                separator=True,
            )
        )
    return rows


def _people(people: Sequence[BriefPerson], meeting: bool) -> list[Element]:
    if not people:
        return []
    rows: list[Element] = [_section("Who's coming" if meeting else "People on your calls")]
    for person in people[:MAX_PEOPLE]:
        if person.calls:
            last = _day(person.last_call, person.zone)
            seen = f"on {_calls_count(person.calls)}" + (f", last {last}" if last else "")
        else:
            seen = "not on an earlier call"
        name = _clip(person.name or person.email, 120)
        rows.append(
            plain(span(name, weight="bolder"), " · ", span(seen, subtle=True), spacing="none")
        )
    return rows


def _calls_count(count: int) -> str:
    return "1 earlier call" if count == 1 else f"{count} earlier calls"


def _day(iso: str | None, zone: str) -> str:
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return iso[:10]
    return f"{local:%a %d %b %Y}"


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _clip(value: str, limit: int = MAX_TEXT) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"
