"""The CRM outbox: saving a run queues its writes; a job delivers them until they land.

A save is one transaction that turns the rep's reviewed note and accepted tasks into rows of
``crm_writes``, each with an idempotency key derived from the run and the task, and defers the
run's delivery job on the same connection (``smartnotes.jobs``): the writes and the job that
sends them commit together. The job engine runs one delivery of a run at a time and gives the
job of a worker that died to another; the job sends every pending write and records the CRM's
id. A failed write stays queued with a backoff (the CRM's Retry-After when it gave one) and the
job is retried until every write lands; because the key goes with every attempt, a write whose
answer was lost (a crash, a timeout) lands once. When the last write of a run lands, the run is
saved.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.contract import CRMAdapter, NoteWrite, TaskCompleter, TaskWrite, WriteResult
from crm_adapters.errors import AdapterConfigError, CRMAuthError, CRMError, CRMNotFoundError
from pipeline.events import utcnow
from smartnotes.crm.sync import SYNC_KINDS, record_sync, send_sync
from smartnotes.jobs.engine import Jobs
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.notify import Kind, notify
from smartnotes.storage.models import AuditEntry, CrmWrite, Run, RunStatus, RunTask, TaskStatus

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
        jobs: Jobs,
        live: LiveEvents | None = None,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
    ) -> None:
        self.sessions = sessions
        self.crm = crm
        self.jobs = jobs
        self.live = live
        self.base_delay = base_delay
        self.max_delay = max_delay

    async def dispatch(self, session: AsyncSession, run_id: str) -> None:
        """The run's pending writes are to go out: its delivery commits with ``session``."""
        await self.jobs.deliver_crm(run_id, session)

    async def deliver(self, run_id: str) -> float | None:
        """Send the run's pending writes. ``None`` when none is left, else the seconds until
        the soonest failed one is due again."""
        async with self.sessions() as session:
            pending = list(
                (
                    await session.execute(
                        select(CrmWrite.id)
                        .where(CrmWrite.run_id == run_id, CrmWrite.status == PENDING)
                        .order_by(CrmWrite.id)
                    )
                ).scalars()
            )
        # Concurrently: a remote CRM answers each in its own time. The note and the tasks
        # are independent rows; the run is saved by whichever lands last (``_maybe_saved``).
        results = await asyncio.gather(*(self._deliver(write_id) for write_id in pending))
        delays = [delay for delay in results if delay is not None]
        return min(delays) if delays else None

    async def delivering(self) -> list[str]:
        """The runs with writes still to send."""
        async with self.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(CrmWrite.run_id).where(CrmWrite.status == PENDING).distinct()
                    )
                ).scalars()
            )

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

    async def _deliver(self, write_id: int) -> float | None:
        """Send one write; the seconds until it is tried again, or ``None`` once it landed."""
        write = await self._attempt(write_id)
        if write is None:
            return None  # it landed meanwhile
        if write.kind in SYNC_KINDS:
            return await self._deliver_sync(write)
        return await self._deliver_claimed(write)

    async def _deliver_claimed(self, write: CrmWrite) -> float | None:
        try:
            result = await self._send(write)
        except CRMError as exc:
            return await self._failed(write, exc)
        except Exception as exc:
            log.exception("CRM write %s: unexpected error", write.idempotency_key)
            return await self._failed(write, exc)
        await self._landed(write, result)
        return None

    async def _deliver_sync(self, write: CrmWrite) -> float | None:
        """A change after the save: what it sends is read now (``smartnotes.crm.sync``)."""
        try:
            synced = await send_sync(self.sessions, self.crm, write)
        except Exception as exc:
            if not isinstance(exc, CRMError):
                log.exception("CRM write %s: unexpected error", write.idempotency_key)
            return await self._failed(write, exc)
        again = False
        async with self.sessions() as session, session.begin():
            row = await session.get(CrmWrite, write.id, with_for_update=True)
            if row is None:
                return None
            if await record_sync(session, row, synced):
                row.status, row.last_error = DONE, None
            else:
                again = True  # it changed again meanwhile: send it again
            await session.flush()
            await self._maybe_saved(session, row.run_id)
        if self.live is not None:
            await self.live.changed(write.run_id)
        return 0.0 if again else None

    async def _attempt(self, write_id: int) -> CrmWrite | None:
        """The write, its attempt counted, if it is still to be sent. The job engine runs one
        delivery of a run at a time, so nobody else sends it meanwhile."""
        async with self.sessions() as session, session.begin():
            counted = await session.execute(
                update(CrmWrite)
                .where(CrmWrite.id == write_id, CrmWrite.status == PENDING)
                .values(attempts=CrmWrite.attempts + 1)
            )
            if getattr(counted, "rowcount", 0) != 1:
                return None
            return await session.get(CrmWrite, write_id)

    async def _send(self, write: CrmWrite) -> WriteResult:
        if write.kind == "note":
            return await self.crm.write_note(NoteWrite.model_validate(write.payload))
        if write.kind == "task":
            return await self.crm.create_task(TaskWrite.model_validate(write.payload))
        if write.kind == "complete":
            if not isinstance(self.crm, TaskCompleter):
                raise AdapterConfigError(f"the {self.crm.name} CRM cannot complete tasks")
            return await self.crm.complete_task(
                str(write.payload["external_id"]), write.idempotency_key
            )
        raise ValueError(f"unknown CRM write kind {write.kind!r}")

    async def _landed(self, write: CrmWrite, result: WriteResult) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(CrmWrite, write.id, with_for_update=True)
            if row is None:
                return
            row.status, row.external_id, row.last_error = DONE, result.external_id, None
            if row.kind in ("task", "complete") and row.target is not None:
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

    async def _failed(self, write: CrmWrite, exc: Exception) -> float:
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
                return delay
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            row.last_error = message[:2000]
            if row.attempts == NOTIFY_AFTER or (row.attempts == 1 and delay >= self.max_delay):
                run = await session.get(Run, row.run_id)
                if run is not None:
                    run.error = f"Saving to the CRM is delayed: {exc}. It is retried automatically."
                    notify(session, run.owner_id, run.id, Kind.CRM_DELAYED, run.error)
        if self.live is not None:
            await self.live.changed(write.run_id)
        return delay
