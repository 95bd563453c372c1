"""What every task extractor shares: the call context, the prompts, and chunking for long calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from pipeline.chunking import split_turns
from pipeline.deadlines import call_day
from pipeline.errors import ExtractionError
from pipeline.prompting import Prompts, fill, quote_material
from pipeline.tasks import ExtractedTask
from pipeline.transcript import Segment, Transcript, merge_turns


@dataclass(frozen=True)
class CallContext:
    """What is known about the call besides its words."""

    started_at: datetime
    timezone: str = "UTC"
    rep: str = ""
    participants: tuple[str, ...] = field(default_factory=tuple)
    # True when nobody said when the call started and ``started_at`` is a stand-in (now).
    started_at_assumed: bool = False


class TaskExtractor(Protocol):
    name: str
    model_name: str

    async def extract(
        self, transcript: Transcript, context: CallContext
    ) -> list[ExtractedTask]: ...


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


def parse_tasks(payload: Any, source: str) -> list[ExtractedTask]:
    """Validate an extractor's ``{"tasks": [...]}`` answer; malformed output raises."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
        raise ExtractionError(f"{source} returned malformed output (no task list)")
    tasks: list[ExtractedTask] = []
    for position, item in enumerate(payload["tasks"], start=1):
        try:
            tasks.append(ExtractedTask.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "task"
            raise ExtractionError(
                f"{source} returned malformed output (task {position}, {where}: {problem['msg']})"
            ) from None
    return tasks
