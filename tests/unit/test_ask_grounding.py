"""Grounding an answer in the rep's own search results: what a citation must point to, how a
quote is matched, and what becomes of the answer's text when citations are dropped."""

from __future__ import annotations

from typing import Any

from smartnotes.ask.answers import AnsweredBy, dont_know
from smartnotes.ask.grounding import find_quote, ground
from smartnotes.ask.sources import Sources
from smartnotes.search.query import SNIPPET


def hit(text: str, run_id: str = "run-a", **changes: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "call_at": "2026-11-17T16:00:00+00:00",
        "call_url": None,
        "customer_id": "c-1",
        "customer_name": "Contoso",
        "kind": "transcript",
        "task_id": None,
        "speaker": "Daniel Ortiz",
        "at_seconds": 1.0,
        "text": text,
        "own": True,
        **changes,
    }


LEGAL = hit("Legal still needs the DPA before we can sign.")
SEND = hit("I\u2019ll send the signed DPA by Friday.", at_seconds=5.0, speaker="Ana Lima")


def numbered(*hits: dict[str, Any]) -> Sources:
    sources = Sources()
    sources.number(hits)
    return sources


def test_a_quote_is_found_whatever_its_case_spacing_and_quote_marks() -> None:
    stored = "Legal  still needs\nthe DPA before we can sign."
    assert find_quote(stored, "legal still needs the dpa") == "Legal  still needs\nthe DPA"
    assert find_quote(stored, "\u201cthe DPA before we can sign.\u201d") == (
        "the DPA before we can sign"
    )
    assert find_quote(SEND["text"], "I'll send the signed DPA") == "I\u2019ll send the signed DPA"
    assert find_quote(stored, "Legal needs the DPA") is None
    assert find_quote(stored, " ... ") is None


def test_only_citations_of_returned_sources_with_their_words_stand() -> None:
    sources = numbered(LEGAL, SEND)
    text, citations = ground(
        "Legal needs the DPA first [2]. Ana sends it by Friday [3]. "
        "They agreed to an escrow clause [9]. Pricing comes later [1, 9].",
        [
            (2, "I'll send the signed DPA by Friday"),  # a real source, other words
            (3, "escrow clause"),  # never returned
            (1, "LEGAL STILL NEEDS the DPA"),
            (9, "anything"),  # never returned
            (2, None),  # no quote: the whole source
        ],
        sources,
    )
    assert [(c.number, c.hit["text"], c.quote) for c in citations] == [
        (1, SEND["text"], "I\u2019ll send the signed DPA by Friday"),
        (1, SEND["text"], SEND["text"]),
        (2, LEGAL["text"], "Legal still needs the DPA"),
    ]
    # Renumbered in the order the text cites them; a sentence left with no source goes.
    assert text == "Legal needs the DPA first [1]. Pricing comes later [2]."


def test_markers_after_the_full_stop_belong_to_their_sentence() -> None:
    text, citations = ground(
        "Ana sends it by Friday. [1]\nAn escrow clause was agreed. [4] Legal waits. [2]",
        [(1, "signed DPA"), (2, "before we can sign")],
        numbered(SEND, LEGAL),
    )
    assert [c.quote for c in citations] == ["signed DPA", "before we can sign"]
    assert text == "Ana sends it by Friday. [1]\nLegal waits. [2]"


def test_a_cut_long_text_is_matched_on_the_words_kept() -> None:
    long = hit("word " * 100 + "the DPA is signed")
    shown = long["text"][: SNIPPET - 1] + "\u2026"
    sources = numbered({**long, "text": shown})
    _, citations = ground("Said [1].", [(1, "word word"), (1, "the DPA is signed")], sources)
    assert [c.quote for c in citations] == ["word word"]
    _, whole = ground("Said [1].", [(1, None)], sources)
    assert whole[0].quote == shown[:-1]


def test_nothing_verified_is_no_answer() -> None:
    text, citations = ground("Contoso signed [1].", [(1, "Globex signed")], numbered(LEGAL))
    assert citations == []
    assert text == ""
    answer = dont_know("dpa?", ["dpa?", "Contoso DPA", "dpa?"], AnsweredBy("claude", "m"))
    assert answer.found is False
    assert answer.text == (
        "I don't know: nothing in your calls answers this. I searched your calls for "
        "\u201cdpa?\u201d, \u201cContoso DPA\u201d."
    )
    assert answer.to_json()["answered_by"]["label"] == "Claude (m)"
