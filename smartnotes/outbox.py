"""The CRM outbox: saving a run queues its writes; a worker delivers them until they land.

A save is one transaction that turns the rep's reviewed note and accepted tasks into rows of
``crm_writes``, each with an idempotency key derived from the run and the task. The worker
claims a due write with a lease (so two workers never send the same write at the same time),
sends it, and records the CRM's id. The lease is short and renewed while the send is on its
way, so the claim of a worker that died lapses within seconds, not minutes. A failed write
stays queued with a backoff (the CRM's Retry-After when it gave one) and is retried until it
lands; because the key goes with every attempt, a write whose answer was lost (a crash, a
timeout) lands once. When the last write of a run lands, the run is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.contract import CRMAdapter, NoteWrite, TaskWrite, WriteResult
from crm_adapters.errors import AdapterConfigError, CRMAuthError, CRMError, CRMNotFoundError
from smartnotes.crm_sync import SYNC_KINDS, record_sync, send_sync
from smartnotes.live import LiveEvents
from smartnotes.notify import Kind, notify
from smartnotes.storage.models import (
    AuditEntry,
    CrmWrite,
    Run,
    RunStatus,
    RunTask,
    TaskStatus,
    utcnow,
)

log = logging.getLogger(__name__)

PENDING, DONE = "pending", "done"
# After this many failed attempts the rep is told the save is delayed (once per write).
NOTIFY_AFTER = 3


class Outbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        crm: CRMAdapter,
        *,
        live: LiveEvents | None = None,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease: float = 30.0,
        poll: float = 10.0,
        batch: int = 20,
    ) -> None:
        self.sessions = sessions
        self.crm = crm
        self.live = live
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = lease
        self.poll = poll
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New writes were queued: deliver now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="smartnotes-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def deliver_due(self) -> int:
        """Send every write that is due now; returns how many landed."""
        landed = 0
        while True:
            async with self.sessions() as session:
                due = list(
                    (
                        await session.execute(
                            select(CrmWrite.id)
                            .where(CrmWrite.status == PENDING, CrmWrite.next_attempt_at <= utcnow())
                            .order_by(CrmWrite.id)
                            .limit(self.batch)
                        )
                    ).scalars()
                )
            if not due:
                return landed
            results = await asyncio.gather(*(self._deliver(write_id) for write_id in due))
            landed += sum(results)
            if not any(results) and len(due) < self.batch:
                return landed

    async def finish_saved_runs(self) -> list[str]:
        """Mark saved every run still ``saving`` whose writes have all landed (a run left so by
        a crash between the last write and its record, or by an earlier version's race)."""
        pending = select(CrmWrite.run_id).where(CrmWrite.status == PENDING)
        async with self.sessions() as session:
            stuck = list(
                (
                    await session.execute(
                        select(Run.id).where(Run.status == RunStatus.SAVING, Run.id.not_in(pending))
                    )
                ).scalars()
            )
        for run_id in stuck:
            async with self.sessions() as session, session.begin():
                await self._maybe_saved(session, run_id)
            if self.live is not None:
                await self.live.changed(run_id)
        return stuck

    async def pending(self, run_id: str | None = None) -> int:
        async with self.sessions() as session:
            query = select(func.count()).select_from(CrmWrite).where(CrmWrite.status == PENDING)
            if run_id is not None:
                query = query.where(CrmWrite.run_id == run_id)
            return int((await session.execute(query)).scalar_one())

    async def _loop(self) -> None:
        while True:
            # Cleared before the round, not after: a save that commits while the round runs
            # sets it again, and the wait below returns at once instead of sleeping a poll.
            self._wake.clear()
            try:
                await self.finish_saved_runs()
                await self.deliver_due()
            except Exception:
                # A database hiccup must not end delivery; the next round tries again.
                log.exception("CRM outbox round failed")
            timeout = await self._next_wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _next_wait(self) -> float:
        async with self.sessions() as session:
            soonest = (
                await session.execute(
                    select(func.min(CrmWrite.next_attempt_at)).where(CrmWrite.status == PENDING)
                )
            ).scalar_one_or_none()
        if soonest is None:
            return self.poll
        return max(0.05, min(self.poll, (soonest - utcnow()).total_seconds()))

    async def _deliver(self, write_id: int) -> bool:
        write = await self._claim(write_id)
        if write is None:
            return False  # another worker has it, or it landed meanwhile
        async with self._held(write):
            if write.kind in SYNC_KINDS:
                return await self._deliver_sync(write)
            return await self._deliver_claimed(write)

    @contextlib.asynccontextmanager
    async def _held(self, write: CrmWrite) -> AsyncIterator[None]:
        """Keep the claim alive while its write is on its way. The lease is short and renewed
        while the worker lives, so the claim of a worker that died (a crash between sending
        and recording) lapses within a lease, and another delivery picks the write up; its
        idempotency key makes the resend land once."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.lease / 3)
                async with self.sessions() as session, session.begin():
                    await session.execute(
                        update(CrmWrite)
                        .where(CrmWrite.id == write.id, CrmWrite.status == PENDING)
                        .values(next_attempt_at=utcnow() + timedelta(seconds=self.lease))
                    )

        renewal = asyncio.create_task(renew(), name=f"smartnotes-outbox-lease-{write.id}")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _deliver_claimed(self, write: CrmWrite) -> bool:
        try:
            result = await self._send(write)
        except CRMError as exc:
            await self._failed(write, exc)
            return False
        except Exception as exc:
            log.exception("CRM write %s: unexpected error", write.idempotency_key)
            await self._failed(write, exc)
            return False
        await self._landed(write, result)
        return True

    async def _deliver_sync(self, write: CrmWrite) -> bool:
        """A change after the save: what it sends is read now (``smartnotes.crm_sync``)."""
        try:
            synced = await send_sync(self.sessions, self.crm, write)
        except Exception as exc:
            if not isinstance(exc, CRMError):
                log.exception("CRM write %s: unexpected error", write.idempotency_key)
            await self._failed(write, exc)
            return False
        async with self.sessions() as session, session.begin():
            row = await session.get(CrmWrite, write.id, with_for_update=True)
            if row is None:
                return False
            if await record_sync(session, row, synced):
                row.status, row.last_error = DONE, None
            else:
                row.next_attempt_at = utcnow()  # it changed again meanwhile: send it again
            await session.flush()
            await self._maybe_saved(session, row.run_id)
        if self.live is not None:
            await self.live.changed(write.run_id)
        return True

    async def _claim(self, write_id: int) -> CrmWrite | None:
        now = utcnow()
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(CrmWrite)
                .where(
                    CrmWrite.id == write_id,
                    CrmWrite.status == PENDING,
                    CrmWrite.next_attempt_at <= now,
                )
                .values(
                    next_attempt_at=now + timedelta(seconds=self.lease),
                    attempts=CrmWrite.attempts + 1,
                )
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return await session.get(CrmWrite, write_id)

    async def _send(self, write: CrmWrite) -> WriteResult:
        if write.kind == "note":
            return await self.crm.write_note(NoteWrite.model_validate(write.payload))
        if write.kind == "task":
            return await self.crm.create_task(TaskWrite.model_validate(write.payload))
        raise ValueError(f"unknown CRM write kind {write.kind!r}")

    async def _landed(self, write: CrmWrite, result: WriteResult) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(CrmWrite, write.id, with_for_update=True)
            if row is None:
                return
            row.status, row.external_id, row.last_error = DONE, result.external_id, None
            if row.kind == "task" and row.target is not None:
                task = await session.get(RunTask, row.target)
                if task is not None:
                    task.status, task.crm_task_id = TaskStatus.WRITTEN, result.external_id
            await session.flush()
            await self._maybe_saved(session, row.run_id)
        if self.live is not None:
            await self.live.changed(write.run_id)

    async def _maybe_saved(self, session: AsyncSession, run_id: str) -> None:
        # The run's row is locked before the writes are counted. Deliveries of one run's writes
        # land concurrently; each marks its own write done and then asks "anything left?". On
        # PostgreSQL a statement sees what was committed when it started, so counting first
        # let every delivery see the others' writes still pending and nobody mark the run
        # saved. Taken in this order, the last delivery waits for the lock until the others
        # have committed, and its count (a new statement) sees them done.
        run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
        if run is None or run.status != RunStatus.SAVING:
            return
        left = (
            await session.execute(
                select(func.count())
                .select_from(CrmWrite)
                .where(CrmWrite.run_id == run_id, CrmWrite.status == PENDING)
            )
        ).scalar_one()
        if left:
            return
        run.status, run.error = RunStatus.SAVED, None
        run.version += 1
        session.add(AuditEntry(actor="system", run_id=run_id, action="run_saved", detail={}))
        if run.notify_when_done:
            notify(session, run.owner_id, run_id, Kind.SAVED, "Your call notes are in the CRM.")

    async def _failed(self, write: CrmWrite, exc: Exception) -> None:
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, CRMAuthError | CRMNotFoundError | AdapterConfigError):
            # Retrying soon cannot help; an admin has to act. It stays queued all the same.
            delay = self.max_delay
        elif isinstance(retry_after, int | float) and retry_after > 0:
            delay = min(float(retry_after), self.max_delay)
        else:
            delay = min(self.base_delay * 2 ** max(write.attempts - 1, 0), self.max_delay)
        message = f"{type(exc).__name__}: {exc}"
        log.warning(
            "CRM write %s failed (attempt %d), retrying in %.0f s: %s",
            write.idempotency_key,
            write.attempts,
            delay,
            message,
        )
        async with self.sessions() as session, session.begin():
            row = await session.get(CrmWrite, write.id, with_for_update=True)
            if row is None or row.status != PENDING:
                return
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            row.last_error = message[:2000]
            if row.attempts == NOTIFY_AFTER or (row.attempts == 1 and delay >= self.max_delay):
                run = await session.get(Run, row.run_id)
                if run is not None:
                    run.error = f"Saving to the CRM is delayed: {exc}. It is retried automatically."
                    notify(session, run.owner_id, run.id, Kind.CRM_DELAYED, run.error)
        if self.live is not None:
            await self.live.changed(write.run_id)
