"""The Adaptive Card builders: every card against the official 1.5 schema and a golden file.

``SMARTNOTES_UPDATE_GOLDEN=1 pytest tests/unit/test_cards.py`` rewrites the golden files;
review the diff before committing it.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for

from cards import (
    MAX_BYTES,
    Brief,
    BriefCall,
    BriefMeeting,
    BriefPerson,
    BriefTask,
    CardInputs,
    CardTooLargeError,
    Switches,
    Verb,
    build_brief_card,
    build_error_card,
    build_failure_card,
    build_help_card,
    build_run_card,
    build_status_card,
    build_switched_off_card,
    build_welcome_card,
    card_size,
    comment_input,
    parse_inputs,
    submitted_verb,
    task_input,
)

TESTS = Path(__file__).parents[1]
SCHEMA = TESTS / "schemas" / "adaptive-card-1.5.schema.json"
GOLDEN = TESTS / "golden" / "cards"
UPDATE = os.environ.get("SMARTNOTES_UPDATE_GOLDEN") == "1"

RUN_ID = "5f1c0e0a9b7d4c2e8a6f3b1d0c9e7a55"
REVIEW_URL = f"https://notes.example.com/review/{RUN_ID}?token=t0k3n"
SUMMARY = (
    "Northwind wants annual pricing before their budget review at the end of the month. "
    "Daniel will bring in Elena, their CFO; security questionnaire still open."
)

Card = dict[str, Any]


# --- Run views, shaped like smartnotes.runs.views.run_view --------------------------------------


def make_task(index: int, **changes: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": f"{index:02d}" + "a7c3e9f1b5d24680ace13579bdf024",
        "position": index,
        "status": "proposed",
        "version": 1,
        "edited": False,
        "crm_task_id": None,
        "title": "Send the revised quote with annual pricing",
        "description": "Annual pricing for 40 seats, as discussed.",
        "due_date": "2026-11-20",
        "priority": "high",
        "owner": "Maria Chen",
        "due_text": "by Friday",
        "priority_reason": "their budget review is at the end of the month",
        "related_to": "Northwind Traders",
        "evidence": [
            {
                "quote": "I will send you a revised quote with the annual pricing by Friday.",
                "at": 1.0,
                "speaker": "Maria Chen",
                "verified": True,
            }
        ],
        "confidence": 0.9,
        "origin": "claude",
        "generated": {},
    }
    task.update(changes)
    return task


THREE_TASKS = [
    make_task(
        0,
        edited=True,
        version=2,
        title="Send the revised quote with annual pricing for 40 seats",
    ),
    make_task(
        1,
        status="accepted",
        title="Loop in Elena, the CFO",
        owner="Daniel Okafor",
        due_date=None,
        due_text="before the end of the month",
        priority="medium",
        priority_reason="",
        description="",
        evidence=[
            {
                "quote": "I'll loop in Elena, our CFO, before the end of the month.",
                "at": 5.0,
                "speaker": "Daniel Okafor",
                "verified": True,
            }
        ],
    ),
    make_task(
        2,
        status="rejected",
        title="Send the security questionnaire",
        owner="Priya Raman",
        priority="low",
        origin="recall_check",
        evidence=[
            {
                "quote": "I'll send the questionnaire to you this afternoon",
                "at": 3725.0,
                "speaker": None,
                "verified": False,
            }
        ],
    ),
]


def make_steps(**states: str) -> list[dict[str, Any]]:
    return [
        {
            "step": step,
            "status": status,
            "started_at": "2026-11-17T16:31:00+00:00",
            "finished_at": None if status == "running" else "2026-11-17T16:31:40+00:00",
            "error": "Claude timed out" if status == "failed" else None,
        }
        for step, status in states.items()
    ]


def make_run(status: str = "needs_review", **changes: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": RUN_ID,
        "source": "teams_meeting",
        "call_id": "call-4711",
        "call_started_at": "2026-11-17T16:00:00+00:00",
        "customer_name": "Northwind Traders",
        "status": status,
        "step": None,
        "role": "owner",
        "confidential": False,
        "created_at": "2026-11-17T16:30:05+00:00",
        "version": 7,
        "call_url": "https://teams.example.com/l/meetup-join/4711",
        "timezone": "America/Chicago",
        "participants": [{"name": "Daniel Okafor", "email": "daniel@northwind.example"}],
        "customer_id": "acct-42",
        "ai_generated": True,
        "summary": {"text": SUMMARY, "generated": SUMMARY, "edited": False, "streaming": False},
        "extractor": {"name": "claude", "model": "claude-sonnet-4-5", "fallback_reason": None},
        "tasks": [],
        "steps": make_steps(summarizing="done", analyzing="done", creating_tasks="done"),
        "error": None,
        "notify_when_done": False,
        "transcript_kept": True,
        "feedback": {},
    }
    run.update(changes)
    return run


NO_SUMMARY = {"text": None, "generated": None, "edited": False, "streaming": False}
NO_EXTRACTOR = {"name": None, "model": None, "fallback_reason": None}


def processing(step: str, **changes: Any) -> dict[str, Any]:
    order = ["transcribing", "summarizing", "analyzing", "creating_tasks"]
    states = dict.fromkeys(order[: order.index(step)], "done") | {step: "running"}
    if step == "summarizing":
        states["analyzing"] = "running"  # they run side by side
    fields: dict[str, Any] = {
        "step": step,
        "steps": make_steps(**states),
        "summary": NO_SUMMARY,
        "extractor": NO_EXTRACTOR,
        "version": 3,
    }
    return make_run("running", **(fields | changes))


RUN_STATES: dict[str, dict[str, Any]] = {
    "processing_transcribing": processing("transcribing"),
    "processing_summarizing": processing(
        "summarizing",
        summary={
            "text": "Northwind wants annual pricing before",
            "generated": None,
            "edited": False,
            "streaming": True,
        },
        notify_when_done=True,
    ),
    "processing_analyzing": processing(
        "analyzing", summary={**make_run()["summary"]}, customer_name=None, customer_id=None
    ),
    "processing_creating_tasks": processing("creating_tasks", summary={**make_run()["summary"]}),
    "queued": make_run("queued", steps=[], summary=NO_SUMMARY, extractor=NO_EXTRACTOR),
    "ready": make_run(
        tasks=THREE_TASKS,
        feedback={
            "summary": {"rating": "like", "comment": ""},
            THREE_TASKS[0]["id"]: {"rating": "dislike", "comment": "The seat count is 45."},
        },
    ),
    "ready_local_extractor": make_run(
        tasks=[make_task(0, origin="local")],
        extractor={
            "name": "local",
            "model": "SmolLM2-135M-Instruct",
            "fallback_reason": "Claude timed out",
        },
        summary={"text": "Edited by me.", "generated": SUMMARY, "edited": True, "streaming": False},
    ),
    "ready_no_tasks": make_run(customer_id=None, customer_name=None),
    "ready_coached": make_run(
        tasks=[make_task(0)],
        coaching={
            "made_by": "claude:claude-sonnet-4-5",
            "fallback_reason": None,
            "next_steps": [
                {
                    "text": "Send the annual pricing before Friday",
                    "confidence": 0.85,
                    "why": "Daniel asked for it to take to his board",
                    "moments": [
                        {
                            "quote": "we need *annual* pricing before the board meets",
                            "at": 74.0,
                            "speaker": "Daniel Okafor",
                            "label": "",
                        }
                    ],
                    "earlier": [],
                },
                {
                    "text": "Revisit the security review",
                    "confidence": 0.6,
                    "why": "raised in an earlier call",
                    "moments": [],
                    "earlier": [{"call": "run-1", "quote": "security review pending"}],
                },
            ],
            "objections": [
                {
                    "category": "price",
                    "moment": {"quote": "too high", "at": 80.0, "speaker": "Daniel Okafor"},
                    "answers": {"formal": "F", "friendly": "Fr", "concise": "C"},
                    "earlier": [],
                }
            ],
            "sentiment": [],
        },
    ),
    "partially_failed": make_run(
        "failed",
        steps=make_steps(summarizing="done", analyzing="failed"),
        extractor=NO_EXTRACTOR,
        error={"step": "analyzing", "message": "task extraction failed: Claude timed out"},
    ),
    "failed": make_run(
        "failed",
        steps=make_steps(transcribing="failed"),
        summary=NO_SUMMARY,
        extractor=NO_EXTRACTOR,
        error={"step": "transcribing", "message": "the recording could not be decoded"},
    ),
    "saving": make_run("saving", tasks=[make_task(0, status="accepted")]),
    "saved": make_run(
        "saved",
        tasks=[
            make_task(0, status="written", crm_task_id="T-1001"),
            make_task(1, status="rejected", title="Book a follow-up call"),
        ],
        feedback={"summary": {"rating": "like", "comment": "Spot on."}},
    ),
    "cancelled": make_run(
        "cancelled", summary=NO_SUMMARY, extractor=NO_EXTRACTOR, transcript_kept=False
    ),
    "confidential": make_run(
        confidential=True,
        transcript_kept=False,
        tasks=[make_task(0, origin="local")],
        extractor={
            "name": "local",
            "model": "SmolLM2-135M-Instruct",
            "fallback_reason": "confidential call: only local models run",
        },
    ),
    "attendee": make_run(role="attendee", tasks=THREE_TASKS[:2]),
}


def run_card(name: str) -> Card:
    notice = "This card was out of date; here is the current state." if name == "ready" else None
    return build_run_card(RUN_STATES[name], review_url=REVIEW_URL, notice=notice)


RECENT = [
    {
        "id": RUN_ID,
        "customer_name": "Northwind Traders",
        "call_started_at": "2026-11-17T16:00:00.250000+00:00",
        "created_at": "2026-11-17T16:30:05+00:00",
        "status": "needs_review",
        "step": None,
    },
    {
        "id": "0" * 32,
        "customer_name": None,
        "call_started_at": None,
        "created_at": "2026-11-16T09:12:00+00:00",
        "status": "running",
        "step": "summarizing",
        "timezone": "Europe/Berlin",
    },
]

BRIEF_DAY = date(2026, 11, 30)


def brief_task(
    title: str, due: str | None, *, ours: bool = True, owner: str = "Maria Chen"
) -> BriefTask:
    return BriefTask(
        title=title,
        ours=ours,
        owner=owner,
        due_date=due,
        call_started="2026-11-17T16:00:00+00:00",
        zone="Europe/Berlin",
    )


BRIEF = Brief(
    customer="Northwind Traders",
    today=BRIEF_DAY,
    meeting=BriefMeeting(subject="Northwind renewal", start="2026-11-30T14:00:00+00:00"),
    zone="Europe/Berlin",
    calls=[
        BriefCall(RUN_ID, "2026-11-17T16:00:00+00:00", "Europe/Berlin", SUMMARY[:83], REVIEW_URL),
        BriefCall("0" * 32, "2026-11-03T09:30:00+00:00", "Europe/Berlin", "A first demo.", None),
    ],
    tasks=[
        brief_task("Send the revised quote", "2026-11-27"),
        brief_task("Loop in Elena, the CFO", "2026-12-03", ours=False, owner="Daniel Okafor"),
        brief_task("Book the security review", "2026-12-20"),
        brief_task("Share the reference list", None, ours=False, owner=""),
    ],
    people=[
        BriefPerson(
            "Daniel Okafor",
            "daniel@northwind.example",
            2,
            "2026-11-17T16:00:00+00:00",
            "Europe/Berlin",
        ),
        BriefPerson("Elena Petrova", "elena@northwind.example"),
    ],
)

MESSAGE_CARDS: dict[str, Callable[[], Card]] = {
    "welcome": build_welcome_card,
    "help": build_help_card,
    "status": lambda: build_status_card(
        RECENT,
        lambda run_id: REVIEW_URL if run_id == RUN_ID else None,
        Switches(on=True, confidential=True),
    ),
    "status_empty": lambda: build_status_card([], lambda _: None),
    "status_switched_off": lambda: build_status_card(
        [], lambda _: None, Switches(on=False, confidential=False)
    ),
    "status_no_consent": lambda: build_status_card(
        [], lambda _: None, Switches(on=True, confidential=False, agreed=False)
    ),
    "switched_off": build_switched_off_card,
    "error": lambda: build_error_card("Only the rep who owns this call can change it."),
    "failure": lambda: build_failure_card(RUN_STATES["partially_failed"], REVIEW_URL),
    "brief_meeting": lambda: build_brief_card(BRIEF),
    # Asked for in the chat: no meeting, and the rep's zone unknown.
    "brief_on_demand": lambda: build_brief_card(
        Brief(
            customer=BRIEF.customer,
            today=BRIEF_DAY,
            calls=BRIEF.calls[:1],
            tasks=BRIEF.tasks[1:2],
            people=BRIEF.people[:1],
        )
    ),
}

ALL_CARDS: dict[str, Callable[[], Card]] = {
    **{name: partial(run_card, name) for name in RUN_STATES},
    # A new prospect, where the CRM can be searched: the typeahead picker.
    "ready_customer_picker": lambda: build_run_card(
        RUN_STATES["ready_no_tasks"], review_url=REVIEW_URL, customer_search=True
    ),
    **MESSAGE_CARDS,
}


# --- Helpers ----------------------------------------------------------------------------------


# Teams' typeahead (learn.microsoft.com, "Typeahead search in Adaptive Cards"): the "filtered"
# style and ``choices.data``, Input.ChoiceSet extensions the official 1.5 schema does not list.
# Added here as documented, and nothing else: any other unknown property is still refused.
DATA_QUERY = {
    "type": "object",
    "properties": {
        "type": {"enum": ["Data.Query"]},
        "dataset": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "count": {"type": "number"},
        "skip": {"type": "number"},
        "associatedInputs": {"enum": ["auto", "none"]},
    },
    "required": ["type", "dataset"],
    "additionalProperties": False,
}


@cache
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    schema["definitions"]["Data.Query"] = DATA_QUERY
    choice_set = schema["definitions"]["Input.ChoiceSet"]["properties"]
    choice_set["choices.data"] = {"$ref": "#/definitions/Data.Query"}
    choice_set["style"] = {"enum": ["compact", "expanded", "filtered"]}
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(card: Card) -> list[str]:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(card)]
    # The schema lets any object through as a fallback (its "drop" option is a string pattern,
    # which does not apply to objects), so each fallback action is checked as an action itself.
    for node in walk(card):
        fallback = node.get("fallback")
        if isinstance(fallback, dict) and str(node.get("type", "")).startswith("Action."):
            holder = {"type": "AdaptiveCard", "version": "1.5", "actions": [fallback]}
            errors.extend(f"fallback: {e.message}" for e in validator().iter_errors(holder))
    return errors


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def of_type(card: Card, kind: str) -> list[dict[str, Any]]:
    return [node for node in walk(card) if node.get("type") == kind]


def all_text(card: Card) -> str:
    parts: list[str] = []
    for node in walk(card):
        if node.get("type") == "TextBlock":
            parts.append(node["text"])
        elif node.get("type") == "RichTextBlock":
            parts.extend(i if isinstance(i, str) else i["text"] for i in node["inlines"])
    return "\n".join(parts)


def input_ids(card: Card) -> list[str]:
    return [node["id"] for node in walk(card) if str(node.get("type", "")).startswith("Input.")]


def task_containers(card: Card) -> list[dict[str, Any]]:
    return [
        node for node in of_type(card, "Container") if str(node.get("id", "")).startswith("task:")
    ]


def golden_text(card: Card) -> str:
    return json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- Schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_card_is_valid_adaptive_card_1_5(name: str) -> None:
    card = ALL_CARDS[name]()
    assert schema_errors(card) == []
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ({"type": "TextBlok", "text": "typo in the type"}, "unknown element type"),
        ({"type": "TextBlock"}, "TextBlock without text"),
        ({"type": "Input.Text", "label": "no id"}, "input without id"),
        ({"type": "TextBlock", "text": "x", "colour": "good"}, "unknown property"),
        ({"type": "ActionSet", "actions": [{"type": "Action.Execute", "verbs": "x"}]}, "bad key"),
    ],
)
def test_schema_check_catches_broken_cards(broken: dict[str, Any], why: str) -> None:
    card = build_help_card()
    card["body"].append(broken)
    assert schema_errors(card), why


def test_schema_check_catches_bad_fallback() -> None:
    card = build_switched_off_card()
    card["actions"][0]["fallback"] = {"type": "Action.Sumbit", "title": "x"}
    assert schema_errors(card)


# --- Golden files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_card_matches_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    actual = golden_text(ALL_CARDS[name]())
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with SMARTNOTES_UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == actual


def test_cards_are_deterministic() -> None:
    for name, build in ALL_CARDS.items():
        assert golden_text(build()) == golden_text(build()), name


def test_builders_leave_the_run_view_alone() -> None:
    run = make_run(tasks=THREE_TASKS)
    before = json.dumps(run, sort_keys=True)
    build_run_card(run, review_url=REVIEW_URL, max_bytes=8_000)
    assert json.dumps(run, sort_keys=True) == before


# --- Actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_every_execute_has_an_equivalent_submit_fallback(name: str) -> None:
    card = ALL_CARDS[name]()
    for action in of_type(card, "Action.Execute"):
        assert action["verb"] in set(Verb)
        fallback = action["fallback"]
        assert fallback["type"] == "Action.Submit"
        assert fallback["title"] == action["title"]
        assert fallback["data"] == {**action["data"], "verb": action["verb"]}
        assert submitted_verb(fallback["data"]) == action["verb"]
        assert fallback.get("style") == action.get("style")


@pytest.mark.parametrize("name", sorted(RUN_STATES))
def test_run_card_actions_name_the_run_and_version(name: str) -> None:
    run = RUN_STATES[name]
    for action in of_type(run_card(name), "Action.Execute"):
        assert action["data"]["run_id"] == RUN_ID
        assert action["data"]["version"] == run["version"]
        if action["verb"] in (Verb.TASK_ACCEPT, Verb.TASK_REJECT, Verb.TASK_EDIT):
            assert action["data"]["task_id"] in {t["id"] for t in run["tasks"]}
        if action["verb"] in (Verb.FEEDBACK_LIKE, Verb.FEEDBACK_DISLIKE):
            assert action["data"]["target"] in {"summary", *(t["id"] for t in run["tasks"])}


@pytest.mark.parametrize("name", sorted(ALL_CARDS))
def test_input_ids_are_unique(name: str) -> None:
    ids = input_ids(ALL_CARDS[name]())
    assert len(ids) == len(set(ids))


def verbs(card: Card) -> list[str]:
    """The card's verbs in order; an action behind a confirmation (Action.ShowCard) counts."""
    found: list[str] = []
    for action in card.get("actions", []):
        if "verb" in action:
            found.append(str(action["verb"]))
        elif action.get("type") == "Action.ShowCard":
            found.extend(verbs(action["card"]))
    return found


def test_ready_card_offers_the_review_actions() -> None:
    card = run_card("ready")
    assert verbs(card) == ["save", "tasks.recreate", "later", "cancel"]
    assert card["actions"][0]["style"] == "positive"
    # Discarding asks first: the destructive press sits behind a confirmation.
    confirm = card["actions"][3]
    assert (confirm["type"], confirm["title"]) == ("Action.ShowCard", "Discard these notes")
    assert confirm["card"]["actions"][0]["style"] == "destructive"
    assert card["actions"][-1] == {
        "type": "Action.OpenUrl",
        "title": "Open the review page",
        "url": REVIEW_URL,
    }


def test_processing_card_offers_later_and_stop() -> None:
    assert verbs(run_card("processing_transcribing")) == ["later", "cancel", "refresh"]
    # The rep already asked to be told: no second "inform me later".
    assert verbs(run_card("processing_summarizing")) == ["cancel", "refresh"]


def test_failed_cards_offer_retry_and_save_only_with_a_summary() -> None:
    assert verbs(run_card("partially_failed")) == ["save", "tasks.recreate"]
    assert verbs(run_card("failed")) == ["tasks.recreate"]
    assert "finish the note by hand" in all_text(run_card("partially_failed"))
    assert "finish the note by hand" not in all_text(run_card("failed"))


def test_recreate_is_not_offered_without_a_transcript() -> None:
    assert verbs(run_card("confidential")) == ["save", "later", "cancel"]


def pressable(card: Card) -> list[dict[str, Any]]:
    """The actions a person presses: every Action.Execute but the card's own refresh."""
    refresh = card.get("refresh", {}).get("action")
    return [a for a in of_type(card, "Action.Execute") if a is not refresh]


@pytest.mark.parametrize("name", ["ready", "attendee", "saved", "processing_summarizing"])
def test_a_card_asks_for_itself_again_when_shown(name: str) -> None:
    card = run_card(name)
    action = card["refresh"]["action"]
    assert (action["type"], action["verb"]) == ("Action.Execute", "refresh")
    assert action["data"]["run_id"] == RUN_STATES[name]["id"]


def test_attendee_sees_a_read_only_card() -> None:
    card = run_card("attendee")
    assert input_ids(card) == []
    assert pressable(card) == []
    assert "only the rep who owns it" in all_text(card)


# --- Content ----------------------------------------------------------------------------------


def test_steps_show_done_running_and_waiting() -> None:
    text = all_text(run_card("processing_summarizing"))
    assert "✓ Transcribing" in text
    assert "Summarizing…" in text
    assert "Analyzing…" in text
    assert "\nCreating tasks\n" in text
    assert "Summarizing and analyzing…" in text
    assert "Writing the summary…" not in text
    assert "Northwind wants annual pricing before" in text
    assert "summary" not in input_ids(run_card("processing_summarizing"))


def test_text_transcripts_have_no_transcribing_step() -> None:
    text = all_text(run_card("ready"))
    assert "Transcribing" not in text
    assert "✓ Summarizing" in text
    assert "✓ Ready" in text


def test_ready_card_has_editable_summary_and_tasks() -> None:
    card = run_card("ready")
    editable = THREE_TASKS[:2]
    expected = ["summary"] + [
        task_input(task["id"], field)
        for task in editable
        for field in ("title", "due_date", "priority", "owner")
    ]
    expected += [comment_input("summary")] + [comment_input(t["id"]) for t in THREE_TASKS]
    assert sorted(input_ids(card)) == sorted(expected)
    summary = next(n for n in walk(card) if n.get("id") == "summary")
    assert summary["value"] == SUMMARY
    assert summary["isMultiline"] is True


def test_ready_card_shows_provenance_and_state() -> None:
    card = run_card("ready")
    text = all_text(card)
    assert "“I will send you a revised quote with the annual pricing by Friday.”" in text
    assert " at 0:01 · Maria Chen" in text
    assert " at 1:02:05 · not found word for word in the call" in text
    assert "Suggested by Claude, edited by you." in text
    assert "Found by the recall check" in text
    assert "Tasks by Claude (claude-sonnet-4-5)" in text
    assert "AI generated" in text
    assert "This card was out of date; here is the current state." in text
    notice = card["body"][0]
    assert notice["style"] == "attention"
    rejected = [
        inline
        for node in of_type(card, "RichTextBlock")
        for inline in node["inlines"]
        if isinstance(inline, dict) and inline.get("strikethrough")
    ]
    assert [r["text"] for r in rejected] == ["Send the security questionnaire"]
    undo = [a for a in of_type(card, "Action.Execute") if a["title"] == "Undo"]
    assert undo[0]["verb"] == "task.accept"
    assert undo[0]["data"]["task_id"] == THREE_TASKS[2]["id"]


def test_feedback_given_is_shown_and_comment_is_optional() -> None:
    card = run_card("ready")
    shows = {s["title"] for s in of_type(card, "Action.ShowCard")}
    assert shows - {"Discard these notes"} == {
        "Feedback: you liked it",
        "Feedback: you disliked it",
        "Feedback",
    }
    comment = next(n for n in walk(card) if n.get("id") == comment_input(THREE_TASKS[0]["id"]))
    assert comment["value"] == "The seat count is 45."
    assert "isRequired" not in comment


def test_local_extractor_says_why() -> None:
    text = all_text(run_card("ready_local_extractor"))
    assert "Tasks by the local extractor (SmolLM2-135M-Instruct): Claude timed out" in text
    assert "Suggested by the local model." in text
    assert "Edited by you; your version is what gets saved." in text


def test_confidential_card_says_so() -> None:
    text = all_text(run_card("confidential"))
    assert "Confidential: only local models ran; the transcript is not kept" in text


def test_saved_card_is_read_only_with_feedback() -> None:
    card = run_card("saved")
    targets = ["summary", make_task(0)["id"], make_task(1)["id"]]
    assert input_ids(card) == [comment_input(target) for target in targets]
    text = all_text(card)
    assert "Saved to the CRM for Northwind Traders" in text
    assert "In the CRM as task T-1001" in text
    assert {a["verb"] for a in pressable(card)} == {"feedback.like", "feedback.dislike"}


def test_cancelled_card() -> None:
    card = run_card("cancelled")
    assert "Not processed — you chose not to process this call; its transcript was deleted." in (
        all_text(card)
    )
    assert "actions" not in card
    assert input_ids(card) == []


def test_a_run_the_service_cancelled_says_why() -> None:
    why = "the tenant has not agreed to AI processing (terms 2026-11-01)"
    cancelled = make_run(
        "cancelled",
        summary=NO_SUMMARY,
        extractor=NO_EXTRACTOR,
        transcript_kept=False,
        error={"step": None, "message": why},
    )
    card = build_run_card(cancelled, review_url=REVIEW_URL)
    assert f"Not processed — {why}." in all_text(card)
    assert "you chose" not in all_text(card)
    assert "actions" not in card


def test_untrusted_text_never_reaches_markdown() -> None:
    link = "[Click to verify](https://evil.example/login)"
    task = make_task(0, title=f"Pay {link}", evidence=[{"quote": link, "at": 3.0}])
    run = make_run(
        "saved",
        customer_name=f"**Acme** {link}",
        tasks=[task],
        summary={"text": link, "generated": link, "edited": False, "streaming": False},
        error=None,
    )
    for card in (build_run_card(run), build_failure_card(run, None)):
        for block in of_type(card, "TextBlock"):
            assert "evil.example" not in block["text"]
        assert "evil.example" in all_text(card)  # shown, as plain text


def test_status_card_lists_runs() -> None:
    card = MESSAGE_CARDS["status"]()
    text = all_text(card)
    assert "Northwind Traders" in text
    assert "{{DATE(2026-11-17T16:00:00Z, SHORT)}} {{TIME(2026-11-17T16:00:00Z)}}" in text
    assert "Mon 16 Nov 2026, 10:12 (Europe/Berlin)" in text
    assert "Ready for your review" in text
    assert "Working on it: summarizing" in text
    assert [a["url"] for a in of_type(card, "Action.OpenUrl")] == [REVIEW_URL]


def test_failure_card_says_what_failed_and_offers_retry() -> None:
    card = build_failure_card(RUN_STATES["partially_failed"], REVIEW_URL)
    text = all_text(card)
    assert "Your call with Northwind Traders: something went wrong while analyzing." in text
    assert "task extraction failed: Claude timed out" in text
    assert verbs(card) == ["tasks.recreate"]
    gone = build_failure_card({**RUN_STATES["failed"], "transcript_kept": False}, None)
    assert "actions" not in gone


def test_switched_off_card_switches_back_on() -> None:
    card = build_switched_off_card()
    assert verbs(card) == ["user.on"]


# --- Size -------------------------------------------------------------------------------------


def long_meeting(tasks: int = 60, summary_chars: int = 15_000) -> dict[str, Any]:
    summary = ("The customer walked through their rollout plan in detail. " * 1000)[:summary_chars]
    quote = "We talked about this at length and agreed that it has to happen soon " * 4
    return make_run(
        summary={"text": summary, "generated": summary, "edited": False, "streaming": False},
        tasks=[
            make_task(
                index,
                id=f"{index:032x}",
                title=f"Follow-up number {index}: confirm the rollout detail",
                due_text="next week, or the week after, whichever works for the team" * 2,
                priority_reason="the customer mentioned it several times during the call" * 2,
                evidence=[
                    {"quote": quote, "at": 60.0 * index, "speaker": "Daniel Okafor"},
                    {"quote": quote, "at": 61.0 * index, "speaker": "Maria Chen"},
                ],
            )
            for index in range(tasks)
        ],
    )


def hidden_count(card: Card) -> int:
    match = re.search(r"(\d+) more tasks? (?:are|is) on the review page", all_text(card))
    return int(match.group(1)) if match else 0


def test_long_meeting_fits_and_counts_every_task() -> None:
    run = long_meeting()
    card = build_run_card(run, review_url=REVIEW_URL)
    assert card_size(card) <= MAX_BYTES
    assert schema_errors(card) == []
    shown = [node["id"].removeprefix("task:") for node in task_containers(card)]
    assert shown == [task["id"] for task in run["tasks"][: len(shown)]]
    assert shown, "at least some tasks are on the card"
    assert len(shown) + hidden_count(card) == len(run["tasks"])
    text = all_text(card)
    for task in run["tasks"][: len(shown)]:
        assert task["title"] in text
    # The summary still fits whole, so it stays editable and complete.
    summary = next(n for n in walk(card) if n.get("id") == "summary")
    assert summary["value"] == run["summary"]["text"]
    assert "Open the review page" in {a.get("title") for a in of_type(card, "Action.OpenUrl")}


def test_card_without_review_url_still_points_to_the_review_page() -> None:
    card = build_run_card(long_meeting())
    assert "more tasks are on the review page: open the review page from the CRM." in (
        all_text(card)
    )


def test_summary_too_long_for_the_card_is_shown_cut_and_not_editable() -> None:
    run = long_meeting(tasks=5, summary_chars=40_000)
    card = build_run_card(run, review_url=REVIEW_URL)
    assert card_size(card) <= MAX_BYTES
    assert "summary" not in input_ids(card)
    text = all_text(card)
    assert "Full summary on the review page." in text
    assert "Saving from this card keeps the whole summary." in text
    assert run["summary"]["text"] not in text
    assert len(task_containers(card)) + hidden_count(card) == 5


def test_trimming_gives_up_detail_in_order() -> None:
    run = make_run(tasks=[make_task(0, evidence=[{"quote": "word " * 100, "at": 1.0}])])
    full = build_run_card(run)
    assert "word " * 99 in all_text(full)

    short_quotes = build_run_card(run, max_bytes=card_size(full) - 1)
    text = all_text(short_quotes)
    assert "word " * 99 not in text
    assert "“" + ("word " * 24).strip() + "…”" in text
    assert "said: “by Friday”" in text

    task_id = make_task(0)["id"]
    no_details = build_run_card(run, max_bytes=card_size(short_quotes) - 1)
    assert "said: “by Friday”" not in all_text(no_details)
    assert task_input(task_id, "title") in input_ids(no_details)
    assert comment_input(task_id) in input_ids(no_details)

    no_feedback = build_run_card(run, max_bytes=card_size(no_details) - 1)
    assert task_input(task_id, "title") in input_ids(no_feedback)
    assert comment_input(task_id) not in input_ids(no_feedback)
    assert comment_input("summary") in input_ids(no_feedback)

    compact = build_run_card(run, max_bytes=card_size(no_feedback) - 1)
    assert input_ids(compact) == ["summary", comment_input("summary")]
    assert "Send the revised quote with annual pricing" in all_text(compact)
    assert "at 0:01" in all_text(compact)
    (item,) = task_containers(compact)
    assert [a["title"] for a in of_type(item, "Action.Execute")] == ["Accept", "Reject"]

    counted = build_run_card(run, max_bytes=card_size(compact) - 1)
    assert task_containers(counted) == []
    assert hidden_count(counted) == 1
    assert "1 more task is on the review page" in all_text(counted)


def test_impossible_limit_is_an_error() -> None:
    with pytest.raises(CardTooLargeError, match="does not fit in 500 bytes"):
        build_run_card(make_run(), max_bytes=500)


# --- Inputs -----------------------------------------------------------------------------------


def test_parse_inputs_turns_merged_data_into_edits() -> None:
    task_id = THREE_TASKS[0]["id"]
    data = {
        "run_id": RUN_ID,
        "version": 7,
        "task_id": task_id,
        "verb": "task.accept",
        "summary": "  A better summary.\n",
        task_input(task_id, "title"): " Send the quote ",
        task_input(task_id, "due_date"): "",
        task_input(task_id, "priority"): "Low",
        task_input(task_id, "owner"): "Maria Chen",
        comment_input("summary"): "Great summary",
        comment_input(task_id): "   ",
        "task::title": "no task id",
        f"task:{task_id}:description": "not a card input",
        "something": "else",
        task_input("other", "title"): 42,
    }
    inputs = parse_inputs(data)
    assert inputs == CardInputs(
        summary="A better summary.",
        tasks={
            task_id: {
                "title": "Send the quote",
                "due_date": None,
                "priority": "low",
                "owner": "Maria Chen",
            }
        },
        comments={"summary": "Great summary"},
    )
    assert inputs.task_changes(THREE_TASKS[0]) == {
        "title": "Send the quote",
        "due_date": None,
        "priority": "low",
    }
    assert inputs.task_changes(THREE_TASKS[1]) == {}
    assert inputs.summary_change(SUMMARY) == "A better summary."
    assert inputs.summary_change("A better summary.") is None


def test_parse_inputs_without_inputs() -> None:
    inputs = parse_inputs({"run_id": RUN_ID, "version": 7})
    assert inputs == CardInputs()
    assert inputs.summary_change(SUMMARY) is None


def test_owner_cleared_or_never_set_is_no_change() -> None:
    task = make_task(0, owner=None)
    assert parse_inputs({task_input(task["id"], "owner"): ""}).task_changes(task) == {}


def test_inputs_of_a_rendered_card_parse_back_unchanged() -> None:
    card = run_card("ready")
    data = {node["id"]: node.get("value", "") for node in walk(card) if "id" in node}
    data = {key: value for key, value in data.items() if isinstance(value, str)}
    inputs = parse_inputs(data)
    assert inputs.summary_change(SUMMARY) is None
    for task in THREE_TASKS:
        assert inputs.task_changes(task) == {}
    assert inputs.comments == {THREE_TASKS[0]["id"]: "The seat count is 45."}


def test_input_ids() -> None:
    assert task_input("ab12", "due_date") == "task:ab12:due_date"
    assert comment_input("summary") == "comment:summary"
    with pytest.raises(ValueError, match="description"):
        task_input("ab12", "description")
    assert submitted_verb({"verb": "save"}) is Verb.SAVE
    assert submitted_verb({"verb": "drop tables"}) is None
    assert submitted_verb({}) is None


def test_cards_package_is_a_leaf() -> None:
    # Card builders are plain functions of plain data: nothing of the service, bot or I/O.
    allowed = {"cards", "pipeline", "collections", "dataclasses", "datetime", "enum", "json"}
    allowed |= {"typing", "zoneinfo", "__future__"}
    for path in sorted((TESTS.parent / "cards").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("ready", "Edit in Smart Notes"),
        ("attendee", "Open in Smart Notes"),
        ("saved", "Open in Smart Notes"),
    ],
)
def test_the_review_page_opens_in_a_teams_dialog(name: str, title: str) -> None:
    card = run_card(name)
    [dialog] = [a for a in of_type(card, "Action.Submit") if a.get("data", {}).get("msteams")]
    assert dialog["title"] == title
    assert dialog["data"]["msteams"] == {"type": "task/fetch"}
    assert dialog["data"]["run_id"] == RUN_STATES[name]["id"]


def test_tasks_are_grouped_as_on_the_review_page() -> None:
    tasks = [
        {**make_task(0), "group": "check", "title": "Check: send the deck"},
        {**make_task(1), "group": "customer", "title": "Confirm the fleet size"},
        {**make_task(2), "group": "mine", "title": "Send the revised quote"},
    ]
    card = build_run_card(make_run(tasks=tasks), review_url=REVIEW_URL)
    text = json.dumps(card)  # titles are inputs on an editable card
    order = [
        "Your tasks",
        "Send the revised quote",
        "Waiting on the customer",
        "Confirm the fleet size",
        "To check: found in the call, not by the extractor",
        "Check: send the deck",
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)


def test_one_group_needs_no_heading() -> None:
    text = all_text(build_run_card(make_run(tasks=THREE_TASKS), review_url=REVIEW_URL))
    assert "Your tasks" not in text


# --- Compact: details and long summaries behind Show more -------------------------------------


def elements_by_id(card: Card) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in walk(card) if isinstance(node.get("id"), str)}


@pytest.mark.parametrize("name", sorted(RUN_STATES))
def test_every_toggle_shows_elements_of_its_own_card(name: str) -> None:
    card = run_card(name)
    found = elements_by_id(card)
    for toggle in of_type(card, "Action.ToggleVisibility"):
        assert toggle["targetElements"], toggle
        for target in toggle["targetElements"]:
            assert target in found, f"{toggle['title']} targets nothing: {target}"


def test_a_task_is_a_row_with_its_decision_and_details_behind_a_toggle() -> None:
    card = build_run_card(make_run(tasks=THREE_TASKS), review_url=REVIEW_URL)
    found = elements_by_id(card)
    for task in THREE_TASKS:
        row = found[f"task:{task['id']}"]
        details = found[f"details:{task['id']}"]
        assert details["isVisible"] is False, "details wait behind Details"
        hidden = {node.get("id") for node in walk(details)}
        # The fields to edit and the quote are inside the details, not on the row.
        if task["status"] in ("proposed", "accepted"):
            assert task_input(task["id"], "title") in hidden
        assert task["evidence"][0]["quote"] in all_text(details)
        shown = [
            node for node in row["items"] if node is not details and node.get("type") == "ActionSet"
        ]
        titles = [action["title"] for block in shown for action in block["actions"]]
        assert titles[-1] == "Details"
        if task["status"] == "proposed":
            assert titles[:2] == ["Accept", "Reject"], "the decision stays in sight"
        toggle = shown[-1]["actions"][-1]
        assert toggle["targetElements"] == [f"details:{task['id']}"]


def test_a_long_summary_shows_its_first_lines_and_the_rest_behind_show_more() -> None:
    long = " ".join([SUMMARY] * 6)
    summary = {"text": long, "generated": long, "edited": False, "streaming": False}
    card = build_run_card(make_run(summary=summary), review_url=REVIEW_URL)
    found = elements_by_id(card)
    short, whole = found["summary:short"], found["summary:all"]
    assert whole["isVisible"] is False
    assert "isVisible" not in short
    preview = all_text(short)
    assert preview.endswith("…")
    assert len(preview) <= 401
    assert any(node.get("value") == long for node in walk(whole)), "edited whole, not cut"
    [toggle] = [t for t in of_type(card, "Action.ToggleVisibility") if t["title"] == "Show more"]
    assert toggle["targetElements"] == ["summary:short", "summary:all"]
    assert schema_errors(card) == []

    short_card = build_run_card(make_run(), review_url=REVIEW_URL)
    assert "summary:short" not in elements_by_id(short_card), "a short summary is not folded"


# --- The brief before a meeting ------------------------------------------------------------------


def test_brief_puts_promises_due_first_and_says_where_each_comes_from() -> None:
    text = all_text(build_brief_card(BRIEF))
    lines = text.splitlines()
    assert lines[0] == "Before your meeting with Northwind Traders"
    assert "Northwind renewal" in lines
    assert "Mon 30 Nov 2026, 15:00 (Europe/Berlin)" in lines
    order = [
        text.index(t)
        for t in (
            "Last conversations",
            "Promises due",
            "Send the revised quote",
            "Loop in Elena",
            "Open tasks",
            "Book the security review",
            "Share the reference list",
            "Who's coming",
        )
    ]
    assert order == sorted(order)
    assert "Overdue (due Fri 27 Nov 2026)" in text
    assert "Due Thu 03 Dec 2026" in text
    assert "Their side (Daniel Okafor) · from the call on Tue 17 Nov 2026" in text
    assert "Your side (Maria Chen) · from the call on Tue 17 Nov 2026" in text
    assert "No due date" in text
    assert "on 2 earlier calls, last Tue 17 Nov 2026" in text
    assert "not on an earlier call" in text
    # Each conversation is its date and the note's first sentence, with its review page.
    assert "Tue 17 Nov 2026" in lines
    assert [a["url"] for a in of_type(build_brief_card(BRIEF), "Action.OpenUrl")] == [REVIEW_URL]


def test_brief_asked_for_in_the_chat_has_no_meeting_and_nothing_known_says_so() -> None:
    text = all_text(MESSAGE_CARDS["brief_on_demand"]())
    assert text.splitlines()[0] == "Brief: Northwind Traders"
    assert "People on your calls" in text
    empty = Brief(customer="Fabrikam", today=BRIEF_DAY)
    assert not empty.knows_something
    assert "No earlier calls with them that you can see." in all_text(build_brief_card(empty))
    # A meeting time with the rep's zone unknown is shown in the Teams client's own zone.
    unknown_zone = Brief(customer="Fabrikam", today=BRIEF_DAY, meeting=BRIEF.meeting)
    assert "{{TIME(2026-11-30T14:00:00Z)}}" in all_text(build_brief_card(unknown_zone))


def test_brief_at_its_longest_stays_far_below_the_teams_limit() -> None:
    word = "x" * 5_000
    longest = Brief(
        customer=word,
        today=BRIEF_DAY,
        meeting=BriefMeeting(subject=word, start="2026-11-30T14:00:00+00:00"),
        zone="Europe/Berlin",
        calls=[BriefCall(RUN_ID, None, "UTC", word, REVIEW_URL + "x" * 1500)] * 40,
        tasks=[brief_task(word, "2026-12-01", owner=word)] * 40,
        people=[BriefPerson(word, word, 3, None)] * 40,
    )
    card = build_brief_card(longest)
    assert schema_errors(card) == []
    assert card_size(card) < MAX_BYTES * 0.8
    assert len(of_type(card, "Action.OpenUrl")) == 3


def test_brief_untrusted_text_never_reaches_markdown() -> None:
    link = "[Click to verify](https://evil.example/login)"
    brief = Brief(
        customer=f"**Acme** {link}",
        today=BRIEF_DAY,
        meeting=BriefMeeting(subject=link, start="2026-11-30T14:00:00+00:00"),
        calls=[BriefCall(RUN_ID, None, "UTC", link)],
        tasks=[brief_task(link, None, owner=link)],
        people=[BriefPerson(link, "x@y.test")],
    )
    card = build_brief_card(brief)
    for block in of_type(card, "TextBlock"):
        assert "evil.example" not in block["text"]
    assert "evil.example" in all_text(card)


def test_completing_an_open_task_is_accepted_or_rejected_never_edited() -> None:
    completes = {
        "task_id": "t-dpa",
        "crm_task_id": "crm-1",
        "title": "Send the DPA",
        "said_on": "2026-11-10",
    }
    done = make_task(
        1,
        title="Mark done: Send the DPA",
        group="done",
        will_save=False,
        completes=completes,
    )
    notes = ["Not proposed again: “Send pricing” is already open as “Send the pricing sheet”."]
    run = make_run(
        tasks=[make_task(0), done],
        extractor={"name": "claude", "model": "claude-sonnet-4-5", "fallback_reason": None,
                   "notes": notes},
    )  # fmt: skip
    card = build_run_card(run, review_url=REVIEW_URL)
    assert schema_errors(card) == []
    text = all_text(card)
    assert "Open tasks this call shows done (marked done in the CRM only if you accept)" in text
    assert notes[0] in text
    assert task_input(done["id"], "title") not in input_ids(card)
    assert task_input(make_task(0)["id"], "title") in input_ids(card)
    edits = [action for action in walk(card) if action.get("data", {}).get("task_id") == done["id"]]
    assert edits, "the completion can still be accepted or rejected"
    assert "task.edit" not in [action.get("verb") for action in edits]
    mine = [a for a in walk(card) if a.get("data", {}).get("task_id") == make_task(0)["id"]]
    assert "task.edit" in [action.get("verb") for action in mine]

    written = build_run_card(
        make_run(status="saved", tasks=[{**done, "status": "written", "crm_task_id": "crm-1"}]),
        review_url=REVIEW_URL,
    )
    assert "Marked done in the CRM (task crm-1)" in all_text(written)
