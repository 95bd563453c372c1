"""The deal coach on the run card: the first next steps and the objections, each with where it
comes from. The detail (every source, the answers in three tones, sentiment) is on the review
page; the card keeps to what a rep acts on between two calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards.elements import Element, container, plain, span, text

CARD_STEPS = 3
QUOTE_CHARS = 90


def coach_section(coaching: Mapping[str, Any] | None) -> Element | None:
    if not coaching or coaching.get("unavailable"):
        return None
    steps = coaching.get("next_steps") or []
    objections = coaching.get("objections") or []
    if not steps and not objections:
        return None
    made_by = (
        f"by the local analysis ({coaching.get('fallback_reason')})"
        if coaching.get("made_by") == "local"
        else "by Claude"
    )
    items: list[Element] = [
        text("Next steps", weight="bolder", style="heading"),
        plain(span(f"Deal coach, {made_by}", size="small", subtle=True), spacing="none"),
    ]
    for step in steps[:CARD_STEPS]:
        items.append(
            plain(
                span(str(step["text"]), weight="bolder"),
                span(f" ({round(float(step['confidence']) * 100)}% confident)", subtle=True),
            )
        )
        # Words from the call go in plain runs: a TextBlock would read them as markdown.
        items.append(plain(span(_source(step), size="small", subtle=True), spacing="none"))
    if objections:
        kinds = ", ".join(dict.fromkeys(str(o["category"]) for o in objections))
        count = len(objections)
        items.append(
            text(
                f"{count} objection{'s' if count > 1 else ''} raised ({kinds}): suggested "
                "answers are on the review page.",
                size="small",
            )
        )
    return container(items, separator=True)


def _source(step: Mapping[str, Any]) -> str:
    moments = step.get("moments") or []
    if moments:
        moment = moments[0]
        quote = str(moment["quote"])
        if len(quote) > QUOTE_CHARS:
            quote = quote[: QUOTE_CHARS - 1] + "…"
        at = moment.get("at")
        when = f" at {int(at) // 60}:{int(at) % 60:02d}" if at is not None else ""
        return f"{step['why']}: {moment.get('speaker') or 'someone'}{when}, \u201c{quote}\u201d"
    earlier = step.get("earlier") or []
    if earlier:
        material = str(earlier[0].get("call", "")).startswith("material:")
        where = "your team's material" if material else "an earlier call's notes"
        return f"{step['why']}: from {where}"
    return str(step["why"])
