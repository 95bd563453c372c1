"""Which briefs went out: one ``meeting_briefs`` row per rep and event.

A brief is claimed before it is sent, in a transaction of its own: the insert (unique on rep
and event) or, after a failed send, the conditional update back to ``sending``. Only the one
caller whose claim lands sends, so neither two workers nor a second pass send it twice. A send
that fails is recorded as ``failed`` and claimed again by the next pass before the meeting; a
process that dies between claim and outcome leaves ``sending``, and that brief is lost rather
than risked twice (the message may have gone out). A row is needed only until its meeting
starts; a day later it goes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.briefs.facts import Rep
from smartnotes.storage.models import MeetingBrief

SENDING, SENT, FAILED = "sending", "sent", "failed"


async def settled(sessions: async_sessionmaker[AsyncSession], rep: Rep, event_id: str) -> bool:
    """Whether the event's brief is sent or on its way: nothing to gather for it."""
    async with sessions() as session:
        status = (
            await session.execute(
                select(MeetingBrief.status).where(
                    MeetingBrief.user_id == rep.user_id, MeetingBrief.event_id == event_id
                )
            )
        ).scalar_one_or_none()
    return status in (SENDING, SENT)


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    rep: Rep,
    event_id: str,
    starts_at: datetime,
    customer_id: str,
) -> bool:
    """True for the one caller that is to send this brief."""
    try:
        async with sessions() as session, session.begin():
            session.add(
                MeetingBrief(
                    tenant_id=rep.tenant_id,
                    user_id=rep.user_id,
                    event_id=event_id,
                    starts_at=starts_at,
                    customer_id=customer_id,
                    status=SENDING,
                )
            )
        return True
    except IntegrityError:
        pass  # claimed before: only a failed send may be claimed again
    async with sessions() as session, session.begin():
        retried = await session.execute(
            update(MeetingBrief)
            .where(
                MeetingBrief.user_id == rep.user_id,
                MeetingBrief.event_id == event_id,
                MeetingBrief.status == FAILED,
            )
            .values(
                status=SENDING,
                attempts=MeetingBrief.attempts + 1,
                claimed_at=utcnow(),
                starts_at=starts_at,
                customer_id=customer_id,
            )
        )
        return bool(getattr(retried, "rowcount", 0) == 1)


async def outcome(
    sessions: async_sessionmaker[AsyncSession],
    rep: Rep,
    event_id: str,
    *,
    error: str | None = None,
) -> None:
    """The claimed brief went out (``error`` None), or did not and is to be tried again."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(MeetingBrief)
            .where(
                MeetingBrief.user_id == rep.user_id,
                MeetingBrief.event_id == event_id,
                MeetingBrief.status == SENDING,
            )
            .values(
                status=FAILED if error else SENT,
                sent_at=None if error else utcnow(),
                error=error[:2000] if error else None,
            )
        )


async def forget_before(sessions: async_sessionmaker[AsyncSession], moment: datetime) -> int:
    """Drop the record of briefs for meetings that started before ``moment``."""
    async with sessions() as session, session.begin():
        gone = await session.execute(delete(MeetingBrief).where(MeetingBrief.starts_at < moment))
        return int(getattr(gone, "rowcount", 0) or 0)
