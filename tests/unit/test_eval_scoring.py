"""How the eval pairs tasks with labelled commitments: by the words they rest on."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pipeline.formats import parse_transcript_text
from pipeline.tasks import Evidence, Task
from smartnotes.evaluation.gold import GoldCommitment, GoldPerson, LabelledCall
from smartnotes.evaluation.scoring import Totals, score_call

VTT = """WEBVTT

00:00:01.000 --> 00:00:09.000
<v Maria Chen>I'll send a few time slots today, and we'll do the demo Thursday next week.</v>

00:00:10.000 --> 00:00:14.000
<v Tom Baker>Great. I'll loop in our IT lead by Friday.</v>
"""
TRANSCRIPT = parse_transcript_text(VTT)
SLOTS = GoldCommitment(
    title="Send time slots",
    owner="Maria Chen",
    side="rep",
    due_text="today",
    due_date=date(2026, 11, 17),
    quote="I'll send a few time slots today",
    at="00:00:01",
)
DEMO = GoldCommitment(
    title="Do the demo",
    owner="Maria Chen",
    side="rep",
    due_text="Thursday next week",
    due_date=date(2026, 11, 26),
    quote="we'll do the demo Thursday next week",
    at="00:00:01",
)
LOOP_IN = GoldCommitment(
    title="Loop in the IT lead",
    owner="Tom Baker",
    side="customer",
    due_text="by Friday",
    due_date=date(2026, 11, 20),
    quote="I'll loop in our IT lead by Friday",
    at="00:00:10",
)
CALL = LabelledCall(
    title="Demo follow-up",
    transcript="call.vtt",
    started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
    timezone="America/Chicago",
    rep=GoldPerson(name="Maria Chen", email="maria@northwind.example"),
    participants=[
        GoldPerson(name="Maria Chen", email="maria@northwind.example"),
        GoldPerson(name="Tom Baker", email="tom@fabrikam.example"),
    ],
    commitments=[SLOTS, DEMO, LOOP_IN],
)


def _task(title: str, owner: str, quote: str, due: date | None, at: float = 1.0) -> Task:
    return Task(
        title=title,
        owner=owner,
        due_date=due,
        evidence=[Evidence(quote=quote, at=at, verified=True)],
    )


def test_two_commitments_in_one_breath_are_two() -> None:
    score = score_call(
        CALL,
        TRANSCRIPT,
        [
            _task("Send slots", "Maria", "I'll send a few time slots today", date(2026, 11, 17)),
            _task("Demo", "Maria", "we'll do the demo Thursday next week", date(2026, 11, 19)),
        ],
    )
    totals = Totals.of([score])
    assert (totals.found, totals.recall, totals.precision) == (2, 2 / 3, 1.0)
    assert totals.deadline_accuracy == 0.5  # the demo was dated this week's Thursday
    assert totals.owner_accuracy == 1.0  # "Maria" is Maria Chen
    assert [c.title for c in score.missed] == ["Loop in the IT lead"]


def test_one_task_for_both_finds_one_and_a_second_on_it_is_a_duplicate() -> None:
    whole = "I'll send a few time slots today, and we'll do the demo Thursday next week."
    score = score_call(
        CALL,
        TRANSCRIPT,
        [
            _task("Slots and demo", "Maria Chen", whole, date(2026, 11, 17)),
            _task("Loop in IT", "Tom", "I'll loop in our IT lead by Friday", None, 10.0),
            _task("Loop in IT lead", "Tom Baker", "loop in our IT lead", None, 10.0),
            _task("Invented", "Maria Chen", "We agreed on a discount", None),
        ],
    )
    totals = Totals.of([score])
    assert totals.found == 2
    assert [t.title for t in score.duplicates] == ["Loop in IT lead"]
    assert [t.title for t in score.extra] == ["Invented"]
    assert totals.precision == 0.5
    assert totals.deadline_accuracy == 0.5  # the IT lead's Friday was not read


def test_an_unowned_task_is_the_reps() -> None:
    score = score_call(
        CALL,
        TRANSCRIPT,
        [_task("Send slots", "", "I'll send a few time slots today", date(2026, 11, 17))],
    )
    assert score.pairs[0].owner_right
    assert score.pairs[0].side_right
