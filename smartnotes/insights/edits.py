"""How much a rep changed the AI's note: a word-level edit distance."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def edit_distance(before: str, after: str) -> float:
    """Word insertions, deletions and substitutions turning ``before`` into ``after``, over
    the longer text's word count: 0 is untouched, 1 is rewritten. Words rather than characters
    because a rep rewording a sentence changes it as much as a rep rewriting its letters."""
    a, b = words(before), words(after)
    longest = max(len(a), len(b))
    if longest == 0:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (word != other),
                )
            )
        previous = current
    return previous[-1] / longest
