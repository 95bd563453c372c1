"""The CRM outbox against a local CRM that goes down, comes back, and loses answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapters.registry import AdapterResources, default_registry
from smartnotes.jobs.engine import RunJobs, job_app
from smartnotes.live import LiveEvents
from smartnotes.notify import Kind
from smartnotes.outbox import Outbox
from smartnotes.review import Review, Viewer
from smartnotes.runs import TranscriptStore
from smartnotes.storage.database import sessions as make_sessions
from smartnotes.storage.models import (
    AuditEntry,
    CrmWrite,
    Notification,
    Run,
    RunStatus,
    RunTask,
    TaskStatus,
    utcnow,
)
from tests.fakes.crm_server import TOKEN, FakeCRM, Misbehave
from tests.seed import TASKS, seed_run, seed_user

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


async def _deliver_until(
    outbox: Outbox, done: Callable[[], Awaitable[bool]], *, seconds: float = 10.0
) -> None:
    async def loop() -> None:
        while not await done():
            await outbox.deliver_due()
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), timeout=seconds)


async def test_outbox_delivers_everything_once_after_an_outage(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest",
        {"base_url": crm.base_url, "auth_token": TOKEN, "max_attempts": 1},
        AdapterResources(),
    )
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    outbox = Outbox(sessions, adapter, base_delay=0.05, max_delay=0.2)
    _close_later(adapter)
    review = Review(
        sessions, TranscriptStore(tmp_path), outbox, RunJobs(job_app(migrated)), LiveEvents()
    )
    owner = await seed_user(sessions, TENANT, REP)
    run_id = await seed_run(sessions, TENANT, owner, call_id="c1", customer=(customer, "Contoso"))
    viewer = Viewer(TENANT, owner, REP)
    view = await review.get(viewer, run_id)
    rejected = view["tasks"][1]["id"]
    view = await review.decide_task(viewer, run_id, rejected, accept=False, version=None)

    crm.down = True
    view = await review.save(viewer, run_id, version=view["version"])
    assert view["status"] == RunStatus.SAVING

    async def tried_three_times() -> bool:
        async with sessions() as session:
            attempts = (await session.execute(select(CrmWrite.attempts))).scalars().all()
        return min(attempts) >= 3

    await _deliver_until(outbox, tried_three_times)
    assert crm.notes == {}
    assert crm.tasks == {}
    assert await outbox.pending(run_id) == 2  # the note and the one accepted task, still queued
    async with sessions() as session:
        kinds = (await session.execute(select(Notification.kind))).scalars().all()
        run = await session.get(Run, run_id)
    assert Kind.CRM_DELAYED in kinds, "a save that keeps failing is not silent"
    assert run is not None
    assert run.error is not None
    assert "delayed" in run.error

    # Back up; the first write lands in the CRM but its answer is lost on the way back.
    crm.down = False
    crm.trouble.append(Misbehave(lose_response=True))

    async def nothing_pending() -> bool:
        return await outbox.pending() == 0

    await _deliver_until(outbox, nothing_pending)
    assert len(crm.notes) == 1, "the note landed exactly once"
    assert len(crm.tasks) == 1, "the accepted task landed exactly once; the rejected one never"
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

    # Saving again changes nothing and sends nothing.
    sent = len(crm.log)
    await review.save(viewer, run_id, version=None)
    await outbox.deliver_due()
    assert len(crm.log) == sent


async def test_every_run_whose_writes_landed_is_saved_whatever_their_order(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    """Deliveries of one run's writes land concurrently (one batch is sent at once); on
    PostgreSQL each delivery used to see the others as still pending and no run got saved."""
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN}, AdapterResources()
    )
    _close_later(adapter)
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    outbox = Outbox(sessions, adapter, batch=40)
    review = Review(
        sessions, TranscriptStore(tmp_path), outbox, RunJobs(job_app(migrated)), LiveEvents()
    )
    owner = await seed_user(sessions, TENANT, REP)
    viewer = Viewer(TENANT, owner, REP)
    tasks = [{**TASKS[0], "title": f"Task {n}"} for n in range(3)]
    runs = [
        await seed_run(
            sessions, TENANT, owner, call_id=f"c{n}", customer=(customer, "Contoso"), tasks=tasks
        )
        for n in range(9)
    ]
    for run_id in runs:
        await review.save(viewer, run_id, version=None)

    async def nothing_pending() -> bool:
        return await outbox.pending() == 0

    await _deliver_until(outbox, nothing_pending)
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
    outbox = Outbox(sessions, adapter)
    assert await outbox.finish_saved_runs() == [stuck]
    async with sessions() as session:
        assert (await session.get(Run, stuck)).status == RunStatus.SAVED  # type: ignore[union-attr]
        assert (await session.get(Run, waiting)).status == RunStatus.SAVING  # type: ignore[union-attr]


async def test_a_slow_send_keeps_its_claim_and_a_dead_workers_claim_lapses(
    migrated: AsyncEngine, crm: FakeCRM, tmp_path: Path
) -> None:
    sessions = make_sessions(migrated)
    adapter = default_registry(plugins=False).create(
        "rest", {"base_url": crm.base_url, "auth_token": TOKEN, "timeout": 30}, AdapterResources()
    )
    _close_later(adapter)
    customer = crm.add_customer("Contoso", ["daniel@contoso.test"])
    owner = await seed_user(sessions, TENANT, REP)
    first = Outbox(sessions, adapter, lease=0.6)
    second = Outbox(sessions, adapter, lease=0.6)
    review = Review(
        sessions, TranscriptStore(tmp_path), first, RunJobs(job_app(migrated)), LiveEvents()
    )
    run_id = await seed_run(
        sessions, TENANT, owner, call_id="slow", customer=(customer, "Contoso"), tasks=[]
    )
    await review.save(Viewer(TENANT, owner, REP), run_id, version=None)

    # The CRM takes several leases to answer: the first worker's claim is renewed meanwhile,
    # so the second worker, trying all along, never sends the same write.
    crm.trouble.append(Misbehave(status=0, delay=2.0))
    sending = asyncio.create_task(first.deliver_due())
    async with asyncio.timeout(30):  # the first worker claims it and waits for the CRM
        while True:
            if crm.log:
                break
            await asyncio.sleep(0.01)
    while not sending.done():
        await second.deliver_due()
        await asyncio.sleep(0.1)
    assert await sending == 1
    assert [e.method for e in crm.log] == ["POST"]

    # A worker that claimed a write and died: its claim lapses within a lease.
    other = await seed_run(
        sessions, TENANT, owner, call_id="dead", customer=(customer, "Contoso"), tasks=[]
    )
    await review.save(Viewer(TENANT, owner, REP), other, version=None)
    async with sessions() as session, session.begin():
        row = (await session.execute(select(CrmWrite).where(CrmWrite.run_id == other))).scalar_one()
        row.attempts, row.next_attempt_at = 1, utcnow() + timedelta(seconds=0.6)

    async def saved() -> bool:
        async with sessions() as session:
            run = await session.get(Run, other)
        return run is not None and run.status == RunStatus.SAVED

    await _deliver_until(second, saved, seconds=30)
