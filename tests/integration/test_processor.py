"""Runs processed as jobs by procrastinate's worker, with the demo model and the embedded CRM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.embedded import EmbeddedCRM
from pipeline.asr import Transcriber
from pipeline.local_llm import LocalModel
from pipeline.prompting import Prompts
from smartnotes import consent, directory
from smartnotes.crm.outbox import Outbox
from smartnotes.jobs.engine import Jobs, job_app
from smartnotes.jobs.tasks import register_runs
from smartnotes.runs.intake import (
    CallEvent,
    Participant,
    TranscriptStore,
    stop_processing,
    submit_call,
)
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.processor import RunProcessor
from smartnotes.runs.review import ConflictError, Review, Viewer
from smartnotes.storage.database import make_engine, sessions
from smartnotes.storage.migrate import upgrade
from smartnotes.storage.models import (
    AuditEntry,
    Notification,
    Run,
    RunSource,
    RunStatus,
    RunStep,
    RunTask,
)
from tests.conftest import claude_extractor, make_pipeline
from tests.fakes.anthropic_server import FakeAnthropic
from tests.seed import TERMS, seed_consent

TENANT, REP = "contoso-tenant", "maria@northwind.test"
VTT = b"""WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:09.000
<v Daniel Okafor>Great, thank you.</v>
"""
EVENT = CallEvent(
    tenant_id=TENANT,
    owner_email=REP,
    source=RunSource.CALLING_TOOL,
    call_id="call-7",
    transcript=VTT,
    transcript_name="call.vtt",
    call_started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
    timezone="America/Chicago",
    participants=(Participant("Maria Chen", REP), Participant("Daniel", "daniel@contoso.test")),
)


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    store: TranscriptStore
    processor: RunProcessor
    jobs: Jobs

    async def recover(self) -> list[str]:
        """What the service does at start: the unfinished runs, deferred as jobs again."""
        unfinished = await self.processor.unfinished()
        await self.jobs.recover(unfinished, embedded=True)
        return unfinished

    async def run_until_idle(self) -> None:
        """procrastinate's worker, until nothing is left to do."""
        await self.jobs.app.run_worker_async(
            wait=False, concurrency=2, install_signal_handlers=False
        )

    async def run(self, run_id: str) -> Run:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
        assert run is not None
        return run

    async def steps(self, run_id: str) -> list[RunStep]:
        async with self.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.id)
                    )
                ).scalars()
            )

    async def tasks(self, run_id: str) -> list[RunTask]:
        async with self.sessions() as session:
            return list(
                (
                    await session.execute(
                        select(RunTask).where(RunTask.run_id == run_id).order_by(RunTask.position)
                    )
                ).scalars()
            )


@pytest_asyncio.fixture
async def world(
    tmp_path: Path,
    local_model: LocalModel,
    prompts: Prompts,
    asr_model_path: str,
    service_database: SecretStr | None,
) -> AsyncIterator[World]:
    if service_database is None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'smartnotes.db'}")
        await upgrade(engine)
    else:  # created and migrated by the fixture
        engine = make_engine(service_database.get_secret_value())
    factory = sessions(engine)
    crm = EmbeddedCRM(engine)
    await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
    async with factory() as session, session.begin():
        await directory.add_seat(session, TENANT, REP, by="admin", display_name="Maria Chen")
    await seed_consent(factory, TENANT)
    processor = RunProcessor(
        factory,
        make_pipeline(local_model, prompts),
        lambda: Transcriber(Path(asr_model_path)),
        crm,
        TranscriptStore(tmp_path / "transcripts"),
        terms_version=TERMS,
    )
    app = job_app(engine)
    await app.open_async()
    register_runs(app, processor.process, time_limit=3600)
    yield World(factory, processor.store, processor, Jobs(app))
    await app.close_async()
    await engine.dispose()


async def _submit(world: World, event: CallEvent = EVENT) -> str:
    submitted = await submit_call(world.sessions, world.store, event, terms_version=TERMS)
    assert submitted.run_id is not None
    return submitted.run_id


async def test_a_call_becomes_a_run_ready_for_review(world: World) -> None:
    run_id = await _submit(world)
    assert await world.recover() == [run_id]
    await world.run_until_idle()
    run = await world.run(run_id)
    assert run.status == RunStatus.NEEDS_REVIEW
    assert (run.customer_name, run.extractor) == ("Contoso Logistics", "local")
    assert run.extractor_fallback_reason == "no ANTHROPIC_API_KEY set"
    assert run.summary_generated
    steps = [(s.step, s.status) for s in await world.steps(run_id)]
    assert steps[0] == ("matching_customer", "done")
    assert set(steps[1:]) == {
        ("summarizing", "done"),
        ("analyzing", "done"),
        ("creating_tasks", "done"),
    }
    tasks = [t.generated for t in await world.tasks(run_id)]
    quote = [t for t in tasks if "revised quote" in t["evidence"][0]["quote"]]
    assert quote
    assert quote[0]["due_date"] == date(2026, 11, 20).isoformat()
    assert quote[0]["evidence"][0]["verified"] is True


async def test_an_interrupted_run_resumes_from_its_last_completed_step(world: World) -> None:
    run_id = await _submit(world)
    async with world.sessions() as session, session.begin():  # as a kill -9 after the summary
        run = await session.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.RUNNING
        run.step = "analyzing"
        run.summary_generated = "Summary written before the crash."
        # What the killed process had started and never finished.
        session.add(RunStep(run_id=run_id, step="analyzing", status="running"))
    await world.recover()
    await world.run_until_idle()
    run = await world.run(run_id)
    assert run.status == RunStatus.NEEDS_REVIEW
    assert run.step is None
    assert run.summary_generated == "Summary written before the crash."
    history = [(s.step, s.status) for s in await world.steps(run_id)]
    assert ("summarizing", "done") not in history
    assert history[0] == ("analyzing", "interrupted")
    assert ("analyzing", "done") in history
    assert all(status != "running" for _, status in history)
    assert await world.tasks(run_id)
    # Processing it again (a duplicate job) changes nothing.
    tasks_before = [t.id for t in await world.tasks(run_id)]
    await world.processor.process(run_id)
    assert [t.id for t in await world.tasks(run_id)] == tasks_before


async def test_confidential_runs_stay_local_and_drop_the_transcript(
    world: World, fake_claude: FakeAnthropic, prompts: Prompts, local_model: LocalModel
) -> None:
    world.processor.pipeline = make_pipeline(
        local_model, prompts, claude_extractor(fake_claude, prompts)
    )
    run_id = await _submit(world, replace(EVENT, confidential=True))
    transcript_ref = (await world.run(run_id)).transcript_ref
    assert transcript_ref is not None
    await world.recover()
    await world.run_until_idle()
    run = await world.run(run_id)
    assert run.status == RunStatus.NEEDS_REVIEW
    assert fake_claude.requests == []  # nothing went to the outside provider
    assert run.extractor_fallback_reason == "confidential call: only local models run"
    assert run.transcript_ref is None
    assert run.transcript_deleted_at is not None
    assert not await asyncio.to_thread(Path(transcript_ref).exists)


async def test_a_failed_run_says_why_and_can_be_retried(world: World) -> None:
    run_id = await _submit(world)
    path = Path((await world.run(run_id)).transcript_ref or "")
    await asyncio.to_thread(path.write_bytes, b"just some prose, nothing else")
    await world.recover()
    await world.run_until_idle()
    run = await world.run(run_id)
    assert run.status == RunStatus.FAILED
    assert run.failed_step == "loading"
    assert run.error is not None
    assert "unrecognised transcript format" in run.error
    await asyncio.to_thread(path.write_bytes, VTT)
    review = Review(
        world.sessions,
        world.store,
        Outbox(world.sessions, world.processor.crm, jobs=world.jobs),
        world.jobs,
        LiveEvents(),
    )
    viewer = Viewer(TENANT, run.owner_id, REP)
    assert (await review.retry(viewer, run_id))["status"] == RunStatus.QUEUED
    await world.run_until_idle()
    assert (await world.run(run_id)).status == RunStatus.NEEDS_REVIEW
    with pytest.raises(ConflictError):  # nothing to retry
        await review.retry(viewer, run_id)
    async with world.sessions() as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.run_id == run_id)
                    .order_by(AuditEntry.id)
                )
            ).scalars()
        )
    assert actions == ["run_created", "run_failed", "run_retried", "run_ready"]


async def test_a_cancelled_run_is_not_processed(world: World) -> None:
    run_id = await _submit(world)
    await stop_processing(world.sessions, world.store, run_id, by=REP)
    await world.jobs.enqueue(run_id)
    await world.run_until_idle()
    run = await world.run(run_id)
    assert run.status == RunStatus.CANCELLED
    assert await world.tasks(run_id) == []


async def test_a_run_queued_before_the_consent_was_withdrawn_is_cancelled_unread(
    world: World,
) -> None:
    run_id = await _submit(world)
    transcript = (await world.run(run_id)).transcript_ref
    assert transcript is not None
    async with world.sessions() as session, session.begin():
        await consent.withdraw_consent(session, TENANT, by="Ada Admin <ada@contoso.test>")
    await world.jobs.enqueue(run_id)
    await world.run_until_idle()

    run = await world.run(run_id)
    why = f"the tenant has not agreed to AI processing (terms {TERMS})"
    assert (run.status, run.error) == (RunStatus.CANCELLED, why)
    assert (run.summary_generated, run.transcript_ref) == (None, None)
    assert not await asyncio.to_thread(Path(transcript).exists)
    assert await world.steps(run_id) == [], "no step ran: nothing read the call"
    assert await world.tasks(run_id) == []
    async with world.sessions() as session:
        cancelled = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.run_id == run_id, AuditEntry.action == "run_cancelled"
                )
            )
        ).scalar_one()
        told = (
            await session.execute(select(Notification).where(Notification.run_id == run_id))
        ).scalar_one()
    assert cancelled.detail["reason"] == why
    assert told.kind == "run_not_processed"
    assert "has not agreed to AI processing" in told.message
