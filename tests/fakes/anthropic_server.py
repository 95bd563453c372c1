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


def tool_call(name: str, tool_input: Any) -> Reply:
    """Claude calling one of the request's tools; the next request must carry its result."""
    return Reply(body=tool_message(tool_input, name=name))


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tool_result`` blocks of a request's last message: what the client answered to
    the tool calls of the previous reply (the server has checked they pair up)."""
    content = body["messages"][-1]["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


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


Scripted = Reply | Callable[[dict[str, Any]], Reply]


class FakeAnthropic:
    def __init__(self, default: Scripted | None = None) -> None:
        # A callable answers from the request it is given (e.g. the tool results it carries).
        self.script: deque[Scripted] = deque()
        self.default = default or tasks_reply([])
        self._server = MessagesServer(self._respond)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._server.accepted

    @property
    def extractions(self) -> list[dict[str, Any]]:
        """The task extraction's requests only (not the deal coach's or an answer's)."""
        return [r for r in self.requests if r.get("tool_choice", {}).get("name") == "record_tasks"]

    @property
    def keys(self) -> list[str]:
        return self._server.keys

    @property
    def refused(self) -> list[RequestRefusedError]:
        return self._server.refused

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def then(self, *replies: Scripted) -> FakeAnthropic:
        self.script.extend(replies)
        return self

    async def _respond(self, body: dict[str, Any]) -> Answer:
        scripted = self.script.popleft() if self.script else self.default
        reply = scripted(body) if callable(scripted) else scripted
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Answer(status=reply.status, body=reply.body, headers=reply.headers, raw=reply.raw)

    async def start(self) -> str:
        return await self._server.start()

    async def close(self) -> None:
        await self._server.close()
