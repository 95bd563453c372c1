"""Content blocks of a Messages API conversation, refused where the real API refuses them.

A conversation that used tools carries the assistant's ``tool_use`` blocks and, in the very
next user message, a ``tool_result`` for each of them, before any other content; a result for
a call that was not made, a call left without its result, or tool blocks in a request without
``tools`` are refused with the API's own wording (Anthropic's tool use guide, "Handling tool
use and tool result content blocks").
"""

from __future__ import annotations

import re
from typing import Any

_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# The block types the API knows; only the ones Smart Notes sends are checked further.
_KNOWN = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
    }
)
_RESULT_CONTENT = frozenset({"text", "image", "document", "search_result"})


class ContentError(ValueError):
    """A conversation the real API answers with 400 ``invalid_request_error``."""


def check_conversation(messages: list[dict[str, Any]], tools: set[str]) -> None:
    """Every block of every message, and the pairing of tool calls with their results."""
    pending: list[str] = []
    uses_tools = False
    for number, message in enumerate(messages):
        content = message["content"]
        blocks = content if isinstance(content, list) else []
        for index, block in enumerate(blocks):
            _check_block(f"messages.{number}.content.{index}", message["role"], block)
        calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
        results = [(i, b) for i, b in enumerate(blocks) if b["type"] == "tool_result"]
        uses_tools = uses_tools or bool(calls or results)
        if pending:
            answered = {b["tool_use_id"] for _, b in results}
            missing = [call for call in pending if call not in answered]
            if message["role"] != "user" or missing:
                raise ContentError(
                    f"messages.{number - 1}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing or pending)}. Each "
                    "`tool_use` block must have a corresponding `tool_result` block in the "
                    "next message."
                )
        for index, result in results:
            if result["tool_use_id"] not in pending:
                raise ContentError(
                    f"messages.{number}.content.{index}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {result['tool_use_id']}. Each `tool_result` block "
                    "must have a corresponding `tool_use` block in the previous message."
                )
        if results and [i for i, _ in results] != list(range(len(results))):
            raise ContentError(
                f"messages.{number}: `tool_result` blocks must come first in the content, "
                "before any other block"
            )
        if len(set(calls)) != len(calls):
            raise ContentError(f"messages.{number}: `tool_use` ids must be unique")
        pending = calls
    if pending:
        raise ContentError(
            f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` "
            f"blocks immediately after: {', '.join(pending)}. Each `tool_use` block must have "
            "a corresponding `tool_result` block in the next message."
        )
    if uses_tools and not tools:
        raise ContentError(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )


def _check_block(where: str, role: str, block: Any) -> None:
    if not isinstance(block, dict) or block.get("type") not in _KNOWN:
        kind = block.get("type") if isinstance(block, dict) else None
        raise ContentError(f"{where}.type: Input tag {kind!r} does not match any expected tag")
    kind = block["type"]
    if kind == "text":
        _check_text(where, block)
    elif kind == "tool_use":
        if role != "assistant":
            raise ContentError(f"{where}: `tool_use` blocks are only allowed in assistant turns")
        if not isinstance(block.get("id"), str) or not _TOOL_USE_ID.match(block["id"]):
            raise ContentError(f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise ContentError(f"{where}.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise ContentError(f"{where}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        _check_result(where, role, block)


def _check_text(where: str, block: dict[str, Any]) -> None:
    value = block.get("text")
    if not isinstance(value, str):
        raise ContentError(f"{where}.text: Field required")
    if not value.strip():
        raise ContentError(f"{where}: text content blocks must be non-empty")


def _check_result(where: str, role: str, block: dict[str, Any]) -> None:
    if role != "user":
        raise ContentError(f"{where}: `tool_result` blocks are only allowed in user turns")
    if not isinstance(block.get("tool_use_id"), str) or not block["tool_use_id"]:
        raise ContentError(f"{where}.tool_use_id: Field required")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise ContentError(f"{where}.is_error: Input should be a valid boolean")
    content = block.get("content", "")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise ContentError(f"{where}.content: Input should be a valid string or list")
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in _RESULT_CONTENT:
            raise ContentError(f"{where}.content.{index}.type: not a tool result content block")
        if part["type"] == "text":
            _check_text(f"{where}.content.{index}", part)
