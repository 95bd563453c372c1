"""One task on the run card: its fields, where it came from, and what the rep can do with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cards.elements import (
    Element,
    Inline,
    action_set,
    choice_input,
    column,
    columns,
    container,
    date_input,
    execute,
    plain,
    span,
    text,
    text_input,
    toggle,
)
from cards.feedback import feedback_action
from cards.verbs import TASK_ID, Verb, action_data, task_input
from cards.wording import TASK_BADGES, due_label, evidence_caption, source_text

PRIORITIES = ("high", "medium", "low")
_BADGE_COLORS = {"accepted": "good", "rejected": "attention", "written": "good"}


@dataclass(frozen=True, slots=True)
class TaskStyle:
    """How much of each task the card has room for.

    ``quote_chars`` cuts evidence quotes; without ``details`` the said deadline, the reason
    for the priority and the description go; without ``feedback`` the per-task like / dislike
    go; ``compact`` leaves title, due date, priority, one line of provenance and the accept /
    reject buttons, with no inputs.
    """

    quote_chars: int | None = None
    details: bool = True
    feedback: bool = True
    compact: bool = False


@dataclass(frozen=True, slots=True)
class TaskContext:
    run: Mapping[str, Any]
    # The rep may change the tasks (owner of a run that is ready for review or failed).
    editable: bool
    feedback: bool


def task_element_id(task_id: str) -> str:
    return f"task:{task_id}"


def task_details_id(task_id: str) -> str:
    return f"details:{task_id}"


def task_item(task: Mapping[str, Any], ctx: TaskContext, style: TaskStyle) -> Element:
    """A compact row (title, state, due date, priority, owner, where in the call it was said)
    with accept / reject; the rest (the fields to edit, the quotes, the reasons, feedback)
    behind Details, shown in place without a round trip."""
    status = task["status"]
    if style.compact:
        items = _compact(task)
        actions = _actions(task, ctx, style)
    else:
        items = _row(task)
        # A completion of an open task is accepted or rejected, never edited.
        editable = ctx.editable and status in ("proposed", "accepted") and not task.get("completes")
        hidden: list[Element] = _inputs(task) if editable else []
        if style.details:
            hidden.extend(_details(task))
        hidden.extend(_evidence(item, style.quote_chars) for item in task["evidence"])
        hidden.append(plain(span(source_text(task), size="small", subtle=True)))
        more = _more_actions(task, ctx, style)
        if more:
            hidden.append(action_set(more, spacing="small"))
        details_id = task_details_id(task["id"])
        items.append(container(hidden, element_id=details_id, spacing="small", hidden=True))
        actions = [*_actions(task, ctx, style), toggle("Details", details_id)]
    if status == "written":
        crm_id = task.get("crm_task_id")
        line = f"In the CRM as task {crm_id}" if crm_id else "In the CRM"
        if task.get("completes"):
            line = f"Marked done in the CRM (task {crm_id})" if crm_id else "Marked done in the CRM"
        items.append(plain(span(line, size="small", color="good")))
    if actions:
        items.append(action_set(actions, spacing="small"))
    return container(items, element_id=task_element_id(task["id"]), separator=True)


def _badge(status: str) -> Element:
    return text(
        TASK_BADGES.get(status, status),
        size="small",
        weight="bolder",
        color=_BADGE_COLORS.get(status),
        subtle=status == "proposed",
    )


def _inputs(task: Mapping[str, Any]) -> list[Element]:
    task_id = task["id"]
    title = text_input(task_input(task_id, "title"), "Task", task["title"], max_length=200)
    priority = task["priority"] if task["priority"] in PRIORITIES else "medium"
    return [
        title,
        columns(
            column([date_input(task_input(task_id, "due_date"), "Due", task["due_date"])]),
            column(
                [choice_input(task_input(task_id, "priority"), "Priority", priority, PRIORITIES)]
            ),
            column(
                [text_input(task_input(task_id, "owner"), "Owner", task["owner"], max_length=120)]
            ),
            spacing="small",
        ),
    ]


def _row(task: Mapping[str, Any]) -> list[Element]:
    facts = [due_label(task["due_date"]), f"{str(task['priority']).capitalize()} priority"]
    if task["owner"]:
        facts.append(f"Owner: {task['owner']}")
    if task["evidence"]:
        facts.append(evidence_caption(task["evidence"][0]))
    return [
        columns(column([_title(task)]), column([_badge(task["status"])], "auto")),
        plain(span(" · ".join(f for f in facts if f), size="small", subtle=True), spacing="none"),
    ]


def _compact(task: Mapping[str, Any]) -> list[Element]:
    """Title, state, due date and priority in two lines, and where in the call it was said."""
    facts = [due_label(task["due_date"]), f"{str(task['priority']).capitalize()} priority"]
    if task["evidence"]:
        # Even in short, a task says where in the call it came from.
        facts.append(evidence_caption(task["evidence"][0]))
    badge = TASK_BADGES.get(task["status"], task["status"])
    title = _title(task)
    title["inlines"].append(span(f"  {badge}", size="small", subtle=True))
    return [title, plain(span(" · ".join(f for f in facts if f), size="small", subtle=True))]


def _title(task: Mapping[str, Any]) -> Element:
    rejected = task["status"] == "rejected"
    return plain(span(task["title"], weight="bolder", strike=rejected, subtle=rejected))


def _details(task: Mapping[str, Any]) -> list[Element]:
    said: list[Inline] = []
    if task["due_text"]:
        said.append(span(f"said: “{task['due_text']}”", size="small", subtle=True))
    if task["priority_reason"]:
        if said:
            said.append(span(" · ", size="small", subtle=True))
        said.append(span(f"Priority: {task['priority_reason']}", size="small", subtle=True))
    blocks = [plain(*said, spacing="small")] if said else []
    if task.get("description"):
        blocks.append(plain(span(task["description"], size="small")))
    return blocks


def _evidence(item: Mapping[str, Any], limit: int | None) -> Element:
    quote = str(item.get("quote") or "")
    if limit is not None and len(quote) > limit:
        quote = quote[:limit].rstrip() + "…"
    runs: list[Inline] = [span(f"“{quote}”", italic=True, size="small")]
    caption = evidence_caption(item)
    if caption:
        runs.append(span(f" {caption}", size="small", subtle=True))
    return plain(*runs, spacing="small")


def _actions(task: Mapping[str, Any], ctx: TaskContext, style: TaskStyle) -> list[Element]:
    """The decision, always in sight."""
    status = task["status"]
    data = action_data(ctx.run, **{TASK_ID: task["id"]})
    actions: list[Element] = []
    if ctx.editable:
        if status == "proposed":
            actions.append(execute("Accept", Verb.TASK_ACCEPT, data, style="positive"))
        if status in ("proposed", "accepted"):
            actions.append(execute("Reject", Verb.TASK_REJECT, data))
        if status == "rejected":
            actions.append(execute("Undo", Verb.TASK_ACCEPT, data))
    return actions


def _more_actions(task: Mapping[str, Any], ctx: TaskContext, style: TaskStyle) -> list[Element]:
    """Beside the details: saving the fields changed there, and feedback on the task."""
    actions: list[Element] = []
    if ctx.editable and task["status"] in ("proposed", "accepted") and not task.get("completes"):
        data = action_data(ctx.run, **{TASK_ID: task["id"]})
        actions.append(execute("Update", Verb.TASK_EDIT, data))
    if ctx.feedback and style.feedback:
        actions.append(feedback_action(ctx.run, task["id"], "this task"))
    return actions
