"""Step events: what the pipeline tells whoever is watching a run (CLI, card, review page)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Step(StrEnum):
    TRANSCRIBING = "transcribing"
    SUMMARIZING = "summarizing"
    ANALYZING = "analyzing"
    CREATING_TASKS = "creating_tasks"


EventKind = Literal[
    "step_started",
    "step_finished",
    "step_failed",
    "progress",
    "token",
    "warning",
    "done",
    "failed",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class PipelineEvent(BaseModel):
    kind: EventKind
    step: Step | None = None
    at: datetime = Field(default_factory=utcnow)
    text: str = ""
    done: float | None = None
    total: float | None = None


EventSink = Callable[[PipelineEvent], Awaitable[None] | None]


class _Stopped(Exception):  # noqa: N818 - internal signal, never escapes run_with_events
    pass


async def run_with_events(
    work: Callable[[Callable[[PipelineEvent], None]], T],
    emit: Callable[[PipelineEvent], Awaitable[None]],
) -> T:
    """Run blocking ``work(post)`` in a thread; what it posts is emitted here, in order.

    If the caller is cancelled, the next ``post`` in the thread raises, so a long generation
    stops at its next token instead of running to the end.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()
    stopped = threading.Event()

    def post(event: PipelineEvent) -> None:
        if stopped.is_set():
            raise _Stopped
        loop.call_soon_threadsafe(queue.put_nowait, event)

    finished = asyncio.Event()

    def run() -> T:
        try:
            return work(post)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)
            loop.call_soon_threadsafe(finished.set)

    async def pump() -> None:
        while (event := await queue.get()) is not None:
            await emit(event)

    pumping = asyncio.create_task(pump())
    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        stopped.set()
        raise
    finally:
        # Return only once the thread has ended, however often the caller is cancelled: the
        # model it is using may be closed right after, under a generation still running.
        if await _wait_through_cancellation(finished.wait, stopped):
            pumping.cancel()
            raise asyncio.CancelledError
        await asyncio.shield(pumping)


async def _wait_through_cancellation(
    wait: Callable[[], Awaitable[object]], stopped: threading.Event
) -> bool:
    """Wait for ``wait()`` to finish even if cancelled meanwhile; True if we were."""
    job = asyncio.ensure_future(wait())
    interrupted = False
    while not job.done():
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            stopped.set()
            interrupted = True
    return interrupted
