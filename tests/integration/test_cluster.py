"""The product on more than one machine, as a deployment runs it: two web processes and two
worker processes on one PostgreSQL database, real subprocesses of the ``smartnotes`` command.

40 calls posted to both web processes are each processed once and saved once; a worker killed
with SIGKILL in the middle of a run leaves it to the other worker, which finishes it; a worker
started after the calls were queued takes its share.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text

from crm_adapters.embedded import EmbeddedCRM
from smartnotes.auth import issue_token
from smartnotes.storage.database import make_engine, sessions
from smartnotes.storage.models import Run, RunStep
from tests.commands import clean_env
from tests.conftest import TEST_KEY, postgres_database
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.seed import seed_user
from tests.waits import until

TENANT, REP = "northwind", "maria@northwind.test"
# Generated for each run: the processes and the test share it through the environment.
SECRET = secrets.token_urlsafe(32)
CALLS = 40
TASK = {
    "title": "Send the revised quote with annual pricing",
    "description": "Annual pricing as asked",
    "owner": "Maria Chen",
    "due_text": "by Friday",
    "due_date": "",
    "priority": "high",
    "quote": "I will send you a revised quote with the annual pricing by Friday",
    "timestamp": "00:00:01",
    "confidence": 0.9,
}
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday, call {n}.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Great. Can you also book a demo for our finance team next week?</v>
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    def __init__(self, data_dir: Path, url: str, claude: FakeAnthropic) -> None:
        self.data_dir = data_dir
        self.url = url
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.env = clean_env(
            **{
                "SMARTNOTES_DATA_DIR": str(data_dir),
                "SMARTNOTES_DATABASE_URL": url,
                "SMARTNOTES_API_TOKEN_SECRET": SECRET,
                "SMARTNOTES_SUMMARY_MAX_TOKENS": "32",
                "SMARTNOTES_SUMMARIZER_CONTEXT": "4096",
                "SMARTNOTES_SHUTDOWN_GRACE": "5",
                # Two model processes on a small machine: each gets a core.
                "SMARTNOTES_SUMMARIZER_THREADS": "1",
                # Tasks from Claude (the local Messages API server): the local extractor's
                # minute per call on this machine would make the test about waiting.
                "ANTHROPIC_API_KEY": TEST_KEY,
                "SMARTNOTES_ANTHROPIC_BASE_URL": claude.base_url,
            }
        )

    async def start(self, name: str, *args: str) -> None:
        log = (self.data_dir / f"{name}.log").open("wb")
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartnotes", *args, env=self.env, stdout=log, stderr=log
        )
        log.close()

    def log(self, name: str) -> str:
        return (self.data_dir / f"{name}.log").read_text(errors="replace")[-3000:]

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def cluster(data_dir: Path, url: str, claude: FakeAnthropic) -> AsyncIterator[Cluster]:
    running = Cluster(data_dir, url, claude)
    try:
        yield running
    finally:
        await running.stop()


@pytest.mark.timeout(1800)
async def test_two_web_and_two_worker_processes_share_the_work(
    tmp_path: Path, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply([TASK])
    async with postgres_database() as url:
        engine = make_engine(url)
        factory = sessions(engine)
        await seed_user(factory, TENANT, REP, "Maria Chen")
        customer = await EmbeddedCRM(engine).add_customer("Contoso", ["daniel@contoso.test"])
        headers = {"Authorization": f"Bearer {issue_token(SECRET.encode(), TENANT, REP)}"}
        ports = [_free_port(), _free_port()]
        try:
            async with (
                cluster(tmp_path, url, fake_claude) as nodes,
                aiohttp.ClientSession() as http,
            ):
                for index, port in enumerate(ports):
                    await nodes.start(f"web{index}", "serve", "--no-process", "--port", str(port))
                await nodes.start("worker0", "worker", "--queues", "runs,crm", "--concurrency", "1")

                async def up(port: int) -> bool:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            return response.status == 200
                    except aiohttp.ClientError:
                        return False

                for port in ports:
                    await until(lambda port=port: up(port), seconds=120)  # type: ignore[misc]

                run_ids: list[str] = []
                for n in range(CALLS):
                    body = {"call_id": f"cluster-{n}", "transcript": VTT.format(n=n)}
                    base = f"http://127.0.0.1:{ports[n % 2]}"
                    async with http.post(f"{base}/api/runs", json=body, headers=headers) as r:
                        assert r.status == 202, await r.text()
                        run_ids.append((await r.json())["run_id"])
                assert len(set(run_ids)) == CALLS

                async def statuses() -> dict[str, int]:
                    async with factory() as session:
                        rows = await session.execute(
                            select(Run.status, func.count()).group_by(Run.status)
                        )
                        return {str(status): int(count) for status, count in rows.all()}

                async def summarized() -> int:
                    async with factory() as session:
                        return int(
                            await session.scalar(
                                select(func.count())
                                .select_from(RunStep)
                                .where(RunStep.step == "summarizing", RunStep.status == "done")
                            )
                            or 0
                        )

                # The second worker starts once everything is queued, and takes its share.
                await nodes.start("worker1", "worker", "--queues", "runs,crm", "--concurrency", "1")

                async def both_busy() -> bool:
                    async with factory() as session:
                        doing = await session.scalar(
                            text(
                                "SELECT count(DISTINCT worker_id) FROM procrastinate_jobs "
                                "WHERE status = 'doing' AND task_name = 'process_run'"
                            )
                        )
                    return bool(doing == 2 and await summarized() >= 2)

                await until(both_busy, seconds=300)
                killed = nodes.processes["worker0"]
                killed.send_signal(signal.SIGKILL)
                await killed.wait()

                async def all_ready() -> bool:
                    counts = await statuses()
                    return counts.get("needs_review", 0) + counts.get("failed", 0) == CALLS

                await until(all_ready, seconds=1200)
                counts = await statuses()
                assert counts == {"needs_review": CALLS}, (counts, nodes.log("worker1"))
                assert await summarized() == CALLS, "each run summarized once, none twice"

                # Saved through both web processes; each note lands in the CRM once.
                for n, run_id in enumerate(run_ids):
                    base = f"http://127.0.0.1:{ports[n % 2]}"
                    choice: dict[str, Any] = {"customer_id": customer.id}
                    async with http.post(
                        f"{base}/api/runs/{run_id}/save", json=choice, headers=headers
                    ) as r:
                        assert r.status == 202, await r.text()

                async def all_saved() -> bool:
                    return (await statuses()).get("saved", 0) == CALLS

                await until(all_saved, seconds=300)
                async with factory() as session:
                    notes = await session.scalar(text("SELECT count(*) FROM crm_notes"))
                    sent = await session.scalar(
                        text("SELECT count(*) FROM crm_writes WHERE kind = 'note'")
                    )
                assert (notes, sent) == (CALLS, CALLS), "one note per call, delivered once"
                worker1 = nodes.processes["worker1"]
                assert worker1.returncode is None, nodes.log("worker1")
        finally:
            await engine.dispose()
