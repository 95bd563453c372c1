"""The answer to a rep's question about their calls: the answer, its sources (which call,
who said it and when, the words), a way into each call's review page, and which model
answered. Built from the ask API's JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cards.elements import (
    Element,
    action_set,
    card,
    card_size,
    column,
    columns,
    container,
    open_dialog,
    plain,
    span,
    text,
)
from cards.run_card import MAX_BYTES, CardTooLargeError
from cards.verbs import RUN_ID
from cards.wording import client_time, clock

KINDS = {"note": "call notes", "task": "a task"}
# Quotes shortened, then sources left out, when an answer would not fit in one message.
SHORT_QUOTE = 160


def build_answer_card(answer: Mapping[str, Any], *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Each source opens its call's review page in a Teams dialog, with a link minted when
    pressed (``task/fetch``): an answer read days later still opens."""
    citations: Sequence[Mapping[str, Any]] = answer.get("citations") or []
    for quote_chars, shown in [(None, len(citations)), (SHORT_QUOTE, len(citations))] + [
        (SHORT_QUOTE, n) for n in range(len(citations) - 1, -1, -1)
    ]:
        result = _card(answer, citations[:shown], quote_chars, len(citations) - shown)
        if card_size(result) <= max_bytes:
            return result
    raise CardTooLargeError(f"the answer does not fit in {max_bytes} bytes")


def _card(
    answer: Mapping[str, Any],
    citations: Sequence[Mapping[str, Any]],
    quote_chars: int | None,
    left_out: int,
) -> dict[str, Any]:
    body: list[Element] = [
        text("You asked", size="small", subtle=True),
        plain(span(str(answer.get("question") or ""), italic=True), spacing="none"),
        container([plain(str(answer.get("answer") or ""))], style="emphasis"),
    ]
    if citations:
        body.append(text("Sources", weight="bolder"))
        body.extend(_source(citation, quote_chars) for citation in citations)
    if left_out:
        body.append(text(f"{left_out} more source(s) did not fit on this card.", subtle=True))
    by = (answer.get("answered_by") or {}).get("label") or "unknown"
    footer = f"Answered by {by}. AI generated from your calls: check the sources."
    body.append(plain(span(footer, size="small", subtle=True)))
    return card(body, fallback_text=str(answer.get("answer") or ""))


def _source(citation: Mapping[str, Any], quote_chars: int | None) -> Element:
    quote = str(citation.get("quote") or "")
    if quote_chars is not None and len(quote) > quote_chars:
        quote = quote[: quote_chars - 1].rstrip() + "\u2026"
    where = [
        plain(
            span(f"[{citation.get('number')}] ", weight="bolder"),
            span(str(citation.get("customer_name") or "No customer"), weight="bolder"),
            f" \u00b7 {_what(citation)}",
        )
    ]
    if citation.get("call_at"):
        when = client_time(str(citation["call_at"]))
        where.append(text(when, size="small", subtle=True, spacing="none"))
    open_call = open_dialog("Open", {RUN_ID: citation.get("run_id")})
    return container(
        [
            columns(column(where), column([action_set([open_call])], "auto")),
            plain(span(f"\u201c{quote}\u201d", italic=True), spacing="small"),
        ],
        separator=True,
    )


def _what(citation: Mapping[str, Any]) -> str:
    if citation.get("kind") in KINDS:
        return KINDS[citation["kind"]]
    speaker = citation.get("speaker") or "someone"
    at = citation.get("at_seconds")
    return f"{speaker} at {clock(at)}" if isinstance(at, int | float) else str(speaker)
