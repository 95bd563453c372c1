"""Calling-tool webhook load benchmark: concurrent signed call posts against ``smartnotes
serve`` on loopback.

Starts the service as its own process (embedded default: SQLite in a temporary data
directory, ``--no-process`` so the figures are the webhook's and not the models'), seeds the
reps, then fires ``--calls`` signed posts with transcript bodies, all at once (or spread over
``--spread`` seconds, as calls ending through an hour would arrive). A share of the calls
(``--duplicates``) is delivered twice at the same moment, as a retrying sender does. Prints
p50/p95/p99/max time to the answer and errors, the same for ``/healthz`` fired the same way
as the baseline, and checks afterwards, in the database, that every accepted call became
exactly one run. Target: p99 < 200 ms, zero errors.

Run: ``python -m benchmarks.webhook [--calls 500] [--spread 0] [--duplicates 0.1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks.common import Errors, Timings, free_port, report, wait_ready  # noqa: E402
from smartnotes import directory  # noqa: E402
from smartnotes.consent import record_consent  # noqa: E402
from smartnotes.settings import Settings  # noqa: E402
from smartnotes.storage.database import database_url, sessions  # noqa: E402
from smartnotes.storage.models import Run  # noqa: E402
from smartnotes.storage.open import open_database  # noqa: E402
from smartnotes.web.signing import sign_headers  # noqa: E402

TENANT = "bench-tenant"
SECRET = "benchmark-calling-tool-secret-0123456789"  # noqa: S105 - a throwaway local key
REPS = 50
TRANSCRIPT = "\n\n".join(
    f"00:{n // 60:02d}:{n % 60:02d}.000 --> 00:{n // 60:02d}:{n % 60:02d}.900\n"
    f"<v {'Rep' if n % 2 else 'Customer'}>Line {n}: we talked about the quote and the rollout.</v>"
    for n in range(1, 120)
)
TRANSCRIPT = "WEBVTT\n\n" + TRANSCRIPT + "\n"


def call_body(n: int) -> bytes:
    return json.dumps(
        {
            "call_id": f"bench-call-{n}",
            "rep": {"email": f"rep{n % REPS}@bench.test", "name": f"Rep {n % REPS}"},
            "participants": [{"name": "Customer", "email": f"customer{n}@example.test"}],
            "started_at": "2026-11-17T10:00:00-06:00",
            "timezone": "America/Chicago",
            "transcript": TRANSCRIPT,
        }
    ).encode()


async def seed(data_dir: Path) -> None:
    async with (
        open_database(database_url(None, data_dir)) as engine,
        sessions(engine)() as session,
        session.begin(),
    ):
        for n in range(REPS):
            await directory.add_seat(session, TENANT, f"rep{n}@bench.test", by="bench")
        # The service runs with the default terms; without agreement every call is turned away.
        await record_consent(
            session,
            TENANT,
            by="Bench Admin <admin@bench.test>",
            terms_version=str(Settings.model_fields["terms_version"].default),
        )


async def fire(
    http: aiohttp.ClientSession,
    url: str,
    kind: str,
    body: bytes | None,
    delay: float,
    timings: Timings,
    errors: Errors,
    answers: list[tuple[int, dict[str, object]]],
) -> None:
    await asyncio.sleep(delay)
    started = time.perf_counter()
    try:
        if body is None:
            async with http.get(url) as response:
                await response.read()
                status = response.status
                payload: dict[str, object] = {}
        else:
            headers = {"Content-Type": "application/json", **sign_headers(SECRET, body)}
            async with http.post(url, data=body, headers=headers) as response:
                payload = await response.json()
                status = response.status
    except Exception as exc:
        errors[kind].append(f"{type(exc).__name__}: {exc}")
        return
    if status not in (200, 202):
        errors[kind].append(f"{status} {payload}")
        return
    timings[kind].append(time.perf_counter() - started)
    answers.append((status, payload))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds to spread them over")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share sent twice")
    args = parser.parse_args()
    rng = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        await seed(data_dir)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
        env.update(
            SMARTNOTES_DATA_DIR=str(data_dir),
            SMARTNOTES_PORT=str(port),
            SMARTNOTES_CALLS__SECRETS=SECRET,
            SMARTNOTES_CALLS__TENANT=TENANT,
        )
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartnotes", "serve", "--no-process", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        timings: Timings = defaultdict(list)
        errors: Errors = defaultdict(list)
        answers: list[tuple[int, dict[str, object]]] = []
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                await wait_ready(http, base)
                # The floor: the cheapest route, fired the same way.
                floor: list[tuple[int, dict[str, object]]] = []
                health = base + "/healthz"
                await asyncio.gather(
                    *(
                        fire(http, health, "healthz (baseline)", None, at, timings, errors, floor)
                        for at in (rng.uniform(0, args.spread) for _ in range(args.calls))
                    )
                )
                bodies = [call_body(n) for n in range(args.calls)]
                sends = [(body, rng.uniform(0, args.spread)) for body in bodies]
                twice = rng.sample(range(args.calls), int(args.calls * args.duplicates))
                sends += [(bodies[n], sends[n][1]) for n in twice]
                began = time.perf_counter()
                hook = base + "/webhooks/calls"
                await asyncio.gather(
                    *(
                        fire(http, hook, "call webhook", body, delay, timings, errors, answers)
                        for body, delay in sends
                    )
                )
                wall = time.perf_counter() - began
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=60)

        print(
            f"{args.calls} signed calls ({len(twice)} of them delivered twice at once), "
            f"{'all at once' if args.spread == 0 else f'spread over {args.spread:g} s'}, "
            "embedded SQLite, transcript bodies of "
            f"{len(bodies[0]) // 1024} KiB"
        )
        report(timings, errors, wall)
        accepted = {str(p["run_id"]) for status, p in answers if status == 202}
        replayed = {str(p["run_id"]) for status, p in answers if status == 200}
        async with (
            open_database(database_url(None, data_dir)) as engine,
            sessions(engine)() as session,
        ):
            runs = (await session.execute(select(func.count()).select_from(Run))).scalar_one()
        print(
            f"accepted 202: {len(accepted)}, answered 200 with an existing run: "
            f"{len(answers) - len(accepted)}, runs in the database: {runs}"
        )
        exact = runs == len(accepted) == args.calls and replayed <= accepted
        print("every accepted call is exactly one run:", "yes" if exact else "NO")


if __name__ == "__main__":
    asyncio.run(main())
