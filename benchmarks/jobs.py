"""Job engine benchmark: dispatch latency and throughput of the workers, against procrastinate's
own minimal worker on the same PostgreSQL database.

Each worker is its own process (``python -m benchmarks.jobs --worker …``), as in production.
The job is a pipeline step that does no model work: it takes a run id, notes when it started,
and returns. Two figures per setup, for 1 and 2 worker processes:

- throughput: ``--jobs`` jobs deferred at once, then the workers start; jobs per second from
  the first start to the last finish (``--step-ms``: the step waits that long, as one that
  calls a CRM or Graph does, instead of returning at once);
- dispatch latency: the workers idle, one job deferred every 20 ms (``--latency-jobs`` of
  them); queued → started, p50 and p99.

"smartnotes" is ``smartnotes.jobs.engine.work`` as ``smartnotes worker`` runs it (its
polling, heartbeats and the watch for dead workers); "procrastinate" is
``App.run_worker_async`` with procrastinate's defaults. Both take 2 jobs at once per process.
Targets: dispatch p99 < 250 ms; throughput at least 0.9 times the baseline's; 2 workers at
least 1.8 times 1 worker.

Run: ``python -m benchmarks.jobs [--jobs 2000] [--latency-jobs 200]`` (needs PostgreSQL at
``--database``, default the local test server; a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import procrastinate  # noqa: E402
from procrastinate.types import JSONValue  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from benchmarks.common import percentile  # noqa: E402
from smartnotes.jobs.engine import RUNS, job_app, work  # noqa: E402
from smartnotes.storage.database import libpq_conninfo, make_engine  # noqa: E402
from smartnotes.storage.migrate import upgrade  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STEP = "bench_step"
AT_ONCE = 2


# The worker process ---------------------------------------------------------------------------


async def worker(mode: str, url: str, step_seconds: float) -> None:
    """Work jobs until SIGTERM; then print when each started and finished, as JSON."""
    engine = make_engine(url)
    if mode == "smartnotes":
        app = job_app(engine, workers=AT_ONCE)
    else:
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(engine))
        )
    seen: list[tuple[float, float, float]] = []

    @app.task(name=STEP, queue=RUNS)
    async def step(run_id: str, deferred_at: float) -> None:
        started = time.time()
        # The step's work: none, or a wait like a network call's (``--step-ms``).
        await asyncio.sleep(step_seconds)
        seen.append((deferred_at, started, time.time()))

    await app.open_async()
    if mode == "smartnotes":
        working = asyncio.create_task(work(app, queues=[RUNS], concurrency=AT_ONCE, grace=1.0))
    else:
        working = asyncio.create_task(
            app.run_worker_async(queues=[RUNS], concurrency=AT_ONCE, install_signal_handlers=False)
        )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    working.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await working
    await app.close_async()
    await engine.dispose()
    print(json.dumps(seen), flush=True)


# The measuring process ------------------------------------------------------------------------


class Workers:
    def __init__(self, mode: str, url: str, count: int, step_seconds: float) -> None:
        self.mode, self.url, self.count = mode, url, count
        self.step_seconds = step_seconds
        self.processes: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Workers:
        for _ in range(self.count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.jobs",
                "--worker",
                self.mode,
                "--database",
                self.url,
                "--step-ms",
                str(self.step_seconds * 1000),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if line.strip() != b"ready":
                raise RuntimeError(f"a {self.mode} worker did not start: {line!r}")
            self.processes.append(process)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.seen: list[tuple[float, float, float]] = []
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            out = await asyncio.wait_for(_output(process), timeout=60)
            self.seen += [(a, b, c) for a, b, c in json.loads(out.splitlines()[-1])]


async def _output(process: asyncio.subprocess.Process) -> bytes:
    out, _ = await process.communicate()
    return out


async def _defer(app: procrastinate.App, count: int) -> None:
    task = app.configure_task(STEP, queue=RUNS)
    now = time.time()
    jobs: list[dict[str, JSONValue]] = [
        {"run_id": uuid.uuid4().hex, "deferred_at": now} for _ in range(count)
    ]
    for start in range(0, count, 500):
        await task.batch_defer_async(*jobs[start : start + 500])


async def _done(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int(
                await connection.scalar(
                    text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
                )
                or 0
            )
    finally:
        await engine.dispose()


async def _until_done(url: str, count: int) -> None:
    while True:
        if await _done(url) >= count:
            return
        await asyncio.sleep(0.2)


async def _clear(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_workers CASCADE")
        )
    await engine.dispose()


async def measure(
    mode: str, processes: int, url: str, jobs: int, probes: int, step_seconds: float
) -> dict[str, Any]:
    engine = make_engine(url)
    app = job_app(engine)
    await app.open_async()
    try:
        await _clear(url)
        await _defer(app, jobs)
        async with Workers(mode, url, processes, step_seconds) as pool:
            await _until_done(url, jobs)
        runs = pool.seen
        throughput = jobs / (max(f for _, _, f in runs) - min(s for _, s, _ in runs))

        await _clear(url)
        task = app.configure_task(STEP, queue=RUNS)
        async with Workers(mode, url, processes, step_seconds) as pool:
            await asyncio.sleep(1.0)  # idle, listening
            for _ in range(probes):
                await task.defer_async(run_id=uuid.uuid4().hex, deferred_at=time.time())
                await asyncio.sleep(0.02)
            await _until_done(url, probes)
        latencies = [started - deferred for deferred, started, _ in pool.seen]
    finally:
        await app.close_async()
        await engine.dispose()
    return {
        "throughput": throughput,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "mean": statistics.fmean(latencies),
    }


async def main(server: str, jobs: int, probes: int, step_seconds: float) -> None:
    name = f"bench_jobs_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()
        results: dict[tuple[str, int], dict[str, Any]] = {}
        print(f"{'worker':<15}{'procs':>6}{'jobs/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for processes in (1, 2):
            for mode in ("procrastinate", "smartnotes"):
                result = await measure(mode, processes, url, jobs, probes, step_seconds)
                results[(mode, processes)] = result
                print(
                    f"{mode:<15}{processes:>6}{result['throughput']:>9.0f}"
                    f"{result['p50'] * 1000:>9.1f}{result['p99'] * 1000:>9.1f}"
                )
        print()
        for processes in (1, 2):
            ours, base = results[("smartnotes", processes)], results[("procrastinate", processes)]
            print(
                f"{processes} process(es): throughput smartnotes / procrastinate = "
                f"{ours['throughput'] / base['throughput']:.2f}"
            )
        scale = results[("smartnotes", 2)]["throughput"] / results[("smartnotes", 1)]["throughput"]
        print(f"smartnotes: 2 processes / 1 process = {scale:.2f}")
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--database", default=SERVER)
    parser.add_argument("--step-ms", type=float, default=0.0, help="the step waits this long")
    parser.add_argument("--worker", choices=("smartnotes", "procrastinate"))
    args = parser.parse_args()
    # procrastinate warns that the app lives in __main__; here that is the point.
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    if args.worker:
        asyncio.run(worker(args.worker, args.database, args.step_ms / 1000))
    else:
        asyncio.run(main(args.database, args.jobs, args.latency_jobs, args.step_ms / 1000))
