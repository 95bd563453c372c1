"""Review API load benchmark: 500 concurrent reps against ``smartnotes serve`` on loopback.

Starts the service as its own process (embedded default: SQLite in a temporary data
directory, API only: ``--no-process``, so the figures are the API's and not the models'),
seeds one rep per client with a run ready for review, and lets every client, all at once,
go through what a rep does: list their runs, open one, edit the summary, accept a task, give
feedback, and create a run (the upload path), pausing between actions as a person does
(``--think``, mean seconds; ``--think 0`` fires back to back and measures the server's
capacity instead). Prints p50/p95/p99/max latency and errors per
kind of request, and the same figures for ``/healthz`` under the same load as the baseline
(the server's floor: what any route costs on this machine at this concurrency).
Target: p99 < 200 ms and zero errors.

``--while-processing`` measures the other side of one process doing both jobs: the service
runs with its models (``smartnotes serve``), one long call is being processed, and
``--readers`` clients (default 200) each make ``--requests`` reads (default 30: their run
list and their run, back to back). Target: zero errors and p99 < 500 ms; the report says
whether the run was still being processed when the load ended.

Run: ``python -m benchmarks.api [--clients 500] [--rounds 3]`` or
``python -m benchmarks.api --while-processing``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks.common import Errors, Timings, free_port, percentile, report, wait_ready  # noqa: E402
from smartnotes import directory  # noqa: E402
from smartnotes.auth import issue_token  # noqa: E402
from smartnotes.storage.database import database_url, sessions  # noqa: E402
from smartnotes.storage.models import (  # noqa: E402
    Run,
    RunAttendee,
    RunSource,
    RunStatus,
    RunTask,
)
from smartnotes.storage.open import open_database  # noqa: E402

TENANT = "bench-tenant"
SECRET = "benchmark-secret-0123456789-abcdefghijklmnop"  # noqa: S105 - a throwaway local key
TRANSCRIPT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\n<v Rep>I will send the quote by Friday.</v>\n"
)
TASK = {
    "title": "Send the quote",
    "description": "",
    "owner": "Rep",
    "due_date": "2026-11-20",
    "priority": "high",
    "evidence": [{"quote": "I will send the quote by Friday.", "at": 1.0, "verified": True}],
    "confidence": 0.9,
    "origin": "claude",
}


async def seed(data_dir: Path, clients: int) -> list[tuple[str, str]]:
    """One rep per client, each with a run ready for review; returns (email, run id)."""
    seeded: list[tuple[str, str]] = []
    async with open_database(database_url(None, data_dir)) as engine:
        factory = sessions(engine)
        async with factory() as session, session.begin():
            for n in range(clients):
                email = f"rep{n}@bench.test"
                user = await directory.add_seat(session, TENANT, email, by="bench")
                run = Run(
                    tenant_id=TENANT,
                    owner_id=user.id,
                    source=RunSource.CALLING_TOOL,
                    call_id=f"seed-{n}",
                    idempotency_key=f"seed-{n}",
                    call_started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
                    participants=[{"name": "Rep", "email": email}],
                    status=RunStatus.NEEDS_REVIEW,
                    summary_generated="The customer wants a quote by Friday.",
                    customer_id="c1",
                    customer_name="Customer",
                )
                session.add(run)
                await session.flush()
                session.add(RunAttendee(run_id=run.id, email=email))
                for position in range(3):
                    session.add(RunTask(run_id=run.id, position=position, generated=TASK))
                seeded.append((email, run.id))
    return seeded


async def timed(kind: str, timings: Timings, errors: Errors, request: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    try:
        result = await request
    except Exception as exc:
        errors[kind].append(f"{type(exc).__name__}: {exc}")
        return None
    timings[kind].append(time.perf_counter() - started)
    return result


async def rep(
    http: aiohttp.ClientSession,
    base: str,
    email: str,
    run_id: str,
    rounds: int,
    start: asyncio.Event,
    timings: Timings,
    errors: Errors,
    pause: float,
) -> None:
    headers = {"Authorization": f"Bearer {issue_token(SECRET.encode(), TENANT, email)}"}

    async def call(method: str, path: str, expect: int, body: Any = None) -> Any:
        async with http.request(method, base + path, json=body, headers=headers) as response:
            payload = await response.json()
            if response.status != expect:
                raise RuntimeError(f"{method} {path}: {response.status} {payload}")
            return payload

    rng = random.Random(email)

    async def think() -> None:
        if pause > 0:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * pause)

    await start.wait()
    await think()  # reps do not all click in the same millisecond
    for round_ in range(rounds):
        await timed("healthz (baseline)", timings, errors, call("GET", "/healthz", 200))
        await think()
        await timed("list runs", timings, errors, call("GET", "/api/runs", 200))
        view = await timed("read run", timings, errors, call("GET", f"/api/runs/{run_id}", 200))
        if view is None:
            continue
        edit = {"text": f"Edited summary, round {round_}.", "version": view["version"]}
        await think()
        view = await timed(
            "edit summary",
            timings,
            errors,
            call("PATCH", f"/api/runs/{run_id}/summary", 200, edit),
        )
        if view is None:
            continue
        task = view["tasks"][round_ % len(view["tasks"])]
        await think()
        await timed(
            "accept task",
            timings,
            errors,
            call("POST", f"/api/runs/{run_id}/tasks/{task['id']}/accept", 200, {}),
        )
        feedback = {"target": "summary", "rating": "like", "comment": "useful"}
        await think()
        await timed(
            "feedback",
            timings,
            errors,
            call("POST", f"/api/runs/{run_id}/feedback", 201, feedback),
        )
        upload = {"call_id": f"{email}-{round_}", "transcript": TRANSCRIPT}
        await think()
        await timed("create run", timings, errors, call("POST", "/api/runs", 202, upload))


async def reader(
    http: aiohttp.ClientSession,
    base: str,
    email: str,
    run_id: str,
    requests: int,
    start: asyncio.Event,
    timings: Timings,
    errors: Errors,
) -> None:
    headers = {"Authorization": f"Bearer {issue_token(SECRET.encode(), TENANT, email)}"}

    async def read(path: str) -> None:
        async with http.get(base + path, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")

    await start.wait()
    for n in range(requests):
        if n % 2:
            await timed("read run", timings, errors, read(f"/api/runs/{run_id}"))
        else:
            await timed("list runs", timings, errors, read("/api/runs"))


def long_call(minutes: int) -> str:
    """The sample sales call, said again and again until it lasts ``minutes``."""
    sample = (ROOT / "smartnotes" / "samples" / "sales_call.vtt").read_text(encoding="utf-8")
    cues = [c for c in sample.split("\n\n")[1:] if "-->" in c]
    lines, offset, n = ["WEBVTT", ""], 0.0, 0
    while offset < minutes * 60:
        for cue in cues:
            timing, _, text = cue.partition("\n")
            if "-->" not in timing:
                timing, _, text = text.partition("\n")
            n += 1
            start, end = offset + n * 6.0, offset + n * 6.0 + 5.5
            lines += [f"{_stamp(start)} --> {_stamp(end)}", text, ""]
        offset += len(cues) * 6.0
    return "\n".join(lines)


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.000"


async def while_processing(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seeded = await seed(data_dir, args.readers)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
        env.pop("ANTHROPIC_API_KEY", None)
        env.update(
            SMARTNOTES_DATA_DIR=str(data_dir),
            SMARTNOTES_API_TOKEN_SECRET=SECRET,
            SMARTNOTES_PORT=str(port),
            SMARTNOTES_WORKERS="1",
        )
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartnotes", "serve", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                await wait_ready(http, base, seconds=300)
                email = seeded[0][0]
                headers = {"Authorization": f"Bearer {issue_token(SECRET.encode(), TENANT, email)}"}
                upload = {"call_id": "long", "transcript": long_call(args.call_minutes)}
                async with http.post(f"{base}/api/runs", json=upload, headers=headers) as reply:
                    busy = (await reply.json())["run_id"]
                status = await _wait_status(http, base, headers, busy, ("running",))
                loaded = await _read_load(http, base, seeded, args.requests)
                status = await _status(http, base, headers, busy)
                # The same load on the same process with nothing being processed: the baseline.
                async with http.post(f"{base}/api/runs/{busy}/stop", headers=headers) as reply:
                    await reply.read()
                await _wait_status(http, base, headers, busy, ("cancelled",))
                idle = await _read_load(http, base, seeded, args.requests)
            print(
                f"{args.readers} concurrent readers x {args.requests} requests, embedded SQLite, "
                f"bundled models, one worker\n\nwhile a {args.call_minutes}-minute call was "
                f"processed in the same process (the run was {status} when the load ended):"
            )
            report(*loaded)
            print("\nthe same load with nothing being processed (baseline):")
            report(*idle)
            ratio = _p99(loaded[0]) / _p99(idle[0])
            print(f"\np99 while processing / p99 idle: {ratio:.2f}")
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=60)


async def _read_load(
    http: aiohttp.ClientSession, base: str, seeded: list[tuple[str, str]], requests: int
) -> tuple[Timings, Errors, float]:
    timings: Timings = defaultdict(list)
    errors: Errors = defaultdict(list)
    start = asyncio.Event()
    clients = [
        asyncio.create_task(reader(http, base, e, r, requests, start, timings, errors))
        for e, r in seeded
    ]
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*clients)
    return timings, errors, time.perf_counter() - began


def _p99(timings: Timings) -> float:
    return percentile([v for values in timings.values() for v in values], 99)


async def _status(http: aiohttp.ClientSession, base: str, headers: Any, run_id: str) -> str:
    async with http.get(f"{base}/api/runs/{run_id}", headers=headers) as reply:
        return str((await reply.json())["status"])


async def _wait_status(
    http: aiohttp.ClientSession, base: str, headers: Any, run_id: str, wanted: tuple[str, ...]
) -> str:
    while (status := await _status(http, base, headers, run_id)) not in wanted:
        if status in ("needs_review", "failed") and status not in wanted:
            raise RuntimeError(f"the run finished before it was {' or '.join(wanted)} ({status})")
        await asyncio.sleep(0.2)
    return status


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--while-processing", action="store_true")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--call-minutes", type=int, default=30)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="mean seconds a rep pauses between actions (0: saturate the server)",
    )
    args = parser.parse_args()
    if args.while_processing:
        await while_processing(args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seeded = await seed(data_dir, args.clients)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
        env.update(
            SMARTNOTES_DATA_DIR=str(data_dir),
            SMARTNOTES_API_TOKEN_SECRET=SECRET,
            SMARTNOTES_PORT=str(port),
        )
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smartnotes",
            "serve",
            "--no-process",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                await wait_ready(http, base)
                timings: Timings = defaultdict(list)
                errors: Errors = defaultdict(list)
                start = asyncio.Event()
                clients = [
                    asyncio.create_task(
                        rep(
                            http,
                            base,
                            email,
                            run_id,
                            args.rounds,
                            start,
                            timings,
                            errors,
                            args.think,
                        )
                    )
                    for email, run_id in seeded
                ]
                began = time.perf_counter()
                start.set()
                await asyncio.gather(*clients)
                wall = time.perf_counter() - began
            print(
                f"{args.clients} concurrent clients, {args.rounds} rounds each, "
                f"think time {args.think:.1f} s (0.5-1.5x), embedded SQLite"
            )
            report(timings, errors, wall)
            api = [v for k, vs in timings.items() if k != "healthz (baseline)" for v in vs]
            if api:
                print(f"median of all API latencies: {statistics.median(api) * 1000:.1f} ms")
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=60)


if __name__ == "__main__":
    asyncio.run(main())
