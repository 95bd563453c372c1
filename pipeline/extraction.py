"""What every task extractor shares: the call context, the prompts, and chunking for long calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from pipeline.chunking import split_turns
from pipeline.deadlines import call_day
from pipeline.errors import ExtractionError
from pipeline.open_tasks import OpenTask, prompt_block
from pipeline.prompting import Prompts, fill, quote_material
from pipeline.tasks import ExtractedTask
from pipeline.transcript import Segment, Transcript, merge_turns
from pipeline.usage import RunUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallContext:
    """What is known about the call besides its words."""

    started_at: datetime
    timezone: str = "UTC"
    rep: str = ""
    participants: tuple[str, ...] = field(default_factory=tuple)
    # True when nobody said when the call started and ``started_at`` is a stand-in (now).
    started_at_assumed: bool = False
    # The rep's country (ISO 3166 alpha-2) for named holidays; None: read from the time zone.
    country: str | None = None
    # The customer's tasks still open from earlier calls (``pipeline.open_tasks``).
    open_tasks: tuple[OpenTask, ...] = field(default_factory=tuple)


class TaskExtractor(Protocol):
    name: str
    model_name: str

    async def extract(
        self,
        transcript: Transcript,
        context: CallContext,
        warnings: list[str] | None = None,
        usage: RunUsage | None = None,
    ) -> list[ExtractedTask]:
        """The tasks in the call; what had to be repaired in the model's answer is added to
        ``warnings`` (a field cut to its limit, a task without a title dropped), and what the
        model's service counted as used to ``usage``."""
        ...


def system_prompt(prompts: Prompts) -> str:
    return fill(
        prompts.extract_system, crm_fields=prompts.crm_task_fields, style=prompts.writing_style
    )


def call_facts(context: CallContext, transcript: Transcript) -> dict[str, str]:
    day = call_day(context.started_at, context.timezone)
    return {
        "call_date": day.isoformat(),
        "weekday": day.strftime("%A"),
        "timezone": context.timezone,
        "rep": context.rep or "unknown",
        "participants": ", ".join(context.participants or transcript.speakers) or "unknown",
    }


def user_prompt(
    prompts: Prompts,
    transcript: Transcript,
    part: list[Segment],
    context: CallContext,
    number: int,
    parts: int,
) -> str:
    note = f"This is part {number} of {parts} of the call.\n" if parts > 1 else ""
    note += prompt_block(context.open_tasks)
    return fill(
        prompts.extract_user,
        part_note=note,
        transcript=quote_material(transcript.render(part)),
        **call_facts(context, transcript),
    )


def plan_parts(
    transcript: Transcript, budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[list[Segment]]:
    if count_tokens(transcript.render()) <= budget_tokens:
        return [merge_turns(transcript.segments)]
    return split_turns(transcript, budget_tokens, count_tokens)


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters a token in English)."""
    return len(text) // 4 + 1


def parse_tasks(
    payload: Any, source: str, warnings: list[str] | None = None
) -> list[ExtractedTask]:
    """Validate an extractor's ``{"tasks": [...]}`` answer.

    One bad field does not cost the whole answer: a field that fails validation is repaired
    (a text cut to its limit) or falls back to its default (a null date, an unknown priority),
    and a task that is still not a task (no title and no quote) is dropped; each with a
    warning in ``warnings``. Only an answer without a task list is malformed.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
        raise ExtractionError(f"{source} returned malformed output (no task list)")
    tasks: list[ExtractedTask] = []
    for position, item in enumerate(payload["tasks"], start=1):
        task, problems = _repaired(item)
        for problem in problems:
            message = f"{source}: task {position}: {problem}"
            log.warning("%s", message)
            if warnings is not None:
                warnings.append(message)
        if task is not None:
            tasks.append(task)
    return tasks


_LIMITS = {
    name: next(
        (m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None),
        None,
    )
    for name, info in ExtractedTask.model_fields.items()
}


def _repaired(item: Any) -> tuple[ExtractedTask | None, list[str]]:
    if not isinstance(item, dict):
        return None, ["not an object; dropped"]
    fields = {k: v for k, v in item.items() if k in ExtractedTask.model_fields}
    problems: list[str] = []
    for _ in range(len(ExtractedTask.model_fields) + 1):
        try:
            return ExtractedTask.model_validate(fields), problems
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else ""
            if name not in fields:
                break
            limit = _LIMITS.get(name)
            value = fields[name]
            if error["type"] == "string_too_long" and isinstance(value, str) and limit:
                fields[name] = value[:limit]
                problems.append(f"{name} cut to {limit} characters")
            elif name == "title":
                quote = fields.get("quote")
                if not isinstance(quote, str) or not quote.strip():
                    break
                fields[name] = quote.strip()[:80]
                problems.append(f"title ({error['msg']}) taken from the quote")
            else:
                del fields[name]
                problems.append(f"{name} ({error['msg']}) left at its default")
    return None, [*problems, "no usable title or quote; dropped"]
