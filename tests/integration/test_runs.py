"""Runs from calls: the gate, idempotency under concurrency, and "don't process this call"."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_adapters.embedded import EmbeddedCRM
from smartnotes import consent, directory
from smartnotes.crm.outbox import Outbox
from smartnotes.jobs.engine import Jobs, job_app
from smartnotes.runs.gate import Decision, Skip
from smartnotes.runs.intake import (
    CallEvent,
    Participant,
    TranscriptStore,
    stop_processing,
    submit_call,
)
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.review import NotFoundError, Review, Viewer
from smartnotes.storage.database import sessions
from smartnotes.storage.models import AuditEntry, Run, RunSource, RunStatus, User
from tests.seed import TERMS, seed_consent, seed_run, seed_user

TENANT = "contoso-tenant"
ADMIN = "Ada Admin <ada@contoso.test>"
REP = "maria@northwind.test"
EVENT = CallEvent(
    tenant_id=TENANT,
    owner_email="Maria@Northwind.test",
    source=RunSource.CALLING_TOOL,
    call_id="call-42",
    transcript=b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>hi</v>\n",
    transcript_name="call.vtt",
    call_started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
    timezone="America/Chicago",
    participants=(Participant("Daniel", "daniel@contoso.test"),),
)


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def _licensed(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session, session.begin():
        await directory.add_seat(session, TENANT, REP, by="admin@northwind.test")
    await seed_consent(factory, TENANT)


async def _count(factory: async_sessionmaker[AsyncSession], model: type[Run | User]) -> int:
    async with factory() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_licensed_rep_gets_one_run_per_call(migrated: AsyncEngine, tmp_path: Path) -> None:
    factory, store = sessions(migrated), TranscriptStore(tmp_path / "transcripts")
    await _licensed(factory)
    first = await submit_call(factory, store, EVENT, terms_version=TERMS)
    again = await submit_call(factory, store, EVENT, terms_version=TERMS)
    assert first.created
    assert (again.run_id, again.created) == (first.run_id, False)
    async with factory() as session:
        run = await session.get(Run, first.run_id)
        assert run is not None
        assert (run.status, run.confidential, run.timezone) == (
            RunStatus.QUEUED,
            False,
            "America/Chicago",
        )
        assert run.participants == [{"name": "Daniel", "email": "daniel@contoso.test"}]
        assert run.call_started_at == datetime(2026, 11, 17, 16, tzinfo=UTC)
        assert run.transcript_ref is not None
        saved = await asyncio.to_thread(Path(run.transcript_ref).read_bytes)
        assert saved == EVENT.transcript


async def test_identical_events_at_once_make_one_run(migrated: AsyncEngine, tmp_path: Path) -> None:
    factory, store = sessions(migrated), TranscriptStore(tmp_path / "transcripts")
    await _licensed(factory)
    results = await asyncio.gather(
        *(submit_call(factory, store, EVENT, terms_version=TERMS) for _ in range(6))
    )
    assert len({r.run_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await _count(factory, Run) == 1
    assert len(await asyncio.to_thread(_files, tmp_path / "transcripts")) == 1


@pytest.mark.parametrize(
    ("setup", "event_change", "reason"),
    [
        ("nothing", {}, Skip.UNKNOWN_TENANT),
        ("tenant_off", {}, Skip.TENANT_OFF),
        ("no_consent", {}, Skip.NO_CONSENT),
        ("older_terms", {}, Skip.NO_CONSENT),
        ("withdrawn", {}, Skip.NO_CONSENT),
        ("no_seat", {}, Skip.NO_SEAT),
        ("user_off", {}, Skip.USER_OFF),
        ("licensed", {"opted_out": True}, Skip.CALL_OPTED_OUT),
        ("licensed", {"owner_email": "someone@else.test"}, Skip.UNKNOWN_USER),
    ],
)
async def test_switched_off_calls_leave_only_the_decision(
    migrated: AsyncEngine,
    tmp_path: Path,
    setup: str,
    event_change: dict[str, object],
    reason: Skip,
) -> None:
    factory, store = sessions(migrated), TranscriptStore(tmp_path / "transcripts")
    async with factory() as session, session.begin():
        if setup != "nothing":
            await directory.add_seat(session, TENANT, REP, by="admin")
        if setup not in ("nothing", "no_consent", "older_terms"):
            await consent.record_consent(session, TENANT, by=ADMIN, terms_version=TERMS)
        if setup == "older_terms":
            await consent.record_consent(session, TENANT, by=ADMIN, terms_version="2020-01-01")
        if setup == "withdrawn":
            await consent.withdraw_consent(session, TENANT, by=ADMIN)
        if setup == "tenant_off":
            await directory.set_tenant_enabled(session, TENANT, False, by="admin")
        if setup == "no_seat":
            await directory.remove_seat(session, TENANT, REP, by="admin")
        if setup == "user_off":
            await directory.set_user_enabled(session, TENANT, REP, False, by="rep")
    users_before = await _count(factory, User)
    event = replace(EVENT, **event_change)  # type: ignore[arg-type]
    result = await submit_call(factory, store, event, terms_version=TERMS)
    why = Decision(False, reason, terms_version=TERMS).why
    assert (result.run_id, result.created, result.skipped, result.why) == (None, False, reason, why)
    assert await _count(factory, Run) == 0
    assert await _count(factory, User) == users_before
    assert not await asyncio.to_thread((tmp_path / "transcripts").exists)
    async with factory() as session:
        skipped = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "call_skipped")))
            .scalars()
            .all()
        )
    assert [(e.detail["reason"], e.run_id) for e in skipped] == [(why, None)]
    assert skipped[0].detail["skip"] == reason.name.lower()
    assert "call-42" not in str(skipped[0].detail)


async def test_confidential_default_and_per_call_flag(
    migrated: AsyncEngine, tmp_path: Path
) -> None:
    factory, store = sessions(migrated), TranscriptStore(tmp_path / "transcripts")
    await _licensed(factory)
    async with factory() as session, session.begin():
        await directory.set_confidential_default(session, TENANT, REP, True, by="rep")
    by_default = await submit_call(factory, store, EVENT, terms_version=TERMS)
    overridden = await submit_call(
        factory, store, replace(EVENT, call_id="call-43", confidential=False), terms_version=TERMS
    )
    async with factory() as session:
        first = await session.get(Run, by_default.run_id)
        second = await session.get(Run, overridden.run_id)
    assert first is not None
    assert second is not None
    assert (first.confidential, second.confidential) == (True, False)


async def test_dont_process_this_call_cancels_and_deletes_the_transcript(
    migrated: AsyncEngine, tmp_path: Path
) -> None:
    factory, store = sessions(migrated), TranscriptStore(tmp_path / "transcripts")
    await _licensed(factory)
    submitted = await submit_call(factory, store, EVENT, terms_version=TERMS)
    assert submitted.run_id is not None
    run = await stop_processing(factory, store, submitted.run_id, by=REP)
    assert run is not None
    assert run.status == RunStatus.CANCELLED
    assert run.transcript_ref is None
    assert run.transcript_deleted_at is not None
    assert await asyncio.to_thread(_files, tmp_path / "transcripts") == []
    assert await stop_processing(factory, store, "no-such-run", by=REP) is None


async def test_who_sees_which_run_on_both_databases(migrated: AsyncEngine, tmp_path: Path) -> None:
    # The owner sees their runs; an attendee sees the open one, not the confidential one; a
    # colleague who was not on the call, and the same address in another tenant, see neither.
    factory = sessions(migrated)
    ids: dict[str, str] = {}
    for tenant, email in (
        (TENANT, REP),
        (TENANT, "lee@northwind.test"),
        (TENANT, "sam@northwind.test"),
        ("other-tenant", "lee@northwind.test"),
    ):
        ids[f"{tenant}/{email}"] = await seed_user(factory, tenant, email, email)
    owner = ids[f"{TENANT}/{REP}"]
    open_run = await seed_run(
        factory, TENANT, owner, call_id="c-open", attendees=("lee@northwind.test",)
    )
    secret = await seed_run(
        factory, TENANT, owner, call_id="c-conf", attendees=("lee@northwind.test",),
        confidential=True,
    )  # fmt: skip
    store = TranscriptStore(tmp_path)
    jobs = Jobs(job_app(migrated))
    review = Review(
        factory, store, Outbox(factory, EmbeddedCRM(migrated), jobs=jobs), jobs, LiveEvents()
    )

    def viewer(tenant: str, email: str) -> Viewer:
        return Viewer(tenant_id=tenant, user_id=ids[f"{tenant}/{email}"], email=email)

    async def listed(who: Viewer, status: str | None = None) -> set[str]:
        return {run["id"] for run in await review.list_runs(who, status=status)}

    assert await listed(viewer(TENANT, REP)) == {open_run, secret}
    assert await listed(viewer(TENANT, REP), status="needs_review") == {open_run, secret}
    assert await listed(viewer(TENANT, REP), status="saved") == set()
    assert await listed(viewer(TENANT, "lee@northwind.test")) == {open_run}
    assert await listed(viewer(TENANT, "sam@northwind.test")) == set()
    assert await listed(viewer("other-tenant", "lee@northwind.test")) == set()
    assert (await review.get(viewer(TENANT, "lee@northwind.test"), open_run))["role"] == "attendee"
    for who, run_id in (
        (viewer(TENANT, "lee@northwind.test"), secret),
        (viewer(TENANT, "sam@northwind.test"), open_run),
        (viewer("other-tenant", "lee@northwind.test"), open_run),
    ):
        with pytest.raises(NotFoundError):
            await review.get(who, run_id)
