"""The local Messages API refuses what the real API refuses, with the real SDK as the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest

from pipeline.tasks import extraction_schema
from smartnotes.evaluation.messages_api import Answer, MessagesServer, tool_use_message

TOOL: dict[str, Any] = {
    "name": "record_tasks",
    "description": "Record tasks.",
    "input_schema": extraction_schema(),
}


async def _echo(body: dict[str, Any]) -> Answer:
    return Answer(body=tool_use_message(body["model"], "record_tasks", {"tasks": []}))


@pytest.fixture
async def server() -> AsyncIterator[MessagesServer]:
    running = MessagesServer(_echo)
    await running.start()
    yield running
    await running.close()


@pytest.fixture
async def client(server: MessagesServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    # A timeout of our own: the SDK refuses long non-streamed requests before sending them.
    sdk = anthropic.AsyncAnthropic(
        api_key="test-key", base_url=server.base_url, max_retries=0, timeout=30
    )
    yield sdk
    await sdk.close()


def _request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8192,
        "system": "Extract tasks.",
        "messages": [{"role": "user", "content": "[00:00:01] Maria: I'll send it."}],
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": "record_tasks"},
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


async def test_a_request_like_ours_is_answered(
    client: anthropic.AsyncAnthropic, server: MessagesServer
) -> None:
    message = await client.messages.create(**_request(), extra_body={"temperature": 0.1})
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["tool_use"]
    assert server.accepted[0]["temperature"] == 0.1


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"model": "claude-sonnet-9"}, anthropic.NotFoundError, "model: claude-sonnet-9"),
        ({"max_tokens": 200_000}, anthropic.BadRequestError, "maximum allowed number"),
        (
            {"model": "claude-3-5-haiku-20241022", "max_tokens": 8193},
            anthropic.BadRequestError,
            "8193 > 8192",
        ),
        ({"max_tokens": 0}, anthropic.BadRequestError, "max_tokens"),
        (
            {"tool_choice": {"type": "tool", "name": "record_notes"}},
            anthropic.BadRequestError,
            "'record_notes' not found",
        ),
        (
            {"tools": [{**TOOL, "input_schema": {"type": "array"}}]},
            anthropic.BadRequestError,
            "input_schema.type",
        ),
        (
            {"tools": [{**TOOL, "input_schema": {"type": "object", "required": "title"}}]},
            anthropic.BadRequestError,
            "JSON schema is invalid",
        ),
        (
            {"tools": [{**TOOL, "name": "record tasks!"}], "tool_choice": None},
            anthropic.BadRequestError,
            "tools.0.name",
        ),
        (
            {"messages": [{"role": "assistant", "content": "Hello"}]},
            anthropic.BadRequestError,
            "first message",
        ),
        (
            {"messages": [{"role": "system", "content": "Hello"}]},
            anthropic.BadRequestError,
            "messages.0.role",
        ),
        ({"messages": [{"role": "user", "content": " "}]}, anthropic.BadRequestError, "non-empty"),
        ({"messages": []}, anthropic.BadRequestError, "at least one message"),
        (
            {"tools": None, "tool_choice": {"type": "any"}},
            anthropic.BadRequestError,
            "only be specified while providing tools",
        ),
    ],
)
async def test_what_the_api_refuses_is_refused(
    client: anthropic.AsyncAnthropic,
    server: MessagesServer,
    changes: dict[str, Any],
    error: type[anthropic.APIStatusError],
    words: str,
) -> None:
    with pytest.raises(error, match=words):
        await client.messages.create(**_request(**changes))
    assert not server.accepted


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"temperature": 1.5}, "between 0 and 1"),
        ({"response_format": {"type": "json"}}, "response_format: Extra inputs"),
    ],
)
async def test_sampling_and_unknown_fields_are_checked(
    client: anthropic.AsyncAnthropic, extra: dict[str, Any], words: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=words):
        await client.messages.create(**_request(), extra_body=extra)


async def test_adaptive_reasoning_models_take_no_temperature(
    client: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        await client.messages.create(
            **_request(model="claude-opus-4-8"), extra_body={"temperature": 0.1}
        )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"anthropic-version": "2023-06-01"}, 401),
        ({"x-api-key": "test-key"}, 400),
        ({"x-api-key": "test-key", "anthropic-version": "latest"}, 400),
    ],
)
async def test_authentication_headers_come_first(
    server: MessagesServer, headers: dict[str, str], status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/v1/messages", json=_request(), headers=headers) as reply,
    ):
        body = await reply.json()
    assert reply.status == status
    assert body["type"] == "error"
    assert not server.accepted
