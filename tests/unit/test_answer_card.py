"""The answer card: valid Adaptive Card 1.5, matching its golden files, each source opening
its call's review page in a Teams dialog, untrusted words kept out of markdown, and an answer
of any size fitting in one Teams message."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cards import MAX_BYTES, build_answer_card, card_size
from tests.unit.test_cards import GOLDEN, UPDATE, all_text, golden_text, of_type, schema_errors

RUN_A = "5f1c0e0a9b7d4c2e8a6f3b1d0c9e7a55"
RUN_B = "0c9e7a555f1c0e0a9b7d4c2e8a6f3b1d"


def citation(number: int, **changes: Any) -> dict[str, Any]:
    return {
        "number": number,
        "run_id": RUN_A,
        "call_at": "2026-11-17T16:00:00+00:00",
        "call_url": "https://calls.test/ana-1",
        "customer_id": "c-1",
        "customer_name": "Contoso",
        "kind": "transcript",
        "task_id": None,
        "speaker": "Daniel Ortiz",
        "at_seconds": 61.0,
        "quote": "Legal still needs the DPA before we can sign.",
        "own": True,
        **changes,
    }


def answer(**changes: Any) -> dict[str, Any]:
    return {
        "question": "What did Contoso promise about the DPA?",
        "answer": "Legal needs the DPA before signing [1]; Ana sends it by Friday [2].",
        "found": True,
        "citations": [
            citation(1),
            citation(
                2,
                kind="task",
                task_id="t-1",
                speaker=None,
                at_seconds=None,
                quote="Send the signed DPA",
            ),
        ],
        "answered_by": {
            "engine": "claude",
            "model": "claude-sonnet-4-6",
            "reason": None,
            "label": "Claude (claude-sonnet-4-6)",
        },
        "searched": ["What did Contoso promise about the DPA?", "Contoso DPA"],
        **changes,
    }


ANSWERS: dict[str, Callable[[], dict[str, Any]]] = {
    "answer": lambda: build_answer_card(answer()),
    "answer_local": lambda: build_answer_card(
        answer(
            answer="Here is what your calls say about this. [1]",
            citations=[
                citation(1, run_id=RUN_B, kind="note", customer_name=None, quote="Annual pricing")
            ],
            answered_by={"label": "local excerpts, no model: no API key configured"},
        )
    ),
    "answer_dont_know": lambda: build_answer_card(
        answer(
            answer="I don't know: nothing in your calls answers this. I searched your calls "
            "for \u201ckubernetes\u201d.",
            found=False,
            citations=[],
            answered_by={"label": "no model: nothing in your calls matched"},
        )
    ),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_answer_card_is_valid_and_matches_its_golden_file(name: str) -> None:
    card = ANSWERS[name]()
    assert schema_errors(card) == []
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(golden_text(card), encoding="utf-8")
    assert path.read_text(encoding="utf-8") == golden_text(card)


def test_each_source_says_where_it_was_said_and_opens_its_call() -> None:
    card = ANSWERS["answer"]()
    shown = all_text(card)
    assert "[1] \nContoso\n \u00b7 Daniel Ortiz at 1:01" in shown
    assert "\u201cLegal still needs the DPA before we can sign.\u201d" in shown
    assert "[2] \nContoso\n \u00b7 a task" in shown
    assert "{{DATE(2026-11-17T16:00:00Z, SHORT)}}" in shown
    assert "Answered by Claude (claude-sonnet-4-6)." in shown
    dialogs = [a for a in of_type(card, "Action.Submit") if a["data"].get("msteams")]
    assert [a["data"] for a in dialogs] == [
        {"run_id": RUN_A, "msteams": {"type": "task/fetch"}},
        {"run_id": RUN_A, "msteams": {"type": "task/fetch"}},
    ]
    # No link in the card itself: the dialog mints one when pressed.
    assert "token=" not in json.dumps(card)


def test_words_from_calls_and_models_never_reach_markdown() -> None:
    hostile = "[click](https://evil.example) **now**"
    card = build_answer_card(
        answer(
            question=hostile,
            answer=hostile,
            citations=[citation(1, quote=hostile, speaker=hostile, customer_name=hostile)],
        )
    )
    for block in of_type(card, "TextBlock"):
        assert "evil.example" not in block["text"]
    assert hostile in all_text(card)


def test_an_answer_of_any_size_fits_in_one_teams_message() -> None:
    many = [citation(n, quote="word " * 400) for n in range(1, 40)]
    card = build_answer_card(answer(answer="long " * 400, citations=many))
    assert card_size(card) <= MAX_BYTES
    shown = all_text(card)
    assert "more source(s) did not fit on this card" in shown
    assert schema_errors(card) == []
    few = build_answer_card(answer(citations=many[:3]))
    assert "did not fit" not in all_text(few)
