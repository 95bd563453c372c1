"""One usage record per processing of a call, for the run's owner.

The record is written when processing starts, under the lock of the run's row and of its
owner's: the call is counted once (``calls`` is 1 only while no record of the run counts it,
so a re-creation of tasks, a retry and a run resumed after a crash count 0), and the limits
are checked against every call counted before, also by a run another worker is processing at
the same moment. What the models used is written into the record as it becomes known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.events import utcnow
from pipeline.usage import RunUsage
from smartnotes.settings import UsageSettings
from smartnotes.storage.models import AuditEntry, Run, Seat, UsageRecord, User
from smartnotes.usage.limits import Limited, decide, limit_for, used


@dataclass(frozen=True)
class Meter:
    record_id: int
    # The limit that keeps this processing from Claude, if one does.
    limited: Limited | None


async def start(
    session: AsyncSession, run: Run, settings: UsageSettings, *, uses_claude: bool
) -> Meter:
    """The record of the processing starting now; with ``uses_claude`` (it would ask Claude
    for tasks), the owner's cohort limits are checked and one reached is recorded and audited.
    Call it in the transaction that holds the run's row lock."""
    now = utcnow()
    await session.execute(select(User.id).where(User.id == run.owner_id).with_for_update())
    counted = (
        await session.execute(
            select(UsageRecord.id).where(UsageRecord.run_id == run.id, UsageRecord.calls > 0)
        )
    ).first()
    limited = None
    if uses_claude:
        cohort = (
            await session.execute(
                select(Seat.cohort).where(
                    Seat.tenant_id == run.tenant_id, Seat.user_id == run.owner_id
                )
            )
        ).scalar_one_or_none()
        so_far = await used(session, run.owner_id, run.id, now)
        limited = decide(limit_for(settings, cohort), so_far, cohort)
        if limited is not None:
            session.add(
                AuditEntry(
                    actor="system",
                    run_id=run.id,
                    action="usage_limited",
                    detail=limited.detail(so_far),
                )
            )
    record = UsageRecord(
        tenant_id=run.tenant_id,
        user_id=run.owner_id,
        run_id=run.id,
        at=now,
        calls=0 if counted else 1,
        audio_seconds=0.0,
        claude_input_tokens=0,
        claude_output_tokens=0,
        local_model_seconds=0.0,
        limited_by=limited.limit if limited else None,
    )
    session.add(record)
    await session.flush()
    return Meter(record.id, limited)


async def save(session: AsyncSession, meter: Meter, usage: RunUsage) -> None:
    """What the processing used so far, into its record (written again as it grows)."""
    await session.execute(
        update(UsageRecord)
        .where(UsageRecord.id == meter.record_id)
        .values(
            audio_seconds=usage.audio_seconds,
            claude_input_tokens=usage.claude_input_tokens,
            claude_output_tokens=usage.claude_output_tokens,
            local_model_seconds=usage.local_model_seconds,
            extractor=usage.extractor,
        )
    )


async def add_claude(session: AsyncSession, run: Run, usage: RunUsage) -> None:
    """Claude's tokens for work on a run after its processing (the deal coach), added to the
    run's latest record: the same seat and month, and no second call counted."""
    if not (usage.claude_input_tokens or usage.claude_output_tokens):
        return
    latest = (
        await session.execute(
            select(UsageRecord)
            .where(UsageRecord.run_id == run.id)
            .order_by(UsageRecord.id.desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if latest is None:
        latest = UsageRecord(
            tenant_id=run.tenant_id,
            user_id=run.owner_id,
            run_id=run.id,
            at=utcnow(),
            calls=0,
            audio_seconds=0.0,
            claude_input_tokens=0,
            claude_output_tokens=0,
            local_model_seconds=0.0,
        )
        session.add(latest)
    latest.claude_input_tokens += usage.claude_input_tokens
    latest.claude_output_tokens += usage.claude_output_tokens


async def claude_limit(session: AsyncSession, run: Run, settings: UsageSettings) -> Limited | None:
    """The owner's cohort limit reached, if one is, for Claude work on the run now."""
    cohort = (
        await session.execute(
            select(Seat.cohort).where(Seat.tenant_id == run.tenant_id, Seat.user_id == run.owner_id)
        )
    ).scalar_one_or_none()
    return decide(
        limit_for(settings, cohort), await used(session, run.owner_id, run.id, utcnow()), cohort
    )


async def ask_limit(
    session: AsyncSession, tenant_id: str, user_id: str, settings: UsageSettings
) -> Limited | None:
    """The month's Claude tokens reached, if they are, for a question the rep asks. The
    calls of the day do not count: a question is not a call."""
    cohort = (
        await session.execute(
            select(Seat.cohort).where(Seat.tenant_id == tenant_id, Seat.user_id == user_id)
        )
    ).scalar_one_or_none()
    so_far = await used(session, user_id, None, utcnow())
    return decide(limit_for(settings, cohort), replace(so_far, calls_today=0), cohort)


async def add_ask(session: AsyncSession, tenant_id: str, user_id: str, usage: RunUsage) -> None:
    """Claude's tokens for a question the rep asked: a record of no call and no run, on their
    seat and month like the rest."""
    if not (usage.claude_input_tokens or usage.claude_output_tokens):
        return
    session.add(
        UsageRecord(
            tenant_id=tenant_id,
            user_id=user_id,
            run_id=None,
            at=utcnow(),
            calls=0,
            audio_seconds=0.0,
            claude_input_tokens=usage.claude_input_tokens,
            claude_output_tokens=usage.claude_output_tokens,
            local_model_seconds=0.0,
        )
    )
