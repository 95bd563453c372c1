"""Running runs: a small queue interface and the embedded in-process worker pool.

``JobQueue`` is what the rest of the service sees. ``WorkerPool`` is the default engine: a
bounded number of runs at a time, a time limit per run, a graceful drain on shutdown, and a
run-until-idle mode that makes tests deterministic. Durability does not live here: a run's
state is in the database, and on start every run left queued or running (a crash, a kill -9)
is enqueued again and resumes from its last completed step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]


class JobQueue(Protocol):
    async def enqueue(self, run_id: str) -> None: ...


class WorkerPool:
    def __init__(
        self, handler: Handler, *, concurrency: int = 2, time_limit: float = 3600.0
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._handler = handler
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._concurrency = concurrency
        self._time_limit = time_limit
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0

    async def enqueue(self, run_id: str) -> None:
        """Queue a run; a run already queued or in progress is not queued twice."""
        if run_id in self._pending:
            return
        self._pending.add(run_id)
        self._idle.clear()
        await self._queue.put(run_id)

    def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"smartnotes-worker-{i}")
                for i in range(self._concurrency)
            ]

    async def run_until_idle(self) -> None:
        """Process everything queued (and whatever that enqueues), then return."""
        self.start()
        await self._idle.wait()

    async def stop(self, grace: float = 30.0) -> None:
        """Let running jobs finish for ``grace`` seconds, then cancel them; they resume later."""
        if not self._workers:
            return
        try:
            await asyncio.wait_for(self._drain(), timeout=grace)
        except TimeoutError:
            log.warning("stopping with runs still in progress; they resume on the next start")
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _drain(self) -> None:
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            run_id = await self._queue.get()
            self._busy += 1
            try:
                await asyncio.wait_for(self._handler(run_id), timeout=self._time_limit)
            except TimeoutError:
                log.error("run %s exceeded its time limit of %.0f s", run_id, self._time_limit)
            except Exception:
                # The handler records failures on the run; this is a bug in it, logged loudly.
                log.exception("run %s: unexpected error", run_id)
            finally:
                self._busy -= 1
                self._pending.discard(run_id)
                self._queue.task_done()
                if self._queue.empty() and self._busy == 0:
                    self._idle.set()
