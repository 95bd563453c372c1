"""The Anthropic Messages API for tests: :class:`~smartnotes.evaluation.messages_api.MessagesServer`
with scripted replies.

Requests are checked as strictly as the real API checks them, so a request Claude would refuse
fails the test. It answers with the documented message shape (``tool_use`` content blocks,
``stop_reason``, ``usage``) and the documented error envelope (``{"type": "error", "error":
{...}}``) with ``retry-after`` headers, so the real ``anthropic`` SDK can be pointed at it with
``base_url``. Replies are scripted per test; every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartnotes.evaluation.messages_api import (
    Answer,
    MessagesServer,
    RequestRefusedError,
    tool_use_message,
)


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
    message: dict[str, Any] = tool_use_message(model, name, tool_input)
    message["stop_reason"] = stop_reason
    return message


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
        self.script: deque[Reply] = deque()
        self.default = default or tasks_reply([])
        self._server = MessagesServer(self._respond)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._server.accepted

    @property
    def keys(self) -> list[str]:
        return self._server.keys

    @property
    def refused(self) -> list[RequestRefusedError]:
        return self._server.refused

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def then(self, *replies: Reply) -> FakeAnthropic:
        self.script.extend(replies)
        return self

    async def _respond(self, body: dict[str, Any]) -> Answer:
        if self.script:
            reply = self.script.popleft()
        elif callable(self.default):
            reply = self.default(body)
        else:
            reply = self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Answer(status=reply.status, body=reply.body, headers=reply.headers, raw=reply.raw)

    async def start(self) -> str:
        return await self._server.start()

    async def close(self) -> None:
        await self._server.close()
