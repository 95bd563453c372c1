"""Like / dislike with an optional comment, for the summary and for each task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards.elements import Element, execute, show_card, text_input
from cards.verbs import TARGET, Verb, action_data, comment_input

_GIVEN = {"like": "you liked it", "dislike": "you disliked it"}


def feedback_action(run: Mapping[str, Any], target: str, label: str) -> Element:
    """A "Feedback" button that opens the comment box and the Like / Dislike buttons.

    One box per target serves both ratings: input ids must be unique on a card, and the
    comment stays optional because either button sends whatever is in the box, empty or not.
    """
    given = run["feedback"].get(target) or {}
    rating = _GIVEN.get(given.get("rating", ""))
    data = action_data(run, **{TARGET: target})
    comment = text_input(
        comment_input(target),
        f"Comment on {label} (optional)",
        given.get("comment"),
        max_length=2000,
        placeholder="What was good or wrong?",
    )
    return show_card(
        f"Feedback: {rating}" if rating else "Feedback",
        [comment],
        [
            execute("Like", Verb.FEEDBACK_LIKE, data),
            execute("Dislike", Verb.FEEDBACK_DISLIKE, data),
        ],
    )
