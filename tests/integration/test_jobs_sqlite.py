"""procrastinate's own worker, job manager and deferrers on the embedded SQLite database.

The connector answers procrastinate's named queries in SQLite; these tests drive it only through
procrastinate's public API (defer, run a worker, retry, cancel, stalled jobs, periodic defers),
so what holds here is what the service's jobs get on the embedded default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import procrastinate
import pytest
import pytest_asyncio
from procrastinate import exceptions
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.jobs.engine import retry_stalled
from smartnotes.jobs.sqlite_connector import SQLiteConnector
from smartnotes.storage.database import make_engine, sessions


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    await engine.dispose()


async def _app(engine: AsyncEngine) -> procrastinate.App:
    app = procrastinate.App(connector=SQLiteConnector(engine))
    await app.open_async()
    await app.schema_manager.apply_schema_async()
    return app


async def _drain(app: procrastinate.App, **options: Any) -> None:
    """A worker that processes what is due and stops once nothing is left."""
    await app.run_worker_async(wait=False, install_signal_handlers=False, **options)


async def _status(app: procrastinate.App, job_id: int) -> str:
    return (await app.job_manager.get_job_status_async(job_id)).value


async def _statuses(app: procrastinate.App) -> list[tuple[str, str, int]]:
    jobs = await app.job_manager.list_jobs_async()
    return [(job.task_name.rsplit(".", 1)[-1], str(job.status), job.attempts) for job in jobs]


async def test_a_deferred_job_runs_once_with_its_arguments(engine: AsyncEngine) -> None:
    app = await _app(engine)
    seen: list[dict[str, Any]] = []

    @app.task(name="note")
    async def note(**kwargs: Any) -> None:
        seen.append(kwargs)

    job_id = await note.defer_async(run_id="r1", nested={"a": [1, 2]})
    await _drain(app)
    assert seen == [{"run_id": "r1", "nested": {"a": [1, 2]}}]
    assert await _status(app, job_id) == "succeeded"
    await _drain(app)
    assert len(seen) == 1, "a finished job is not run again"
    await app.close_async()


async def test_a_failing_job_is_retried_then_fails_with_its_attempts(engine: AsyncEngine) -> None:
    app = await _app(engine)
    calls: list[int] = []

    @app.task(name="flaky", retry=procrastinate.RetryStrategy(max_attempts=2, wait=0))
    async def flaky(n: int) -> None:
        calls.append(n)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    @app.task(name="hopeless", retry=procrastinate.RetryStrategy(max_attempts=1, wait=0))
    async def hopeless() -> None:
        raise RuntimeError("never")

    await flaky.defer_async(n=1)
    await hopeless.defer_async()
    for _ in range(3):  # a retry is due at once (wait=0); each worker pass takes what is due
        await _drain(app)
    assert calls == [1, 1, 1]
    assert sorted(await _statuses(app)) == [("flaky", "succeeded", 3), ("hopeless", "failed", 2)]
    await app.close_async()


async def test_one_job_per_lock_at_a_time_and_one_waiting_per_queueing_lock(
    engine: AsyncEngine,
) -> None:
    app = await _app(engine)
    running = 0
    most = 0

    @app.task(name="step")
    async def step(n: int) -> None:
        nonlocal running, most
        locked = n < 9  # the queueing-locked job has no lock: it may run beside them
        running += locked
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= locked

    for n in range(4):
        await step.configure(lock="run:1").defer_async(n=n)
    await step.configure(queueing_lock="retry:1").defer_async(n=9)
    with pytest.raises(exceptions.AlreadyEnqueued):
        await step.configure(queueing_lock="retry:1").defer_async(n=10)
    # A worker that finds only locked jobs stops (wait=False); the next pass takes the next one.
    for _ in range(10):
        await _drain(app, concurrency=4)
        if all(status != "todo" for _, status, _ in await _statuses(app)):
            break
    assert most == 1, "jobs of one lock never ran side by side"
    statuses = await _statuses(app)
    assert statuses == [("step", "succeeded", 1)] * 5
    await app.close_async()


async def test_a_job_deferred_in_a_transaction_exists_only_if_it_commits(
    engine: AsyncEngine,
) -> None:
    app = await _app(engine)
    ran: list[int] = []

    @app.task(name="deliver")
    async def deliver(note: int) -> None:
        ran.append(note)

    factory = sessions(engine)

    async def write(note: int, *, commit: bool) -> None:
        async with factory() as session:
            await session.execute(
                text("INSERT INTO notes (id, body) VALUES (:id, 'x')"), {"id": note}
            )
            await deliver.configure(connection=session).defer_async(note=note)
            if commit:
                await session.commit()
            else:
                await session.rollback()

    await write(1, commit=False)
    await write(2, commit=True)
    await _drain(app)
    assert ran == [2], "the rolled-back note left no job behind"
    async with engine.connect() as connection:
        notes = (await connection.execute(text("SELECT id FROM notes"))).scalars().all()
    assert notes == [2]
    await app.close_async()


async def test_a_running_worker_is_told_of_a_committed_job_at_once(engine: AsyncEngine) -> None:
    app = await _app(engine)
    done = asyncio.Event()
    fetched = asyncio.Event()

    @app.task(name="ping")
    async def ping() -> None:
        done.set()

    def seen(_: Any, __: Any, statement: str, *rest: Any) -> None:
        if "SET status = 'doing'" in statement:  # a worker asked for a job
            fetched.set()

    event.listen(engine.sync_engine, "after_cursor_execute", seen)
    # Polling every minute: once its first fetch has found nothing, only the notification
    # can wake the worker in time.
    worker = asyncio.create_task(
        app.run_worker_async(install_signal_handlers=False, fetch_job_polling_interval=60)
    )
    await asyncio.wait_for(fetched.wait(), timeout=30)
    async with sessions(engine)() as session:
        await ping.configure(connection=session).defer_async()
        await session.commit()
    await asyncio.wait_for(done.wait(), timeout=30)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await app.close_async()


async def test_jobs_outlive_the_process_and_a_dead_workers_jobs_are_found(
    engine: AsyncEngine,
) -> None:
    first = await _app(engine)

    @first.task(name="long")
    async def long_job() -> None:
        await asyncio.sleep(60)

    await long_job.defer_async()
    await long_job.defer_async()
    # A worker takes one job, then dies without a word: its heartbeat stops.
    worker_id = await first.job_manager.register_worker()
    taken = await first.job_manager.fetch_job(queues=None, worker_id=worker_id)
    assert taken is not None
    await first.close_async()
    await asyncio.sleep(0.05)

    second = await _app(engine)
    ran: list[str] = []

    @second.task(name="long")
    async def long_again() -> None:
        ran.append("long")

    stalled = list(await second.job_manager.get_stalled_jobs(seconds_since_heartbeat=0.01))
    assert [job.id for job in stalled] == [taken.id]
    for job in stalled:
        await second.job_manager.retry_job(job)
    await _drain(second)
    assert ran == ["long", "long"], "the waiting job and the dead worker's job both ran"
    await second.close_async()


async def test_a_periodic_job_is_deferred_once_per_timestamp(engine: AsyncEngine) -> None:
    apps = [await _app(engine) for _ in range(3)]
    for app in apps:

        @app.task(name="renew")
        async def renew(timestamp: int) -> None:
            return None

    stamp = int(time.time())
    ids = []
    for app in apps:  # three workers' deferrers, the same tick
        job = app.tasks["renew"].configure(task_kwargs={"timestamp": stamp}).job
        ids.append(await app.job_manager.defer_periodic_job(job, "", stamp))
    assert len([i for i in ids if i is not None]) == 1
    job = apps[0].tasks["renew"].configure(task_kwargs={"timestamp": stamp + 60}).job
    assert await apps[0].job_manager.defer_periodic_job(job, "", stamp + 60) is not None
    for app in apps:
        await app.close_async()


async def test_cancel_a_waiting_job_and_abort_a_running_one(engine: AsyncEngine) -> None:
    app = await _app(engine)
    started = asyncio.Event()
    stopped: list[str] = []

    @app.task(name="slow")
    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # how the worker stops an async job it was asked to
            stopped.append("aborted")
            raise

    waiting = await slow.configure(schedule_in={"hours": 1}).defer_async()
    assert await app.job_manager.cancel_job_by_id_async(waiting)
    assert await _status(app, waiting) == "cancelled"

    running = await slow.defer_async()
    worker = asyncio.create_task(
        app.run_worker_async(install_signal_handlers=False, abort_job_polling_interval=0.05)
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    assert await app.job_manager.cancel_job_by_id_async(running, abort=True)
    for _ in range(600):
        if await _status(app, running) == "aborted":
            break
        await asyncio.sleep(0.05)
    assert await _status(app, running) == "aborted"
    assert stopped == ["aborted"]
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await app.close_async()


async def test_a_dead_workers_job_gives_way_to_the_same_run_deferred_again(
    engine: AsyncEngine,
) -> None:
    """A restart defers every unfinished run again while the killed worker's job still holds
    the run's lock; the stalled job then ends instead of waiting beside the new one."""
    app = await _app(engine)
    ran: list[str] = []

    @app.task(name="process_run")
    async def process_run(run_id: str) -> None:
        ran.append(run_id)

    locked = process_run.configure(lock="run:1", queueing_lock="run:1")
    await locked.defer_async(run_id="1")
    dead = await app.job_manager.register_worker()
    taken = await app.job_manager.fetch_job(queues=None, worker_id=dead)
    assert taken is not None
    await process_run.configure(lock="run:1", queueing_lock="run:1").defer_async(run_id="1")
    await _drain(app)
    assert ran == [], "the new job waits: the dead worker's job holds the lock"

    await asyncio.sleep(0.05)
    assert await retry_stalled(app, 0.01) == 1
    await _drain(app)
    assert ran == ["1"], "processed once, by the job deferred again"
    assert sorted(await _statuses(app)) == [
        ("process_run", "failed", 1),
        ("process_run", "succeeded", 1),
    ]
    await app.close_async()
