"""The product's success metrics for one tenant, per persona cohort and per week or month.

Everything is computed from what the service already records: runs and their tasks, the
review actions in the audit log, feedback, seats and switches. Definitions (documented in
docs/operations.md, "Success metrics"):

- a rep is **active** over a window (``window_days``, default 30) when they worked with their
  notes (``history.REVIEW_ACTIONS``) on at least ``active_share`` (default half) as many days
  as they had calls in it; a rep without calls in the window is not active;
- the **north star** is the number of active seated reps over the last window;
- **adoption** is active seated reps over seats (the qualified users), against a target.

Days are UTC days. A period's numbers count what happened in it; its active users and seats
are read at its end (or now, for the current period).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.events import utcnow
from smartnotes.insights.edits import edit_distance
from smartnotes.insights.history import CallRow, FeedbackRow, History, Person, load
from smartnotes.settings import SuccessSettings

Period = Literal["week", "month"]
NO_COHORT = "none"
ALL = "all"
MAX_COMMENTS = 50
FEEDBACK_KINDS = ("summary", "tasks", "coach", "claude", "local")


def feedback_kind(target: str) -> str:
    """What a feedback target is: the summary, a coach's suggestion or a task."""
    if target == "summary":
        return "summary"
    return "coach" if target.startswith(("next_step:", "objection:")) else "tasks"


@dataclass(frozen=True)
class Definition:
    window_days: int = 30
    active_share: float = 0.5
    adoption_target: float = 0.6

    @classmethod
    def from_settings(cls, settings: SuccessSettings) -> Definition:
        return cls(settings.window_days, settings.active_share, settings.adoption_target)


class MetricsError(ValueError):
    """A request for metrics that cannot be answered as asked; the message says why."""


def cohort_of(person: Person) -> str:
    return person.cohort or NO_COHORT


async def compute(
    session: AsyncSession,
    tenant_id: str,
    *,
    period: Period = "week",
    periods: int = 8,
    cohort: str | None = None,
    now: datetime | None = None,
    definition: Definition | None = None,
) -> dict[str, Any]:
    """The tenant's metrics as one JSON-ready document (the console, the CLI's ``--json``
    and the CSV exports all read this)."""
    if period not in ("week", "month"):
        raise MetricsError(f"period must be 'week' or 'month', not {period!r}")
    if not 1 <= periods <= 104:
        raise MetricsError("periods must be between 1 and 104")
    rules = definition or Definition()
    moment = (now or utcnow()).astimezone(UTC)
    bounds = _periods(moment, period, periods)
    window = timedelta(days=rules.window_days)
    history = await load(session, tenant_id, bounds[0][0] - window)
    cohorts = sorted({cohort_of(p) for p in history.people.values() if p.seat_spans})
    if cohort is not None and cohort not in cohorts:
        known = ", ".join(cohorts) or "none yet"
        raise MetricsError(f"no seats in cohort {cohort!r} (cohorts: {known})")
    people = [p for p in history.people.values() if cohort is None or cohort_of(p) == cohort]
    shown = [cohort] if cohort is not None else cohorts
    return {
        "tenant": tenant_id,
        "generated_at": moment.isoformat(),
        "period": period,
        "cohort": cohort,
        "definition": {
            "window_days": rules.window_days,
            "active_share": rules.active_share,
            "adoption_target": rules.adoption_target,
        },
        "cohorts": cohorts,
        "north_star": _north_star(history, people, shown, moment, rules),
        "periods": [
            {
                "start": start.date().isoformat(),
                "end": end.date().isoformat(),
                "cohorts": {
                    name: _period(history, group, start, end, moment, rules)
                    for name, group in _groups(people, shown).items()
                },
            }
            for start, end in bounds
        ],
        "users": _users(history, people, moment, rules),
        "comments": _comments(history, people, moment - window),
        "activation": {
            "tenant_enabled": history.tenant_enabled,
            "seats": sum(p.seated for p in people),
            "users_off": sum(p.seated and not p.enabled for p in people),
        },
        "eval": history.evaluation,
    }


def _periods(now: datetime, period: Period, count: int) -> list[tuple[datetime, datetime]]:
    """The last ``count`` periods, oldest first; the last one holds ``now``."""
    today = now.date()
    if period == "week":
        start = today - timedelta(days=today.weekday())
        starts = [start - timedelta(weeks=back) for back in range(count - 1, -1, -1)]
        ends = [s + timedelta(weeks=1) for s in starts]
    else:
        starts = [_add_months(today.replace(day=1), -back) for back in range(count - 1, -1, -1)]
        ends = [_add_months(s, 1) for s in starts]
    return [(_midnight(s), _midnight(e)) for s, e in zip(starts, ends, strict=True)]


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _groups(people: list[Person], cohorts: list[str]) -> dict[str, list[Person]]:
    groups = {ALL: people}
    for name in cohorts:
        groups[name] = [p for p in people if cohort_of(p) == name]
    return groups


def _is_active(history: History, person: Person, end: datetime, rules: Definition) -> bool:
    start = end - timedelta(days=rules.window_days)
    call_days = history.call_days(person.id, start, end)
    review_days = history.review_days(person.id, start, end)
    return bool(call_days) and len(review_days) >= rules.active_share * len(call_days)


def _adoption(
    history: History, people: list[Person], when: datetime, rules: Definition
) -> dict[str, Any]:
    seated = [p for p in people if p.seated_at(when)]
    active = sum(_is_active(history, p, when, rules) for p in seated)
    return {
        "active_users": active,
        "seats": len(seated),
        "adoption_rate": active / len(seated) if seated else None,
    }


def _north_star(
    history: History, people: list[Person], cohorts: list[str], now: datetime, rules: Definition
) -> dict[str, Any]:
    return {
        **_adoption(history, people, now, rules),
        "target": rules.adoption_target,
        "by_cohort": {
            name: _adoption(history, group, now, rules)
            for name, group in _groups(people, cohorts).items()
            if name != ALL
        },
    }


def _period(
    history: History,
    people: list[Person],
    start: datetime,
    end: datetime,
    now: datetime,
    rules: Definition,
) -> dict[str, Any]:
    ids = {p.id for p in people}
    calls = [c for c in history.calls if c.owner_id in ids and start <= c.at < end]
    feedback = [f for f in history.feedback if f.user_id in ids and start <= f.at < end]
    return {
        **_adoption(history, people, min(end, now), rules),
        "calls": len(calls),
        "calls_opted_out": sum(
            1 for who, at in history.opted_out if who in ids and start <= at < end
        ),
        **_notes(calls),
        **_tasks(calls),
        "feedback": _feedback(feedback),
    }


def _edited(call: CallRow) -> bool:
    return call.edited is not None and call.generated is not None and call.edited != call.generated


def _notes(calls: list[CallRow]) -> dict[str, Any]:
    distances = [edit_distance(c.generated or "", c.edited or "") for c in calls if _edited(c)]
    return {
        "notes_ready": sum(c.generated is not None for c in calls),
        "notes_edited": len(distances),
        "edit_distance": sum(distances) / len(distances) if distances else None,
    }


def _tasks(calls: list[CallRow]) -> dict[str, int]:
    return {
        "tasks_generated": sum(c.tasks for c in calls),
        "tasks_accepted": sum(c.accepted for c in calls),
        "tasks_rejected": sum(c.rejected for c in calls),
        "tasks_edited": sum(c.changed for c in calls),
    }


def _feedback(rows: list[FeedbackRow]) -> dict[str, dict[str, int]]:
    """Likes and dislikes of summaries, of tasks, of the coach's suggestions, and of tasks by
    the extractor that made them (the summary is always the local model's)."""
    tally: dict[str, Counter[str]] = {key: Counter() for key in FEEDBACK_KINDS}
    for row in rows:
        kind = feedback_kind(row.target)
        tally[kind][row.rating] += 1
        if kind == "tasks" and row.extractor in ("claude", "local"):
            tally[row.extractor][row.rating] += 1
    return {
        key: {"like": counts["like"], "dislike": counts["dislike"]} for key, counts in tally.items()
    }


def _users(
    history: History, people: list[Person], now: datetime, rules: Definition
) -> list[dict[str, Any]]:
    start = now - timedelta(days=rules.window_days)
    rows = []
    for person in sorted(people, key=lambda p: p.email):
        own = [c for c in history.calls_by_owner.get(person.id, ()) if start <= c.at < now]
        given = [f for f in history.feedback if f.user_id == person.id and start <= f.at < now]
        rows.append(
            {
                "email": person.email,
                "name": person.name,
                "cohort": person.cohort,
                "enabled": person.enabled,
                "seat": person.seated,
                "calls": len(own),
                "days_with_calls": len({c.at.date() for c in own}),
                "review_days": len(history.review_days(person.id, start, now)),
                "active": _is_active(history, person, now, rules),
                "notes_edited": sum(_edited(c) for c in own),
                **_tasks(own),
                "likes": sum(f.rating == "like" for f in given),
                "dislikes": sum(f.rating == "dislike" for f in given),
            }
        )
    return rows


def _comments(history: History, people: list[Person], since: datetime) -> list[dict[str, Any]]:
    emails = {p.id: p.email for p in people}
    rows = sorted(
        (
            f
            for f in history.feedback
            if f.comment.strip() and f.user_id in emails and f.at >= since
        ),
        key=lambda f: f.at,
        reverse=True,
    )
    return [
        {
            "at": f.at.isoformat(),
            "email": emails[f.user_id],
            "run_id": f.run_id,
            "target": {"summary": "summary", "coach": "suggestion"}.get(
                feedback_kind(f.target), "task"
            ),
            "rating": f.rating,
            "extractor": f.extractor,
            "comment": f.comment,
        }
        for f in rows[:MAX_COMMENTS]
    ]
