"""Live run events for whoever is watching: the review page, the card, the event stream.

Fan-out: the pipeline's events (steps, streamed summary tokens) and "the run record changed" go
to every subscriber of that run, in this process and, on PostgreSQL, in the others
(``smartnotes.runs.live_bridge``: a worker processes the run, the web process streams it). A
subscriber that connects mid-summary gets the text streamed so far, so a late page shows the
summary growing from where it is, not from nothing. Nothing here is durable: the run record
is, and a subscriber always starts from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pipeline.events import PipelineEvent, Step

log = logging.getLogger(__name__)

# A watcher too slow to keep up loses its stream (and reconnects from the record) rather than
# growing memory without bound.
QUEUE_LIMIT = 2000


@dataclass(frozen=True)
class Changed:
    """The run record changed (status, edits, tasks): watchers re-read it."""

    run_id: str


@dataclass(frozen=True)
class Closing:
    """The service is shutting down: streams end so the server can stop."""


LiveItem = PipelineEvent | Changed | Closing


class LiveEvents:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[LiveItem]]] = defaultdict(set)
        self._partial: dict[str, list[str]] = {}
        self._closing = False
        # Called with the run id of every item of this process, for whoever follows all runs
        # (the Teams card: the process where a change happens updates it, once).
        self.listeners: list[Callable[[str], None]] = []
        # Called with the run id when its record changed in this process (not for streamed
        # events): what follows the record, such as the search index, hears it once.
        self.record_listeners: list[Callable[[str], None]] = []
        # Told every item of this process, to pass on to the others (the bridge).
        self.publish: Callable[[str, PipelineEvent | Changed], None] | None = None

    def partial_summary(self, run_id: str) -> str | None:
        """The summary streamed so far for a run being summarized now, if any."""
        parts = self._partial.get(run_id)
        return "".join(parts) if parts is not None else None

    async def pipeline_event(self, run_id: str, event: PipelineEvent) -> None:
        self._track(run_id, event)
        self._send(run_id, event)

    def from_elsewhere(self, run_id: str, item: PipelineEvent | Changed) -> None:
        """An item another process sent: to this process's subscribers only (its listeners
        follow this process's own changes)."""
        if isinstance(item, PipelineEvent):
            self._track(run_id, item)
        self._deliver(run_id, item)

    def _track(self, run_id: str, event: PipelineEvent) -> None:
        if event.kind == "step_started" and event.step == Step.SUMMARIZING:
            self._partial[run_id] = []
        elif event.kind == "token" and run_id in self._partial:
            self._partial[run_id].append(event.text)
        elif event.kind in ("done", "failed") or (
            event.kind in ("step_finished", "step_failed") and event.step == Step.SUMMARIZING
        ):
            self._partial.pop(run_id, None)

    async def changed(self, run_id: str) -> None:
        for listener in self.record_listeners:
            listener(run_id)
        self._send(run_id, Changed(run_id))

    @asynccontextmanager
    async def subscribe(self, run_id: str) -> AsyncIterator[asyncio.Queue[LiveItem]]:
        queue: asyncio.Queue[LiveItem] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        if self._closing:
            queue.put_nowait(Closing())
        self._subscribers[run_id].add(queue)
        try:
            yield queue
        finally:
            watchers = self._subscribers.get(run_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._subscribers[run_id]

    def close(self) -> None:
        self._closing = True
        for watchers in self._subscribers.values():
            for queue in watchers:
                _offer(queue, Closing())

    def _send(self, run_id: str, item: PipelineEvent | Changed) -> None:
        for listener in self.listeners:
            listener(run_id)
        if self.publish is not None:
            self.publish(run_id, item)
        self._deliver(run_id, item)

    def _deliver(self, run_id: str, item: LiveItem) -> None:
        for queue in list(self._subscribers.get(run_id, ())):
            if not _offer(queue, item):
                log.warning("a watcher of run %s fell behind; its stream is closed", run_id)
                self._subscribers[run_id].discard(queue)


def _offer(queue: asyncio.Queue[LiveItem], item: LiveItem) -> bool:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        # Make room for the close so the stream ends instead of hanging.
        queue.get_nowait()
        queue.put_nowait(Closing())
        return False
    return True
