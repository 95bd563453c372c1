"""Adaptive Cards for Teams, built as plain data: a run view (the review API's JSON) or a few
values in, a card dict out, with no I/O and nothing that depends on the clock. The run card
shows a call's notes from the first processing step to the save, every card carries the verbs
and input ids in ``cards.verbs`` that the bot routes on, and ``parse_inputs`` turns what a
card sends back into the rep's edits.
"""

from cards.answer_card import build_answer_card
from cards.brief import Brief, BriefCall, BriefMeeting, BriefPerson, BriefTask, build_brief_card
from cards.elements import card_size
from cards.messages import (
    Switches,
    build_error_card,
    build_failure_card,
    build_help_card,
    build_status_card,
    build_switched_off_card,
    build_welcome_card,
)
from cards.run_card import MAX_BYTES, CardTooLargeError, build_run_card
from cards.verbs import (
    CUSTOMER_INPUT,
    SUMMARY_INPUT,
    CardInputs,
    Verb,
    action_data,
    comment_input,
    customers_dataset,
    dataset_run,
    parse_inputs,
    submitted_verb,
    task_input,
)

__all__ = [
    "CUSTOMER_INPUT",
    "MAX_BYTES",
    "SUMMARY_INPUT",
    "Brief",
    "BriefCall",
    "BriefMeeting",
    "BriefPerson",
    "BriefTask",
    "CardInputs",
    "CardTooLargeError",
    "Switches",
    "Verb",
    "action_data",
    "build_answer_card",
    "build_brief_card",
    "build_error_card",
    "build_failure_card",
    "build_help_card",
    "build_run_card",
    "build_status_card",
    "build_switched_off_card",
    "build_welcome_card",
    "card_size",
    "comment_input",
    "customers_dataset",
    "dataset_run",
    "parse_inputs",
    "submitted_verb",
    "task_input",
]
