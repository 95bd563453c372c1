"""What a card sends back: the action verbs, the ids of its inputs, and their parser.

Teams merges a card's input values into the action's ``data`` (``value.action.data`` of an
``adaptiveCard/action`` invoke, or ``value`` of the message an ``Action.Submit`` fallback
sends), so one flat mapping carries both the action's own keys and what the rep typed. The
bot routes on the verb by exact match and uses ``run_id`` and ``version`` to tell a stale card
from a current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verb(StrEnum):
    SUMMARY_EDIT = "summary.edit"
    TASK_EDIT = "task.edit"
    TASK_ACCEPT = "task.accept"
    TASK_REJECT = "task.reject"
    TASKS_RECREATE = "tasks.recreate"
    FEEDBACK_LIKE = "feedback.like"
    FEEDBACK_DISLIKE = "feedback.dislike"
    LATER = "later"
    # "Don't process this call".
    CANCEL = "cancel"
    SAVE = "save"
    # Make the customer picked in the card's typeahead the call's customer.
    CUSTOMER_CHOOSE = "customer.choose"
    REFRESH = "refresh"
    # Switch Smart Notes back on for the rep.
    USER_ON = "user.on"


# Keys of an action's own data, next to the inputs.
RUN_ID = "run_id"
VERSION = "version"
TASK_ID = "task_id"
TARGET = "target"
# Only in the ``Action.Submit`` fallbacks: a plain submit has no verb of its own.
VERB = "verb"

SUMMARY_INPUT = "summary"
CUSTOMER_INPUT = "customer"
# The typeahead's dataset names the run: a search invoke carries no action data of its own.
_CUSTOMERS_DATASET = "customers:"
SUMMARY_TARGET = "summary"
TASK_FIELDS = ("title", "due_date", "priority", "owner")
_TASK_PREFIX = "task:"
_COMMENT_PREFIX = "comment:"


def task_input(task_id: str, field_name: str) -> str:
    """The id of the input for one field of one task, e.g. ``task:ab12:title``."""
    if field_name not in TASK_FIELDS:
        raise ValueError(f"a card has no input for the task field {field_name!r}")
    return f"{_TASK_PREFIX}{task_id}:{field_name}"


def comment_input(target: str) -> str:
    """The id of the optional feedback comment on ``target`` ("summary" or a task id)."""
    return f"{_COMMENT_PREFIX}{target}"


def action_data(run: Mapping[str, Any], **extra: str) -> dict[str, Any]:
    """An action's data: the run and the version the card showed, plus ``task_id``/``target``."""
    return {RUN_ID: run["id"], VERSION: run["version"], **extra}


def customers_dataset(run_id: str) -> str:
    """The dataset of the customer typeahead on ``run_id``'s card."""
    return f"{_CUSTOMERS_DATASET}{run_id}"


def dataset_run(dataset: object) -> str | None:
    """The run a customer typeahead's search is for, or None for any other dataset."""
    if isinstance(dataset, str) and dataset.startswith(_CUSTOMERS_DATASET):
        return dataset.removeprefix(_CUSTOMERS_DATASET) or None
    return None


def submitted_verb(data: Mapping[str, Any]) -> Verb | None:
    """The verb of an ``Action.Submit`` fallback, or None when it names none we know."""
    value = data.get(VERB)
    try:
        return Verb(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CardInputs:
    """What the rep typed on a card, as the card submitted it.

    ``summary`` is None when the card had no summary input. A task field that Teams sent
    empty stays as ``""`` (the review API says why an empty title is refused), except an
    empty date, which means "no deadline" and is None.
    """

    summary: str | None = None
    tasks: dict[str, dict[str, str | None]] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)

    def summary_change(self, current: str | None) -> str | None:
        """The summary to store, or None when the card left it as it is."""
        if self.summary is None or self.summary == (current or "").strip():
            return None
        return self.summary

    def task_changes(self, task: Mapping[str, Any]) -> dict[str, str | None]:
        """The fields of ``task`` (a run view's task) that the card changed."""
        submitted = self.tasks.get(task["id"], {})
        # A task without an owner is "" when generated and None when never set: both mean none.
        return {
            name: value
            for name, value in submitted.items()
            if (value or None) != (task.get(name) or None)
        }


def parse_inputs(data: Mapping[str, Any]) -> CardInputs:
    """Pick the card's inputs out of an action's data; anything else in it is ignored."""
    summary: str | None = None
    tasks: dict[str, dict[str, str | None]] = {}
    comments: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key == SUMMARY_INPUT:
            summary = value.strip()
        elif key.startswith(_COMMENT_PREFIX):
            target, comment = key.removeprefix(_COMMENT_PREFIX), value.strip()
            if target and comment:
                comments[target] = comment
        elif key.startswith(_TASK_PREFIX):
            task_id, _, name = key.removeprefix(_TASK_PREFIX).rpartition(":")
            if task_id and name in TASK_FIELDS:
                tasks.setdefault(task_id, {})[name] = _task_value(name, value)
    return CardInputs(summary=summary, tasks=tasks, comments=comments)


def _task_value(name: str, value: str) -> str | None:
    value = value.strip()
    if name == "due_date":
        return value or None
    if name == "priority":
        return value.lower()
    return value
