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
    # The write happens, then the answer takes this long (the caller may die meanwhile).
    hang_after_write: float = 0.0
    # The request is handled, then answered 200 with this body instead (a broken proxy, a
    # CRM version that changed its answers).
    garbled: bytes | None = None


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

    def add_customer(self, name: str, emails: list[str], owner: str | None = None) -> str:
        """A customer; with an ``owner``, only that rep may see and write to it."""
        customer_id = f"C{next(self._ids)}"
        self.customers[customer_id] = {
            "id": customer_id,
            "name": name,
            "emails": [e.lower() for e in emails],
            "owner": owner.lower() if owner else None,
        }
        return customer_id

    def _acting(self, request: web.Request) -> str | web.Response:
        user = request.headers.get("X-Acting-User", "").strip().lower()
        if "@" not in user:
            return web.json_response({"error": "X-Acting-User is required"}, status=400)
        return user

    @staticmethod
    def _public(customer: dict[str, Any]) -> dict[str, Any]:
        cid = customer["id"]
        return {"id": cid, "name": customer["name"], "url": f"https://crm.test/c/{cid}"}

    @staticmethod
    def _writable(customer: dict[str, Any], user: str) -> bool:
        return customer["owner"] in (None, user)

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
            if trouble.hang_after_write:
                taken: web.StreamResponse = await handler(request)
                entry.status = taken.status
                await asyncio.sleep(trouble.hang_after_write)
                return taken
            if trouble.garbled is not None:
                await handler(request)
                entry.status = 200
                return web.Response(
                    body=trouble.garbled, status=200, content_type="application/json"
                )
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
        if "q" in request.query:
            return await self._directory_search(request)
        wanted = {e.lower() for e in request.query.getall("email", [])}
        found = [self._public(c) for c in self.customers.values() if wanted & set(c["emails"])]
        return web.json_response({"customers": found})

    async def _directory_search(self, request: web.Request) -> web.Response:
        user = self._acting(request)
        if isinstance(user, web.Response):
            return user
        text = request.query["q"].strip().lower()
        limit = request.query.get("limit", "10")
        if not text or not limit.isdigit() or not 1 <= int(limit) <= 50:
            return web.json_response({"error": "q and a limit of 1 to 50 are required"}, status=400)
        found = [
            self._public(c)
            for c in self.customers.values()
            if self._writable(c, user)
            and (text in c["name"].lower() or any(text in e for e in c["emails"]))
        ]
        return web.json_response({"customers": found[: int(limit)]})

    async def _create_customer(self, request: web.Request) -> web.Response:
        user = self._acting(request)
        if isinstance(user, web.Response):
            return user
        if (existing := self._replayed("customer", request)) is not None:
            return web.json_response(self._public(self.customers[existing]), status=200)
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        emails = body.get("emails", []) if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip() or not isinstance(emails, list):
            return web.json_response({"error": "name and emails are required"}, status=400)
        taken = {e for c in self.customers.values() for e in c["emails"]}
        if taken & {str(e).lower() for e in emails}:
            return web.json_response({"error": "a contact belongs to a customer"}, status=409)
        customer_id = self.add_customer(name.strip(), [str(e) for e in emails], owner=user)
        self._remember("customer", request, customer_id)
        return web.json_response(self._public(self.customers[customer_id]), status=201)

    async def _access(self, request: web.Request) -> web.Response:
        user = self._acting(request)
        if isinstance(user, web.Response):
            return user
        customer = self.customers.get(request.match_info["customer_id"])
        if customer is None:
            return web.json_response({"error": "no such customer"}, status=404)
        return web.json_response(
            {"write": self._writable(customer, user), "customer": self._public(customer)}
        )

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

    async def _put_note(self, request: web.Request) -> web.Response:
        note_id = request.match_info["note_id"]
        note = self.notes.get(note_id)
        if note is None or note["customer_id"] != request.match_info["customer_id"]:
            return web.json_response({"error": "no such note"}, status=404)
        self.notes[note_id] = {
            **(await request.json()),
            "id": note_id,
            "customer_id": note["customer_id"],
        }
        return web.json_response({"id": note_id})

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

    async def _complete_task(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return web.json_response({"error": "no such task"}, status=404)
        if await request.read():
            return web.json_response({"error": "completing takes no body"}, status=400)
        if task.get("completed"):
            return web.json_response({"id": task["id"]}, status=200)
        task["completed"] = True
        return web.json_response({"id": task["id"]}, status=201)

    async def _delete_task(self, request: web.Request) -> web.Response:
        if self.tasks.pop(request.match_info["task_id"], None) is None:
            return web.json_response({"error": "no such task"}, status=404)
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/api/customers", self._search)
        app.router.add_post("/api/customers", self._create_customer)
        app.router.add_get("/api/customers/{customer_id}/access", self._access)
        app.router.add_post("/api/customers/{customer_id}/smart-notes", self._post_note)
        app.router.add_put("/api/customers/{customer_id}/smart-notes/{note_id}", self._put_note)
        app.router.add_post("/api/tasks", self._post_task)
        app.router.add_put("/api/tasks/{task_id}", self._put_task)
        app.router.add_delete("/api/tasks/{task_id}", self._delete_task)
        app.router.add_post("/api/tasks/{task_id}/complete", self._complete_task)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
