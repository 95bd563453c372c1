"""Re-creating tasks keeps the rep's work: tasks the rep edited, accepted or rejected stay as
they are, the untouched suggestions are replaced by the new extraction, and a new task that is
one the rep already decided on (the same commitment, found again) is left out, so a rejected
task does not come back and an edited one is not doubled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from smartnotes.storage.models import RunTask, TaskStatus

_WORD = re.compile(r"[a-z0-9]+")
# Two quotes said at the same moment that share this much of their words are one commitment.
_SAME_QUOTE = 0.6
_SAME_MOMENT_SECONDS = 1.5
# Words every commitment shares ("I'll send you the ..."): they say nothing about which one.
_COMMON = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "i",
        "it",
        "ll",
        "me",
        "my",
        "of",
        "on",
        "our",
        "s",
        "the",
        "this",
        "that",
        "to",
        "us",
        "we",
        "will",
        "you",
        "your",
    ]
)


def touched(task: RunTask) -> bool:
    """The rep has acted on this task: it is theirs now, not the model's."""
    return task.status != TaskStatus.PROPOSED or bool(task.edited)


def new_tasks(
    kept: Sequence[RunTask], fresh: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The freshly extracted tasks that are not already among the ones the rep kept."""
    return [task for task in fresh if not any(_same(task, k.generated) for k in kept)]


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if _words(str(a.get("title", ""))) == _words(str(b.get("title", ""))):
        return True
    quote_a, quote_b = _first_evidence(a), _first_evidence(b)
    if quote_a is None or quote_b is None:
        return False
    (at_a, words_a), (at_b, words_b) = quote_a, quote_b
    if at_a is None or at_b is None or abs(at_a - at_b) > _SAME_MOMENT_SECONDS:
        return False
    shared = len(set(words_a) & set(words_b))
    return shared >= _SAME_QUOTE * min(len(set(words_a)), len(set(words_b)))


def _first_evidence(task: Mapping[str, Any]) -> tuple[float | None, list[str]] | None:
    evidence = task.get("evidence") or []
    if not evidence or not isinstance(evidence[0], Mapping):
        return None
    at = evidence[0].get("at")
    words = [w for w in _words(str(evidence[0].get("quote", ""))) if w not in _COMMON]
    if not words:
        return None
    return (float(at) if isinstance(at, int | float) else None), words


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())
