"""The limits per persona cohort: whether a rep's call may still use Claude.

Read from the usage records when a run is processed, so every process and worker sharing the
database sees the same count. Days and months are UTC. Past a limit the call is still
processed, with the local extractor instead of Claude.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.settings import CohortLimit, UsageSettings
from smartnotes.storage.models import UsageRecord

LimitName = Literal["calls_per_day", "claude_tokens_per_month"]


@dataclass(frozen=True)
class Used:
    """What a rep used before this processing: calls today (those of other runs: the call
    being processed is not one more), and Claude's tokens this month."""

    calls_today: int
    claude_tokens_this_month: int


@dataclass(frozen=True)
class Limited:
    """The limit a rep has reached; their call's tasks come from the local extractor."""

    limit: LimitName
    value: int
    cohort: str | None

    @property
    def reason(self) -> str:
        """For the rep, on the card and the review page, after "Tasks by the local extractor"."""
        return f"{self.reached}: tasks by the local extractor"

    @property
    def reached(self) -> str:
        """The limit in the rep's words, e.g. "Claude limit for your cohort reached (1 call
        today)"."""
        if self.limit == "calls_per_day":
            amount = f"{self.value:,} call{'' if self.value == 1 else 's'} today"
        else:
            amount = f"{self.value:,} Claude tokens this month"
        return f"Claude limit for your cohort reached ({amount})"

    def detail(self, used: Used) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "value": self.value,
            "cohort": self.cohort,
            "calls_today": used.calls_today,
            "claude_tokens_this_month": used.claude_tokens_this_month,
        }


def limit_for(settings: UsageSettings, cohort: str | None) -> CohortLimit:
    """A cohort's limits: its own entry's fields, the ``*`` entry's for the rest (and for
    reps in no cohort or one not listed)."""
    default = settings.limits["*"]
    own = settings.limits.get(cohort) if cohort else None
    return default if own is None else own.over(default)


def decide(limit: CohortLimit, used: Used, cohort: str | None = None) -> Limited | None:
    """The limit reached, if any: the day's calls first, then the month's tokens. A limit is
    reached when what was used is at it (``calls_per_day: 1``: the second call of the day)."""
    if limit.calls_per_day is not None and used.calls_today >= limit.calls_per_day:
        return Limited("calls_per_day", limit.calls_per_day, cohort)
    tokens = limit.claude_tokens_per_month
    if tokens is not None and used.claude_tokens_this_month >= tokens:
        return Limited("claude_tokens_per_month", tokens, cohort)
    return None


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


async def used(session: AsyncSession, user_id: str, run_id: str | None, now: datetime) -> Used:
    """What the rep's usage records say for the UTC day and month of ``now``."""
    calls = (
        await session.execute(
            select(func.coalesce(func.sum(UsageRecord.calls), 0)).where(
                UsageRecord.user_id == user_id,
                UsageRecord.at >= day_start(now),
                UsageRecord.run_id.is_distinct_from(run_id),
            )
        )
    ).scalar_one()
    tokens = (
        await session.execute(
            select(
                func.coalesce(
                    func.sum(UsageRecord.claude_input_tokens + UsageRecord.claude_output_tokens), 0
                )
            ).where(UsageRecord.user_id == user_id, UsageRecord.at >= month_start(now))
        )
    ).scalar_one()
    return Used(calls_today=int(calls), claude_tokens_this_month=int(tokens))
