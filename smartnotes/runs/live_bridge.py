"""Live run events between processes, over PostgreSQL's LISTEN/NOTIFY.

A worker process summarizes a run while the rep's page is open on a web process: the page
must see the steps and the summary grow all the same. Every process publishes what happens in
it on one channel and hands what the others publish to its own subscribers. Tokens come tens
per second; the ones queued while a notification is on its way go out together, and no payload
comes near PostgreSQL's 8000-byte limit. Like the in-process fan-out, nothing here is durable:
a watcher that misses something re-reads the run record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import psycopg
from psycopg import sql

from pipeline.events import PipelineEvent
from smartnotes.runs.live import Changed, LiveEvents

log = logging.getLogger(__name__)

CHANNEL = "smartnotes_live"
# Text per notification, well under the payload limit once escaped as JSON.
TEXT_LIMIT = 1500
# How long to wait before connecting again after the connection was lost.
RECONNECT_SECONDS = 2.0
OUTBOX_LIMIT = 10_000


class LiveBridge:
    def __init__(self, conninfo: str, live: LiveEvents) -> None:
        self.conninfo = conninfo
        self.live = live
        self.origin = uuid.uuid4().hex
        self._outgoing: asyncio.Queue[tuple[str, PipelineEvent | Changed]] = asyncio.Queue(
            maxsize=OUTBOX_LIMIT
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self.live.publish = self._queue
        self._tasks = [
            asyncio.create_task(self._listen(), name="live-bridge-listen"),
            asyncio.create_task(self._publish(), name="live-bridge-publish"),
        ]
        # Subscribers may connect as soon as the service is up: be listening by then.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        self.live.publish = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _queue(self, run_id: str, item: PipelineEvent | Changed) -> None:
        try:
            self._outgoing.put_nowait((run_id, item))
        except asyncio.QueueFull:
            log.warning("live events for other processes are falling behind; one dropped")

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as connection:
                    await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._listening.set()
                    async for notification in connection.notifies():
                        self._received(notification.payload)
            except (psycopg.Error, OSError):
                log.warning("the live event channel was lost; listening again shortly")
            await asyncio.sleep(RECONNECT_SECONDS)

    def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["origin"] == self.origin:
                return
            run_id = str(message["run"])
            item: PipelineEvent | Changed = (
                Changed(run_id)
                if message["kind"] == "changed"
                else PipelineEvent.model_validate(message["event"])
            )
        except (ValueError, KeyError, TypeError):
            log.warning("an unreadable live event was ignored")
            return
        self.live.from_elsewhere(run_id, item)

    async def _publish(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as connection:
                    while True:
                        batch = [await self._outgoing.get()]
                        while not self._outgoing.empty():
                            batch.append(self._outgoing.get_nowait())
                        for payload in _payloads(self.origin, batch):
                            await connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except (psycopg.Error, OSError):
                log.warning("publishing live events failed; connecting again shortly")
            await asyncio.sleep(RECONNECT_SECONDS)


def _payloads(origin: str, batch: list[tuple[str, PipelineEvent | Changed]]) -> list[str]:
    """The notifications for a batch, in order: consecutive tokens of a run joined (up to
    ``TEXT_LIMIT`` characters each), repeated "changed" of a run in a row sent once."""
    merged: list[tuple[str, PipelineEvent | Changed]] = []
    for run_id, item in batch:
        if merged and merged[-1][0] == run_id:
            last = merged[-1][1]
            if isinstance(item, Changed) and isinstance(last, Changed):
                continue
            if (
                isinstance(item, PipelineEvent)
                and isinstance(last, PipelineEvent)
                and item.kind == last.kind == "token"
                and len(last.text) + len(item.text) <= TEXT_LIMIT
            ):
                merged[-1] = (run_id, last.model_copy(update={"text": last.text + item.text}))
                continue
        merged.append((run_id, item))
    payloads = []
    for run_id, item in merged:
        message: dict[str, Any] = {"origin": origin, "run": run_id}
        if isinstance(item, Changed):
            message["kind"] = "changed"
        else:
            event = item
            if len(event.text) > TEXT_LIMIT:  # a warning or an error message, cut short
                event = event.model_copy(update={"text": event.text[:TEXT_LIMIT]})
            message["kind"], message["event"] = "event", event.model_dump(mode="json")
        payloads.append(json.dumps(message))
    return payloads
