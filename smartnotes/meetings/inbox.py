"""Graph's change and lifecycle notifications, kept on arrival and worked off afterwards.

Graph wants its answer within three seconds and retries (then drops) what is not answered, so
the webhook only checks and stores; everything that talks back to Graph happens here, later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graph.ids import MediaPath, organizer_from_meeting_id, parse_media_resource
from graph.notifications import ChangeNotification, LifecycleEvent
from graph.types import GraphError, MeetingRef
from pipeline.events import utcnow
from smartnotes.meetings.media import RECORDING, TRANSCRIPT, Found, MediaFetcher, record_found
from smartnotes.storage.models import GraphInbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


Checked = Sequence[tuple[ChangeNotification, dict[str, Any]]]


class InboxWriter:
    """Keeps checked notifications, the requests that arrive together in one transaction.

    SQLite commits one transaction at a time, so a burst of webhook requests each committing
    on its own waits in line for the disk, and Graph wants every answer within three seconds.
    Requests that arrive while a commit is under way are written by the next one together.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._waiting: list[tuple[Checked, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def keep(self, notifications: Checked) -> None:
        """Return once these notifications are committed (raise if their commit failed)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((notifications, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="graph-inbox-writer")
        # Shielded: a caller that goes away (Graph hung up) must not cancel the others' commit.
        await asyncio.shield(done)

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with self.sessions() as session:
                        for notifications, _ in batch:
                            session.add_all(_rows(notifications))
                        await session.commit()
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writer = None


def _rows(notifications: Checked) -> list[GraphInbox]:
    return [
        GraphInbox(
            subscription_id=notification.subscription_id,
            lifecycle_event=(
                str(notification.lifecycle_event) if notification.lifecycle_event else None
            ),
            resource=notification.resource,
            data=data or dict(notification.resource_data),
        )
        for notification, data in notifications
    ]


LifecycleHandler = Callable[[str, LifecycleEvent], Awaitable[None]]


class InboxWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        fetcher: MediaFetcher,
        on_lifecycle: LifecycleHandler,
        *,
        tenant_id: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.fetcher = fetcher
        self.on_lifecycle = on_lifecycle
        self.tenant_id = tenant_id
        self.clock = clock

    async def drain(self) -> int:
        """Work every due notification; how many were worked."""
        worked = 0
        while True:
            now = self.clock()
            async with self.sessions() as session:
                batch = list(
                    (
                        await session.execute(
                            select(GraphInbox)
                            .where(
                                GraphInbox.status == "pending",
                                or_(
                                    GraphInbox.next_attempt_at.is_(None),
                                    GraphInbox.next_attempt_at <= now,
                                ),
                            )
                            .order_by(GraphInbox.id)
                            .limit(50)
                        )
                    ).scalars()
                )
            if not batch:
                return worked
            for item in batch:
                await self._one(item)
                worked += 1

    async def _one(self, item: GraphInbox) -> None:
        """Work one notification. Whatever goes wrong is this notification's failure, never
        the inbox's: it is tried again with a backoff, parked as ``failed`` with its error
        after ``MAX_ATTEMPTS`` (``smartnotes graph status`` shows it), and the others go on."""
        try:
            status, error = await self._handle(item)
        except Exception as exc:
            if not isinstance(exc, GraphError):
                log.exception("Graph notification %d: unexpected error", item.id)
            attempts = item.attempts + 1
            reason = f"{type(exc).__name__}: {exc}"
            if attempts >= MAX_ATTEMPTS:
                status, error = "failed", f"gave up after {attempts} attempts: {reason}"
                log.error("Graph notification %d: %s", item.id, error)
            else:
                await self._update(
                    item.id,
                    attempts=attempts,
                    error=reason[:2000],
                    next_attempt_at=self.clock() + timedelta(seconds=30 * 2**attempts),
                )
                return
        await self._update(item.id, status=status, error=error, attempts=item.attempts + 1)

    async def _handle(self, item: GraphInbox) -> tuple[str, str | None]:
        if item.lifecycle_event is not None:
            try:
                event = LifecycleEvent(item.lifecycle_event)
            except ValueError:
                return "ignored", f"unknown lifecycle event {item.lifecycle_event!r}"
            await self.on_lifecycle(item.subscription_id, event)
            return "done", None
        found = media_from(item.resource or "", item.data)
        if found is None:
            log.info("notification %d names nothing this service fetches", item.id)
            return "ignored", "not a meeting transcript or recording"
        row_id = await record_found(self.sessions, self.tenant_id, found, by="notification")
        await self.fetcher.work(row_id)
        return "done", None

    async def _update(self, item_id: int, **values: Any) -> None:
        async with self.sessions() as session:
            await session.execute(update(GraphInbox).where(GraphInbox.id == item_id).values(values))
            await session.commit()


def media_from(resource: str, data: dict[str, Any]) -> Found | None:
    """The transcript or recording a notification is about, from its resource path, its
    ``@odata.id``, or (rich notifications) the decrypted ``callTranscript`` itself."""
    path: MediaPath | None = parse_media_resource(resource) if resource else None
    odata_id = data.get("@odata.id")
    if path is None and isinstance(odata_id, str):
        path = parse_media_resource(odata_id)
    if path is None:
        return None
    organizer = path.organizer_id or _organizer(data) or organizer_from_meeting_id(path.meeting_id)
    if organizer is None:
        return None
    kind = TRANSCRIPT if path.kind == "transcript" else RECORDING
    return Found(kind, path.item_id, MeetingRef(organizer, path.meeting_id))


def _organizer(data: dict[str, Any]) -> str | None:
    organizer = data.get("meetingOrganizer")
    if isinstance(organizer, dict):
        user = organizer.get("user")
        if isinstance(user, dict) and isinstance(user.get("id"), str):
            return str(user["id"])
    value = data.get("meetingOrganizerId")
    return value if isinstance(value, str) and value else None
