"""A run's server-sent events: the run as it stands, then every change as it happens.

Events: ``run`` (the full run view: on connect and whenever the record changes), ``step``
(``{"step", "status", "error"}``), ``token`` (``{"text"}``, the summary as it streams),
``progress`` and ``warning``. A comment line every 15 s keeps proxies from closing the
stream. The stream ends when the client goes away or the service shuts down; a client
reconnects and starts again from the ``run`` snapshot, so nothing depends on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from pipeline.events import PipelineEvent
from smartnotes.runs.live import Changed, Closing, LiveItem
from smartnotes.runs.review import NotFoundError, Viewer
from smartnotes.service import Service

KEEPALIVE = 15.0
STEP_STATUS = {"step_started": "running", "step_finished": "done", "step_failed": "failed"}


async def run_events(
    request: web.Request, service: Service, viewer: Viewer, run_id: str
) -> web.StreamResponse:
    async with service.live.subscribe(run_id) as queue:
        # Subscribed before reading the record, so no change falls between the two.
        view = await service.review.get(viewer, run_id)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await _send(response, "run", view)
        with contextlib.suppress(ConnectionResetError):  # the client went away
            await _pump(response, service, viewer, run_id, queue)
        return response


async def _pump(
    response: web.StreamResponse,
    service: Service,
    viewer: Viewer,
    run_id: str,
    queue: asyncio.Queue[LiveItem],
) -> None:
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE)
        except TimeoutError:
            await response.write(b": keep-alive\n\n")
            continue
        if isinstance(item, Closing):
            return
        if isinstance(item, Changed):
            _drop_queued_changes(queue)
            try:
                view = await service.review.get(viewer, run_id)
            except NotFoundError:
                return  # deleted, or no longer visible to this viewer
            await _send(response, "run", view)
            continue
        name, data = _pipeline_event(item)
        if name is not None:
            await _send(response, name, data)


def _drop_queued_changes(queue: asyncio.Queue[LiveItem]) -> None:
    # Several changes in a row need one fresh snapshot, not one each; other events stay.
    kept = []
    while not queue.empty():
        item = queue.get_nowait()
        if not isinstance(item, Changed):
            kept.append(item)
    for item in kept:
        queue.put_nowait(item)


def _pipeline_event(event: PipelineEvent) -> tuple[str | None, dict[str, Any]]:
    if event.kind in STEP_STATUS and event.step is not None:
        return "step", {
            "step": event.step.value,
            "status": STEP_STATUS[event.kind],
            "error": event.text or None,
            "at": event.at.isoformat(),
        }
    if event.kind == "token":
        return "token", {"text": event.text}
    if event.kind == "progress":
        return "progress", {
            "step": event.step.value if event.step else None,
            "done": event.done,
            "total": event.total,
        }
    if event.kind == "warning":
        return "warning", {"message": event.text}
    return None, {}


async def _send(response: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
    payload = json.dumps(data, separators=(",", ":"))
    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())
