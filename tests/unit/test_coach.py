"""The deal coach's grounding and its local analysis, on a call written for the purpose."""

from __future__ import annotations

from pipeline.coach import Grounder, PriorCall, coaching_schema, grounded
from pipeline.coach_local import CallTask, local_coaching
from pipeline.formats import parse_transcript_text

CALL = parse_transcript_text(
    """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Maria Chen>Thanks for joining, Daniel. Shall we look at the rollout?

00:00:06.000 --> 00:00:12.000
<v Daniel Ortiz>Honestly the price is too high for our budget this year.

00:00:13.000 --> 00:00:18.000
<v Daniel Ortiz>Maybe we can start with a pilot, I'm not sure yet.

00:00:19.000 --> 00:00:24.000
<v Maria Chen>I will send you a revised quote by Friday.

00:00:25.000 --> 00:00:30.000
<v Daniel Ortiz>Great, that sounds good. Legal needs the DPA before we sign.
"""
)
PRIOR = [
    PriorCall(
        id="run-1", when="2026-11-02", text="Daniel asked for annual pricing. Demo went well."
    )
]


def test_ungrounded_items_are_dropped() -> None:
    raw = {
        "next_steps": [
            {
                "text": "Send the revised quote",
                "confidence": 0.9,
                "why": "promised",
                "quotes": ["I will send you a revised quote by Friday"],
            },
            {
                "text": "Offer a free year",
                "confidence": 0.7,
                "why": "made up",
                "quotes": ["free year"],
            },
            {
                "text": "Revisit annual pricing",
                "confidence": 1.7,
                "why": "asked before",
                "quotes": [],
                "earlier": [
                    {"call": "run-1", "quote": "asked for annual pricing"},
                    {"call": "run-9", "quote": "Demo went well"},
                ],
            },
        ],
        "objections": [
            {
                "category": "price",
                "quote": "the price is too high for our budget",
                "answers": {"formal": "F", "friendly": "Fr", "concise": "C"},
            },
            {
                "category": "price",
                "quote": "we will never buy",
                "answers": {"formal": "F", "friendly": "Fr", "concise": "C"},
            },
            {
                "category": "security",
                "quote": "Legal needs the DPA before we sign",
                "answers": {"formal": "F", "friendly": "Fr"},
            },
        ],
        "sentiment": [
            {
                "speaker": "Daniel Ortiz",
                "sentiment": 0.2,
                "hesitation": 0.6,
                "moments": [
                    {"quote": "I'm not sure yet", "label": "hesitant"},
                    {"quote": "we love it", "label": "enthusiastic"},
                ],
            },
            {"speaker": "Somebody Else", "sentiment": 1, "hesitation": 0, "moments": []},
        ],
    }
    coaching = grounded(raw, Grounder(CALL, PRIOR), "claude:test")
    assert [s.text for s in coaching.next_steps] == [
        "Send the revised quote",
        "Revisit annual pricing",
    ]
    first, second = coaching.next_steps
    assert (first.moments[0].at, first.moments[0].speaker) == (19.0, "Maria Chen")
    # A confidence out of range is clamped; a source naming a call not given is dropped.
    assert second.confidence == 1.0
    assert [e.call for e in second.earlier] == ["run-1"]
    assert [(o.category, o.moment.at) for o in coaching.objections] == [("price", 6.0)]
    (mood,) = coaching.sentiment
    assert mood.speaker == "Daniel Ortiz"
    assert [(m.label, m.at) for m in mood.moments] == [("hesitant", 13.0)]


def test_the_local_analysis_finds_objections_moods_and_next_steps() -> None:
    tasks = [
        CallTask(
            "Send revised quote",
            "2026-11-20",
            "I will send you a revised quote by Friday",
            19.0,
            "Maria Chen",
        ),
        CallTask("Book the pilot", None, None, None, None),
    ]
    coaching = local_coaching(CALL, "Maria Chen", PRIOR, tasks, "no Claude API key is configured")
    assert (coaching.made_by, coaching.fallback_reason) == (
        "local",
        "no Claude API key is configured",
    )
    # The last line is both: the DPA (security) and legal's say (authority).
    assert [(o.category, o.moment.at) for o in coaching.objections] == [
        ("price", 6.0),
        ("security", 25.0),
        ("authority", 25.0),
    ]
    price = coaching.objections[0]
    assert set(price.answers) == {"formal", "friendly", "concise"}
    assert [e.quote for e in price.earlier] == ["Daniel asked for annual pricing."]
    (daniel,) = coaching.sentiment
    assert daniel.speaker == "Daniel Ortiz"
    # great, good / too high is not a listed negative; hesitant in one of three lines.
    assert (daniel.sentiment, daniel.hesitation) == (round(2 / 3, 2), round(1 / 3, 2))
    assert [(m.label, m.at) for m in daniel.moments] == [("hesitant", 13.0), ("positive", 25.0)]
    assert [s.text for s in coaching.next_steps] == [
        "Send revised quote",
        "Answer the price concern",
        "Answer the security concern",
        "Answer the authority concern",
    ]
    assert coaching.next_steps[0].confidence == 0.8


def test_the_schema_is_one_the_messages_api_takes() -> None:
    schema = coaching_schema()
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"next_steps", "objections", "sentiment"}
