"""The top of the run card: who and when, the AI label, and where processing stands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards.elements import Element, Inline, column, columns, container, open_url, plain, span, text
from cards.wording import PROCESSING, STATUS_TEXT, STEP_LABELS, STEP_NAMES, local_time

STEP_ORDER = ("transcribing", "summarizing", "analyzing", "creating_tasks")
READY = ("needs_review", "saving", "saved")
CONFIDENTIAL_LINE = "Confidential: only local models ran; the transcript is not kept"


def header(run: Mapping[str, Any]) -> Element:
    items = [
        columns(
            column([text("Smart Notes", size="medium", weight="bolder", style="heading")]),
            column([text("AI generated", size="small", weight="bolder", color="accent")], "auto"),
        ),
        _call_line(run),
    ]
    if run["confidential"]:
        items.append(text(CONFIDENTIAL_LINE, size="small", weight="bolder", color="warning"))
    if run["status"] != "cancelled":
        items.append(_steps(run))
    # A failed, saved or cancelled run says so in a box of its own, with the details.
    if run["status"] in (*PROCESSING, "needs_review", "saving"):
        items.append(text(_status_line(run), weight="bolder", spacing="small"))
    return container(items)


def _status_line(run: Mapping[str, Any]) -> str:
    status = run["status"]
    states = _latest_states(run)
    running = [STEP_NAMES[step] for step in STEP_ORDER if states.get(step) == "running"]
    if status in PROCESSING and running:
        line = " and ".join(running) + "…"
        line = line[0].upper() + line[1:]
    else:
        line = STATUS_TEXT.get(status, status.replace("_", " "))
    if status in PROCESSING and run["notify_when_done"]:
        line += " We'll let you know when it's ready."
    return line


def _call_line(run: Mapping[str, Any]) -> Element:
    customer = run["customer_name"]
    if customer is None:
        customer = (
            "Customer not matched yet" if run["status"] in PROCESSING else "No customer matched"
        )
    runs: list[Inline] = [span(customer, weight="bolder")]
    when = local_time(run["call_started_at"], run["timezone"])
    # The zone deadlines were read in, always: "Friday" depends on it.
    runs.append(f" · {when}" if when else f" · deadlines in {run['timezone']} time")
    if run["call_url"]:
        runs.extend([" · ", span("Open the call", link=open_url("Open the call", run["call_url"]))])
    return plain(*runs)


def _latest_states(run: Mapping[str, Any]) -> dict[str, str]:
    # A step may have run more than once (a retry); its latest row says where it stands.
    return {row["step"]: row["status"] for row in run["steps"]}


def _steps(run: Mapping[str, Any]) -> Element:
    """Every step with its state. Summarizing and analyzing run at the same time, so both
    can be running at once; transcribing appears only for calls that had audio."""
    states = _latest_states(run)
    ready = run["status"] in READY
    active = run["status"] in PROCESSING
    cols = []
    for step in STEP_ORDER:
        if step == "transcribing" and step not in states:
            continue
        state = "done" if ready else states.get(step, "waiting")
        if state == "running" and not active:
            state = "waiting"  # left running by a run that stopped: it did not finish
        cols.append(column([_step_label(STEP_LABELS[step], state)], "auto"))
    cols.append(column([_step_label("Ready", "done" if ready else "waiting")], "auto"))
    return columns(*cols, spacing="small")


def _step_label(label: str, state: str) -> Element:
    if state == "done":
        return text(f"✓ {label}", size="small", color="good")
    if state == "running":
        return text(f"{label}…", size="small", weight="bolder", color="accent")
    if state == "failed":
        return text(f"✗ {label}", size="small", color="attention")
    return text(label, size="small", subtle=True)
