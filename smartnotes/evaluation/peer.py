"""A scripted Messages API peer that answers like a perfect Claude would on a labelled set.

For each request it finds the labelled commitments whose quotes are in the transcript it was
sent (so a long call split into parts gets each part's commitments) and records them through
the tool it was asked to call: the exact quote, the owner and the words said about the
deadline, but no date. Everything after the answer (grounding, deadline resolution, merging,
the recall check) is ours, so the eval through this peer measures exactly that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from smartnotes.evaluation.gold import GoldCommitment, LabelledCall
from smartnotes.evaluation.messages_api import Answer, tool_use_message

_SPACE = re.compile(r"\s+")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u2019", "'")).strip().lower()


class GoldPeer:
    """A responder for :class:`~smartnotes.evaluation.messages_api.MessagesServer`."""

    def __init__(self, calls: Sequence[LabelledCall]) -> None:
        self._commitments = [
            (call, c, _normal(c.quote)) for call in calls for c in call.commitments
        ]

    async def __call__(self, body: dict[str, Any]) -> Answer:
        prompt = _normal(_text_of(body["messages"]))
        tasks = [
            _as_task(call, commitment)
            for call, commitment, quote in self._commitments
            if quote in prompt
        ]
        tool = body.get("tool_choice", {}).get("name") or body["tools"][0]["name"]
        return Answer(body=tool_use_message(body["model"], tool, {"tasks": tasks}))


def _text_of(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(b.get("text", "") for b in content if isinstance(b, dict))
    return "\n".join(parts)


def _as_task(call: LabelledCall, commitment: GoldCommitment) -> dict[str, Any]:
    return {
        "title": commitment.title,
        "description": "",
        "owner": commitment.owner,
        "due_text": commitment.due_text,
        "due_date": "",
        "priority": "medium",
        "priority_reason": "",
        "related_to": call.customer or "",
        "quote": commitment.quote,
        "timestamp": commitment.at,
        "confidence": 0.9,
    }
