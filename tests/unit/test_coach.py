"""The deal coach's grounding and its local analysis, on a call written for the purpose."""

from __future__ import annotations

from pipeline.coach import Coaching, Grounder, Point, PriorCall, coaching_schema, grounded
from pipeline.coach_local import (
    CallTask,
    local_coaching,
    sentiment_series,
    trend,
    with_series,
)
from pipeline.formats import parse_transcript_text
from pipeline.transcript import Segment

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


# 80 seconds, so the eight stretches are ten seconds each. Priya starts put off and ends keen.
WARMING_CALL = parse_transcript_text(
    """WEBVTT

00:00:00.000 --> 00:00:04.000
<v Maria Chen>Thanks for making the time today.

00:00:05.000 --> 00:00:09.000
<v Priya Shah>Unfortunately the last rollout was a problem for us.

00:00:12.000 --> 00:00:18.000
<v Priya Shah>I'm worried, maybe it is not for us.

00:00:21.000 --> 00:00:28.000
<v Maria Chen>The new version loads in under a second.

00:00:41.000 --> 00:00:43.000
<v Priya Shah>That makes sense, I think.

00:00:45.000 --> 00:00:48.000
<v Priya Shah>The reporting looks helpful.

00:01:12.000 --> 00:01:20.000
<v Priya Shah>Great, we would love to start, this is excellent.
"""
)


def test_the_series_follows_a_customer_warming_up_over_the_call() -> None:
    coaching = local_coaching(WARMING_CALL, "Maria Chen", [], [], "no Claude API key is configured")
    assert coaching.duration == 80.0
    (priya,) = coaching.sentiment
    # Per stretch, (positive - negative) / (positive + negative + 1) and hesitant lines / lines:
    # 0-10 s unfortunately, problem: -2/3; 10-20 s worried: -1/2, maybe in its one line;
    # nothing in 20-40 s; 40-50 s makes sense, helpful: 2/3, "I think" in one line of two;
    # nothing in 50-70 s; 70-80 s great, love, excellent: 3/4.
    assert priya.series == [
        Point(start=0.0, end=10.0, sentiment=-0.67, hesitation=0.0),
        Point(start=10.0, end=20.0, sentiment=-0.5, hesitation=1.0),
        Point(start=40.0, end=50.0, sentiment=0.67, hesitation=0.5),
        Point(start=70.0, end=80.0, sentiment=0.75, hesitation=0.0),
    ]
    assert priya.trend == "warming"
    # The whole call: five positive words against three negative, two hesitant lines of five.
    assert (priya.sentiment, priya.hesitation) == (round(2 / 9, 2), 0.4)
    # The moments the chart marks sit in the stretches that carry them.
    assert [(m.label, m.at) for m in priya.moments] == [
        ("concerned", 5.0),
        ("concerned", 12.0),
        ("hesitant", 41.0),
        ("positive", 45.0),
        ("positive", 72.0),
    ]


def test_a_line_counts_where_it_starts_and_the_last_stretch_holds_the_end() -> None:
    lines = [
        Segment(speaker="Priya Shah", start=9.99, end=12.0, text="This is great."),
        Segment(speaker="Priya Shah", start=30.0, end=30.0, text="Unfortunately not."),
    ]
    assert sentiment_series(lines, 30.0, windows=3) == [
        Point(start=0.0, end=10.0, sentiment=0.5, hesitation=0.0),
        Point(start=20.0, end=30.0, sentiment=-0.5, hesitation=0.0),
    ]
    # A call without timed speech has no course to draw.
    assert sentiment_series(lines, 0.0) == []


def test_the_trend_compares_the_last_stretch_with_the_first() -> None:
    def points(*scores: float) -> list[Point]:
        return [Point(start=i, end=i + 1, sentiment=s, hesitation=0) for i, s in enumerate(scores)]

    assert trend(points(0.5, -0.5)) == "cooling"
    assert trend(points(0.1, 0.9, 0.25)) == "steady"
    assert trend(points(-0.1, 0.1)) == "warming"
    assert trend(points(0.4)) is None


def test_claudes_verdict_gets_its_series_from_the_transcript() -> None:
    raw = {
        "next_steps": [],
        "objections": [],
        "sentiment": [
            {"speaker": "Daniel Ortiz", "sentiment": -0.4, "hesitation": 0.9, "moments": []}
        ],
    }
    coaching = with_series(grounded(raw, Grounder(CALL, PRIOR), "claude:test"), CALL)
    (daniel,) = coaching.sentiment
    # Claude's figures stay; the 30 s call in eight stretches of 3.75 s holds Daniel's lines
    # at 6 s (nothing listed), 13 s (hesitant) and 25 s (great, good: 2/3).
    assert (daniel.sentiment, daniel.hesitation) == (-0.4, 0.9)
    assert daniel.series == [
        Point(start=3.75, end=7.5, sentiment=0.0, hesitation=0.0),
        Point(start=11.25, end=15.0, sentiment=0.0, hesitation=1.0),
        Point(start=22.5, end=26.25, sentiment=0.67, hesitation=0.0),
    ]
    assert (daniel.trend, coaching.duration) == ("warming", 30.0)


def test_coaching_kept_without_a_series_still_reads() -> None:
    stored = {
        "next_steps": [],
        "objections": [],
        "sentiment": [{"speaker": "Daniel Ortiz", "sentiment": 0.2, "hesitation": 0.1}],
        "made_by": "local",
        "fallback_reason": "no Claude API key is configured",
    }
    coaching = Coaching.model_validate(stored)
    (daniel,) = coaching.sentiment
    assert (daniel.series, daniel.trend, coaching.duration) == ([], None, None)
