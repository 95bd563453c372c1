"""Deferring a run's reindex when its record changes in this process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class IndexFollower:
    """Hears "run changed" (``LiveEvents.record_listeners``) and defers the run's reindex.

    A change may come in bursts (tasks, then the summary, then "ready"): one defer in flight
    per run is enough, the job reads the run when it starts and the queueing lock keeps one
    waiting. A defer that fails is logged; the periodic reconciliation rebuilds the run."""

    def __init__(self, defer: Callable[[str], Awaitable[None]]) -> None:
        self._defer = defer
        self._pending: dict[str, asyncio.Task[None]] = {}

    def __call__(self, run_id: str) -> None:
        if run_id in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._send(run_id))
        self._pending[run_id] = task

    async def _send(self, run_id: str) -> None:
        try:
            await self._defer(run_id)
        except Exception:  # the reconciliation catches it up
            log.exception("could not queue the search index update of run %s", run_id)
        finally:
            self._pending.pop(run_id, None)

    async def aclose(self) -> None:
        pending = list(self._pending.values())
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
