"""Background work: the queue the service sees, and the job engine behind it."""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    """Where runs go to be processed (``smartnotes.jobs.engine.Jobs``)."""

    async def enqueue(self, run_id: str) -> None: ...


__all__ = ["JobQueue"]
