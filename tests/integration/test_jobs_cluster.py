"""Several workers on one database, as separate processes would run them (each its own job
app and connections): periodic jobs are deferred and run once per period, not once per
worker. On the embedded SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.jobs.engine import UPKEEP, job_app, work
from tests.waits import until

PROBE = "probe_every_second"


async def test_a_periodic_job_runs_once_per_period_with_three_workers(
    migrated: AsyncEngine,
) -> None:
    ran: Counter[int] = Counter()
    apps = [job_app(migrated, workers=8) for _ in range(3)]
    for app in apps:
        await app.open_async()

        @app.periodic(cron="* * * * * *", periodic_id=PROBE)
        @app.task(name=PROBE, queue=UPKEEP)
        async def probe(timestamp: int) -> None:
            ran[timestamp] += 1

    workers = [
        asyncio.create_task(work(app, queues=[UPKEEP], concurrency=1, grace=1.0)) for app in apps
    ]
    try:

        async def five_periods() -> bool:
            return len(ran) >= 5

        await until(five_periods, seconds=60)
    finally:
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for app in apps:
            await app.close_async()
    assert set(ran.values()) == {1}, f"a period ran more than once: {ran}"
