"""Runs as procrastinate jobs: the queue every role defers to, and the worker that runs them.

One job per run, ``process_run``, under the lock ``run:<id>`` (one worker at a time processes
a run, on any number of machines) and the queueing lock of the same name (one waiting job per
run: a repeated enqueue is a no-op). Deferring is a row in the database, so a web-only process
queues runs for workers elsewhere, and a queued run outlives any process.

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
from collections.abc import Awaitable, Callable

import procrastinate
from procrastinate import exceptions
from procrastinate.jobs import Status
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.jobs.sqlite_connector import SQLiteConnector

log = logging.getLogger(__name__)

PROCESS_RUN = "process_run"
# A worker's heartbeat period, and how long without one before its jobs count as stalled.
HEARTBEAT_SECONDS = 2.0
STALLED_AFTER_SECONDS = 15.0


def job_app(engine: AsyncEngine, *, workers: int = 1) -> procrastinate.App:
    """procrastinate on the service's database: its own connector on PostgreSQL, ours on the
    embedded SQLite file. On PostgreSQL it keeps a pool of its own: one connection listening,
    one for heartbeats and fetches, one per job that records its outcome (``workers``)."""
    if engine.dialect.name == "sqlite":
        return procrastinate.App(connector=SQLiteConnector(engine))
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=workers + 3)
    return procrastinate.App(connector=connector)


def _lock(run_id: str) -> str:
    return f"run:{run_id}"


class RunJobs:
    """The queue of runs, as every role sees it."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    async def enqueue(self, run_id: str) -> None:
        task = self.app.configure_task(PROCESS_RUN, lock=_lock(run_id), queueing_lock=_lock(run_id))
        with contextlib.suppress(exceptions.AlreadyEnqueued):  # already waiting: once is enough
            await task.defer_async(run_id=run_id)

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

    async def recover(self, unfinished: list[str], *, embedded: bool) -> None:
        """Before this process's worker starts: retry the jobs of dead workers and defer every
        unfinished run again. On the embedded database this process is the only worker, so
        every worker still registered is dead."""
        manager = self.app.job_manager
        stalled_after = 0.0 if embedded else STALLED_AFTER_SECONDS
        await manager.prune_stalled_workers(seconds_since_heartbeat=stalled_after)
        await retry_stalled(self.app, stalled_after)
        for run_id in unfinished:
            await self.enqueue(run_id)


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


def register(
    app: procrastinate.App, process: Callable[[str], Awaitable[None]], *, time_limit: float
) -> None:
    """The jobs a worker runs. A run records its own failures; an exception here is a bug."""

    @app.task(name=PROCESS_RUN)
    async def process_run(run_id: str) -> None:
        try:
            await asyncio.wait_for(process(run_id), timeout=time_limit)
        except TimeoutError:
            log.error("run %s exceeded its time limit of %.0f s", run_id, time_limit)


async def work(app: procrastinate.App, *, concurrency: int, grace: float) -> None:
    """This process's worker, until cancelled; then running jobs get ``grace`` seconds. Beside
    it, a watch for other workers that died (their heartbeat stopped)."""
    watch = asyncio.create_task(_watch_stalled(app), name="smartnotes-stalled-jobs")
    try:
        await _worker(app, concurrency=concurrency, grace=grace)
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


async def _worker(app: procrastinate.App, *, concurrency: int, grace: float) -> None:
    await app.run_worker_async(
        concurrency=concurrency,
        install_signal_handlers=False,
        # Notifications wake it at once; polling only catches what they miss.
        fetch_job_polling_interval=1.0,
        abort_job_polling_interval=0.5,
        update_heartbeat_interval=HEARTBEAT_SECONDS,
        stalled_worker_timeout=STALLED_AFTER_SECONDS,
        shutdown_graceful_timeout=grace,
        name="smartnotes",
    )
