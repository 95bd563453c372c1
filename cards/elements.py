"""Adaptive Card building blocks: plain dicts in the shape of the 1.5 schema.

Text that comes from a call, a model or the CRM (summaries, quotes, titles, names, error
messages) goes through ``plain``: a RichTextBlock of TextRuns, which renderers never read as
markdown, so nothing said in a call can put a link or formatting on a card. Our own wording
uses ``text``, a TextBlock, where markdown and date functions work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cards.verbs import VERB

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
# The highest version Teams renders.
CARD_VERSION = "1.5"

Element = dict[str, Any]
# A TextRun, or the bare string that stands for an unstyled one.
Inline = str | Element


def card(
    body: Sequence[Element],
    actions: Sequence[Element] = (),
    *,
    fallback_text: str = "",
    refresh: Element | None = None,
) -> Element:
    """An Adaptive Card; ``refresh`` (an ``Action.Execute``) is what Teams invokes when the
    card is shown again, so what it says, and the links in it, are those of that moment."""
    result: Element = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA_URL,
        "version": CARD_VERSION,
        "body": list(body),
    }
    if refresh is not None:
        result["refresh"] = {"action": refresh}
    if actions:
        result["actions"] = list(actions)
    if fallback_text:
        result["fallbackText"] = fallback_text
    return result


def card_size(value: Mapping[str, Any]) -> int:
    """The card's size as counted against Teams' message limit.

    ``json.dumps`` escapes every non-ASCII character and puts spaces after separators, so
    this never counts less than the UTF-8 JSON that actually goes out.
    """
    return len(json.dumps(value).encode("utf-8"))


def text(
    value: str,
    *,
    size: str | None = None,
    weight: str | None = None,
    color: str | None = None,
    subtle: bool = False,
    style: str | None = None,
    spacing: str | None = None,
) -> Element:
    block: Element = {"type": "TextBlock", "text": value, "wrap": True}
    _put(block, size=size, weight=weight, color=color, style=style, spacing=spacing)
    if subtle:
        block["isSubtle"] = True
    return block


def span(
    value: str,
    *,
    weight: str | None = None,
    color: str | None = None,
    size: str | None = None,
    subtle: bool = False,
    italic: bool = False,
    strike: bool = False,
    link: Element | None = None,
) -> Inline:
    """A TextRun; unstyled runs stay bare strings, the schema's shorthand, to keep cards small."""
    styled: Element = {}
    _put(styled, weight=weight, color=color, size=size, selectAction=link)
    for key, on in (("isSubtle", subtle), ("italic", italic), ("strikethrough", strike)):
        if on:
            styled[key] = True
    return {"type": "TextRun", "text": value, **styled} if styled else value


def plain(*runs: Inline, spacing: str | None = None) -> Element:
    block: Element = {"type": "RichTextBlock", "inlines": list(runs)}
    _put(block, spacing=spacing)
    return block


def container(
    items: Iterable[Element],
    *,
    style: str | None = None,
    element_id: str | None = None,
    separator: bool = False,
    spacing: str | None = None,
    hidden: bool = False,
) -> Element:
    block: Element = {"type": "Container", "items": list(items)}
    _put(block, style=style, id=element_id, spacing=spacing)
    if separator:
        block["separator"] = True
    if hidden:
        block["isVisible"] = False
    return block


def column(items: Iterable[Element], width: str = "stretch") -> Element:
    return {"type": "Column", "width": width, "items": list(items)}


def columns(*cols: Element, spacing: str | None = None) -> Element:
    block: Element = {"type": "ColumnSet", "columns": list(cols)}
    _put(block, spacing=spacing)
    return block


def action_set(actions: Iterable[Element], *, spacing: str | None = None) -> Element:
    block: Element = {"type": "ActionSet", "actions": list(actions)}
    _put(block, spacing=spacing)
    return block


def execute(title: str, verb: str, data: Mapping[str, Any], *, style: str | None = None) -> Element:
    """An ``Action.Execute`` with an ``Action.Submit`` fallback for clients without Universal
    Actions; the fallback carries the verb in its data, where the bot looks for it."""
    submit: Element = {"type": "Action.Submit", "title": title, "data": {**data, VERB: verb}}
    action: Element = {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data)}
    if style is not None:
        submit["style"] = action["style"] = style
    action["fallback"] = submit
    return action


def open_dialog(title: str, data: Mapping[str, Any]) -> Element:
    """Opens a Teams dialog: Teams sends the bot a ``task/fetch`` invoke with ``data``, and
    the bot answers with the page to show (the review page, with a token minted then)."""
    return {
        "type": "Action.Submit",
        "title": title,
        "data": {**data, "msteams": {"type": "task/fetch"}},
    }


def toggle(title: str, *element_ids: str) -> Element:
    """Shows what is hidden and hides what is shown, in the card itself: no round trip."""
    return {"type": "Action.ToggleVisibility", "title": title, "targetElements": list(element_ids)}


def open_url(title: str, url: str) -> Element:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def show_card(title: str, body: Sequence[Element], actions: Sequence[Element]) -> Element:
    return {
        "type": "Action.ShowCard",
        "title": title,
        "card": {"type": "AdaptiveCard", "body": list(body), "actions": list(actions)},
    }


def text_input(
    input_id: str,
    label: str,
    value: str | None,
    *,
    max_length: int,
    multiline: bool = False,
    placeholder: str | None = None,
) -> Element:
    block: Element = {"type": "Input.Text", "id": input_id, "label": label, "maxLength": max_length}
    _put(block, value=value or None, placeholder=placeholder)
    if multiline:
        block["isMultiline"] = True
    return block


def date_input(input_id: str, label: str, value: str | None) -> Element:
    block: Element = {"type": "Input.Date", "id": input_id, "label": label}
    _put(block, value=value or None)
    return block


def choice_input(input_id: str, label: str, value: str, choices: Sequence[str]) -> Element:
    return {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": "compact",
        "value": value,
        "choices": [{"title": choice.capitalize(), "value": choice} for choice in choices],
    }


def search_input(input_id: str, label: str, dataset: str, *, placeholder: str) -> Element:
    """A choice filled as the user types: Teams asks the bot (an ``application/search``
    invoke naming ``dataset``) for the choices matching what was typed so far.

    ``choices.data`` is Teams' extension of ``Input.ChoiceSet`` (dynamic typeahead); hosts
    without it show an empty filtered list, and the review page stays one press away.
    """
    return {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": "filtered",
        "placeholder": placeholder,
        "choices": [],
        "choices.data": {"type": "Data.Query", "dataset": dataset},
    }


def _put(block: Element, **values: Any) -> None:
    """Set only the properties that have a value: absent keys keep cards small and readable."""
    block.update({key: value for key, value in values.items() if value is not None})
