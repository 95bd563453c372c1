"""A local HTTP server that behaves like the internal CRM's JSON API (see crm_adapters.rest).

It keeps customers, Smart Notes and tasks in memory, honours ``Idempotency-Key`` like a real
CRM (a repeated key answers 200 with the first write's id), checks the bearer token, and can be
told to misbehave: answer slowly, fail with 5xx, or rate-limit with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "crm-test-token"  # noqa: S105 - the fake CRM's own test credential


@dataclass
class Misbehave:
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    # The write happens but its answer is lost (a timeout, a dropped connection).
    lose_response: bool = False


@dataclass
class Logged:
    at: float
    method: str
    path: str
    key: str | None
    status: int = 0


@dataclass
class FakeCRM:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    trouble: deque[Misbehave] = field(default_factory=deque)
    # While down, every request answers 503: an outage of unknown length.
    down: bool = False
    log: list[Logged] = field(default_factory=list)
    base_url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    def add_customer(self, name: str, emails: list[str]) -> str:
        customer_id = f"C{next(self._ids)}"
        self.customers[customer_id] = {
            "id": customer_id,
            "name": name,
            "emails": [e.lower() for e in emails],
        }
        return customer_id

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        entry = Logged(
            time.monotonic(), request.method, request.path, request.headers.get("Idempotency-Key")
        )
        self.log.append(entry)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            entry.status = 401
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.down:
            entry.status = 503
            return web.json_response({"error": "down for maintenance"}, status=503)
        if self.trouble:
            trouble = self.trouble.popleft()
            if trouble.delay:
                await asyncio.sleep(trouble.delay)
            if trouble.lose_response:
                await handler(request)
                entry.status = 503
                return web.json_response({"error": "lost"}, status=503)
            if trouble.status:
                headers = {"Retry-After": trouble.retry_after} if trouble.retry_after else {}
                entry.status = trouble.status
                return web.json_response(
                    {"error": "trouble"}, status=trouble.status, headers=headers
                )
        response: web.StreamResponse = await handler(request)
        entry.status = response.status
        return response

    async def _search(self, request: web.Request) -> web.Response:
        wanted = {e.lower() for e in request.query.getall("email", [])}
        found = [
            {"id": c["id"], "name": c["name"], "url": f"https://crm.test/c/{c['id']}"}
            for c in self.customers.values()
            if wanted & set(c["emails"])
        ]
        return web.json_response({"customers": found})

    def _replayed(self, kind: str, request: web.Request) -> str | None:
        key = request.headers.get("Idempotency-Key")
        return self.keys.get((kind, key)) if key else None

    def _remember(self, kind: str, request: web.Request, record_id: str) -> None:
        key = request.headers.get("Idempotency-Key")
        if key:
            self.keys[(kind, key)] = record_id

    async def _post_note(self, request: web.Request) -> web.Response:
        customer_id = request.match_info["customer_id"]
        if customer_id not in self.customers:
            return web.json_response({"error": "no such customer"}, status=404)
        if (existing := self._replayed("note", request)) is not None:
            return web.json_response({"id": existing}, status=200)
        body = await request.json()
        note_id = f"N{next(self._ids)}"
        self.notes[note_id] = {**body, "id": note_id, "customer_id": customer_id}
        self._remember("note", request, note_id)
        return web.json_response(
            {"id": note_id, "url": f"https://crm.test/n/{note_id}"}, status=201
        )

    async def _post_task(self, request: web.Request) -> web.Response:
        if (existing := self._replayed("task", request)) is not None:
            return web.json_response({"id": existing}, status=200)
        body = await request.json()
        task_id = f"T{next(self._ids)}"
        self.tasks[task_id] = {**body, "id": task_id}
        self._remember("task", request, task_id)
        return web.json_response({"id": task_id}, status=201)

    async def _put_task(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        if task_id not in self.tasks:
            return web.json_response({"error": "no such task"}, status=404)
        self.tasks[task_id] = {**(await request.json()), "id": task_id}
        return web.json_response({"id": task_id})

    async def _delete_task(self, request: web.Request) -> web.Response:
        if self.tasks.pop(request.match_info["task_id"], None) is None:
            return web.json_response({"error": "no such task"}, status=404)
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/api/customers", self._search)
        app.router.add_post("/api/customers/{customer_id}/smart-notes", self._post_note)
        app.router.add_post("/api/tasks", self._post_task)
        app.router.add_put("/api/tasks/{task_id}", self._put_task)
        app.router.add_delete("/api/tasks/{task_id}", self._delete_task)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
