"""A scripted Messages API peer that answers like a perfect Claude would on a labelled set.

For each request it finds the labelled commitments whose quotes are in the transcript it was
sent (so a long call split into parts gets each part's commitments) and records them through
the tool it was asked to call: the exact quote, the owner (by full name, or every other time
by first name, as models write it) and the words said about the deadline, but no date; every
third commitment comes twice, worded differently, as models do now and then.
Everything after the answer (grounding, deadline resolution, merging, owners, the recall
check) is ours, so the eval through this peer measures exactly that.
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
            (call, c, _normal(c.quote), n) for call in calls for n, c in enumerate(call.commitments)
        ]

    async def __call__(self, body: dict[str, Any]) -> Answer:
        prompt = _normal(_text_of(body["messages"]))
        tasks: list[dict[str, Any]] = []
        for call, commitment, quote, n in self._commitments:
            if quote not in prompt:
                continue
            tasks.append(_as_task(call, commitment, short_owner=n % 2 == 1))
            if n % 3 == 2:
                # Models list one commitment twice in other words now and then; merging the
                # two is ours, so every third one comes twice.
                again = _as_task(call, commitment, short_owner=n % 2 == 0)
                again["title"] = "Make sure to " + again["title"][:1].lower() + again["title"][1:]
                tasks.append(again)
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


def _as_task(
    call: LabelledCall, commitment: GoldCommitment, *, short_owner: bool
) -> dict[str, Any]:
    # A model names people as the call does, often by first name ("Maria" for Maria Chen):
    # every other answer does, so matching owners to participants is measured too.
    owner = commitment.owner.split()[0] if short_owner else commitment.owner
    return {
        "title": commitment.title,
        "description": "",
        "owner": owner,
        "due_text": commitment.due_text,
        "due_date": "",
        "priority": "medium",
        "priority_reason": "",
        "related_to": call.customer or "",
        "quote": commitment.quote,
        "timestamp": commitment.at,
        "confidence": 0.9,
    }
