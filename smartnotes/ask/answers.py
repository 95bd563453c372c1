"""What an answer is: its text, the sources it rests on, and which model gave it and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Engine = Literal["claude", "local", "none"]
# Questions are a sentence or two; the search reads at most this much of one.
MAX_QUESTION = 500


@dataclass(frozen=True)
class Citation:
    """One source of an answer: a note, task or transcript line of a call the rep may see,
    and the words of it that back the answer, exactly as stored."""

    number: int
    hit: Mapping[str, Any]
    quote: str

    def to_json(self) -> dict[str, Any]:
        hit = self.hit
        return {
            "number": self.number,
            "run_id": hit["run_id"],
            "call_at": hit["call_at"],
            "call_url": hit["call_url"],
            "customer_id": hit["customer_id"],
            "customer_name": hit["customer_name"],
            "kind": hit["kind"],
            "task_id": hit["task_id"],
            "speaker": hit["speaker"],
            "at_seconds": hit["at_seconds"],
            "quote": self.quote,
            "own": hit["own"],
        }


@dataclass(frozen=True)
class AnsweredBy:
    engine: Engine
    model: str | None = None
    # Why the local model answered instead of Claude, or why no model was asked.
    reason: str | None = None

    @property
    def label(self) -> str:
        if self.engine == "claude":
            who = f"Claude ({self.model})" if self.model else "Claude"
            return f"{who}; {self.reason}" if self.reason else who
        if self.engine == "local":
            who = f"local model ({self.model})" if self.model else "local excerpts, no model"
            return f"{who}: {self.reason}" if self.reason else who
        return f"no model: {self.reason}" if self.reason else "no model"

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "model": self.model,
            "reason": self.reason,
            "label": self.label,
        }


@dataclass(frozen=True)
class Answer:
    """``found`` is true exactly when the answer has a verified source; otherwise the text
    says "I don't know" and what was searched."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    answered_by: AnsweredBy
    searched: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        return bool(self.citations)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "found": self.found,
            "citations": [c.to_json() for c in self.citations],
            "answered_by": self.answered_by.to_json(),
            "searched": list(self.searched),
        }


def dont_know(question: str, searched: Sequence[str], answered_by: AnsweredBy) -> Answer:
    """The answer when nothing found backs one: never a claim without a source."""
    queries = ", ".join(f"\u201c{q}\u201d" for q in dict.fromkeys(searched))
    text = "I don't know: nothing in your calls answers this."
    if queries:
        text += f" I searched your calls for {queries}."
    return Answer(question, text, (), answered_by, tuple(dict.fromkeys(searched)))
