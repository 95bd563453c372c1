"""A local server that speaks the Anthropic Messages API as strictly as the real one.

It stands in for Claude wherever the real API can't be reached: the scripted peer of
``smartnotes eval`` and the test suite. The real ``anthropic`` SDK is pointed at it with
``base_url``. What the real API refuses, it refuses the same way (status, error type, the
documented ``{"type": "error", "error": {...}}`` envelope), for every part of a request that
Smart Notes sends: authentication headers, unknown fields, an unknown model, ``max_tokens``
beyond the model's output limit, a sampling temperature out of range or for a model that takes
none, tools whose input schema is not a JSON Schema, a ``tool_choice`` naming no tool,
messages that do not start with the user, and tool calls without their results
(``message_content``). A request refused here would be refused by Claude,
so a test that passes against it proves the request is one Claude takes.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from jsonschema import SchemaError
from jsonschema.validators import Draft202012Validator

from smartnotes.evaluation.message_content import ContentError, check_conversation

# Maximum output tokens per model family, from Anthropic's model overview. Dated snapshots
# ("claude-sonnet-4-5-20250929") and "-latest" aliases belong to their family.
MODEL_OUTPUT_LIMITS: dict[str, int] = {
    "claude-opus-4-8": 128_000,
    "claude-opus-4-7": 128_000,
    "claude-opus-4-6": 128_000,
    "claude-sonnet-4-6": 128_000,
    "claude-opus-4-5": 64_000,
    "claude-sonnet-4-5": 64_000,
    "claude-haiku-4-5": 64_000,
    "claude-opus-4-1": 32_000,
    "claude-opus-4": 32_000,
    "claude-sonnet-4": 64_000,
    "claude-3-7-sonnet": 64_000,
    "claude-3-5-haiku": 8_192,
    "claude-3-haiku": 4_096,
}
# Models with adaptive reasoning take no sampling temperature.
_NO_TEMPERATURE = frozenset({"claude-opus-4-7", "claude-opus-4-8"})
_SNAPSHOT = re.compile(r"-(\d{8}|latest)$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_REQUEST_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
# API versions are dates; which ones exist changes with the SDK, so only the shape is checked.
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RequestRefusedError(Exception):
    """What the real API answers with a 4xx: the status and the documented error type."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.kind, "message": self.message}}


def model_family(model: str) -> str | None:
    """The model table's entry for ``model``, or None for a model the API does not know."""
    base = _SNAPSHOT.sub("", model)
    return base if base in MODEL_OUTPUT_LIMITS else None


def check_headers(headers: Mapping[str, str]) -> str:
    """The API key of a request, once its authentication headers are in order."""
    key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    if not key:
        raise RequestRefusedError(401, "authentication_error", "x-api-key header is required")
    version = headers.get("anthropic-version")
    if not version:
        raise RequestRefusedError(
            400, "invalid_request_error", "anthropic-version: header is required"
        )
    if not _API_VERSION.match(version):
        raise RequestRefusedError(
            400, "invalid_request_error", f"anthropic-version: invalid version {version!r}"
        )
    return key


def check_request(body: Any) -> None:
    """Refuse a Messages API request body the way the real API would (see the module doc)."""
    if not isinstance(body, dict):
        raise _invalid("request body must be a JSON object")
    extra = sorted(set(body) - _REQUEST_FIELDS)
    if extra:
        raise _invalid(f"{extra[0]}: Extra inputs are not permitted")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Field required")
    family = model_family(model)
    if family is None:
        raise RequestRefusedError(404, "not_found_error", f"model: {model}")
    _check_max_tokens(body.get("max_tokens"), model, MODEL_OUTPUT_LIMITS[family])
    _check_sampling(body, family)
    _check_system(body.get("system"))
    _check_messages(body.get("messages"))
    tools = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), tools)
    try:
        check_conversation(body["messages"], tools)
    except ContentError as exc:
        raise _invalid(str(exc)) from None


def _invalid(message: str) -> RequestRefusedError:
    return RequestRefusedError(400, "invalid_request_error", message)


def _check_max_tokens(value: Any, model: str, limit: int) -> None:
    if value is None:
        raise _invalid("max_tokens: Field required")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _invalid("max_tokens: Input should be a positive integer")
    if value > limit:
        raise _invalid(
            f"max_tokens: {value} > {limit}, which is the maximum allowed number of output "
            f"tokens for {model}"
        )


def _check_sampling(body: dict[str, Any], family: str) -> None:
    temperature = body.get("temperature")
    if temperature is None:
        return
    if family in _NO_TEMPERATURE:
        raise _invalid(f"temperature: is not supported for {body['model']}")
    if not isinstance(temperature, int | float) or not 0.0 <= temperature <= 1.0:
        raise _invalid("temperature: Input should be between 0 and 1")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        for b in system
    ):
        raise _invalid("system: Input should be a string or a list of text blocks")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: at least one message is required")
    for number, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise _invalid(f"messages.{number}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            empty = not content.strip()
        elif isinstance(content, list):
            empty = not content
        else:
            raise _invalid(f"messages.{number}.content: Input should be a string or a list")
        if empty and not (number == len(messages) - 1 and message["role"] == "assistant"):
            raise _invalid(f"messages.{number}: all messages must have non-empty content")
    if messages[0]["role"] != "user":
        raise _invalid('messages: first message must use the "user" role')


def _check_tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    names: set[str] = set()
    for number, tool in enumerate(tools):
        where = f"tools.{number}"
        if not isinstance(tool, dict):
            raise _invalid(f"{where}: Input should be an object")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _invalid(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if name in names:
            raise _invalid(f"tools: Tool names must be unique ({name})")
        names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _invalid(f"{where}.input_schema.type: Input should be 'object'")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise _invalid(f"{where}.input_schema: JSON schema is invalid: {exc.message}") from None
    return names


def _check_tool_choice(choice: Any, tools: set[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if choice["type"] in ("any", "tool") and not tools:
        raise _invalid("tool_choice: may only be specified while providing tools")
    if choice["type"] == "tool" and choice.get("name") not in tools:
        raise _invalid(f"tool_choice.name: Tool '{choice.get('name')}' not found in tools")


_ids = itertools.count(1)


def tool_use_message(model: str, tool: str, tool_input: Any, *, output_tokens: int = 300) -> Any:
    """A documented assistant message whose only content is one ``tool_use`` block."""
    number = next(_ids)
    return {
        "id": f"msg_{number:024d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "tool_use", "id": f"toolu_{number:024d}", "name": tool, "input": tool_input}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": output_tokens},
    }


@dataclass
class Answer:
    """What the server sends back for one accepted request."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Responder = Callable[[dict[str, Any]], Awaitable[Answer]]


class MessagesServer:
    """``POST /v1/messages`` on a loopback port; ``responder`` answers the requests it takes."""

    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.accepted: list[dict[str, Any]] = []
        # The API key each accepted request carried, in order.
        self.keys: list[str] = []
        self.refused: list[RequestRefusedError] = []

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            key = check_headers(request.headers)
            try:
                body = json.loads(await request.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise _invalid("request body is not valid JSON") from None
            check_request(body)
        except RequestRefusedError as refused:
            self.refused.append(refused)
            return web.json_response(refused.body(), status=refused.status)
        self.accepted.append(body)
        self.keys.append(key)
        answer = await self._responder(body)
        if answer.raw is not None:
            return web.Response(
                status=answer.status,
                body=answer.raw,
                headers=answer.headers,
                content_type="application/json",
            )
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def start(self) -> str:
        app = web.Application(client_max_size=32 * 1024 * 1024)
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
            self._runner = None
