"""What a rep's calls say about one customer, for a brief: the last conversations, the open
tasks on both sides, the people.

Only runs the rep may see count, by the review's rule: their own runs, and the runs they
attended that are not confidential. Of those, the runs with notes (ready for review, saving,
saved, or failed after the summary); the latest ``MAX_RUNS`` of them are read. An open task is
one the rep kept (accepted, edited or written to the CRM) and that no kept completion from a
later call closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from cards import Brief, BriefCall, BriefMeeting, BriefPerson, BriefTask
from pipeline.events import utcnow
from smartnotes.runs.review import Viewer
from smartnotes.runs.views import CallSides, completed_ids, effective_task, is_open
from smartnotes.storage.models import Run, RunAttendee, RunStatus, RunTask, User

MAX_RUNS = 20
# Runs that have notes to brief on.
NOTED = (RunStatus.NEEDS_REVIEW, RunStatus.SAVING, RunStatus.SAVED, RunStatus.FAILED)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Rep:
    """Whom a brief is for."""

    tenant_id: str
    user_id: str
    email: str
    # users.timezone: the zone the rep's Teams client or mailbox reported, when known.
    zone: str | None = None

    @property
    def viewer(self) -> Viewer:
        return Viewer(tenant_id=self.tenant_id, user_id=self.user_id, email=self.email)

    @property
    def domain(self) -> str:
        return domain_of(self.email)

    def today(self) -> date:
        """The date in the rep's zone (UTC when it is unknown): what is due is counted from it."""
        try:
            zone = ZoneInfo(self.zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return utcnow().astimezone(zone).date()


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None = None


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().lower() if "@" in email else ""


def visible(rep: Rep) -> ColumnElement[bool]:
    """The review's visibility rule: the rep's own runs, and attended ones not confidential."""
    attended = select(RunAttendee.run_id).where(RunAttendee.email == rep.email)
    return and_(
        Run.tenant_id == rep.tenant_id,
        or_(Run.owner_id == rep.user_id, and_(Run.confidential.is_(False), Run.id.in_(attended))),
    )


def _moment(run: Run) -> datetime:
    return run.call_started_at or run.created_at


async def customer_runs(session: AsyncSession, rep: Rep, customer_id: str) -> list[tuple[Run, str]]:
    """The rep's visible runs with notes of this customer, newest call first, each with its
    owner's e-mail (the side of a task is the owner's team or the customer)."""
    rows = await session.execute(
        select(Run, User.email)
        .join(User, User.id == Run.owner_id)
        .where(visible(rep), Run.customer_id == customer_id, Run.status.in_(NOTED))
        .order_by(func.coalesce(Run.call_started_at, Run.created_at).desc())
        .limit(MAX_RUNS)
    )
    return [(run, email) for run, email in rows]


async def brief_for(
    sessions: async_sessionmaker[AsyncSession],
    rep: Rep,
    customer_id: str,
    customer_name: str,
    *,
    review_url_for: Callable[[Viewer, str], str | None],
    meeting: BriefMeeting | None = None,
    attendees: Sequence[Attendee] | None = None,
) -> Brief:
    """The brief on one customer for one rep; ``attendees`` (a meeting's, the rep left out)
    are the people shown, else the customer's people from the calls."""
    async with sessions() as session:
        runs = await customer_runs(session, rep, customer_id)
        tasks = (
            await session.execute(
                select(RunTask)
                .where(RunTask.run_id.in_([run.id for run, _ in runs]))
                .order_by(RunTask.run_id, RunTask.position)
            )
        ).scalars()
        by_run: dict[str, list[RunTask]] = {}
        for task in tasks:
            by_run.setdefault(task.run_id, []).append(task)
    completed = completed_ids(task for run_tasks in by_run.values() for task in run_tasks)
    calls = [
        BriefCall(
            run_id=run.id,
            started=_moment(run).isoformat(),
            zone=rep.zone or run.timezone,
            sentence=first_sentence(run.summary_edited or run.summary_generated or ""),
            review_url=review_url_for(rep.viewer, run.id),
        )
        for run, _ in runs
        if (run.summary_edited or run.summary_generated)
    ]
    return Brief(
        customer=customer_name,
        today=rep.today(),
        meeting=meeting,
        zone=rep.zone,
        calls=calls[:3],
        tasks=[
            open_task
            for run, owner_email in runs
            for open_task in _open_tasks(run, owner_email, by_run.get(run.id, []), rep, completed)
        ],
        people=_people(rep, runs, attendees),
    )


def _open_tasks(
    run: Run, owner_email: str, tasks: list[RunTask], rep: Rep, completed: set[str]
) -> list[BriefTask]:
    sides = CallSides.of(run, owner_email)
    found: list[BriefTask] = []
    for task in tasks:
        if not is_open(task, completed):
            continue
        fields = effective_task(task)
        found.append(
            BriefTask(
                title=str(fields.get("title") or "Untitled task"),
                ours=sides.side(task) == "rep",
                owner=str(fields.get("owner") or ""),
                due_date=str(fields["due_date"]) if fields.get("due_date") else None,
                call_started=_moment(run).isoformat(),
                zone=rep.zone or run.timezone,
            )
        )
    return found


def _people(
    rep: Rep, runs: list[tuple[Run, str]], attendees: Sequence[Attendee] | None
) -> list[BriefPerson]:
    """Who is (or was) on the calls with them: each with the earlier calls they were on."""
    seen: dict[str, tuple[int, Run | None]] = {}
    names: dict[str, str] = {}
    for run, _ in runs:  # newest first: the first run seen is the last call
        for participant in run.participants:
            email = str(participant.get("email") or "").strip().lower()
            if not email:
                continue
            count, last = seen.get(email, (0, run))
            seen[email] = (count + 1, last)
            names.setdefault(email, str(participant.get("name") or "").strip())
    if attendees is None:
        # From the calls: the customer's side, the people on most calls first.
        wanted = [
            Attendee(email, names.get(email) or None)
            for email in sorted(seen, key=lambda e: -seen[e][0])
            if domain_of(email) != rep.domain
        ]
    else:
        wanted = [a for a in attendees if a.email != rep.email]
    people = []
    for person in wanted:
        count, last = seen.get(person.email, (0, None))
        people.append(
            BriefPerson(
                name=person.name or names.get(person.email) or person.email,
                email=person.email,
                calls=count,
                last_call=_moment(last).isoformat() if last is not None else None,
                zone=rep.zone or (last.timezone if last is not None else "UTC"),
            )
        )
    return people


def first_sentence(note: str) -> str:
    text = " ".join(note.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
