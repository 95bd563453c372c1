"""The local Messages API takes a tool-use conversation as the real API does, and refuses the
ones it refuses: each tool call answered by a ``tool_result`` in the very next message, before
anything else, for a call that was made, in a request that defines tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, tool_call, tool_results

TOOLS: list[dict[str, Any]] = [
    {
        "name": "search_calls",
        "description": "Search.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
    {
        "name": "answer",
        "description": "Answer.",
        "input_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
    },
]
CALL: dict[str, Any] = {
    "type": "tool_use",
    "id": "toolu_01",
    "name": "search_calls",
    "input": {"query": "DPA"},
}
RESULT: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "[]"}
QUESTION: dict[str, Any] = {"role": "user", "content": "What about the DPA?"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    server = FakeAnthropic()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.base_url, max_retries=0, timeout=30
    )
    yield sdk
    await sdk.close()


def _create(messages: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "messages": messages,
        "tools": TOOLS,
        "tool_choice": {"type": "any"},
    }
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


async def test_a_tool_call_and_its_result_make_a_conversation(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.then(tool_call("search_calls", {"query": "DPA"}), tool_call("answer", {"answer": "x"}))
    first = await client.messages.create(**_create([QUESTION]))
    assert first.stop_reason == "tool_use"
    [call] = first.content
    assert call.type == "tool_use"
    assert (call.name, call.input) == ("search_calls", {"query": "DPA"})
    follow_up = [
        QUESTION,
        {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "no matches"},
                {"type": "text", "text": "Answer now."},
            ],
        },
    ]
    second = await client.messages.create(**_create(follow_up))
    assert [b.type for b in second.content] == ["tool_use"]
    assert tool_results(fake.requests[1]) == [follow_up[2]["content"][0]]
    assert fake.refused == []


@pytest.mark.parametrize(
    ("messages", "changes", "words"),
    [
        (
            [QUESTION, {"role": "assistant", "content": [CALL]}],
            {},
            "`tool_use` ids were found without `tool_result` blocks immediately after",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": "Here are the results."},
            ],
            {},
            "without `tool_result` blocks immediately after: toolu_01",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": [{**RESULT, "tool_use_id": "toolu_02"}]},
            ],
            {},
            "without `tool_result` blocks",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [CALL, {**CALL, "id": "toolu_02"}]},
                {"role": "user", "content": [RESULT, {**RESULT, "tool_use_id": "toolu_03"}]},
            ],
            {},
            "toolu_02",
        ),
        (
            [{"role": "user", "content": [RESULT]}],
            {},
            "unexpected `tool_use_id` found in `tool_result` blocks: toolu_01",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": [{"type": "text", "text": "Results:"}, RESULT]},
            ],
            {},
            "must come first",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": [RESULT]},
            ],
            {"tools": None, "tool_choice": None},
            "must define tools",
        ),
        (
            [{"role": "user", "content": [CALL]}],
            {},
            "only allowed in assistant turns",
        ),
        (
            [
                QUESTION,
                {"role": "assistant", "content": [{**CALL, "input": "DPA"}]},
                {"role": "user", "content": [RESULT]},
            ],
            {},
            "input: Input should be a valid dictionary",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": "  "}]}],
            {},
            "text content blocks must be non-empty",
        ),
        (
            [{"role": "user", "content": [{"type": "tool_call", "id": "x"}]}],
            {},
            "does not match any expected tag",
        ),
    ],
)
async def test_what_the_api_refuses_in_a_tool_conversation_is_refused(
    fake: FakeAnthropic,
    client: anthropic.AsyncAnthropic,
    messages: list[dict[str, Any]],
    changes: dict[str, Any],
    words: str,
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=words):
        await client.messages.create(**_create(messages, **changes))
    assert fake.requests == []
    assert [r.status for r in fake.refused] == [400]
