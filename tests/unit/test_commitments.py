"""The recall check: commitments no extracted task covers, turned into tasks a rep can use."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline.assemble import build_tasks
from pipeline.commitments import find_commitments, recall_tasks, title_for
from pipeline.extraction import CallContext
from pipeline.formats import parse_transcript_text
from pipeline.sides import Person
from pipeline.tasks import ExtractedTask, Task

CONTEXT = CallContext(
    started_at=datetime(2026, 11, 17, 16, 0, tzinfo=UTC),  # a Tuesday
    timezone="America/Chicago",
    rep="Maria Chen",
    participants=("Maria Chen", "Priya Raman", "Daniel Okafor"),
)
CALL = parse_transcript_text(
    "[00:00:01] Maria Chen: Can you send me the questionnaire today?\n"
    "[00:00:05] Priya Raman: Sure, I'll send it over by Friday.\n"
    "[00:00:10] Maria Chen: Great. I'll send a few time slots today, and we'll do the demo "
    "next week.\n"
    "[00:00:30] Daniel Okafor: Thanks, talk soon.\n"
)


def recalled(extracted: list[ExtractedTask], call: str | None = None) -> list[Task]:
    transcript = parse_transcript_text(call) if call is not None else CALL
    tasks = build_tasks(extracted, transcript, CONTEXT, "local")
    return [t for t in tasks if t.origin == "recall_check"]


def test_findings_have_action_titles_not_quotes() -> None:
    titles = [t.title for t in recalled([])]
    assert titles == ["Send the questionnaire", "Send a few time slots", "Do the demo"]


@pytest.mark.parametrize(
    ("said", "title"),
    [
        (
            "I will send you a revised quote with the annual pricing by Friday",
            "Send a revised quote with the annual pricing",
        ),
        ("Great. I'll loop in Elena, our CFO, before the end of the month.", "Loop in Elena"),
        (
            "Could you please complete the security review by Thursday?",
            "Complete the security review",
        ),
        (
            "I'll just quickly open a priority ticket with support about the SSO outage",
            "Open a priority ticket with support",
        ),
        ("I'll take the contract to legal tomorrow", "Take the contract to legal"),
        ("I'll return the signed order form by Monday.", "Return the signed order form"),
        ("We'll set up the sandbox for your team this week.", "Set up the sandbox for your team"),
        ("Yes, I'll send the questionnaire to you this afternoon.", "Send the questionnaire"),
    ],
)
def test_a_title_is_the_action_without_the_deadline(said: str, title: str) -> None:
    assert title_for(said) == title


def test_common_verbs_are_commitments() -> None:
    call = (
        "[00:00:01] Tom Becker: I'll open a ticket with support.\n"
        "[00:00:05] Tom Becker: I'll complete the vendor form.\n"
        "[00:00:09] Tom Becker: I'll take the pricing question to finance.\n"
        "[00:00:13] Tom Becker: I'll return the redlines on Monday.\n"
        "[00:00:17] Tom Becker: We'll set up a call with legal.\n"
        "[00:00:21] Tom Becker: I'll loop in our CFO.\n"
    )
    assert [c.title for c in find_commitments(parse_transcript_text(call))] == [
        "Open a ticket with support",
        "Complete the vendor form",
        "Take the pricing question to finance",
        "Return the redlines",
        "Set up a call with legal",
        "Loop in our CFO",
    ]


def test_a_request_and_its_answer_are_one_commitment_of_who_answered() -> None:
    questionnaire = recalled([])[0]
    assert questionnaire.owner == "Priya Raman"
    assert questionnaire.due_text == "by Friday"  # the answer's words win over the ask's
    assert questionnaire.due_date == date(2026, 11, 20)
    # "Sure, I'll send it over" does not say what: the ask does, and the answer comes along.
    assert questionnaire.evidence[0].quote == "Can you send me the questionnaire today?"
    asked_and_answered = recall_tasks(CALL, [], CONTEXT)[0]
    assert [(e.quote, e.speaker) for e in asked_and_answered.evidence] == [
        ("Can you send me the questionnaire today?", "Maria Chen"),
        ("Sure, I'll send it over by Friday.", "Priya Raman"),
    ]
    assert all(e.verified for e in asked_and_answered.evidence)


def test_an_answer_that_names_the_action_is_the_commitments_own_words() -> None:
    call = (
        "[00:00:01] Maria Chen: Can you send me the questionnaire today?\n"
        "[00:00:05] Priya Raman: Yes, I\u2019ll send the questionnaire to you this afternoon.\n"
    )
    [questionnaire] = find_commitments(parse_transcript_text(call))
    assert questionnaire.sentence == "Yes, I\u2019ll send the questionnaire to you this afternoon."
    assert (questionnaire.title, questionnaire.owner, questionnaire.due_text) == (
        "Send the questionnaire",
        "Priya Raman",
        "this afternoon",
    )
    assert [e.speaker for e in questionnaire.evidence()] == ["Maria Chen", "Priya Raman"]


def test_an_unanswered_request_on_a_call_of_two_is_the_other_ones() -> None:
    call = (
        "[00:00:01] Maria Chen: Could you confirm the seat count by Friday?\n"
        "[00:00:05] Daniel Okafor: Let me think about it.\n"
    )
    [seats] = find_commitments(parse_transcript_text(call))
    assert (seats.title, seats.owner, seats.due_text) == (
        "Confirm the seat count",
        "Daniel Okafor",
        "by Friday",
    )
    assert seats.side([Person("Daniel Okafor", "daniel@contoso.com")], "maria@fabrikam.com") == (
        "customer"
    )


def test_two_commitments_in_one_sentence_are_two_findings_with_their_own_deadlines() -> None:
    slots, demo = recalled([])[1:]
    assert (slots.due_text, slots.due_date) == ("today", date(2026, 11, 17))
    assert (demo.due_text, demo.due_date) == ("next week", date(2026, 11, 27))
    assert demo.evidence[0].quote == "we'll do the demo next week."


def _extracted(title: str, quote: str) -> ExtractedTask:
    return ExtractedTask(title=title, quote=quote, owner="Maria Chen", confidence=0.9)


def test_a_finding_that_is_the_evidence_of_a_task_is_not_added() -> None:
    # The extracted task quotes the slots in other words: it is still their evidence.
    left = recalled([_extracted("Send time slots", "I will send a few time slots today")])
    assert [t.title for t in left] == ["Send the questionnaire", "Do the demo"]
    # An answer quoted by the extractor covers its request too.
    left = recalled([_extracted("Send the questionnaire", "I'll send it over by Friday")])
    assert [t.title for t in left] == ["Send a few time slots", "Do the demo"]


def test_a_task_quoting_a_whole_sentence_covers_only_its_own_action() -> None:
    whole = "I'll send a few time slots today, and we'll do the demo next week."
    left = recalled([_extracted("Send time slots", whole)])
    assert [t.title for t in left] == ["Send the questionnaire", "Do the demo"]


def test_recall_tasks_say_what_was_agreed_not_how_they_were_found() -> None:
    tasks = recall_tasks(CALL, [], CONTEXT)
    assert [t.title for t in tasks] == [
        "Send the questionnaire",
        "Send a few time slots",
        "Do the demo",
    ]
    assert tasks[0].description == "Maria Chen asked; Priya Raman took it on."
    for task in tasks:
        assert task.origin == "recall_check"
        assert task.priority_reason == ""
        assert "recall" not in task.description.lower()
        assert task.confidence < 0.5


def test_the_same_promise_said_twice_is_one_finding() -> None:
    call = (
        "[00:00:01] Maria Chen: I'll send the revised quote by Friday.\n"
        "[00:05:00] Maria Chen: So again, I'll send the revised quote by Friday.\n"
    )
    [quote] = recall_tasks(parse_transcript_text(call), [], CONTEXT)
    assert len(quote.evidence) == 2


@pytest.mark.parametrize(
    "call",
    [
        # A request turned down, at the start of the answer or inside it.
        "[00:00:01] Maria Chen: Could you share your internal DPIA template?\n"
        "[00:00:05] Priya Raman: No, I'm sorry, that is an internal document.\n",
        "[00:00:01] Priya Raman: Can you freeze the price for three years?\n"
        "[00:00:05] Maria Chen: That I can't commit to, I'm afraid.\n",
        # A request the other side had done already.
        "[00:00:01] Maria Chen: Please make sure that is described in the DPA annex.\n"
        "[00:00:05] Priya Raman: It's in annex one already, paragraph four.\n",
        # A purpose, an ability under a condition, a habit, something done on the call.
        "[00:00:01] Priya Raman: Send me the list, so I can build the quote properly.\n",
        "[00:00:01] Priya Raman: If you send me an export, I can check the format.\n",
        "[00:00:01] Maria Chen: We'll usually call you much earlier than that.\n",
        "[00:00:01] Maria Chen: Okay, let me share my screen.\n",
        "[00:00:01] Maria Chen: Quick intro first, and then I'll mostly hand over.\n",
        "[00:00:01] Maria Chen: Okay, we'll ask him when he joins. Next thing, payments.\n",
        "[00:00:01] Maria Chen: Is there any chance the PO is out this month?\n"
        "[00:00:05] Priya Raman: I'll sort that out.\n",
    ],
)
def test_what_is_not_a_promise_is_not_found(call: str) -> None:
    assert find_commitments(parse_transcript_text(call)) == []


@pytest.mark.parametrize(
    ("said", "title", "due_text"),
    [
        ("I'll ping you when it's ready.", "Ping you", ""),
        ("I'll circle back with legal next week.", "Circle back with legal", "next week"),
        ("I'm gonna send you the quote tomorrow.", "Send the quote", "tomorrow"),
        ("Lemme get you the numbers by Thursday.", "Get the numbers", "by Thursday"),
        ("I'll sort that out this afternoon.", "Sort that out", "this afternoon"),
    ],
)
def test_promises_said_casually(said: str, title: str, due_text: str) -> None:
    [found] = find_commitments(parse_transcript_text(f"[00:00:01] Maria Chen: {said}\n"))
    assert (found.title, found.due_text) == (title, due_text)


@pytest.mark.parametrize("answer", ["Leave it with me.", "Consider it done.", "On it."])
def test_answers_that_take_a_request_on(answer: str) -> None:
    [found] = find_commitments(
        parse_transcript_text(
            "[00:00:01] Maria Chen: Could you send me the signed NDA?\n"
            f"[00:00:05] Tom Baker: {answer}\n"
        )
    )
    assert (found.title, found.owner) == ("Send the signed NDA", "Tom Baker")


def test_no_problem_takes_a_request_on() -> None:
    [found] = find_commitments(
        parse_transcript_text(
            "[00:00:01] Maria Chen: Could you send me the staff list?\n"
            "[00:00:05] Priya Raman: No problem, I'll send it later today.\n"
        )
    )
    assert found.owner == "Priya Raman"


def _quoted(title: str, quote: str, owner: str, due_text: str = "") -> ExtractedTask:
    return ExtractedTask(title=title, owner=owner, quote=quote, due_text=due_text)


@pytest.mark.parametrize(
    ("call", "task"),
    [
        # A step of the promise a task holds, in the same turn.
        (
            "[00:00:01] Maria Chen: I'll prepare a first proposal for twenty seats. "
            "I'll send you the proposal by Friday.\n",
            _quoted("Send the proposal", "I'll send you the proposal by Friday", "Maria Chen"),
        ),
        # What one needs to do before the promise a task holds.
        (
            "[00:00:01] Priya Raman: Then I need to prepare the app registration on our side. "
            "I'll send you the SAML metadata early next week.\n",
            _quoted("Send SAML metadata", "I'll send you the SAML metadata", "Priya"),
        ),
        # A need the same person's task is about, said in another turn.
        (
            "[00:00:01] Priya Raman: But I need to talk to my accountant, Mathilde.\n"
            "[00:00:09] Maria Chen: Of course.\n"
            "[00:00:12] Priya Raman: I'll go through it with Mathilde before Christmas.\n",
            _quoted(
                "Review the quote with the accountant", "I'll go through it with Mathilde", "Priya"
            ),
        ),
        # Words that name nothing after a promise in the same turn.
        (
            "[00:00:01] Priya Raman: I'll get you the approval matrix within two weeks. "
            "Even if it isn't final, I'll send what we have.\n",
            _quoted("Send the approval matrix", "I'll get you the approval matrix", "Priya"),
        ),
        # A recap repeats what was promised.
        (
            "[00:00:01] Maria Chen: I'll send the revised quote by Friday.\n"
            "[00:00:09] Maria Chen: Let me recap. I'll send you the quote.\n",
            _quoted("Send the revised quote", "I'll send the revised quote by Friday", "Maria"),
        ),
    ],
)
def test_what_only_prepares_or_repeats_a_held_promise_is_not_added(
    call: str, task: ExtractedTask
) -> None:
    assert recalled([task], call) == []


def test_a_second_promise_in_the_same_turn_about_something_else_is_still_added() -> None:
    call = (
        "[00:00:01] Maria Chen: I'll send you the proposal by Friday. "
        "I'll also book the training for your admins next week.\n"
    )
    task = _quoted("Send the proposal", "I'll send you the proposal by Friday", "Maria Chen")
    assert [t.title for t in recalled([task], call)] == ["Book the training for your admins"]


@pytest.mark.parametrize(
    ("said", "title", "due_text"),
    [
        (
            "Great. So I'll send you a few time options later today.",
            "Send a few time options",
            "later today",
        ),
        (
            "I'll write up the eval summary for Rachel once the load test is done. "
            "Probably end of next week.",
            "Write up the eval summary for Rachel once",
            "end of next week",
        ),
        ("I'll send you the revised quote EOD tomorrow.", "Send the revised quote", "EOD tomorrow"),
        (
            "I'll have the pricing for the two million page tier over to you before Thanksgiving.",
            "Have the pricing for the two million page",
            "before Thanksgiving",
        ),
        (
            "I'll get the new sandbox credentials to you right after this call.",
            "Get the new sandbox credentials",
            "right after this call",
        ),
        (
            "We'll do the architecture deep dive Thursday next week.",
            "Do the architecture deep dive",
            "Thursday next week",
        ),
        (
            "I'll sit down with Mathilde and go through it before Christmas.",
            "Sit down with Mathilde and go through it",
            "before Christmas",
        ),
    ],
)
def test_promises_as_reps_make_them_with_the_words_said_for_when(
    said: str, title: str, due_text: str
) -> None:
    [found] = find_commitments(parse_transcript_text(f"[00:00:01] Maria Chen: {said}\n"))
    assert (found.title, found.due_text) == (title, due_text)


@pytest.mark.parametrize(
    "call",
    [
        "[00:00:01] Maria Chen: Ha, I'll take it. Have you looked at other tools?\n",
        "[00:00:01] Priya Raman: Send me the inactive users. Then I can check with HR.\n",
        "[00:00:01] Maria Chen: Let me ask you this. What would that be worth to you?\n",
    ],
)
def test_reactions_questions_and_recaps_are_not_promises(call: str) -> None:
    assert find_commitments(parse_transcript_text(call)) == []


def test_a_promise_said_first_in_a_recap_is_still_found() -> None:
    call = parse_transcript_text(
        "[00:00:01] Maria Chen: I'll send the revised quote by Friday.\n"
        "[00:00:09] Maria Chen: Let me just recap. I'll send you a recap email later today, "
        "and I'll send the quote.\n"
    )
    task = _quoted("Send the revised quote", "I'll send the revised quote by Friday", "Maria")
    assert [t.title for t in recalled([task], call.render())] == ["Send a recap email"]


def test_then_ill_takes_a_request_on() -> None:
    [found] = find_commitments(
        parse_transcript_text(
            "[00:00:01] Priya Raman: Can you arrange a session with your engineers?\n"
            "[00:00:05] Maria Chen: Then I'll set up a session with your team in January.\n"
        )
    )
    assert (found.owner, found.due_text) == ("Maria Chen", "")
    assert found.title == "Set up a session with your team"


@pytest.mark.parametrize(
    ("call", "task"),
    [
        # The promise a task quotes inside a longer answer to the request.
        (
            "[00:00:01] Maria Chen: Could you send me an export of last month's jobs?\n"
            "[00:00:06] Priya Raman: Yeah, I can pull that. I'll get you the export early next "
            "week, our month-end close is eating this whole week.\n",
            _quoted("Send the export", "I'll get you the export early next week", "Priya"),
        ),
        # A step without a deadline of its own, in the turn of the promise a task holds.
        (
            "[00:00:01] Priya Raman: Once the quote is signed, I'll raise the PO. I'll make sure "
            "the PO is out by the end of January.\n",
            _quoted("Issue the PO", "I'll make sure the PO is out by the end of January", "Priya"),
        ),
        # A "let me" on the way to it.
        (
            "[00:00:01] Priya Raman: Let me go ask. I'll have an answer for you by Tuesday.\n",
            _quoted("Answer on payment terms", "I'll have an answer for you by Tuesday", "Priya"),
        ),
        # A request answered only with "yes", about what the same person already took on.
        (
            "[00:00:01] Priya Raman: I'll upload the new certificate right after this call.\n"
            "[00:00:09] Maria Chen: Priya, can you go and do the certificate?\n"
            "[00:00:12] Priya Raman: Yes.\n",
            _quoted("Upload the certificate", "I'll upload the new certificate", "Priya"),
        ),
    ],
)
def test_what_a_held_promise_already_says_is_not_added_again(
    call: str, task: ExtractedTask
) -> None:
    assert recalled([task], call) == []
