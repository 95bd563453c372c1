"""``smartnotes worker`` and ``smartnotes jobs`` as an operator runs them: real subprocesses on
the database a deployment shares."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from smartnotes.jobs.engine import job_app
from smartnotes.settings import Settings
from smartnotes.storage.models import RunStep
from smartnotes.storage.open import open_database
from tests.api_client import running_api
from tests.commands import clean_env, smartnotes
from tests.conftest import postgres_database
from tests.seed import seed_user

REP = ("northwind", "maria@northwind.test")
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Great. Can you also book a demo for our finance team next week?</v>
"""


def _env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = clean_env(
        SMARTNOTES_DATA_DIR=str(data_dir),
        SMARTNOTES_SUMMARY_MAX_TOKENS="32",
        SMARTNOTES_SUMMARIZER_CONTEXT="4096",
        SMARTNOTES_SHUTDOWN_GRACE="10",
    )
    if database_url is not None:
        env["SMARTNOTES_DATABASE_URL"] = database_url
    return env


async def test_a_worker_process_takes_what_the_web_role_queued_and_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    async with postgres_database() as url:
        settings = Settings(data_dir=tmp_path, database_url=SecretStr(url))
        async with running_api(settings, process=False, queues=()) as web:
            await seed_user(web.service.sessions, *REP, name="Maria Chen")
            status, created = await web.call(
                "POST", "/api/runs", as_user=REP, json_body={"call_id": "w-1", "transcript": VTT}
            )
            assert status == 202, created
            run_id = created["run_id"]
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "smartnotes",
                "worker",
                "--queues",
                "runs,crm",
                "--concurrency",
                "1",
                env=_env(tmp_path, url),
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                view = await web.wait_for(
                    run_id, REP, lambda v: v["status"] in ("needs_review", "failed")
                )
                assert view["status"] == "needs_review", view["error"]
                async with web.service.sessions() as session:
                    summarized = await session.scalar(
                        select(func.count())
                        .select_from(RunStep)
                        .where(RunStep.run_id == run_id, RunStep.step == "summarizing")
                    )
                assert summarized == 1, "processed once"
            finally:
                if worker.returncode is None:
                    worker.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(worker.communicate(), timeout=120)
    assert worker.returncode == 0, err.decode()[-2000:]
    assert "working runs, crm" in err.decode()
    assert "Stopping" in err.decode()


async def test_the_worker_refuses_the_embedded_database_and_bad_queues(tmp_path: Path) -> None:
    code, _, err = await smartnotes(_env(tmp_path, None), "worker")
    assert code == 3
    assert "needs PostgreSQL" in err
    code, _, err = await smartnotes(
        _env(tmp_path, "postgresql://postgres@127.0.0.1:5432/test"), "worker", "--queues", "nope"
    )
    assert code == 2
    assert "--queues takes names of runs, crm, graph, upkeep" in err


async def test_jobs_list_retry_and_cancel(tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    async with open_database(Settings(data_dir=tmp_path).database()) as engine:
        app = job_app(engine)
        await app.open_async()
        try:
            # A job no worker knows: procrastinate's worker fails it, as it would in production
            # after a version that no longer has the job was rolled back.
            gone = await app.configure_task("retired_job", queue="crm").defer_async(run_id="r1")
            await app.run_worker_async(wait=False, install_signal_handlers=False)
            waiting = await app.configure_task("retired_job", queue="crm").defer_async(run_id="r2")
        finally:
            await app.close_async()

    code, out, err = await smartnotes(env, "jobs", "list", "--status", "failed")
    assert code == 0, err
    assert "retired_job" in out
    assert "run_id=r1" in out
    assert "run_id=r2" not in out
    code, out, err = await smartnotes(env, "jobs", "retry", str(gone))
    assert (code, out.strip()) == (0, f"Job {gone} is queued again."), err
    code, _, err = await smartnotes(env, "jobs", "retry", str(waiting))
    assert code == 2
    assert f"job {waiting} is todo; only failed jobs retry" in err
    code, out, err = await smartnotes(env, "jobs", "cancel", str(waiting))
    assert (code, out.strip()) == (0, f"Job {waiting}: cancelled."), err
    code, out, _ = await smartnotes(env, "jobs", "list", "--json")
    states = {row["id"]: row["status"] for row in json.loads(out)}
    assert states == {gone: "todo", waiting: "cancelled"}
    code, _, err = await smartnotes(env, "jobs", "cancel", "987654")
    assert code == 2
    assert "no job 987654" in err
