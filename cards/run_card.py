"""The run card: a call's notes in Teams, from the first step to the save.

The card is built from the run view the review API returns, so Teams and the review page
show the same run in the same words. A Teams message holds about 28 KB; when a long call does
not fit, the card gives up detail in a fixed order (long quotes, then the lines that explain
deadline and priority, then the per-task feedback, then everything but title, due date and
priority) and then shows the first tasks and says how many more are on the review page. No
task is ever left out without being counted, and the summary is never cut where the rep could
edit and save it: a summary too long for the card is shown in part, read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cards.coach_section import coach_section
from cards.elements import (
    Element,
    action_set,
    card,
    card_size,
    container,
    execute,
    open_dialog,
    open_url,
    plain,
    search_input,
    show_card,
    span,
    text,
    text_input,
    toggle,
)
from cards.feedback import feedback_action
from cards.run_header import header
from cards.task_items import TaskContext, TaskStyle, task_item
from cards.verbs import (
    CUSTOMER_INPUT,
    SUMMARY_INPUT,
    SUMMARY_TARGET,
    Verb,
    action_data,
    customers_dataset,
)
from cards.wording import PROCESSING, extractor_text, step_name

MAX_BYTES = 28_000
QUOTE_CHARS = 120
# What a card shows of a summary too long to fit; the review page has all of it.
SUMMARY_PREVIEW_CHARS = 2_000
# The review API's limit for an edited summary.
SUMMARY_MAX_CHARS = 20_000
# A summary longer than this shows its first lines, and the rest behind Show more.
SUMMARY_FOLD_CHARS = 400
SUMMARY_SHORT_ID, SUMMARY_ALL_ID = "summary:short", "summary:all"
CANCELLED_LINE = "Not processed — you chose not to process this call; its transcript was deleted."
FALLBACK_TEXT = "Smart Notes: your call notes. Open them from the CRM to review them."

_SUMMARY_ELSEWHERE = (
    "Too long to edit here: edit it on the review page. Saving from this card keeps the "
    "whole summary."
)
_SHORT_QUOTES = TaskStyle(quote_chars=QUOTE_CHARS)
_NO_DETAILS = TaskStyle(quote_chars=QUOTE_CHARS, details=False)
# Per-task feedback goes before the inputs do: editing on the card matters more.
_NO_FEEDBACK = TaskStyle(quote_chars=QUOTE_CHARS, details=False, feedback=False)
_COMPACT = TaskStyle(quote_chars=QUOTE_CHARS, details=False, feedback=False, compact=True)
_TRIM_ORDER = (TaskStyle(), _SHORT_QUOTES, _NO_DETAILS, _NO_FEEDBACK, _COMPACT)


class CardTooLargeError(ValueError):
    """Even the smallest form of the card exceeds the size limit it was given."""


@dataclass(frozen=True, slots=True)
class _Layout:
    tasks: TaskStyle
    # Show only the first ``task_limit`` tasks and count the rest.
    task_limit: int | None = None
    summary_chars: int | None = None


@dataclass(frozen=True, slots=True)
class _View:
    run: Mapping[str, Any]
    review_url: str | None
    notice: str | None
    owner: bool
    editable: bool
    feedback: bool
    # The CRM can be searched for a customer: the card offers a typeahead picker.
    customer_search: bool = False


def build_run_card(
    run: Mapping[str, Any],
    *,
    review_url: str | None = None,
    notice: str | None = None,
    max_bytes: int = MAX_BYTES,
    customer_search: bool = False,
) -> dict[str, Any]:
    """The Adaptive Card for ``run`` (a run view), as large as fits in ``max_bytes``.

    ``customer_search``: the CRM can be searched, so a call without a customer gets a picker.
    """
    owner = run["role"] == "owner"
    status = run["status"]
    view = _View(
        run=run,
        review_url=review_url,
        notice=notice,
        owner=owner,
        editable=owner and status in ("needs_review", "failed"),
        feedback=owner and status in ("needs_review", "failed", "saving", "saved"),
        customer_search=customer_search,
    )
    # Cutting the summary is the last resort: only when the card is too large even with every
    # task left to the review page. A cut summary then leaves room for detail again.
    for summary_chars in (None, SUMMARY_PREVIEW_CHARS):
        for style in _TRIM_ORDER:
            result = _render(view, _Layout(style, summary_chars=summary_chars))
            if card_size(result) <= max_bytes:
                return result
        fitted = _most_tasks(view, summary_chars, max_bytes)
        if fitted is not None:
            return fitted
    raise CardTooLargeError(f"the run card does not fit in {max_bytes} bytes")


def _most_tasks(view: _View, summary_chars: int | None, max_bytes: int) -> Element | None:
    """The compact card with as many of the first tasks as fit, or None if none does.

    Every task only adds to the card, so the size grows with the count: a binary search.
    """
    best: Element | None = None
    low, high = 0, len(view.run["tasks"])
    while low <= high:
        middle = (low + high) // 2
        layout = _Layout(_COMPACT, task_limit=middle, summary_chars=summary_chars)
        candidate = _render(view, layout)
        if card_size(candidate) <= max_bytes:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _render(view: _View, layout: _Layout) -> Element:
    body: list[Element] = []
    if view.notice:
        body.append(container([plain(span(view.notice, weight="bolder"))], style="attention"))
    body.append(header(view.run))
    if view.run["status"] == "cancelled":
        # A run the service cancelled (not the rep) says why.
        error = view.run.get("error")
        body.append(text(f"Not processed — {error['message']}." if error else CANCELLED_LINE))
        return card(body, fallback_text=FALLBACK_TEXT)
    body.extend(_state_lines(view))
    body.append(_summary(view, layout))
    body.append(_tasks(view, layout))
    coach = coach_section(view.run.get("coaching")) if not layout.tasks.compact else None
    if coach is not None:
        body.append(coach)
    # A card opened days later asks the bot for itself again: current state, a fresh link.
    refresh = execute("Refresh", Verb.REFRESH, action_data(view.run))
    return card(body, _actions(view), fallback_text=FALLBACK_TEXT, refresh=refresh)


def _has_summary(run: Mapping[str, Any]) -> bool:
    summary = run["summary"]
    return summary["generated"] is not None or bool(summary["edited"])


def _state_lines(view: _View) -> list[Element]:
    run = view.run
    status = run["status"]
    lines: list[Element] = []
    if status == "failed":
        lines.append(_error(view))
    if status == "saved":
        customer = run["customer_name"]
        saved = f"Saved to the CRM for {customer}" if customer else "Saved to the CRM"
        lines.append(container([plain(span(saved, weight="bolder"))], style="good"))
    if not view.owner:
        lines.append(
            text(
                "You attended this call; only the rep who owns it can change and save these notes.",
                subtle=True,
            )
        )
    elif status == "needs_review" and run["customer_id"] is None:
        lines.append(
            _customer_picker(view)
            if view.customer_search
            else text(
                "No customer was matched to this call: choose it or add the prospect in Edit in "
                "Smart Notes before saving.",
                color="warning",
            )
        )
    return lines


def _customer_picker(view: _View) -> Element:
    """Choose the call's customer on the card: Teams fills the list from the CRM as the rep
    types; a new prospect is created on the review page."""
    run = view.run
    return container(
        [
            text(
                "No customer was matched to this call: choose it before saving, or add the "
                "prospect in Edit in Smart Notes.",
                color="warning",
            ),
            search_input(
                CUSTOMER_INPUT,
                "Customer",
                customers_dataset(run["id"]),
                placeholder="Type a customer's name",
            ),
            action_set(
                [execute("Use this customer", Verb.CUSTOMER_CHOOSE, action_data(run))],
                spacing="small",
            ),
        ]
    )


def _error(view: _View) -> Element:
    run = view.run
    error = run["error"] or {}
    items = [
        text(
            f"Something went wrong while {step_name(error.get('step'))}.",
            weight="bolder",
            color="attention",
        )
    ]
    if error.get("message"):
        items.append(plain(error["message"], spacing="small"))
    if view.owner:
        items.append(text(_error_hint(run)))
    return container(items, style="attention")


def _error_hint(run: Mapping[str, Any]) -> str:
    if _has_summary(run):
        return "You can finish the note by hand: edit the summary and tasks and save."
    if run["transcript_kept"]:
        return "Nothing was produced yet. Retry, or update the CRM by hand."
    return "The call's transcript is gone, so it cannot be retried; update the CRM by hand."


def _summary(view: _View, layout: _Layout) -> Element:
    run = view.run
    summary = run["summary"]
    value: str | None = summary["text"]
    heading = text("Summary", weight="bolder", style="heading")
    items: list[Element] = []
    if value is None:
        waiting = run["status"] in PROCESSING
        items.append(
            text("Writing the summary…" if waiting else "No summary was written.", subtle=True)
        )
        return container([heading, *items], separator=True)
    complete = _has_summary(run)
    cut = layout.summary_chars is not None and len(value) > layout.summary_chars
    # The summary goes into an input only whole and within the API's limit: a cut text, or one
    # a client clips to the input's maxLength, saved from the card would replace the whole
    # summary. Anything longer is edited on the review page.
    in_input = view.editable and complete and not cut and len(value) <= SUMMARY_MAX_CHARS
    if in_input:
        items.append(
            text_input(
                SUMMARY_INPUT,
                "Summary of the call",
                value,
                max_length=SUMMARY_MAX_CHARS,
                multiline=True,
            )
        )
        note = (
            "Edited by you; your version is what gets saved."
            if summary["edited"]
            else "As the model wrote it. Edit it here; your version is what gets saved."
        )
        items.append(text(note, size="small", subtle=True, spacing="none"))
    else:
        shown = value[: layout.summary_chars].rstrip() + "…" if cut else value
        items.append(plain(shown))
        if cut:
            items.append(_review_pointer("Full summary on the review page", view.review_url))
        hint = _read_only_hint(view, complete)
        if hint:
            items.append(text(hint, size="small", subtle=True, spacing="none"))
    actions: list[Element] = []
    if in_input:
        actions.append(execute("Update summary", Verb.SUMMARY_EDIT, action_data(run)))
    if view.feedback and complete:
        actions.append(feedback_action(run, SUMMARY_TARGET, "the summary"))
    if actions:
        items.append(action_set(actions, spacing="small"))
    return container([heading, *_folded(value, items)], separator=True)


def _folded(value: str, items: list[Element]) -> list[Element]:
    """A long summary's first lines, the whole of it (and what goes with it) behind Show more,
    in the card itself."""
    if len(value) <= SUMMARY_FOLD_CHARS:
        return items
    preview = value[:SUMMARY_FOLD_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return [
        container([plain(preview)], element_id=SUMMARY_SHORT_ID),
        container(items, element_id=SUMMARY_ALL_ID, hidden=True, spacing="none"),
        action_set([toggle("Show more", SUMMARY_SHORT_ID, SUMMARY_ALL_ID)], spacing="small"),
    ]


def _read_only_hint(view: _View, complete: bool) -> str | None:
    """Why the summary is shown as text and not in an input, when the rep would wonder."""
    summary = view.run["summary"]
    if view.editable and complete:
        return _SUMMARY_ELSEWHERE
    if view.run["status"] in PROCESSING:
        if summary["streaming"]:
            return "Still writing…"
        return "Editable once the tasks are ready." if view.owner else None
    return "Edited by you." if summary["edited"] else None


def _tasks(view: _View, layout: _Layout) -> Element:
    run = view.run
    tasks = run["tasks"]
    items: list[Element] = [text("Tasks", weight="bolder", style="heading")]
    made_by = extractor_text(run["extractor"])
    if made_by:
        items.append(plain(span(made_by, size="small", subtle=True), spacing="none"))
    # Tasks left out because they are already open with the customer: said, not hidden.
    for note in (run["extractor"].get("notes") or [])[:3]:
        items.append(plain(span(note, size="small", subtle=True), spacing="none"))
    if not tasks:
        items.append(text(_no_tasks(run["status"]), subtle=True))
        return container(items, separator=True)
    if layout.tasks.compact and view.editable:
        items.append(
            text(
                "Shown in short to fit in Teams: change the details on the review page.",
                size="small",
                subtle=True,
            )
        )
    # Grouped as the review page groups them: what the rep's side does, what the customer
    # promised, and the recall check's findings to look at.
    tasks = sorted(tasks, key=lambda t: _GROUP_ORDER.get(t.get("group", "mine"), 0))
    shown = tasks if layout.task_limit is None else tasks[: layout.task_limit]
    context = TaskContext(run=run, editable=view.editable, feedback=view.feedback)
    several = len({t.get("group", "mine") for t in tasks}) > 1
    current = None
    for task in shown:
        kind = task.get("group", "mine")
        if several and kind != current:
            items.append(text(_GROUP_TITLES.get(kind, kind), weight="bolder", spacing="medium"))
            current = kind
        items.append(task_item(task, context, layout.tasks))
    hidden = len(tasks) - len(shown)
    if hidden:
        line = f"{hidden} more task{'s are' if hidden > 1 else ' is'} on the review page"
        items.append(_review_pointer(line, view.review_url, separator=True))
        if view.editable:
            items.append(
                text(
                    "Save also writes your own suggested tasks not shown here (reject the ones "
                    "you don't want on the review page first); findings to check and the "
                    "customer's commitments are written only once you accept them.",
                    size="small",
                    subtle=True,
                )
            )
    return container(items, separator=True)


_GROUP_ORDER = {"mine": 0, "customer": 1, "check": 2, "done": 3}
_GROUP_TITLES = {
    "mine": "Your tasks",
    "customer": "Waiting on the customer",
    "check": "To check: found in the call, not by the extractor",
    "done": "Open tasks this call shows done (marked done in the CRM only if you accept)",
}


def _no_tasks(status: str) -> str:
    if status in PROCESSING:
        return "Tasks appear here once the call is analyzed."
    if status == "failed":
        return "No tasks were created."
    return "No tasks were found in this call."


def _review_pointer(line: str, review_url: str | None, *, separator: bool = False) -> Element:
    """A line that sends the rep to the review page, with a link when the card has one."""
    if review_url is None:
        items = [text(f"{line}: open the review page from the CRM.", weight="bolder")]
    else:
        link = action_set([open_url("Open the review page", review_url)], spacing="small")
        items = [text(f"{line}.", weight="bolder"), link]
    return container(items, separator=separator)


def _actions(view: _View) -> list[Element]:
    run = view.run
    status = run["status"]
    data = action_data(run)
    actions: list[Element] = []
    if view.owner:
        if status == "needs_review" or (status == "failed" and _has_summary(run)):
            label = (run.get("save_plan") or {}).get("label") or "Save to CRM"
            actions.append(execute(label, Verb.SAVE, data, style="positive"))
        if run["transcript_kept"]:
            if status == "needs_review":
                actions.append(execute("Re-create tasks", Verb.TASKS_RECREATE, data))
            elif status == "failed":
                actions.append(execute("Retry", Verb.TASKS_RECREATE, data))
        if status in (*PROCESSING, "needs_review"):
            if not run["notify_when_done"]:
                later = "Inform me later" if status in PROCESSING else "Close and inform me later"
                actions.append(execute(later, Verb.LATER, data))
            # Nothing of the call is kept afterwards: the rep confirms it, one press away.
            what = "Don't process this call" if status in PROCESSING else "Discard these notes"
            confirm = "Don't process it" if status in PROCESSING else "Discard them"
            actions.append(
                show_card(
                    what,
                    [
                        text(
                            "The summary, the tasks and the transcript of this call are "
                            "deleted. This cannot be undone.",
                        )
                    ],
                    [execute(confirm, Verb.CANCEL, data, style="destructive")],
                )
            )
    if status in (*PROCESSING, "saving"):
        actions.append(execute("Refresh", Verb.REFRESH, data))
    # The review page in a Teams dialog, with a token minted when it is opened; the link is for
    # clients without dialogs.
    title = "Edit in Smart Notes" if view.editable else "Open in Smart Notes"
    actions.append(open_dialog(title, data))
    if view.review_url is not None:
        actions.append(open_url("Open the review page", view.review_url))
    return actions
