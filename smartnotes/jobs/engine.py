"""Background work as procrastinate jobs: the queue every role defers to, and the worker.

Deferring is a row in the database, so a web-only process queues work for workers elsewhere,
and queued work outlives any process. Where a job concerns a row written in a transaction (the
CRM writes of a save), it is deferred on that transaction's connection: both commit or
neither does (``in_transaction``).

Runs: one job per run, ``process_run``, under the lock ``run:<id>`` (one worker at a time
processes a run, on any number of machines) and the queueing lock of the same name (one waiting
job per run: a repeated enqueue is a no-op).

Recovery needs no leases of our own: a worker that dies stops its heartbeat; its jobs are
found by procrastinate's stalled-job query and retried, at start and then every few seconds by
every worker (whichever gets there first), and
every run still queued or running is deferred again at start (the queueing lock makes that
idempotent), which covers a process killed between creating a run and deferring its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import procrastinate
from procrastinate import exceptions
from procrastinate.jobs import Status
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from smartnotes.jobs.sqlite_connector import SQLiteConnector
from smartnotes.storage.database import libpq_conninfo

log = logging.getLogger(__name__)

PROCESS_RUN = "process_run"
DELIVER_CRM = "deliver_crm_writes"
GRAPH_WORK = "graph_work"
GRAPH_RENEW = "graph_renew_subscriptions"
GRAPH_CATCH_UP = "graph_catch_up"
BRIEF_LOOKAHEAD = "brief_look_ahead"
AUTO_SAVE = "auto_save"
PURGE_JOBS = "purge_finished_jobs"
PURGE_EXPIRED = "purge_expired"
INDEX_RUN = "index_run"
INDEX_RECONCILE = "index_reconcile"
COACH_RUN = "coach_run"
# Queues, so that a worker can be given only some of the work (``smartnotes worker --queues``):
# runs need the models; the rest is I/O.
RUNS, CRM, GRAPH, UPKEEP = "runs", "crm", "graph", "upkeep"
QUEUES = (RUNS, CRM, GRAPH, UPKEEP)
# Work on Graph's side runs one job at a time in the whole cluster: the inbox, downloads and
# polls are worked in order, and two replicas never work the same rows.
GRAPH_LOCK = "graph"
# Jobs at once on the queues other than runs: they wait on the network, not on a model.
IO_CONCURRENCY = 8
# A worker's heartbeat period, and how long without one before its jobs count as stalled.
HEARTBEAT_SECONDS = 2.0
STALLED_AFTER_SECONDS = 15.0


def job_app(engine: AsyncEngine, *, workers: int = 1) -> procrastinate.App:
    """procrastinate on the service's database: its own connector on PostgreSQL, ours on the
    embedded SQLite file. On PostgreSQL it keeps a pool of its own: a few connections for
    heartbeats and fetches, one per job at once that records its outcome (``workers``); each
    worker listens on a connection of its own besides."""
    if engine.dialect.name == "sqlite":
        return procrastinate.App(connector=SQLiteConnector(engine))
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_conninfo(engine), min_size=1, max_size=workers + 3
    )
    return procrastinate.App(connector=connector)


def _lock(run_id: str) -> str:
    return f"run:{run_id}"


def crm_lock(run_id: str) -> str:
    return f"crm:{run_id}"


async def in_transaction(session: AsyncSession) -> Any:
    """The connection a job is deferred on so that it commits with the session's transaction:
    the session itself for the embedded connector, psycopg's own connection on PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return session
    connection = await (await session.connection()).get_raw_connection()
    return connection.driver_connection


class Jobs:
    """The job queue, as every role sees it."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    async def enqueue(self, run_id: str) -> None:
        task = self.app.configure_task(
            PROCESS_RUN, queue=RUNS, lock=_lock(run_id), queueing_lock=_lock(run_id)
        )
        with contextlib.suppress(exceptions.AlreadyEnqueued):  # already waiting: once is enough
            await task.defer_async(run_id=run_id)

    async def deliver_crm(self, run_id: str, session: AsyncSession | None = None) -> None:
        """Deliver the run's pending CRM writes; with ``session``, only if its transaction
        commits. No queueing lock: a delivery waiting for its retry must not stop one asked
        for now (the rep pressed save again); the lock keeps them one at a time, and one that
        finds nothing left to send ends at once."""
        connection = await in_transaction(session) if session is not None else None
        task = self.app.configure_task(
            DELIVER_CRM, queue=CRM, lock=crm_lock(run_id), connection=connection
        )
        await task.defer_async(run_id=run_id)

    async def index(self, run_id: str) -> None:
        """Rebuild the run's search segments; once is enough while one waits (it reads the
        run as it is when it starts)."""
        lock = f"index:{run_id}"
        task = self.app.configure_task(INDEX_RUN, queue=UPKEEP, lock=lock, queueing_lock=lock)
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            await task.defer_async(run_id=run_id)

    async def coach(self, run_id: str) -> None:
        """Coach the ready run; once is enough while one waits."""
        lock = f"coach:{run_id}"
        task = self.app.configure_task(COACH_RUN, queue=UPKEEP, lock=lock, queueing_lock=lock)
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            await task.defer_async(run_id=run_id)

    async def graph_work_now(self) -> None:
        """Work Graph's inbox, downloads and polls now; once is enough while one waits."""
        task = self.app.configure_task(
            GRAPH_WORK, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=GRAPH_WORK
        )
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            await task.defer_async()

    async def catch_up_now(self) -> None:
        """Look for meetings Graph did not tell us about (at a worker's start: notifications
        sent while no worker was up are lost)."""
        task = self.app.configure_task(
            GRAPH_CATCH_UP, queue=GRAPH, lock=GRAPH_LOCK, queueing_lock=GRAPH_CATCH_UP
        )
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            await task.defer_async()

    async def waiting(self, lock: str, *, besides: int | None = None) -> bool:
        """Whether a job under ``lock`` other than ``besides`` waits to start."""
        jobs = await self.app.job_manager.list_jobs_async(lock=lock, status="todo")
        return any(job.id != besides for job in jobs)

    async def unfinished(self, lock: str) -> bool:
        """Whether a job under ``lock`` waits or runs."""
        for status in ("todo", "doing"):
            if await self.app.job_manager.list_jobs_async(lock=lock, status=status):
                return True
        return False

    async def running(self, run_id: str) -> bool:
        """Whether a worker is processing the run now."""
        jobs = await self.app.job_manager.list_jobs_async(lock=_lock(run_id), status="doing")
        return bool(jobs)

    async def cancel(self, run_id: str) -> bool:
        """Stop a run's job wherever it is: a waiting one is cancelled, a running one is
        aborted (its worker cancels the pipeline within a second). True if there was one."""
        found = False
        for status in ("todo", "doing"):
            jobs = await self.app.job_manager.list_jobs_async(lock=_lock(run_id), status=status)
            for job in jobs:
                if job.id is not None:
                    found |= await self.app.job_manager.cancel_job_by_id_async(job.id, abort=True)
        return found

    async def recover(
        self, unfinished: Sequence[str], *, embedded: bool, delivering: Sequence[str] = ()
    ) -> None:
        """Before this process's worker starts: retry the jobs of dead workers, defer every
        unfinished run again, and a delivery for every run with CRM writes but no job to send
        them (written by a version before the job engine). On the embedded database this
        process is the only worker, so every worker still registered is dead."""
        manager = self.app.job_manager
        stalled_after = 0.0 if embedded else STALLED_AFTER_SECONDS
        await manager.prune_stalled_workers(seconds_since_heartbeat=stalled_after)
        await retry_stalled(self.app, stalled_after)
        for run_id in unfinished:
            await self.enqueue(run_id)
        for run_id in delivering:
            if not await self.unfinished(crm_lock(run_id)):
                await self.deliver_crm(run_id)


async def retry_stalled(app: procrastinate.App, seconds_since_heartbeat: float) -> int:
    """Give the jobs of dead workers to the living; how many there were."""
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        log.warning("job %s (%s) lost its worker; retrying it", job.id, job.task_name)
        try:
            await manager.retry_job(job)
        except exceptions.UniqueViolation:
            # The run was deferred again meanwhile (a restart's recovery): that job takes
            # over, and this one ends so that it no longer holds the run's lock.
            with contextlib.suppress(exceptions.ConnectorException):
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        except exceptions.ConnectorException:
            pass  # another worker retried it first
    return len(stalled)


async def work(
    app: procrastinate.App,
    *,
    concurrency: int,
    grace: float,
    queues: Sequence[str] = QUEUES,
    io_concurrency: int = IO_CONCURRENCY,
) -> None:
    """This process's workers, until cancelled; then running jobs get ``grace`` seconds. Runs
    (model work, minutes each) have a worker of their own, so that a save or a notification
    never waits behind them; the other queues share one with more slots, since their jobs
    mostly wait on the network. Beside them, a watch for other workers that died."""
    workers = []
    if RUNS in queues:
        workers.append(_worker(app, [RUNS], concurrency=concurrency, grace=grace))
    others = [queue for queue in queues if queue != RUNS]
    if others:
        workers.append(_worker(app, others, concurrency=io_concurrency, grace=grace))
    watch = asyncio.create_task(_watch_stalled(app), name="smartnotes-stalled-jobs")
    try:
        await asyncio.gather(*workers)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


async def _watch_stalled(app: procrastinate.App) -> None:
    while True:
        await asyncio.sleep(STALLED_AFTER_SECONDS / 3)
        try:
            await retry_stalled(app, STALLED_AFTER_SECONDS)
        except exceptions.ConnectorException:
            log.exception("looking for the jobs of dead workers failed; trying again")


async def _worker(
    app: procrastinate.App, queues: list[str], *, concurrency: int, grace: float
) -> None:
    await app.run_worker_async(
        queues=queues,
        concurrency=concurrency,
        install_signal_handlers=False,
        # Notifications wake it at once; polling only catches what they miss.
        fetch_job_polling_interval=1.0,
        abort_job_polling_interval=0.5,
        update_heartbeat_interval=HEARTBEAT_SECONDS,
        stalled_worker_timeout=STALLED_AFTER_SECONDS,
        shutdown_graceful_timeout=grace,
        name="smartnotes-" + "-".join(queues),
    )
