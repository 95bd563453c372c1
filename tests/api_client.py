"""A test's view of a running service: the real app on a loopback port, real signed tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from smartnotes.auth import issue_token
from smartnotes.jobs.engine import CRM, UPKEEP
from smartnotes.service import Service
from smartnotes.settings import Settings
from smartnotes.web.app import create_app
from smartnotes.web.keys import SERVICE


@dataclass
class Api:
    server: TestServer
    http: aiohttp.ClientSession

    @property
    def service(self) -> Service:
        return self.server.app[SERVICE]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def token(self, tenant: str, email: str, ttl: int = 600) -> str:
        return issue_token(self.service.token_secret, tenant, email, ttl=ttl)

    def headers(self, tenant: str, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, email)}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        as_user: tuple[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        all_headers = dict(headers or {})
        if as_user is not None:
            all_headers.update(self.headers(*as_user))
        async with self.http.request(
            method, self.url(path), json=json_body, headers=all_headers
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    async def wait_for(
        self,
        run_id: str,
        as_user: tuple[str, str],
        done: Callable[[dict[str, Any]], bool],
        *,
        seconds: float = 240.0,
    ) -> dict[str, Any]:
        async def poll() -> dict[str, Any]:
            while True:
                status, view = await self.call("GET", f"/api/runs/{run_id}", as_user=as_user)
                assert status == 200, view
                if done(view):
                    return dict(view)
                await asyncio.sleep(0.2)

        return await asyncio.wait_for(poll(), timeout=seconds)


@asynccontextmanager
async def running_api(
    settings: Settings,
    *,
    process: bool = True,
    port: int | None = None,
    queues: Sequence[str] | None = None,
) -> AsyncIterator[Api]:
    """The service on 127.0.0.1; ``port`` when its address must be known before it starts
    (Graph's notification URL). Without ``process`` it delivers to the CRM and does the upkeep
    but neither processes runs (the models stay unloaded) nor works Graph's side, which the
    Graph tests drive step by step; ``queues`` says otherwise."""
    if queues is None and not process:
        queues = (CRM, UPKEEP)
    server = TestServer(
        create_app(settings, process=process, queues=queues), host="127.0.0.1", port=port
    )
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(server, http)
    finally:
        await server.close()


async def read_events(
    response: aiohttp.ClientResponse,
    until: Callable[[str, dict[str, Any]], bool],
    *,
    seconds: float = 240.0,
) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events from a response until ``until(name, data)`` holds."""
    seen: list[tuple[str, dict[str, Any]]] = []

    async def read() -> None:
        name, data = "message", ""
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                payload = json.loads(data)
                seen.append((name, payload))
                if until(name, payload):
                    return
                name, data = "message", ""

    await asyncio.wait_for(read(), timeout=seconds)
    return seen
