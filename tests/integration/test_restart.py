"""The service as a real process: killed with SIGKILL in the middle of a run, started again,
the run finishes from where it was and lands in the CRM exactly once; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from crm_adapters.embedded import EmbeddedCRM
from smartnotes.auth import issue_token
from smartnotes.storage.database import make_engine
from tests.conftest import TEST_KEY, postgres_database
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.fakes.crm_server import TOKEN as CRM_TOKEN
from tests.fakes.crm_server import FakeCRM, Misbehave
from tests.integration.test_api_review import CLAUDE_TASKS, UPLOAD

TENANT, REP = "contoso-tenant", "maria@northwind.test"
SECRET = "restart-test-secret-0123456789-abcdefghij"  # noqa: S105 - a test-only key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """``smartnotes serve`` in a subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["SMARTNOTES_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "smartnotes", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_ready(self, http: aiohttp.ClientSession, seconds: float = 120) -> None:
        async def poll() -> None:
            while True:
                assert self.process is not None
                assert self.process.poll() is None, self.tail()
                try:
                    async with http.get(self.url("/readyz")) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)

        await asyncio.wait_for(poll(), timeout=seconds)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTNOTES_", "ANTHROPIC_"))}
    env.update(
        SMARTNOTES_DATA_DIR=str(tmp_path / "data"),
        SMARTNOTES_API_TOKEN_SECRET=SECRET,
        SMARTNOTES_SUMMARY_MAX_TOKENS="32",
        SMARTNOTES_SUMMARIZER_CONTEXT="4096",
        SMARTNOTES_HOST="127.0.0.1",
        SMARTNOTES_PORT=str(_free_port()),
        SMARTNOTES_WORKERS="1",
    )
    return env


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, cli_env: dict[str, str]) -> AsyncIterator[str]:
    """Where the service keeps everything: the embedded SQLite file, or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{cli_env['SMARTNOTES_DATA_DIR']}/smartnotes.db"
        return
    async with postgres_database() as url:
        cli_env["SMARTNOTES_DATABASE_URL"] = url
        yield url


@pytest_asyncio.fixture
async def service(
    cli_env: dict[str, str], fake_claude: FakeAnthropic, tmp_path: Path, database: str
) -> AsyncIterator[Service]:
    cli_env.update(ANTHROPIC_API_KEY=TEST_KEY, SMARTNOTES_ANTHROPIC_BASE_URL=fake_claude.base_url)
    for command in (
        ["admin", "seat", "add", TENANT, REP, "--name", "Maria Chen"],
        ["admin", "tenant", "on", TENANT, "--accept-terms", "--by", "Ada Admin <ada@tenant.test>"],
        ["crm", "add-customer", "Contoso Logistics", "--email", "daniel@contoso.test"],
    ):
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "smartnotes", *command],
            env=cli_env,
            check=True,
            timeout=120,
        )
    running = Service(cli_env, tmp_path / "service.log")
    yield running
    running.stop()


@pytest.fixture
def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET.encode(), TENANT, REP)}"}


async def _run(http: aiohttp.ClientSession, service: Service, run_id: str, h: Any) -> Any:
    async with http.get(service.url(f"/api/runs/{run_id}"), headers=h) as response:
        assert response.status == 200
        return await response.json()


async def _until(check: Any, seconds: float = 240) -> Any:
    async def poll() -> Any:
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.25)

    return await asyncio.wait_for(poll(), timeout=seconds)


async def test_kill_9_mid_run_then_restart_finishes_it_exactly_once(
    service: Service, fake_claude: FakeAnthropic, headers: dict[str, str], database: str
) -> None:
    # Claude answers slowly the first time, so the kill lands while tasks are being extracted.
    fake_claude.then(tasks_reply(CLAUDE_TASKS, delay=120))
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    async with aiohttp.ClientSession() as http:
        service.start()
        await service.wait_ready(http)
        async with http.post(service.url("/api/runs"), json=UPLOAD, headers=headers) as response:
            assert response.status == 202, await response.text()
            run_id = (await response.json())["run_id"]

        async def summary_saved_and_extracting() -> bool:
            view = await _run(http, service, run_id, headers)
            steps = {(s["step"], s["status"]) for s in view["steps"]}
            return (
                view["summary"]["generated"] is not None
                and ("analyzing", "running") in steps
                and len(fake_claude.extractions) == 1
            )

        await _until(summary_saved_and_extracting)
        assert service.process is not None
        service.process.send_signal(signal.SIGKILL)
        assert service.process.wait(timeout=30) == -signal.SIGKILL

        service.start()
        await service.wait_ready(http)

        async def ready() -> Any:
            view = await _run(http, service, run_id, headers)
            return view if view["status"] in ("needs_review", "failed") else None

        view = await _until(ready)
        assert view["status"] == "needs_review", view.get("error")
        summarized = [s for s in view["steps"] if s["step"] == "summarizing"]
        assert [s["status"] for s in summarized] == ["done"], "the summary was not made twice"
        assert len(fake_claude.extractions) == 2, "extraction resumed after the restart"
        titles = [t["title"] for t in view["tasks"]]
        assert titles[:2] == [t["title"] for t in CLAUDE_TASKS]

        async with http.post(
            service.url(f"/api/runs/{run_id}/save"),
            json={"version": view["version"]},
            headers=headers,
        ) as response:
            assert response.status == 202, await response.text()

        async def saved() -> Any:
            view = await _run(http, service, run_id, headers)
            return view if view["status"] == "saved" else None

        view = await _until(saved, seconds=60)

        # A clean stop: SIGTERM ends the process promptly with status 0.
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=60) == 0, service.tail()

    engine = make_engine(database)
    try:
        crm = EmbeddedCRM(engine)
        notes, crm_tasks = await crm.notes(), await crm.tasks()
    finally:
        await engine.dispose()
    assert len(notes) == 1, "exactly one note"
    assert notes[0].title.startswith("Call with Contoso Logistics")
    assert sorted(t.title for t in crm_tasks) == sorted(t["title"] for t in view["tasks"])
    assert {t["status"] for t in view["tasks"]} == {"written"}


async def test_kill_9_while_the_crm_holds_an_answer_then_restart_writes_each_thing_once(
    cli_env: dict[str, str],
    fake_claude: FakeAnthropic,
    headers: dict[str, str],
    database: str,
    tmp_path: Path,
) -> None:
    """The CRM took the note but the service died before it heard so: after a restart the
    write is sent again with the same Idempotency-Key, the CRM answers with the first write,
    and every note and task is in the CRM once; the run is saved and nothing is left over."""
    crm = FakeCRM()
    await crm.start()
    crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    cli_env.update(
        ANTHROPIC_API_KEY=TEST_KEY,
        SMARTNOTES_ANTHROPIC_BASE_URL=fake_claude.base_url,
        SMARTNOTES_CRM_ADAPTER="rest",
        SMARTNOTES_CRM__REST__BASE_URL=crm.base_url,
        SMARTNOTES_CRM__REST__AUTH_TOKEN=CRM_TOKEN,
    )
    for command in (
        ["admin", "seat", "add", TENANT, REP],
        ["admin", "tenant", "on", TENANT, "--accept-terms", "--by", "Ada Admin <ada@tenant.test>"],
    ):
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "smartnotes", *command],
            env=cli_env,
            check=True,
            timeout=120,
        )
    service = Service(cli_env, tmp_path / "service.log")
    try:
        async with aiohttp.ClientSession() as http:
            service.start()
            await service.wait_ready(http)
            async with http.post(service.url("/api/runs"), json=UPLOAD, headers=headers) as reply:
                assert reply.status == 202, await reply.text()
                run_id = (await reply.json())["run_id"]

            async def ready() -> Any:
                view = await _run(http, service, run_id, headers)
                return view if view["status"] in ("needs_review", "failed") else None

            view = await _until(ready)
            assert view["status"] == "needs_review", view.get("error")
            # Every write is taken by the CRM, whose answers then never come back in time.
            crm.trouble.extend(Misbehave(status=0, hang_after_write=600) for _ in range(10))
            async with http.post(
                service.url(f"/api/runs/{run_id}/save"),
                json={"version": view["version"]},
                headers=headers,
            ) as reply:
                assert reply.status == 202, await reply.text()
            await _until(lambda: _true(len(crm.notes) == 1), seconds=60)
            assert service.process is not None
            service.process.send_signal(signal.SIGKILL)
            assert service.process.wait(timeout=30) == -signal.SIGKILL

            crm.trouble.clear()
            service.start()
            await service.wait_ready(http)

            async def saved() -> Any:
                view = await _run(http, service, run_id, headers)
                return view if view["status"] == "saved" else None

            view = await _until(saved, seconds=120)
    finally:
        service.stop()
        await crm.close()
    assert len(crm.notes) == 1, "the note is in the CRM once"
    saved_tasks = [t for t in view["tasks"] if t["status"] == "written"]
    assert sorted(t["title"] for t in crm.tasks.values()) == sorted(
        t["title"] for t in saved_tasks
    ), "each task is in the CRM once"
    replays = [e for e in crm.log if e.method == "POST" and e.path.endswith("/smart-notes")]
    assert len({e.key for e in replays}) == 1, "the same write, sent again with its own key"
    transcripts = Path(cli_env["SMARTNOTES_DATA_DIR"]) / "transcripts"
    leftovers = [p.name for p in transcripts.iterdir() if p.suffix == ".part"]
    assert leftovers == [], "no half-written transcript"


async def _true(value: bool) -> bool:
    return value
