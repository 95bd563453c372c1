"""Roles sharing one database: a web-only service queues runs, a processing service takes them.

`smartnotes serve --no-process` used to leave a call queued until some processing service
restarted; now deferring a run is a job row, and a worker on the same database picks it up
while running. On the embedded SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select

from smartnotes.service import Service
from smartnotes.settings import Settings
from smartnotes.storage.models import RunStep
from tests.api_client import read_events, running_api
from tests.conftest import postgres_database
from tests.seed import seed_user

REP = ("northwind", "maria@northwind.test")
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Great. Can you also book a demo for our finance team next week?</v>

00:00:13.000 --> 00:00:15.000
<v Maria Chen>Yes, I will set that up.</v>
"""


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings for two services on one database (and one data directory for transcripts)."""
    settings = Settings(
        data_dir=tmp_path, workers=1, summary_max_tokens=32, summarizer_context=4096
    )
    if request.param == "sqlite":
        yield settings
        return
    async with postgres_database() as url:
        yield settings.model_copy(update={"database_url": SecretStr(url)})


async def test_a_web_only_service_queues_a_run_a_processing_service_takes(
    shared: Settings,
) -> None:
    async with running_api(shared, process=False) as web:
        await seed_user(web.service.sessions, *REP, name="Maria Chen")
        status, created = await web.call(
            "POST",
            "/api/runs",
            as_user=REP,
            json_body={"call_id": "roles-1", "transcript": VTT},
        )
        assert status == 202, created
        run_id = created["run_id"]
        view = await web.wait_for(run_id, REP, lambda v: True)
        assert view["status"] == "queued", "nothing in the web role processes it"

        # A processing service on the same database, started after the call was queued.
        async with Service.running(shared, process=True) as worker:
            view = await web.wait_for(
                run_id, REP, lambda v: v["status"] in ("needs_review", "failed")
            )
            assert view["status"] == "needs_review", view["error"]
            async with worker.sessions() as session:
                summarized = await session.scalar(
                    select(func.count())
                    .select_from(RunStep)
                    .where(RunStep.run_id == run_id, RunStep.step == "summarizing")
                )
            assert summarized == 1, "processed once"
            assert not await worker.jobs.running(run_id)


async def test_the_web_role_streams_a_run_that_a_worker_elsewhere_processes(
    tmp_path: Path,
) -> None:
    """The rep's page is served by a web process while a worker process summarizes: the steps
    and the summary as it grows reach the page over PostgreSQL's LISTEN/NOTIFY."""
    async with postgres_database() as url:
        settings = Settings(
            data_dir=tmp_path,
            workers=1,
            summary_max_tokens=32,
            summarizer_context=4096,
            database_url=SecretStr(url),
        )
        async with running_api(settings, process=False, queues=()) as web:
            await seed_user(web.service.sessions, *REP, name="Maria Chen")
            status, created = await web.call(
                "POST",
                "/api/runs",
                as_user=REP,
                json_body={"call_id": "roles-stream", "transcript": VTT},
            )
            assert status == 202, created
            run_id = created["run_id"]
            async with web.http.get(
                web.url(f"/api/runs/{run_id}/events"), headers=web.headers(*REP)
            ) as stream:
                watching = asyncio.create_task(
                    read_events(
                        stream,
                        lambda name, data: (
                            name == "run" and data["status"] in ("needs_review", "failed")
                        ),
                    )
                )
                async with Service.running(settings, queues=("runs",)):
                    events = await watching
    view = events[-1][1]
    assert view["status"] == "needs_review", view["error"]
    steps = [(d["step"], d["status"]) for n, d in events if n == "step"]
    assert ("summarizing", "running") in steps
    assert ("summarizing", "done") in steps
    streamed = "".join(d["text"] for n, d in events if n == "token")
    assert streamed.strip(), "the summary streamed to the page from the other process"
    assert next(d["status"] for n, d in events if n == "run") == "queued"
