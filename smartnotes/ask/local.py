"""Answering without Claude: the best matches, word for word as stored, under a one-line
lead the local model writes from them (or a plain one when it cannot)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from pipeline.chat_model import ChatModel
from pipeline.errors import ModelError
from smartnotes.ask.answers import Answer, AnsweredBy, Citation
from smartnotes.ask.sources import Hit, Sources, stored_text

log = logging.getLogger(__name__)

TOP = 3
LEAD_TOKENS = 48
LEAD_CHARS = 240
# The model may be busy with a call's summary (one generation at a time); the excerpts are
# the answer, so the lead is not waited for longer than this.
LEAD_SECONDS = 20.0
PLAIN_LEAD = "Here is what your calls say about this."
LEAD_SYSTEM = (
    "You write one short sentence that introduces excerpts from a sales rep's calls. "
    "Use only what the excerpts say; add nothing."
)


async def local_answer(
    question: str,
    hits: Sequence[Hit],
    model: ChatModel | None,
    reason: str,
    searched: Sequence[str],
) -> Answer:
    top: list[Hit] = []
    for hit in hits:
        if all(stored_text(hit) != stored_text(kept) for kept in top):
            top.append(hit)
        if len(top) == TOP:
            break
    citations = tuple(
        Citation(number, hit, stored_text(hit)) for number, hit in Sources().number(top)
    )
    lead = await _lead(question, citations, model) if model is not None else None
    markers = "".join(f"[{c.number}]" for c in citations)
    return Answer(
        question,
        f"{lead or PLAIN_LEAD} {markers}",
        citations,
        AnsweredBy("local", model.name if model is not None else None, reason),
        tuple(dict.fromkeys(searched)),
    )


async def _lead(question: str, citations: Sequence[Citation], model: ChatModel) -> str | None:
    excerpts = "\n".join(f"- {c.quote}" for c in citations)
    messages = [
        {"role": "system", "content": LEAD_SYSTEM},
        {
            "role": "user",
            "content": f"Question: {question}\n\nExcerpts:\n{excerpts}\n\n"
            "Write one sentence (at most 25 words) that answers the question from the "
            "excerpts.",
        },
    ]
    try:
        reply = await asyncio.wait_for(
            asyncio.to_thread(model.chat, messages, max_tokens=LEAD_TOKENS, temperature=0.1),
            LEAD_SECONDS,
        )
    except (ModelError, TimeoutError) as exc:
        log.warning("no lead line from the local model: %s", exc)
        return None
    lines = [line.strip().strip("\"'\u201c\u201d") for line in reply.splitlines()]
    first = next((line for line in lines if line), "")
    # Source numbers are the excerpts' own, put after the lead.
    return re.sub(r"\[\d+\]", "", first)[:LEAD_CHARS].strip() or None
