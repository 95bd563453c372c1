"""Graph change-notification benchmark: concurrent notification posts against ``smartnotes
serve`` on loopback.

Graph wants a notification answered within three seconds, and retries (then drops) what is
not. Starts the service as its own process (embedded SQLite in a temporary data directory,
``--no-process``, so the figures are the webhook's: check, keep, answer 202; the fetching
happens afterwards in a processing service), then fires ``--notifications`` collections as
Graph posts them, each naming its own transcript, all at once (or spread over ``--spread``
seconds); a share (``--duplicates``) is delivered twice at the same moment, as Graph's retries
do. Prints p50/p95/p99/max time to the answer and errors, the same for ``/healthz`` fired the
same way as the baseline, and checks in the database that every accepted notification was
kept. Target: every answer well under 3 s, zero errors.

The service never calls Graph here (nothing is processed), so its Graph settings point at a
closed loopback port.

Run: ``python -m benchmarks.graph_webhook [--notifications 500] [--spread 0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from benchmarks.common import Errors, Timings, free_port, report, wait_ready  # noqa: E402
from smartnotes.storage.database import database_url, sessions  # noqa: E402
from smartnotes.storage.models import GraphInbox  # noqa: E402
from smartnotes.storage.open import open_database  # noqa: E402

CLIENT_STATE = "benchmark-graph-client-state-0123456789"
TENANT_ID = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
CLIENT_ID = "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f7a"
ORGANIZER = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def notification(n: int) -> bytes:
    """One collection as Graph posts it when a transcript is available (no resource data)."""
    thread = f"19:meeting_{uuid.UUID(int=n).hex}@thread.v2"
    meeting = base64.b64encode(f"1*{ORGANIZER}*0**{thread}".encode()).decode().rstrip("=")
    transcript = base64.b64encode(f"1##0##{uuid.UUID(int=n)}".encode()).decode()
    resource = f"communications/onlineMeetings('{meeting}')/transcripts('{transcript}')"
    expires = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "value": [
                {
                    "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                    "changeType": "created",
                    "tenantId": TENANT_ID,
                    "clientState": CLIENT_STATE,
                    "subscriptionExpirationDateTime": expires,
                    "resource": resource,
                    "resourceData": {
                        "id": transcript,
                        "@odata.type": "#Microsoft.Graph.callTranscript",
                        "@odata.id": resource,
                    },
                }
            ]
        }
    ).encode()


async def fire(
    http: aiohttp.ClientSession,
    url: str,
    kind: str,
    body: bytes | None,
    delay: float,
    timings: Timings,
    errors: Errors,
    statuses: list[int],
) -> None:
    await asyncio.sleep(delay)
    started = time.perf_counter()
    try:
        if body is None:
            async with http.get(url) as response:
                await response.read()
                status = response.status
        else:
            headers = {"Content-Type": "application/json; charset=utf-8"}
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
    except Exception as exc:
        errors[kind].append(f"{type(exc).__name__}: {exc}")
        return
    if status not in (200, 202):
        errors[kind].append(str(status))
        return
    timings[kind].append(time.perf_counter() - started)
    statuses.append(status)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=500)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds to spread them over")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share sent twice")
    args = parser.parse_args()
    rng = random.Random(7)
    count = args.notifications

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        port = free_port()
        closed = free_port()  # nothing listens there: the service must not need Graph
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
        env.update(
            SMARTNOTES_DATA_DIR=str(data_dir),
            SMARTNOTES_PORT=str(port),
            SMARTNOTES_GRAPH__TENANT_ID=TENANT_ID,
            SMARTNOTES_GRAPH__CLIENT_ID=CLIENT_ID,
            SMARTNOTES_GRAPH__CLIENT_SECRET="benchmark-secret",  # noqa: S106 - never used
            SMARTNOTES_GRAPH__AUTHORITY_HOST=f"https://127.0.0.1:{closed}",
            SMARTNOTES_GRAPH__BASE_URL=f"http://127.0.0.1:{closed}/v1.0",
            SMARTNOTES_GRAPH__CLIENT_STATE=CLIENT_STATE,
        )
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smartnotes", "serve", "--no-process", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        timings: Timings = defaultdict(list)
        errors: Errors = defaultdict(list)
        statuses: list[int] = []
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                await wait_ready(http, base)
                floor: list[int] = []
                health = base + "/healthz"
                await asyncio.gather(
                    *(
                        fire(http, health, "healthz (baseline)", None, at, timings, errors, floor)
                        for at in (rng.uniform(0, args.spread) for _ in range(count))
                    )
                )
                bodies = [notification(n) for n in range(count)]
                sends = [(body, rng.uniform(0, args.spread)) for body in bodies]
                twice = rng.sample(range(count), int(count * args.duplicates))
                sends += [(bodies[n], sends[n][1]) for n in twice]
                began = time.perf_counter()
                hook = base + "/webhooks/graph"
                await asyncio.gather(
                    *(
                        fire(http, hook, "graph webhook", body, delay, timings, errors, statuses)
                        for body, delay in sends
                    )
                )
                wall = time.perf_counter() - began
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=60)

        print(
            f"{count} Graph notifications ({len(twice)} of them delivered twice at once), "
            f"{'all at once' if args.spread == 0 else f'spread over {args.spread:g} s'}, "
            "embedded SQLite"
        )
        report(timings, errors, wall)
        async with (
            open_database(database_url(None, data_dir)) as engine,
            sessions(engine)() as session,
        ):
            counted = await session.execute(select(func.count()).select_from(GraphInbox))
            kept = counted.scalar_one()
        accepted = sum(1 for status in statuses if status == 202)
        print(f"answered 202: {accepted}, kept in the inbox: {kept}")
        slowest = max(timings.get("graph webhook", [0.0]))
        print("every accepted notification kept:", "yes" if kept == accepted else "NO")
        print("every answer inside Graph's 3 s:", "yes" if slowest < 3.0 else "NO")


if __name__ == "__main__":
    asyncio.run(main())
