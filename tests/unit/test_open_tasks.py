"""Open tasks as a call's context: repeats left out, completions found and quoted."""

from __future__ import annotations

from pipeline.open_tasks import OpenTask, completions, drop_known, prompt_block
from pipeline.tasks import ExtractedTask, Task, extraction_schema
from pipeline.transcript import Segment, Transcript

DPA = OpenTask(
    ref="T1",
    task_id="task-dpa",
    title="Send the DPA to Contoso",
    owner="Maria Chen",
    due_date="2026-11-20",
    said_on="2026-11-17",
    crm_task_id="crm-1",
)
PRICING = OpenTask(
    ref="T2", task_id="task-pricing", title="Send the pricing sheet", crm_task_id="crm-2"
)
NOT_IN_CRM = OpenTask(ref="T3", task_id="task-demo", title="Book the finance demo")


def _call(*lines: tuple[float, str, str]) -> Transcript:
    return Transcript(
        source_format="vtt",
        segments=tuple(
            Segment(start=at, end=at + 4, speaker=speaker, text=text) for at, speaker, text in lines
        ),
    )


def test_the_prompt_lists_the_open_tasks_with_their_labels() -> None:
    block = prompt_block([DPA, PRICING])
    assert (
        "T1: Send the DPA to Contoso; owner Maria Chen; due 2026-11-20; from the call on 2026-11-17"
        in block
    )
    assert "T2: Send the pricing sheet\n" in block
    assert prompt_block([]) == ""


def test_the_schema_offers_completes_only_when_asked() -> None:
    plain = extraction_schema()["properties"]["tasks"]["items"]
    asked = extraction_schema(completions=True)["properties"]["tasks"]["items"]
    assert "completes" not in plain["properties"]
    assert "completes" in asked["properties"]
    assert "completes" not in asked["required"]


def test_a_repeat_of_an_open_task_is_left_out_and_said() -> None:
    notes: list[str] = []
    kept = drop_known(
        [Task(title="Email the DPA"), Task(title="Send the security questionnaire")],
        [DPA, PRICING],
        notes,
    )
    assert [task.title for task in kept] == ["Send the security questionnaire"]
    assert notes == [
        "Not proposed again: “Email the DPA” is already open as “Send the DPA to Contoso” "
        "(from the call on 2026-11-17)."
    ]


def test_the_same_verb_on_other_things_is_a_new_task() -> None:
    notes: list[str] = []
    kept = drop_known([Task(title="Send the case study")], [DPA, PRICING], notes)
    assert [task.title for task in kept] == ["Send the case study"]
    assert notes == []


def test_a_past_tense_sentence_about_an_open_task_proposes_completing_it() -> None:
    call = _call(
        (1.0, "Maria", "Good to see you. Quick update: I sent the DPA yesterday."),
        (6.0, "Daniel", "Did you send the pricing sheet? We still need it."),
        (11.0, "Maria", "I'll send the pricing sheet today."),
    )
    notes: list[str] = []
    (done,) = completions([], call, [DPA, PRICING], notes)
    assert done.title == "Mark done: Send the DPA to Contoso"
    assert done.completes is not None
    assert (done.completes.task_id, done.completes.crm_task_id) == ("task-dpa", "crm-1")
    (evidence,) = done.evidence
    assert (evidence.quote, evidence.at, evidence.speaker, evidence.verified) == (
        "Quick update: I sent the DPA yesterday.",
        1.0,
        "Maria",
        True,
    )
    assert notes == []


def test_a_model_claim_counts_only_with_its_quote_in_the_call() -> None:
    call = _call((3.0, "Maria", "The pricing sheet went out on Monday, by the way."))
    claimed = [
        ExtractedTask(
            title="Pricing sheet sent", quote="The pricing sheet went out on Monday", completes="t2"
        ),
        ExtractedTask(title="DPA signed", quote="Daniel signed the DPA", completes="T1"),
    ]
    notes: list[str] = []
    found = completions(claimed, call, [DPA, PRICING], notes)
    assert [task.completes.task_id for task in found if task.completes] == ["task-pricing"]
    assert found[0].evidence[0].verified is True
    assert notes == [
        "Not proposed: completing “Send the DPA to Contoso”, its quote is not in the call."
    ]


def test_a_task_not_in_the_crm_cannot_be_completed() -> None:
    call = _call((1.0, "Maria", "I booked the finance demo for Tuesday."))
    assert completions([], call, [NOT_IN_CRM], []) == []
