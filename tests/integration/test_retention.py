"""Retention on both databases: old transcripts, downloads, runs and audit entries go, files
on disk with them; recent ones, and runs still being saved, stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select, update

from pipeline.events import utcnow
from smartnotes.jobs.engine import CRM, PURGE_EXPIRED
from smartnotes.runs.retention import Purged, Retention
from smartnotes.settings import RetentionSettings, Settings
from smartnotes.storage.models import (
    AuditEntry,
    MeetingMedia,
    Run,
    RunStatus,
    RunTask,
)
from tests.api_client import Api, running_api
from tests.seed import seed_run, seed_user

TENANT = "northwind"
REP = "maria@northwind.test"
TASK = {"title": "Send the revised quote", "quote": "I will send you a revised quote."}


@pytest_asyncio.fixture
async def api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False) as started:
        yield started


@pytest_asyncio.fixture
async def quiet_api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    """The service without its upkeep jobs: the hourly purge (at minute 43) or the check of
    runs left saving would otherwise change what the test purges, when it runs at that time."""
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False, queues=(CRM,)) as started:
        yield started


async def _aged(api: Api, tmp_path: Path, name: str, days: int, status: RunStatus) -> str:
    """A run created ``days`` ago whose transcript is a file on disk."""
    user_id = await seed_user(api.service.sessions, TENANT, REP)
    run_id = await seed_run(
        api.service.sessions, TENANT, user_id, call_id=name, status=status, tasks=[TASK]
    )
    transcript = tmp_path / f"{name}.vtt"
    transcript.write_text("WEBVTT\n")
    async with api.service.sessions() as session, session.begin():
        await session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(created_at=utcnow() - timedelta(days=days), transcript_ref=str(transcript))
        )
    return run_id


async def test_what_is_past_its_retention_goes_and_nothing_else(
    quiet_api: Api, tmp_path: Path
) -> None:
    api = quiet_api
    month_old = await _aged(api, tmp_path, "month-old", 40, RunStatus.SAVED)
    year_old = await _aged(api, tmp_path, "year-old", 400, RunStatus.SAVED)
    still_saving = await _aged(api, tmp_path, "still-saving", 400, RunStatus.SAVING)
    recent = await _aged(api, tmp_path, "recent", 5, RunStatus.NEEDS_REVIEW)
    download = tmp_path / "recording.mp4"
    download.write_bytes(b"\0" * 64)
    async with api.service.sessions() as session, session.begin():
        session.add_all(
            [
                AuditEntry(actor="system", action="old", at=utcnow() - timedelta(days=800)),
                AuditEntry(actor="system", action="recent"),
                MeetingMedia(
                    tenant_id=TENANT,
                    kind="recording",
                    item_id="rec-1",
                    organizer_id="o",
                    meeting_id="m",
                    found_by="notification",
                    status="submitted",
                    file_ref=str(download),
                    created_at=utcnow() - timedelta(days=40),
                ),
            ]
        )

    retention = Retention(api.service.sessions, RetentionSettings())
    purged = await retention.purge()

    # Transcripts go first: the month-old run's and the year-old one's, then that whole run.
    assert purged == Purged(transcripts=2, downloads=1, runs=1, audit_entries=1)
    async with api.service.sessions() as session:
        runs = {r.id: r for r in (await session.execute(select(Run))).scalars()}
        tasks = {t.run_id for t in (await session.execute(select(RunTask))).scalars()}
        actions = set((await session.execute(select(AuditEntry.action))).scalars())
        media = (await session.execute(select(MeetingMedia))).scalar_one()
    assert set(runs) == {month_old, still_saving, recent}
    assert year_old not in tasks, "the run's tasks went with it"
    assert runs[month_old].transcript_ref is None
    assert runs[month_old].transcript_deleted_at is not None
    assert runs[still_saving].transcript_ref is not None, "a save in flight is left alone"
    assert runs[recent].transcript_ref is not None
    assert not (tmp_path / "month-old.vtt").exists()
    assert not (tmp_path / "year-old.vtt").exists()
    assert (tmp_path / "still-saving.vtt").exists()
    assert (tmp_path / "recent.vtt").exists()
    assert media.file_ref is None
    assert not download.exists()
    assert "old" not in actions
    assert {"recent", "retention_purge"} <= actions

    # The rep's page says the transcript is gone; the notes are still there.
    _, view = await api.call("GET", f"/api/runs/{month_old}", as_user=(TENANT, REP))
    assert view["transcript_kept"] is False
    assert view["summary"]["text"]

    # A second pass finds nothing more, and says nothing.
    assert not await retention.purge()
    async with api.service.sessions() as session:
        passes = await session.execute(
            select(func.count()).where(AuditEntry.action == "retention_purge")
        )
    assert passes.scalar_one() == 1


async def test_the_purge_is_an_hourly_upkeep_job(api: Api) -> None:
    assert PURGE_EXPIRED in api.service.jobs.app.tasks
