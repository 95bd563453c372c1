"""The CRM outbox against a local CRM that goes down, comes back, and loses answers, its
deliveries run by the job engine's own worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapters.contract import AdapterResources
from crm_adapters.registry import default_registry
from smartnotes.crm.outbox import Outbox
from smartnotes.jobs.engine import CRM, IO_CONCURRENCY, Jobs, crm_lock, job_app, work
from smartnotes.jobs.tasks import register_crm
from smartnotes.runs.intake import TranscriptStore
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.notify import Kind
from smartnotes.runs.review import Review, Viewer
from smartnotes.storage.database import sessions as make_sessions
from smartnotes.storage.models import (
    AuditEntry,
    CrmWrite,
    Notification,
    Run,
    RunStatus,
    RunTask,
    TaskStatus,
)
from tests.fakes.crm_server import TOKEN, FakeCRM, Misbehave
from tests.seed import TASKS, seed_run, seed_user
from tests.waits import until

TENANT, REP = "contoso-tenant", "maria@northwind.test"


@pytest_asyncio.fixture
async def crm() -> AsyncIterator[FakeCRM]:
    server = FakeCRM()
    await server.start()
    yield server
    await server.close()


_OPEN: list[Any] = []


def _close_later(adapter: Any) -> None:
    _OPEN.append(adapter)


@pytest_asyncio.fixture(autouse=True)
async def _closed_adapters() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


@asynccontextmanager
async def _jobs(engine: AsyncEngine) -> AsyncIterator[Jobs]:
    app = job_app(engine, workers=IO_CONCURRENCY)
    await app.open_async()
    try:
        yield Jobs(app)
    finally:
        await app.close_async()


@asynccontextmanager
async def _workers(jobs: Jobs, outbox: Outbox, count: int = 1) -> AsyncIterator[None]:
    """``count`` workers of the CRM queue, as separate worker processes would run them."""
    register_crm(jobs.app, jobs, outbox.deliver)
    running = [
        asyncio.create_task(work(jobs.app, queues=[CRM], concurrency=1, grace=5.0))
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_outbox_delivers_everything_once_after_an_outage(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest",
        {"base_url": crm.base_url, "auth_token": TOKEN, "max_attempts": 1},
        AdapterResources(),
    )
    _close_later(adapter)
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    async with _jobs(migrated) as jobs:
        outbox = Outbox(sessions, adapter, jobs=jobs, base_delay=0.05, max_delay=0.2)
        review = Review(sessions, TranscriptStore(tmp_path), outbox, jobs, LiveEvents())
        owner = await seed_user(sessions, TENANT, REP)
        run_id = await seed_run(
            sessions, TENANT, owner, call_id="c1", customer=(customer, "Contoso")
        )
        viewer = Viewer(TENANT, owner, REP)
        view = await review.get(viewer, run_id)
        rejected = view["tasks"][1]["id"]
        view = await review.decide_task(viewer, run_id, rejected, accept=False, version=None)

        crm.down = True
        view = await review.save(viewer, run_id, version=view["version"])
        assert view["status"] == RunStatus.SAVING

        async def tried_three_times_and_said_so() -> bool:
            # The rep is told after the attempt that found the delay was recorded: both are
            # waited for (a save that keeps failing is not silent, or this times out).
            async with sessions() as session:
                attempts = (await session.execute(select(CrmWrite.attempts))).scalars().all()
                kinds = (await session.execute(select(Notification.kind))).scalars().all()
            return min(attempts) >= 3 and Kind.CRM_DELAYED in kinds

        async with _workers(jobs, outbox):
            await until(tried_three_times_and_said_so)
            assert crm.notes == {}
            assert crm.tasks == {}
            assert await outbox.pending(run_id) == 2  # the note and the accepted task, queued
            async with sessions() as session:
                run = await session.get(Run, run_id)
            assert run is not None
            assert run.error is not None
            assert "delayed" in run.error

            # Back up; the first write lands in the CRM but its answer is lost on the way back.
            crm.down = False
            crm.trouble.append(Misbehave(lose_response=True))

            async def nothing_pending() -> bool:
                return await outbox.pending() == 0

            await until(nothing_pending)
        assert len(crm.notes) == 1, "the note landed exactly once"
        assert len(crm.tasks) == 1, "the accepted task landed exactly once; the rejected never"
        (note,) = crm.notes.values()
        assert note["customer_id"] == customer
        assert note["ai_generated"] is True
        (task,) = crm.tasks.values()
        assert task["title"] == "Send revised quote with annual pricing"
        assert "I will send you a revised quote" in task["description"], "the evidence goes along"
        replayed = [e for e in crm.log if e.method == "POST" and e.status in (200, 201)]
        assert len({e.key for e in replayed}) == 2
        async with sessions() as session:
            run = await session.get(Run, run_id)
            tasks = {t.id: t for t in (await session.execute(select(RunTask))).scalars()}
        assert run is not None
        assert run.status == RunStatus.SAVED
        assert run.error is None
        assert tasks[rejected].status == TaskStatus.REJECTED
        assert tasks[rejected].crm_task_id is None
        (written,) = [t for t in tasks.values() if t.status == TaskStatus.WRITTEN]
        assert written.crm_task_id in crm.tasks

        # Saving again changes nothing and queues nothing.
        await review.save(viewer, run_id, version=None)
        assert not await jobs.unfinished(crm_lock(run_id))


async def test_every_run_whose_writes_landed_is_saved_whatever_their_order(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    """Deliveries of one run's writes land concurrently; on PostgreSQL each delivery used to
    see the others as still pending and no run got saved. Two workers share the runs."""
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN}, AdapterResources()
    )
    _close_later(adapter)
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    async with _jobs(migrated) as jobs:
        outbox = Outbox(sessions, adapter, jobs=jobs)
        review = Review(sessions, TranscriptStore(tmp_path), outbox, jobs, LiveEvents())
        owner = await seed_user(sessions, TENANT, REP)
        viewer = Viewer(TENANT, owner, REP)
        tasks = [{**TASKS[0], "title": f"Task {n}"} for n in range(3)]
        runs = [
            await seed_run(
                sessions,
                TENANT,
                owner,
                call_id=f"c{n}",
                customer=(customer, "Contoso"),
                tasks=tasks,
            )
            for n in range(9)
        ]
        for run_id in runs:
            await review.save(viewer, run_id, version=None)

        async def nothing_pending() -> bool:
            return await outbox.pending() == 0

        async with _workers(jobs, outbox, count=2):
            await until(nothing_pending)
        async with sessions() as session:
            statuses = (await session.execute(select(Run.status))).scalars().all()
            saved = (
                (
                    await session.execute(
                        select(AuditEntry.run_id).where(AuditEntry.action == "run_saved")
                    )
                )
                .scalars()
                .all()
            )
    assert statuses == [RunStatus.SAVED] * len(runs)
    assert sorted(r for r in saved if r is not None) == sorted(runs)
    assert len(saved) == len(runs)
    assert len(crm.tasks) == 3 * len(runs)


async def test_a_save_that_fails_to_commit_queues_no_delivery(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    """The delivery is deferred in the save's own transaction: a save refused after its
    writes were queued leaves neither writes nor a job behind."""
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN}, AdapterResources()
    )
    _close_later(adapter)
    async with _jobs(migrated) as jobs:
        outbox = Outbox(sessions, adapter, jobs=jobs)
        owner = await seed_user(sessions, TENANT, REP)
        run_id = await seed_run(sessions, TENANT, owner, call_id="c1", status=RunStatus.SAVING)

        async def failing_save() -> None:
            async with sessions() as session, session.begin():
                session.add(CrmWrite(run_id=run_id, kind="note", idempotency_key="k-1", payload={}))
                await outbox.dispatch(session, run_id)
                raise RuntimeError("the save fails after queueing its writes")

        with pytest.raises(RuntimeError):
            await failing_save()
        assert await outbox.pending(run_id) == 0
        assert not await jobs.unfinished(crm_lock(run_id))

        async with sessions() as session, session.begin():
            session.add(CrmWrite(run_id=run_id, kind="note", idempotency_key="k-2", payload={}))
            await outbox.dispatch(session, run_id)
        assert await jobs.unfinished(crm_lock(run_id)), "a committed save has its delivery"


async def test_a_run_left_saving_with_nothing_pending_is_finished(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN}, AdapterResources()
    )
    _close_later(adapter)
    owner = await seed_user(sessions, TENANT, REP)
    stuck = await seed_run(sessions, TENANT, owner, call_id="stuck", status=RunStatus.SAVING)
    waiting = await seed_run(sessions, TENANT, owner, call_id="wait", status=RunStatus.SAVING)
    async with sessions() as session, session.begin():
        session.add(CrmWrite(run_id=waiting, kind="note", idempotency_key="k-wait", payload={}))
    async with _jobs(migrated) as jobs:
        outbox = Outbox(sessions, adapter, jobs=jobs)
        assert await outbox.finish_saved_runs() == [stuck]
        assert await outbox.delivering() == [waiting]
    async with sessions() as session:
        assert (await session.get(Run, stuck)).status == RunStatus.SAVED  # type: ignore[union-attr]
        assert (await session.get(Run, waiting)).status == RunStatus.SAVING  # type: ignore[union-attr]


async def test_a_slow_send_is_sent_once_while_the_rep_saves_again(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    """The rep presses save again while the CRM is slow to answer: a second delivery is
    queued, and with two workers up it waits for the first (the run's lock) instead of
    sending the same write again; it then finds nothing left to send."""
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN, "timeout": 30}, AdapterResources()
    )
    _close_later(adapter)
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    async with _jobs(migrated) as jobs:
        outbox = Outbox(sessions, adapter, jobs=jobs)
        review = Review(sessions, TranscriptStore(tmp_path), outbox, jobs, LiveEvents())
        owner = await seed_user(sessions, TENANT, REP)
        viewer = Viewer(TENANT, owner, REP)
        run_id = await seed_run(
            sessions, TENANT, owner, call_id="slow", customer=(customer, "Contoso"), tasks=[]
        )
        crm.trouble.append(Misbehave(status=0, delay=2.0))
        await review.save(viewer, run_id, version=None)

        async def sending() -> bool:
            return bool(crm.log)

        async def saved() -> bool:
            async with sessions() as session:
                run = await session.get(Run, run_id)
            return run is not None and run.status == RunStatus.SAVED

        async with _workers(jobs, outbox, count=2):
            await until(sending)
            await review.save(viewer, run_id, version=None)  # saving again: deliver now
            await until(saved)

            async def settled() -> bool:
                return not await jobs.unfinished(crm_lock(run_id))

            await until(settled)
    assert [e.method for e in crm.log] == ["POST"]
