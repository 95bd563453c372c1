"""What the success metrics are computed from: a tenant's recorded activity over a time range,
loaded in a few queries (runs, tasks, feedback, review actions, seat changes, skipped calls)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.runs.gate import Skip
from smartnotes.storage.models import (
    AuditEntry,
    EvalScore,
    Feedback,
    Run,
    RunTask,
    Seat,
    TaskStatus,
    Tenant,
    User,
)

# What a rep does when they work with their notes: edit the summary, change, accept or reject
# a task, have the tasks made again, save. Opening or liking alone is not working with them.
REVIEW_ACTIONS = (
    "summary_edited",
    "task_edited",
    "task_accepted",
    "task_rejected",
    "tasks_accepted",
    "tasks_retriggered",
    "changed_after_save",
    "save_requested",
)
_SEAT_ACTIONS = ("seat_added", "seat_removed")


@dataclass
class Person:
    id: str
    email: str
    name: str
    enabled: bool
    seated: bool
    cohort: str | None
    # When the rep held a seat: [from, to) intervals, the last one open when still seated.
    seat_spans: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def seated_at(self, when: datetime) -> bool:
        return any(start <= when and (end is None or when < end) for start, end in self.seat_spans)


@dataclass(frozen=True)
class CallRow:
    owner_id: str
    at: datetime
    generated: str | None
    edited: str | None
    extractor: str | None
    tasks: int
    accepted: int
    rejected: int
    changed: int


@dataclass(frozen=True)
class FeedbackRow:
    user_id: str
    run_id: str
    at: datetime
    target: str
    rating: str
    comment: str
    extractor: str | None


@dataclass
class History:
    tenant_enabled: bool
    people: dict[str, Person]
    calls: list[CallRow]
    feedback: list[FeedbackRow]
    # (user id, when) of every review action by a rep of the tenant on one of its runs.
    reviews: list[tuple[str, datetime]]
    # (user id, when) of every call the rep opted out of.
    opted_out: list[tuple[str, datetime]]
    evaluation: dict[str, Any] | None

    @cached_property
    def calls_by_owner(self) -> dict[str, list[CallRow]]:
        found: dict[str, list[CallRow]] = defaultdict(list)
        for call in self.calls:
            found[call.owner_id].append(call)
        return found

    @cached_property
    def reviews_by_user(self) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = defaultdict(list)
        for who, at in self.reviews:
            found[who].append(at)
        return found

    def call_days(self, person_id: str, start: datetime, end: datetime) -> set[date]:
        return {c.at.date() for c in self.calls_by_owner.get(person_id, ()) if start <= c.at < end}

    def review_days(self, person_id: str, start: datetime, end: datetime) -> set[date]:
        return {at.date() for at in self.reviews_by_user.get(person_id, ()) if start <= at < end}


class UnknownTenantError(LookupError):
    """No tenant of that id."""


async def load(session: AsyncSession, tenant_id: str, since: datetime) -> History:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise UnknownTenantError(f"no tenant {tenant_id}")
    people = await _people(session, tenant_id)
    by_email = {person.email: person for person in people.values()}
    await _seat_history(session, tenant_id, by_email)
    runs = (
        select(Run.id).where(Run.tenant_id == tenant_id, Run.created_at >= since).scalar_subquery()
    )
    return History(
        tenant_enabled=tenant.enabled,
        people=people,
        calls=await _calls(session, tenant_id, since, runs),
        feedback=await _feedback(session, tenant_id, since),
        reviews=await _reviews(session, tenant_id, since, by_email),
        opted_out=await _opted_out(session, tenant_id, since, by_email),
        evaluation=await _evaluation(session, tenant_id),
    )


async def _people(session: AsyncSession, tenant_id: str) -> dict[str, Person]:
    rows = await session.execute(
        select(User, Seat)
        .outerjoin(Seat, (Seat.user_id == User.id) & (Seat.tenant_id == User.tenant_id))
        .where(User.tenant_id == tenant_id)
    )
    people: dict[str, Person] = {}
    for user, seat in rows:
        person = Person(
            id=user.id,
            email=user.email,
            name=user.display_name,
            enabled=user.enabled,
            seated=seat is not None,
            cohort=seat.cohort if seat is not None else None,
        )
        if seat is not None:
            person.seat_spans.append((seat.granted_at, None))
        people[user.id] = person
    return people


async def _seat_history(session: AsyncSession, tenant_id: str, by_email: dict[str, Person]) -> None:
    """Seats held in the past, from the audit log (a removed seat's row is gone). Entries
    name the tenant since it was recorded; older ones are matched by the user's e-mail."""
    rows = await session.execute(
        select(AuditEntry.at, AuditEntry.action, AuditEntry.detail)
        .where(AuditEntry.action.in_(_SEAT_ACTIONS))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    events: dict[str, list[tuple[datetime, str]]] = {}
    for at, action, detail in rows:
        if detail.get("tenant", tenant_id) != tenant_id:
            continue
        person = by_email.get(str(detail.get("user", "")))
        if person is not None:
            events.setdefault(person.id, []).append((at, action))
    for person in by_email.values():
        spans: list[tuple[datetime, datetime | None]] = []
        opened: datetime | None = None
        for at, action in events.get(person.id, []):
            if action == "seat_added" and opened is None:
                opened = at
            elif action == "seat_removed":
                spans.append((opened or at, at))
                opened = None
        if person.seated:
            start = (
                person.seat_spans[0][0] if opened is None else min(opened, person.seat_spans[0][0])
            )
            spans.append((start, None))
        person.seat_spans = spans


async def _calls(
    session: AsyncSession, tenant_id: str, since: datetime, runs: Any
) -> list[CallRow]:
    counts: dict[str, list[int]] = {}
    for run_id, status, edited in await session.execute(
        # The edited column is JSON: an unedited task holds JSON null, not SQL NULL, so the
        # test is made on the loaded value.
        select(RunTask.run_id, RunTask.status, RunTask.edited).where(RunTask.run_id.in_(runs))
    ):
        tally = counts.setdefault(run_id, [0, 0, 0, 0])
        tally[0] += 1
        tally[1] += status in (TaskStatus.ACCEPTED, TaskStatus.WRITTEN)
        tally[2] += status == TaskStatus.REJECTED
        tally[3] += edited is not None
    rows = await session.execute(
        select(
            Run.id,
            Run.owner_id,
            Run.created_at,
            Run.summary_generated,
            Run.summary_edited,
            Run.extractor,
        ).where(Run.tenant_id == tenant_id, Run.created_at >= since)
    )
    return [
        CallRow(owner, at, generated, edited, extractor, *counts.get(run_id, [0, 0, 0, 0]))
        for run_id, owner, at, generated, edited, extractor in rows
    ]


async def _feedback(session: AsyncSession, tenant_id: str, since: datetime) -> list[FeedbackRow]:
    rows = await session.execute(
        select(
            Feedback.user_id,
            Feedback.run_id,
            Feedback.created_at,
            Feedback.target,
            Feedback.rating,
            Feedback.comment,
            Run.extractor,
        )
        .join(Run, Run.id == Feedback.run_id)
        .where(Run.tenant_id == tenant_id, Feedback.created_at >= since)
    )
    return [FeedbackRow(*row) for row in rows]


async def _reviews(
    session: AsyncSession, tenant_id: str, since: datetime, by_email: dict[str, Person]
) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        select(AuditEntry.actor, AuditEntry.at)
        .join(Run, Run.id == AuditEntry.run_id)
        .where(
            Run.tenant_id == tenant_id,
            AuditEntry.at >= since,
            AuditEntry.action.in_(REVIEW_ACTIONS),
        )
    )
    return [(by_email[actor].id, at) for actor, at in rows if actor in by_email]


async def _opted_out(
    session: AsyncSession, tenant_id: str, since: datetime, by_email: dict[str, Person]
) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        select(AuditEntry.at, AuditEntry.detail).where(
            AuditEntry.action == "call_skipped", AuditEntry.at >= since
        )
    )
    found = []
    for at, detail in rows:
        person = by_email.get(str(detail.get("user", "")))
        if (
            detail.get("tenant") == tenant_id
            and detail.get("reason") == str(Skip.CALL_OPTED_OUT)
            and person is not None
        ):
            found.append((person.id, at))
    return found


async def _evaluation(session: AsyncSession, tenant_id: str) -> dict[str, Any] | None:
    latest = (
        await session.execute(
            select(EvalScore)
            .where(EvalScore.tenant_id == tenant_id)
            .order_by(EvalScore.at.desc(), EvalScore.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if latest is None:
        return None
    return {"score": latest.score, "calls": latest.calls, "at": latest.at.isoformat()}
