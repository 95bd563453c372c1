"""The look-ahead: every minute (a job on the Graph queue, under the Graph lock), each seated
rep the bot can reach has the next ``lead`` of their calendar read through Graph; a meeting
with a customer they have notes on gets its brief in their Teams chat, once, before it starts.

A rep the bot can reach has a stored conversation reference that is not blocked, a seat, and
Smart Notes switched on for them and their tenant. A meeting is due when it starts within the
lead time and has not started; cancelled ones are skipped. A meeting whose customer nobody
knows, or about whom the rep's calls say nothing, gets no brief. Graph is asked for each rep by
their Entra object id (their e-mail before the bot has seen them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.publisher import BlockedError, CardPublisher, DeliveryError
from cards import BriefMeeting, build_brief_card
from crm_adapters.contract import CRMAdapter, CustomerDirectory
from graph.types import CalendarEvent, GraphAuthError, GraphError
from pipeline.events import utcnow
from smartnotes.briefs import ledger
from smartnotes.briefs.customers import customer_of
from smartnotes.briefs.facts import Attendee, Rep, brief_for
from smartnotes.runs.review import Viewer
from smartnotes.storage.models import Seat, TeamsConversation, Tenant, User

log = logging.getLogger(__name__)

# How long the record of a brief outlives its meeting's start (it guards only until then).
KEEP = timedelta(days=1)


class Calendars(Protocol):
    """What the look-ahead reads: ``graph.client.GraphClient`` implements it."""

    async def calendar_view(
        self, user_id: str, start: datetime, end: datetime, *, page_size: int = 50
    ) -> list[CalendarEvent]: ...


@dataclass(frozen=True)
class _Reachable:
    rep: Rep
    graph_id: str
    reference: dict[str, Any]


class LookAhead:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        calendars: Calendars,
        publisher: CardPublisher,
        crm: CRMAdapter,
        directory: CustomerDirectory | None,
        *,
        tenant_id: str,
        lead: timedelta,
        review_url_for: Callable[[Viewer, str], str | None],
    ) -> None:
        self.sessions = sessions
        self.calendars = calendars
        self.publisher = publisher
        self.crm = crm
        self.directory = directory
        self.tenant_id = tenant_id
        self.lead = lead
        self.review_url_for = review_url_for

    async def run(self) -> int:
        """One pass over every reachable rep's next ``lead``; how many briefs went out."""
        now = utcnow()
        await ledger.forget_before(self.sessions, now - KEEP)
        sent = 0
        for reachable in await self._reachable():
            try:
                events = await self.calendars.calendar_view(
                    reachable.graph_id, now, now + self.lead
                )
            except GraphAuthError as exc:
                # Every rep's calendar needs the same permission: no use asking for the others.
                log.warning("reading calendars for briefs was refused (Calendars.Read?): %s", exc)
                return sent
            except GraphError as exc:
                log.warning(
                    "the calendar of user %s could not be read: %s", reachable.rep.user_id, exc
                )
                continue
            for event in events:
                if not event.cancelled and now < event.start <= now + self.lead:
                    sent += await self._brief(reachable, event)
        return sent

    async def _reachable(self) -> list[_Reachable]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(User, TeamsConversation.reference)
                .join(Seat, (Seat.user_id == User.id) & (Seat.tenant_id == User.tenant_id))
                .join(TeamsConversation, TeamsConversation.user_id == User.id)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(
                    User.tenant_id == self.tenant_id,
                    User.enabled.is_(True),
                    Tenant.enabled.is_(True),
                    TeamsConversation.blocked_at.is_(None),
                )
                .order_by(User.id)
            )
            return [
                _Reachable(
                    Rep(user.tenant_id, user.id, user.email, user.timezone),
                    user.aad_object_id or user.email,
                    reference,
                )
                for user, reference in rows
            ]

    async def _brief(self, reachable: _Reachable, event: CalendarEvent) -> int:
        rep = reachable.rep
        if await ledger.settled(self.sessions, rep, event.uid):
            return 0
        people = [p for p in event.people if p.email != rep.email]
        customer = await customer_of(
            self.sessions, self.crm, self.directory, rep, [p.email for p in people]
        )
        if customer is None:
            return 0
        brief = await brief_for(
            self.sessions,
            rep,
            customer.id,
            customer.name,
            review_url_for=self.review_url_for,
            meeting=BriefMeeting(subject=event.subject, start=event.start.isoformat()),
            attendees=[Attendee(p.email, p.name) for p in people],
        )
        if not brief.knows_something:
            return 0
        if not await ledger.claim(self.sessions, rep, event.uid, event.start, customer.id):
            return 0
        try:
            await self.publisher.post(reachable.reference, build_brief_card(brief))
        except BlockedError as exc:
            await self._blocked(rep.user_id)
            await ledger.outcome(self.sessions, rep, event.uid, error=str(exc))
            return 0
        except DeliveryError as exc:
            log.warning("a brief for user %s did not reach Teams (%s); next pass", rep.user_id, exc)
            await ledger.outcome(self.sessions, rep, event.uid, error=str(exc))
            return 0
        except Exception as exc:
            # A bug, not Teams: recorded so the next pass tries again, and the others go on.
            log.exception("a brief for user %s could not be sent", rep.user_id)
            await ledger.outcome(self.sessions, rep, event.uid, error=repr(exc))
            return 0
        await ledger.outcome(self.sessions, rep, event.uid)
        return 1

    async def _blocked(self, user_id: str) -> None:
        log.warning("user %s blocked the bot; no more Teams messages until they return", user_id)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(TeamsConversation)
                .where(TeamsConversation.user_id == user_id)
                .values(blocked_at=utcnow())
            )
