"""A local HTTP server that speaks the Anthropic Messages API (``POST /v1/messages``).

Requests are checked as strictly as the real API checks them
(:mod:`smartnotes.evaluation.messages_api`), so a request Claude would refuse fails the test.
It answers with the documented message shape (``tool_use`` content blocks, ``stop_reason``,
``usage``) and the documented error envelope (``{"type": "error", "error": {...}}``) with
``retry-after`` headers, so the real ``anthropic`` SDK can be pointed at it with ``base_url``.
Replies are scripted per test; every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from smartnotes.evaluation.messages_api import RequestRefusedError, check_headers, check_request

_ids = itertools.count(1)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


def tool_message(
    tool_input: Any,
    *,
    name: str = "record_tasks",
    model: str = "claude-test",
    stop_reason: str = "tool_use",
) -> dict[str, Any]:
    number = next(_ids)
    return {
        "id": f"msg_{number:024d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "tool_use", "id": f"toolu_{number:024d}", "name": name, "input": tool_input},
        ],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": 300},
    }


def tasks_reply(tasks: list[dict[str, Any]], *, delay: float = 0.0) -> Reply:
    return Reply(body=tool_message({"tasks": tasks}), delay=delay)


def error_reply(status: int, kind: str, message: str, *, retry_after_ms: int | None = 20) -> Reply:
    headers = {}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
        headers["retry-after"] = str(max(1, retry_after_ms // 1000))
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": kind, "message": message}},
        headers=headers,
    )


class FakeAnthropic:
    def __init__(self, default: Reply | Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.keys: list[str] = []
        self.refused: list[RequestRefusedError] = []
        self.script: deque[Reply] = deque()
        self.default = default or tasks_reply([])
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def then(self, *replies: Reply) -> FakeAnthropic:
        self.script.extend(replies)
        return self

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        # Refused exactly as the real API refuses it, before any scripted reply is used.
        try:
            key = check_headers(request.headers)
            try:
                body = json.loads(await request.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RequestRefusedError(
                    400, "invalid_request_error", "request body is not valid JSON"
                ) from None
            check_request(body)
        except RequestRefusedError as refused:
            self.refused.append(refused)
            return web.json_response(refused.body(), status=refused.status)
        self.keys.append(key)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.script:
            reply = self.script.popleft()
        elif callable(self.default):
            reply = self.default(body)
        else:
            reply = self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return web.Response(
                status=reply.status,
                body=reply.raw,
                headers=reply.headers,
                content_type="application/json",
            )
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
