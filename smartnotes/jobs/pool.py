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
        self._running: dict[str, asyncio.Task[None]] = {}

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

    def cancel(self, run_id: str) -> bool:
        """Stop a run in progress (the rep's "don't process this call"); True if one was."""
        task = self._running.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    @property
    def busy(self) -> int:
        return self._busy

    async def _drain(self) -> None:
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            run_id = await self._queue.get()
            self._busy += 1
            # Each run is its own task so that one run can be cancelled without the worker.
            job: asyncio.Task[None] = asyncio.ensure_future(self._handler(run_id))
            self._running[run_id] = job
            try:
                done, _ = await asyncio.wait({job}, timeout=self._time_limit)
                if not done:
                    job.cancel()
                    await asyncio.gather(job, return_exceptions=True)
                    log.error("run %s exceeded its time limit of %.0f s", run_id, self._time_limit)
                elif job.cancelled():
                    log.info("run %s was stopped", run_id)
                elif (error := job.exception()) is not None:
                    # The handler records failures on the run; this is a bug in it, logged loudly.
                    log.error("run %s: unexpected error", run_id, exc_info=error)
            except asyncio.CancelledError:
                # The worker itself is stopping: the run stops too and resumes on next start.
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                raise
            finally:
                self._running.pop(run_id, None)
                self._busy -= 1
                self._pending.discard(run_id)
                self._queue.task_done()
                if self._queue.empty() and self._busy == 0:
                    self._idle.set()
