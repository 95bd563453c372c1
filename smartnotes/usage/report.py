"""The usage report per seat and month, with the tenant's total and an estimated cost.

``monthly`` is what the CLI (``smartnotes admin usage``) and the admin console show; its
``to_json`` and ``to_csv`` forms are the exports for billing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.settings import PriceSettings
from smartnotes.storage.models import Seat, Tenant, UsageRecord, User

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CSV_COLUMNS = (
    "tenant",
    "month",
    "email",
    "name",
    "cohort",
    "seated",
    "calls",
    "audio_minutes",
    "claude_input_tokens",
    "claude_output_tokens",
    "local_model_seconds",
    "calls_limited",
    "estimated_cost",
    "currency",
)


class UsageError(ValueError):
    """A report that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    audio_seconds: float = 0.0
    claude_input_tokens: int = 0
    claude_output_tokens: int = 0
    local_model_seconds: float = 0.0
    # Calls whose tasks the local extractor made because a cohort limit was reached.
    calls_limited: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.calls + other.calls,
            self.audio_seconds + other.audio_seconds,
            self.claude_input_tokens + other.claude_input_tokens,
            self.claude_output_tokens + other.claude_output_tokens,
            self.local_model_seconds + other.local_model_seconds,
            self.calls_limited + other.calls_limited,
        )

    def cost(self, prices: PriceSettings) -> float:
        """The estimated cost at ``prices``, in their currency."""
        return (
            self.claude_input_tokens / 1_000_000 * prices.claude_input_per_mtok
            + self.claude_output_tokens / 1_000_000 * prices.claude_output_per_mtok
            + self.audio_seconds / 60 * prices.audio_per_minute
            + self.local_model_seconds / 3600 * prices.local_model_per_hour
        )

    def to_json(self, prices: PriceSettings) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "audio_minutes": round(self.audio_seconds / 60, 2),
            "claude_input_tokens": self.claude_input_tokens,
            "claude_output_tokens": self.claude_output_tokens,
            "local_model_seconds": round(self.local_model_seconds, 1),
            "calls_limited": self.calls_limited,
            "estimated_cost": round(self.cost(prices), 4),
        }


@dataclass(frozen=True)
class SeatUsage:
    """One rep's month: every seated rep (with zeros when they had no calls), and a rep whose
    seat was taken away but who used it that month (``seated`` false)."""

    email: str
    name: str
    cohort: str | None
    seated: bool
    usage: Totals

    def to_json(self, prices: PriceSettings) -> dict[str, Any]:
        return {
            "email": self.email,
            "name": self.name,
            "cohort": self.cohort,
            "seated": self.seated,
            **self.usage.to_json(prices),
        }


@dataclass(frozen=True)
class MonthlyUsage:
    tenant_id: str
    month: str
    prices: PriceSettings
    seats: list[SeatUsage] = field(default_factory=list)

    @property
    def total(self) -> Totals:
        return sum((seat.usage for seat in self.seats), Totals())

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant_id,
            "month": self.month,
            "currency": self.prices.currency,
            "prices": self.prices.model_dump(exclude={"currency"}),
            "seats": [seat.to_json(self.prices) for seat in self.seats],
            "total": self.total.to_json(self.prices),
        }

    def to_csv(self) -> str:
        """One row per rep under a header row; no total row, so the rows can be summed."""
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for seat in self.seats:
            writer.writerow(
                {
                    "tenant": self.tenant_id,
                    "month": self.month,
                    **seat.to_json(self.prices),
                    "cohort": seat.cohort or "",
                    "seated": "yes" if seat.seated else "no",
                    "currency": self.prices.currency,
                }
            )
        return out.getvalue()


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of a ``YYYY-MM`` month (UTC) and of the next one."""
    found = _MONTH.match(month.strip())
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1970:
        raise UsageError(f"month {month!r}: write it as YYYY-MM, e.g. 2026-11")
    year, number = int(found[1]), int(found[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def monthly(
    session: AsyncSession, tenant_id: str, month: str, prices: PriceSettings
) -> MonthlyUsage:
    """A tenant's usage in a calendar month (``YYYY-MM``, UTC) per seat, ordered by e-mail,
    with the estimated cost at ``prices``; ``.total`` is the tenant's. A bad month or an
    unknown tenant raises :class:`UsageError`."""
    start, end = month_bounds(month)
    if await session.get(Tenant, tenant_id) is None:
        raise UsageError(f"no tenant {tenant_id}")
    rows = await session.execute(
        select(
            UsageRecord.user_id,
            func.sum(UsageRecord.calls),
            func.sum(UsageRecord.audio_seconds),
            func.sum(UsageRecord.claude_input_tokens),
            func.sum(UsageRecord.claude_output_tokens),
            func.sum(UsageRecord.local_model_seconds),
            func.count(distinct(case((UsageRecord.limited_by.is_not(None), UsageRecord.run_id)))),
        )
        .where(UsageRecord.tenant_id == tenant_id, UsageRecord.at >= start, UsageRecord.at < end)
        .group_by(UsageRecord.user_id)
    )
    used = {
        user_id: Totals(
            int(calls or 0),
            float(audio or 0),
            int(tokens_in or 0),
            int(tokens_out or 0),
            float(local or 0),
            int(limited or 0),
        )
        for user_id, calls, audio, tokens_in, tokens_out, local, limited in rows.tuples()
    }
    people = await session.execute(
        select(User, Seat.cohort, Seat.user_id.is_not(None))
        .outerjoin(Seat, (Seat.user_id == User.id) & (Seat.tenant_id == tenant_id))
        .where(User.tenant_id == tenant_id)
        .order_by(User.email)
    )
    seats = [
        SeatUsage(user.email, user.display_name, cohort, bool(seated), used.get(user.id, Totals()))
        for user, cohort, seated in people.tuples()
        if seated or user.id in used
    ]
    return MonthlyUsage(tenant_id, month.strip(), prices, seats)
