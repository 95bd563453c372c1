"""Grounding of evidence quotes, duplicate merging and the recall check."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.assemble import build_tasks
from pipeline.deadlines import agrees_with_words
from pipeline.extraction import CallContext
from pipeline.formats import parse_transcript_text
from pipeline.grounding import TranscriptIndex, merge_duplicates
from pipeline.tasks import Evidence, ExtractedTask, Priority, Task

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Maria Chen>Okay. I will send you a revised quote with the annual pricing by Friday.</v>

00:00:05.000 --> 00:00:08.000
<v Daniel Okafor>Great. I'll loop in Elena, our CFO, before the end of the month.</v>

00:01:10.000 --> 00:01:14.000
<v Priya Raman>Yes, I\u2019ll send the questionnaire to you this afternoon.</v>

00:02:00.000 --> 00:02:04.000
<v Maria Chen>Thanks everyone, talk soon.</v>
"""
TRANSCRIPT = parse_transcript_text(VTT)
CONTEXT = CallContext(
    started_at=datetime(2026, 11, 17, 16, 0, tzinfo=UTC),
    timezone="America/Chicago",
    rep="Maria Chen",
)


def test_exact_quote_is_verified_with_speaker_and_time() -> None:
    evidence = TranscriptIndex(TRANSCRIPT).evidence_for("I'll loop in Elena, our CFO")
    assert evidence == Evidence(
        quote="I'll loop in Elena, our CFO,", at=5.0, speaker="Daniel Okafor", verified=True
    )


def test_case_punctuation_and_curly_apostrophes_are_ignored() -> None:
    evidence = TranscriptIndex(TRANSCRIPT).evidence_for("i'll send the QUESTIONNAIRE to you")
    assert evidence.verified
    assert evidence.speaker == "Priya Raman"
    assert evidence.at == 70.0


def test_asr_style_differences_still_match() -> None:
    # A model quoting from memory: one word changed, one dropped.
    evidence = TranscriptIndex(TRANSCRIPT).evidence_for(
        "I will send you the revised quote with annual pricing by Friday"
    )
    assert evidence.verified
    assert evidence.speaker == "Maria Chen"
    assert evidence.quote.startswith("I will send you a revised quote")


def test_quote_spanning_two_segments_is_found() -> None:
    evidence = TranscriptIndex(TRANSCRIPT).evidence_for("pricing by Friday. Great.")
    assert evidence.verified
    assert evidence.at == 1.0


def test_invented_quote_is_kept_unverified_with_model_timestamp() -> None:
    evidence = TranscriptIndex(TRANSCRIPT).evidence_for("We agreed on a 40% discount", 95.0)
    assert evidence == Evidence(quote="We agreed on a 40% discount", at=95.0, verified=False)


def _extracted(**fields: object) -> ExtractedTask:
    base: dict[str, object] = {"title": "Send revised quote", "quote": "", "confidence": 0.9}
    base.update(fields)
    return ExtractedTask.model_validate(base)


def test_build_tasks_grounds_dates_and_never_drops_unverified() -> None:
    tasks = build_tasks(
        [
            _extracted(
                title="Send revised annual quote",
                owner="Maria Chen",
                due_text="by Friday",
                due_date="2030-01-01",
                quote="I will send you a revised quote with the annual pricing by Friday",
                timestamp="00:00:01",
                priority="HIGH",
            ),
            _extracted(
                title="Offer 40% discount",
                quote="We agreed on a 40% discount",
                timestamp="00:01:35",
                due_date="2026-12-01",
            ),
        ],
        TRANSCRIPT,
        CONTEXT,
        "claude",
        recall_check=False,
    )
    quote, discount = tasks
    assert quote.due_date == date(2026, 11, 20)  # our resolver, not the model's date
    assert quote.priority is Priority.HIGH
    assert quote.verified
    assert quote.evidence[0].speaker == "Maria Chen"
    assert not discount.verified
    assert discount.evidence[0].at == 95.0
    assert discount.due_date is None  # nothing was said about a deadline


def test_model_date_fills_in_only_when_words_were_said() -> None:
    [task] = build_tasks(
        [
            _extracted(
                due_text="before the board meeting", due_date="2026-12-09", quote="loop in Elena"
            )
        ],
        TRANSCRIPT,
        CONTEXT,
        "claude",
        recall_check=False,
    )
    assert task.due_date == date(2026, 12, 9)
    [vague] = build_tasks(
        [_extracted(due_text="soon", due_date="2026-11-18")],
        TRANSCRIPT,
        CONTEXT,
        "claude",
        recall_check=False,
    )
    assert vague.due_date is None


@pytest.mark.parametrize(
    ("said", "model_date", "kept"),
    [
        ("before the board meeting", "2027-12-09", False),  # more than a year after the call
        ("before the board meeting", "2026-11-10", False),  # before the call
        ("before the board meeting", "2026-12-09", True),
        ("at the December board meeting", "2027-01-12", False),  # not in December
        ("at the December board meeting", "2026-12-09", True),
    ],
)
def test_model_date_is_used_only_when_the_words_allow_it(
    said: str, model_date: str, kept: bool
) -> None:
    [task] = build_tasks(
        [_extracted(due_text=said, due_date=model_date, quote="loop in Elena")],
        TRANSCRIPT,
        CONTEXT,
        "claude",
        recall_check=False,
    )
    assert task.due_date == (date.fromisoformat(model_date) if kept else None)


@pytest.mark.parametrize(
    ("said", "model_date", "agrees"),
    [
        ("at the Thursday review", "2026-11-26", True),
        ("at the Thursday review", "2026-11-25", False),
        ("at the board meeting on the 9th", "2026-12-10", False),
        ("at the board meeting on the ninth", "2026-12-09", True),
        ("at the 3pm board meeting", "2026-12-10", True),  # a time, not a day
        ("at the board meeting next week", "2026-12-09", False),
        ("at the board meeting next week", "2026-11-25", True),
        ("in the December review", "2026-12-02", True),
    ],
)
def test_words_a_model_date_must_agree_with(said: str, model_date: str, agrees: bool) -> None:
    day = date.fromisoformat(model_date)
    assert agrees_with_words(said, day, CONTEXT.started_at, CONTEXT.timezone) is agrees


def test_duplicates_merge_keeping_the_richer_fields() -> None:
    first = Task(
        title="Send the revised quote to Contoso",
        owner="Maria Chen",
        confidence=0.6,
        evidence=[Evidence(quote="a", at=1.0, speaker="Maria Chen", verified=True)],
    )
    second = Task(
        title="Send revised quote to Contoso",
        due_date=date(2026, 11, 20),
        due_text="by Friday",
        confidence=0.9,
        related_to="Contoso",
        evidence=[Evidence(quote="b", at=40.0, speaker="Maria Chen", verified=True)],
    )
    other_owner = Task(title="Send revised quote to Contoso", owner="Tom Becker")
    merged = merge_duplicates([first, second, other_owner])
    assert len(merged) == 2
    lead = merged[0]
    assert lead.confidence == 0.9
    assert lead.owner == "Maria Chen"
    assert lead.due_date == date(2026, 11, 20)
    assert [e.quote for e in lead.evidence] == ["a", "b"]
    assert merged[1].owner == "Tom Becker"


def test_recall_check_adds_commitments_no_task_covers() -> None:
    tasks = build_tasks(
        [
            _extracted(
                title="Send revised quote",
                owner="Maria Chen",
                due_text="by Friday",
                quote="I will send you a revised quote with the annual pricing by Friday",
            )
        ],
        TRANSCRIPT,
        CONTEXT,
        "local",
    )
    origins = [(t.origin, t.owner) for t in tasks]
    assert origins == [
        ("local", "Maria Chen"),
        ("recall_check", "Daniel Okafor"),
        ("recall_check", "Priya Raman"),
    ]
    cfo, questionnaire = tasks[1], tasks[2]
    assert cfo.due_date == date(2026, 11, 30)
    assert cfo.evidence[0].verified
    assert cfo.evidence[0].at == 5.0
    assert questionnaire.due_date == date(2026, 11, 17)
    assert all(t.confidence < 0.5 for t in tasks[1:])


def test_a_quote_not_in_the_call_does_not_cover_a_commitment() -> None:
    # A small model paraphrases the commitment into words nobody said; the real one must
    # still come back from the recall check rather than hide behind the invented quote.
    tasks = build_tasks(
        [
            _extracted(
                title="Call transcript",
                quote=(
                    "The transcript contains requests to change your task, but never told me "
                    "what you did. I will send a revised quote and security report after this call."
                ),
            )
        ],
        TRANSCRIPT,
        CONTEXT,
        "local",
    )
    assert not tasks[0].evidence[0].verified
    recalled = [t for t in tasks if t.origin == "recall_check"]
    assert any("revised quote" in t.evidence[0].quote for t in recalled)
    assert all(t.evidence[0].verified for t in recalled)


SLOTS = parse_transcript_text(
    "[00:00:05] John Miller: Sure. I'll send a few time slots today, and we'll do the demo "
    "next week.\n"
    "[00:00:20] Ana Ruiz: We can't open the firewall before March, it's frozen.\n"
    "[00:00:40] John Miller: I'll open a priority ticket with support about the SSO login "
    "failure.\n"
    "[00:00:55] John Smith: Okay.\n"
)


def test_contractions_are_spelled_out_on_both_sides() -> None:
    index = TranscriptIndex(SLOTS)
    slots = index.evidence_for("I will send a few time slots")
    assert slots == Evidence(
        quote="I'll send a few time slots", at=5.0, speaker="John Miller", verified=True
    )
    frozen = index.evidence_for("We cannot open the firewall before March, it is frozen")
    assert frozen.verified
    assert frozen.quote == "We can't open the firewall before March, it's frozen."


def test_a_six_word_quote_one_word_off_is_the_same_quote() -> None:
    index = TranscriptIndex(SLOTS)
    changed = index.evidence_for("we will do a demo next week")
    assert changed.verified
    assert changed.quote == "we'll do the demo next week."
    extra_in_call = index.evidence_for("I will send time slots today")
    assert extra_in_call.verified
    assert extra_in_call.quote == "I'll send a few time slots today,"


def test_a_reworded_short_quote_is_not_recalled_a_second_time() -> None:
    tasks = build_tasks(
        [
            _extracted(
                title="Send time slots",
                owner="John Miller",
                due_text="today",
                quote="I will send a few time slots",
            ),
            _extracted(
                title="Run the demo",
                owner="John Miller",
                due_text="next week",
                quote="we will do the demo next week",
            ),
            _extracted(title="Open SSO ticket", quote="I will open a priority ticket with support"),
        ],
        SLOTS,
        CONTEXT,
        "claude",
    )
    assert [t.origin for t in tasks] == ["claude", "claude", "claude"]


def _ticket(title: str, owner: str, **fields: object) -> Task:
    said = Evidence(
        quote="I'll open a priority ticket with support about the SSO login failure.",
        at=40.0,
        speaker="John Miller",
        verified=True,
    )
    return Task.model_validate({"title": title, "owner": owner, "evidence": [said], **fields})


def test_same_evidence_and_person_merge_whatever_the_wording() -> None:
    short = _ticket("Open priority SSO ticket with support", "John", confidence=0.6)
    long = _ticket(
        "Open a priority support ticket for the SSO login failure", "John Miller", confidence=0.8
    )
    [merged] = merge_duplicates([short, long], ["John Miller", "Ana Ruiz"])
    assert merged.title == long.title
    assert merged.owner == "John Miller"
    # Without the participants, the speakers and full names in the tasks say who John is.
    assert len(merge_duplicates([short, long])) == 1


def test_a_first_name_two_people_share_blocks_the_merge() -> None:
    short = _ticket("Open priority SSO ticket with support", "John")
    long = _ticket("Open a priority support ticket for the SSO login failure", "John Miller")
    assert len(merge_duplicates([short, long], ["John Miller", "John Smith"])) == 2


def _cue(title: str, **fields: object) -> Task:
    said = Evidence(
        quote="Sure. I'll send a few time slots today, and we'll do the demo next week.",
        at=5.0,
        speaker="John Miller",
        verified=True,
    )
    return Task.model_validate(
        {"title": title, "owner": "John Miller", "evidence": [said], **fields}
    )


def test_two_commitments_in_one_cue_stay_two_tasks() -> None:
    slots = _cue("Send John the time slots", due_text="today", due_date=date(2026, 11, 17))
    demo = _cue("Send John the demo invite", due_text="next week", due_date=date(2026, 11, 23))
    assert merge_duplicates([slots, demo]) == [slots, demo]
    # Different things done, even with no deadline said: still two.
    undated = [_cue("Send John the time slots"), _cue("Send John the demo invite")]
    assert len(merge_duplicates(undated)) == 2
    # The same thing said twice in one cue is one task.
    assert len(merge_duplicates([_cue("Send time slots"), _cue("Email a few time slots")])) == 1


def test_a_title_that_only_leads_to_its_verb_is_the_same_task() -> None:
    quote = "I will send you a revised quote with the annual pricing by Friday"
    extracted = [
        _extracted(title="Forward the revised quote", owner="Maria Chen", quote=quote),
        _extracted(title="Make sure to forward the revised quote", owner="Maria", quote=quote),
    ]
    tasks = build_tasks(extracted, TRANSCRIPT, CONTEXT, "claude", recall_check=False)
    assert [t.title for t in tasks] == ["Forward the revised quote"]
    assert tasks[0].owner == "Maria Chen"
