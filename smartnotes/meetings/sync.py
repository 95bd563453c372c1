"""Keeping Graph's notifications coming, and catching what they miss.

- Subscriptions: created by ``smartnotes graph subscribe``, stored, renewed well before their
  three-day maximum, reauthorized or recreated when Graph's lifecycle notifications ask.
- Catch-up: a delta pass over the transcripts of every licensed organizer; a notification
  that never arrived delays a run until the next pass, it does not lose it.
- Meeting ends: the bot saw a meeting end; its transcript is looked for with backoff (they lag
  behind the meeting), racing the notification; whichever finds it first makes the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graph.client import GraphClient
from graph.ids import organizer_from_join_url
from graph.notifications import LifecycleEvent
from graph.types import GraphError, GraphNotFoundError, MeetingRef, NewSubscription
from pipeline.events import utcnow
from smartnotes.consent import covering
from smartnotes.meetings.media import RECORDING, TRANSCRIPT, Found, MediaFetcher, record_found
from smartnotes.settings import GraphSettings
from smartnotes.storage.models import GraphCursor, GraphSubscription, MeetingEnd, Seat, Tenant, User

log = logging.getLogger(__name__)

TENANT_WIDE = "communications/onlineMeetings/getAllTranscripts"
NOTIFICATION_PATH = "/webhooks/graph"
LIFECYCLE_PATH = "/webhooks/graph/lifecycle"


def user_resource(user_id: str) -> str:
    return f"users/{user_id}/onlineMeetings/getAllTranscripts"


class Subscriptions:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: GraphClient,
        config: GraphSettings,
        *,
        base_url: str,
        encryption_certificate: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.encryption_certificate = encryption_certificate
        self.clock = clock

    async def subscribe(self, resource: str, *, replace: bool = False) -> GraphSubscription:
        """The active subscription for ``resource``: the stored one, or a new one."""
        if not replace:
            current = await self._active(resource)
            if current is not None:
                return current
        secret = self.config.client_state
        if secret is None:
            raise ValueError("set SMARTNOTES_GRAPH__CLIENT_STATE before subscribing")
        rich = self.encryption_certificate is not None
        created = await self.client.create_subscription(
            NewSubscription(
                resource=resource,
                notification_url=self.base_url + NOTIFICATION_PATH,
                lifecycle_url=self.base_url + LIFECYCLE_PATH,
                expiration=self._expiry(),
                client_state=secret.get_secret_value(),
                include_resource_data=rich,
                encryption_certificate=self.encryption_certificate,
                encryption_certificate_id=self.config.encryption_certificate_id or None,
            )
        )
        row = GraphSubscription(
            id=created.id,
            tenant_id=self.config.tenant,
            resource=resource,
            change_type=created.change_type,
            expires_at=created.expiration,
            include_resource_data=rich,
        )
        async with self.sessions() as session:
            if replace:
                await session.execute(
                    update(GraphSubscription)
                    .where(
                        GraphSubscription.resource == resource,
                        GraphSubscription.status == "active",
                    )
                    .values(status="removed")
                )
            session.add(row)
            await session.commit()
        log.info("Graph subscription %s for %s until %s", row.id, resource, row.expires_at)
        return row

    async def renew_due(self) -> int:
        """Renew every subscription that expires within the configured margin."""
        horizon = self.clock() + timedelta(minutes=self.config.renew_before_minutes)
        async with self.sessions() as session:
            due = list(
                (
                    await session.execute(
                        select(GraphSubscription).where(
                            GraphSubscription.status == "active",
                            GraphSubscription.expires_at <= horizon,
                        )
                    )
                ).scalars()
            )
        for subscription in due:
            await self._renew(subscription)
        return len(due)

    async def _renew(self, subscription: GraphSubscription) -> None:
        try:
            renewed = await self.client.renew_subscription(subscription.id, self._expiry())
        except GraphNotFoundError:
            log.warning("subscription %s is gone; creating a new one", subscription.id)
            await self.subscribe(subscription.resource, replace=True)
            return
        except GraphError as exc:
            log.error("renewing subscription %s failed: %s", subscription.id, exc)
            await self._note_error(subscription.id, str(exc))
            return
        async with self.sessions() as session:
            await session.execute(
                update(GraphSubscription)
                .where(GraphSubscription.id == subscription.id)
                .values(expires_at=renewed.expiration, renewed_at=self.clock(), last_error=None)
            )
            await session.commit()

    async def on_lifecycle(self, subscription_id: str, event: LifecycleEvent) -> bool:
        """Act on a lifecycle notification; True when a catch-up pass should follow."""
        async with self.sessions() as session:
            subscription = await session.get(GraphSubscription, subscription_id)
        if subscription is None:
            log.warning("lifecycle %s for unknown subscription %s", event, subscription_id)
            return event is LifecycleEvent.MISSED
        if event is LifecycleEvent.REAUTHORIZATION_REQUIRED:
            try:
                await self.client.reauthorize_subscription(subscription_id)
            except GraphNotFoundError:
                await self.subscribe(subscription.resource, replace=True)
                return True
            await self._renew(subscription)
            return False
        if event is LifecycleEvent.SUBSCRIPTION_REMOVED:
            await self.subscribe(subscription.resource, replace=True)
        # Removed or missed: notifications were lost in between.
        return True

    async def _active(self, resource: str) -> GraphSubscription | None:
        async with self.sessions() as session:
            return (
                await session.execute(
                    select(GraphSubscription).where(
                        GraphSubscription.resource == resource,
                        GraphSubscription.status == "active",
                        GraphSubscription.expires_at > self.clock(),
                    )
                )
            ).scalar_one_or_none()

    async def _note_error(self, subscription_id: str, error: str) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(GraphSubscription)
                .where(GraphSubscription.id == subscription_id)
                .values(last_error=error)
            )
            await session.commit()

    def _expiry(self) -> datetime:
        return self.clock() + timedelta(minutes=self.config.subscription_minutes)


class CatchUp:
    """A delta pass over each licensed organizer's transcripts: what it finds is recorded, and
    downloaded by the work loop like anything else found."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: GraphClient,
        config: GraphSettings,
        *,
        terms_version: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.config = config
        self.terms_version = terms_version
        self.clock = clock

    async def run(self) -> int:
        """Record every transcript found; how many organizers were passed over."""
        organizers = await self._organizers()
        for organizer in organizers:
            try:
                await self._one(organizer)
            except GraphError as exc:
                # One organizer's failure (a missing policy, a throttle) must not stop the rest.
                log.warning("catch-up for organizer %s: %s", organizer, exc)
        return len(organizers)

    async def _one(self, organizer: str) -> None:
        key = f"transcripts:{organizer}"
        async with self.sessions() as session:
            cursor = await session.get(GraphCursor, key)
        start = self.clock() - timedelta(hours=self.config.catchup_lookback_hours)
        delta = await self.client.all_transcripts(
            organizer, start=None if cursor else start, delta_link=cursor.value if cursor else None
        )
        for transcript in delta.transcripts:
            found = Found(TRANSCRIPT, transcript.id, transcript.ref)
            await record_found(self.sessions, self.config.tenant, found, by="catchup")
        if delta.delta_link:
            async with self.sessions() as session:
                row = await session.get(GraphCursor, key)
                if row is None:
                    session.add(GraphCursor(key=key, value=delta.delta_link))
                else:
                    row.value = delta.delta_link
                await session.commit()

    async def _organizers(self) -> list[str]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(User.aad_object_id)
                .join(Tenant, Tenant.id == User.tenant_id)
                .join(Seat, and_(Seat.user_id == User.id, Seat.tenant_id == User.tenant_id))
                .where(
                    User.tenant_id == self.config.tenant,
                    Tenant.enabled.is_(True),
                    # Not even a list of a tenant's meetings is read before it agreed.
                    covering(Tenant.id, self.terms_version),
                    User.enabled.is_(True),
                    User.aad_object_id.is_not(None),
                )
                .order_by(User.aad_object_id)
            )
            return [str(value) for value in rows.scalars() if value]


class MeetingEndPolls:
    """After the bot saw a meeting end: look for its transcript with backoff, for a while."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: GraphClient,
        fetcher: MediaFetcher,
        config: GraphSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.fetcher = fetcher
        self.config = config
        self.clock = clock

    async def run_due(self) -> int:
        now = self.clock()
        async with self.sessions() as session:
            due = list(
                (
                    await session.execute(
                        select(MeetingEnd)
                        .where(
                            MeetingEnd.tenant_id == self.config.tenant,
                            MeetingEnd.status == "pending",
                            or_(MeetingEnd.next_poll_at.is_(None), MeetingEnd.next_poll_at <= now),
                        )
                        .order_by(MeetingEnd.id)
                        .limit(50)
                    )
                ).scalars()
            )
        for ended in due:
            try:
                await self._poll(ended)
            except GraphError as exc:
                log.warning("looking for the transcript of meeting %s: %s", ended.meeting_id, exc)
                if self._waited(ended) >= timedelta(minutes=self.config.poll_window_minutes):
                    # Bounded even when every look fails: the reason stays on the record.
                    await self._close(ended, "failed", str(exc))
                else:
                    await self._again(ended, str(exc))
        return len(due)

    def _waited(self, ended: MeetingEnd) -> timedelta:
        return self.clock() - (ended.ended_at or ended.received_at)

    async def _poll(self, ended: MeetingEnd) -> None:
        ref = await self._ref(ended)
        if ref is None:
            await self._close(ended, "failed", "the meeting could not be found by its join URL")
            return
        transcripts = await self.client.list_transcripts(ref)
        found = [Found(TRANSCRIPT, t.id, ref) for t in transcripts]
        waited = self._waited(ended)
        if not found and waited >= timedelta(minutes=self.config.recording_after_minutes):
            recordings = await self.client.list_recordings(ref)
            found = [Found(RECORDING, r.id, ref) for r in recordings]
        if found:
            await self._close(ended, "found", None)
            for item in found:
                tenant = self.config.tenant
                row_id = await record_found(self.sessions, tenant, item, by="meeting_end")
                await self.fetcher.work(row_id)
            return
        if waited >= timedelta(minutes=self.config.poll_window_minutes):
            await self._close(
                ended,
                "none",
                f"no transcript or recording {self.config.poll_window_minutes:g} minutes after "
                "the meeting ended",
            )
            return
        await self._again(ended, None)

    async def _ref(self, ended: MeetingEnd) -> MeetingRef | None:
        if ended.organizer_id and ended.online_meeting_id:
            return MeetingRef(ended.organizer_id, ended.online_meeting_id)
        if not ended.join_url:
            return None
        organizer = organizer_from_join_url(ended.join_url) or ended.reported_by
        if organizer is None:
            return None
        meeting = await self.client.find_meeting_by_join_url(organizer, ended.join_url)
        if meeting is None:
            return None
        async with self.sessions() as session:
            await session.execute(
                update(MeetingEnd)
                .where(MeetingEnd.id == ended.id)
                .values(
                    organizer_id=meeting.ref.organizer_id,
                    online_meeting_id=meeting.ref.meeting_id,
                )
            )
            await session.commit()
        return meeting.ref

    async def _again(self, ended: MeetingEnd, error: str | None) -> None:
        polls = ended.polls + 1
        delay = min(self.config.poll_first_seconds * 2 ** (polls - 1), self.config.poll_max_seconds)
        async with self.sessions() as session:
            await session.execute(
                update(MeetingEnd)
                .where(MeetingEnd.id == ended.id)
                .values(
                    polls=polls,
                    next_poll_at=self.clock() + timedelta(seconds=delay),
                    error=error,
                )
            )
            await session.commit()

    async def _close(self, ended: MeetingEnd, status: str, error: str | None) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(MeetingEnd)
                .where(MeetingEnd.id == ended.id)
                .values(status=status, error=error, next_poll_at=None)
            )
            await session.commit()
