"""The word-level edit distance behind "how much did the rep change the note"."""

from __future__ import annotations

import pytest

from smartnotes.insights.edits import edit_distance


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("Send the quote.", "Send the quote.", 0.0),
        ("Send the quote.", "send THE quote", 0.0),  # case and punctuation are not edits
        ("Send the quote", "Send the revised quote", 1 / 4),
        ("Send the quote", "Send a quote", 1 / 3),
        ("a b c d", "x y", 1.0),
        ("", "", 0.0),
        ("", "new words", 1.0),
        ("one two three four", "two three four one", 2 / 4),
    ],
)
def test_edit_distance(before: str, after: str, expected: float) -> None:
    assert edit_distance(before, after) == pytest.approx(expected)
    assert edit_distance(after, before) == pytest.approx(expected)
