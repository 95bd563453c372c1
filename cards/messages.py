"""The bot's small cards: welcome, help, the list of recent calls, switched off, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cards.elements import (
    Element,
    action_set,
    card,
    column,
    columns,
    container,
    execute,
    open_url,
    plain,
    span,
    text,
)
from cards.verbs import Verb, action_data
from cards.wording import STATUS_TEXT, client_time, local_time, step_name

COMMANDS = (
    ("help", "Show this list."),
    ("status", "Your recent calls and where their notes stand."),
    ("brief <customer>", "Before you meet a customer: the last calls, open tasks and people."),
    ("off", "Switch Smart Notes off: your calls are no longer processed."),
    ("on", "Switch Smart Notes back on."),
    ("confidential on", "Process your calls with local models only and keep no transcript."),
    ("confidential off", "Back to the usual processing."),
)


def _title(value: str) -> Element:
    return text(value, size="medium", weight="bolder", style="heading")


def _commands() -> Element:
    return {
        "type": "FactSet",
        "facts": [{"title": command, "value": meaning} for command, meaning in COMMANDS],
    }


def build_welcome_card() -> dict[str, Any]:
    return card(
        [
            _title("Welcome to Smart Notes"),
            text(
                "After each customer call, Smart Notes writes a summary and suggests CRM tasks "
                "(with deadline, priority and owner) from the call's transcript, and sends them "
                "here for you to review."
            ),
            text(
                "Everything it writes is AI generated and shows where in the call it came from. "
                "You decide: edit, accept or reject, and nothing reaches the CRM until you save."
            ),
            text(
                "Type **off** to switch Smart Notes off for your calls, or **confidential on** "
                "to have them processed by local models only, with no transcript kept."
            ),
            text("Type **help** for all commands.", subtle=True),
        ],
        fallback_text="Welcome to Smart Notes. Type help for the commands.",
    )


def build_help_card() -> dict[str, Any]:
    return card(
        [
            _title("Smart Notes commands"),
            text("Type one of these in this chat:"),
            _commands(),
            text(
                "Or ask anything about your calls, like *What did Contoso promise about the "
                "DPA?* The answer comes from your calls' notes, tasks and transcripts, with "
                "the calls it cites."
            ),
        ],
        fallback_text="Commands: "
        + ", ".join(command for command, _ in COMMANDS)
        + ". Or ask a question about your calls.",
    )


@dataclass(frozen=True)
class Switches:
    """Where Smart Notes stands for the rep: what ``status`` says first."""

    on: bool
    confidential: bool
    tenant_on: bool = True
    # The organisation agreed to AI processing under the terms in force.
    agreed: bool = True


def build_status_card(
    runs: Sequence[Mapping[str, Any]],
    review_url_for: Callable[[str], str | None],
    switches: Switches | None = None,
) -> dict[str, Any]:
    """Whether Smart Notes is on and confidential for the rep, then their recent calls, newest
    first as given: customer, when, and where the notes stand."""
    body: list[Element] = [_title("Smart Notes status")]
    if switches is not None:
        body.extend(_switch_lines(switches))
    body.append(text("Your recent calls", weight="bolder"))
    if not runs:
        body.append(
            text(
                "No calls yet. Smart Notes picks up your calls when they end and sends the "
                "notes here.",
                subtle=True,
            )
        )
    body.extend(_status_row(run, review_url_for(run["id"])) for run in runs)
    return card(body, fallback_text="Your recent calls are on the review pages in the CRM.")


def _switch_lines(switches: Switches) -> list[Element]:
    if not switches.tenant_on:
        on = "**Off** for your whole organisation: an admin switched it off."
    elif not switches.agreed:
        on = (
            "**Off** for your whole organisation until an admin agrees to the terms for AI "
            "processing: nothing is processed."
        )
    elif switches.on:
        on = "**On**: your calls get notes and tasks. Type **off** to stop."
    else:
        on = "**Off** for you: your calls are not processed. Type **on** to switch it back on."
    confidential = (
        "Confidential mode: **on** (local models only, no transcript kept, only you see the "
        "notes). Type **confidential off** to change it."
        if switches.confidential
        else "Confidential mode: **off**. Type **confidential on** to change it."
    )
    return [text(on), text(confidential, spacing="none")]


def _status_row(run: Mapping[str, Any], review_url: str | None) -> Element:
    customer = run.get("customer_name") or "No customer matched"
    when = run.get("call_started_at") or run.get("created_at")
    zone = run.get("timezone")
    status = run["status"]
    state = STATUS_TEXT.get(status, status)
    if status == "running" and run.get("step"):
        state = f"Working on it: {step_name(run['step'])}"
    details: list[Element] = [plain(span(customer, weight="bolder"))]
    if when:
        # Run lists carry no time zone; the client then shows the time in the viewer's own.
        moment = local_time(when, zone) if zone else client_time(when)
        details.append(text(moment, size="small", subtle=True, spacing="none"))
    details.append(text(state, size="small", spacing="none"))
    cols = [column(details)]
    if review_url:
        cols.append(column([action_set([open_url("Open", review_url)])], "auto"))
    return container([columns(*cols)], separator=True)


def build_switched_off_card() -> dict[str, Any]:
    return card(
        [
            _title("Smart Notes is off for you"),
            text("Your calls are not processed and no notes are made until you switch it on."),
        ],
        [execute("Switch Smart Notes on", Verb.USER_ON, {}, style="positive")],
        fallback_text="Smart Notes is off for you. Type on to switch it back on.",
    )


def build_error_card(message: str) -> dict[str, Any]:
    """A short refusal or problem, e.g. "Only the rep who owns this call can change it."."""
    return card(
        [container([plain(span(message, weight="bolder"))], style="attention")],
        fallback_text=message,
    )


def build_failure_card(run: Mapping[str, Any], review_url: str | None) -> dict[str, Any]:
    """What failed in the background, that what was made is kept, and a way to retry."""
    error = run.get("error") or {}
    customer = run.get("customer_name")
    call = f"Your call with {customer}" if customer else "Your call"
    items: list[Element] = [
        _title("Smart Notes could not finish your notes"),
        plain(span(f"{call}: something went wrong while {step_name(error.get('step'))}.")),
    ]
    if error.get("message"):
        items.append(plain(span(error["message"], italic=True)))
    items.append(
        text(
            "What was produced so far is kept: finish the note by hand on the review page, "
            "or retry."
        )
    )
    actions: list[Element] = []
    if run.get("transcript_kept") and run.get("role", "owner") == "owner":
        actions.append(execute("Retry", Verb.TASKS_RECREATE, action_data(run), style="positive"))
    if review_url:
        actions.append(open_url("Open the review page", review_url))
    return card(
        [container(items, style="attention")],
        actions,
        fallback_text="Smart Notes could not finish the notes for your call.",
    )
