"""Steps 2 and 3 with Claude: task extraction through the Messages API and a forced tool call.

The tool's input schema is the task schema, so the answer is structured by the API rather than
parsed out of prose. The SDK retries 429/5xx/timeouts itself (``max_retries``); whatever still
fails becomes an :class:`ExtractionError` whose reason the rep can read, and the pipeline falls
back to the local extractor.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
from anthropic.types import ToolChoiceToolParam, ToolParam, UserMessageParam

from pipeline.errors import ExtractionError
from pipeline.extraction import (
    CallContext,
    approximate_tokens,
    parse_tasks,
    plan_parts,
    system_prompt,
    user_prompt,
)
from pipeline.prompting import Prompts
from pipeline.tasks import ExtractedTask, extraction_schema
from pipeline.transcript import Transcript
from pipeline.usage import RunUsage

TOOL_NAME = "record_tasks"


class ClaudeExtractor:
    name = "claude"

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        prompts: Prompts,
        *,
        model: str,
        temperature: float = 0.1,
        max_tokens: int = 8192,
        part_tokens: int = 60_000,
        max_parallel: int = 4,
        on_usage: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_usage`` hears each answer's input and output tokens, as the API counts them."""
        if not 0.0 <= temperature <= 0.2:
            raise ValueError("extraction temperature must be between 0 and 0.2")
        self.client = client
        self.prompts = prompts
        self.model_name = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.part_tokens = part_tokens
        self._parallel = asyncio.Semaphore(max_parallel)
        # The SDK no longer types ``temperature``; the API still takes it for the models that
        # have one, and refuses it for the adaptive-reasoning ones.
        self._sampling: dict[str, Any] = (
            {"temperature": temperature} if accepts_temperature(model) else {}
        )
        self._system = system_prompt(prompts)
        self.on_usage = on_usage

    def tool(self, context: CallContext | None = None) -> ToolParam:
        return ToolParam(
            name=TOOL_NAME,
            description="Record every follow-up task found in the call transcript.",
            input_schema=extraction_schema(
                completions=context is not None and bool(context.open_tasks)
            ),
        )

    async def extract(
        self,
        transcript: Transcript,
        context: CallContext,
        warnings: list[str] | None = None,
        usage: RunUsage | None = None,
    ) -> list[ExtractedTask]:
        """``usage`` gets the tokens of every answer, also of one whose tasks are refused."""
        parts = plan_parts(transcript, self.part_tokens, approximate_tokens)
        results = await asyncio.gather(
            *(
                self._extract_part(transcript, part, context, i, len(parts), warnings, usage)
                for i, part in enumerate(parts, start=1)
            )
        )
        return [task for part_tasks in results for task in part_tasks]

    async def _extract_part(
        self,
        transcript: Transcript,
        part: Any,
        context: CallContext,
        number: int,
        parts: int,
        warnings: list[str] | None,
        usage: RunUsage | None,
    ) -> list[ExtractedTask]:
        prompt = user_prompt(self.prompts, transcript, part, context, number, parts)
        async with self._parallel:
            try:
                message = await self.client.messages.create(
                    model=self.model_name,
                    max_tokens=self.max_tokens,
                    system=self._system,
                    messages=[UserMessageParam(role="user", content=prompt)],
                    tools=[self.tool(context)],
                    tool_choice=ToolChoiceToolParam(type="tool", name=TOOL_NAME),
                    extra_body=self._sampling,
                )
            except anthropic.APIError as exc:
                raise ExtractionError(_reason(exc)) from exc
            except json.JSONDecodeError as exc:
                # The SDK lets a 200 with a broken body through as a plain decode error.
                raise ExtractionError("Claude returned malformed output (not JSON)") from exc
        if message.usage is not None:
            if self.on_usage is not None:
                self.on_usage(message.usage.input_tokens, message.usage.output_tokens)
            if usage is not None:
                usage.claude(message.usage.input_tokens, message.usage.output_tokens)
        if message.stop_reason == "max_tokens":
            raise ExtractionError("Claude returned malformed output (answer cut off)")
        for block in message.content:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                return parse_tasks(block.input, "Claude", warnings)
        raise ExtractionError("Claude returned malformed output (no record_tasks call)")


_NO_TEMPERATURE = re.compile(r"claude-(opus-4-[7-9]|[a-z]+-([5-9]|\d{2}))|mythos|fable")


def accepts_temperature(model: str) -> bool:
    """Whether the Messages API takes a sampling temperature for ``model``."""
    return _NO_TEMPERATURE.search(model) is None


def _reason(exc: anthropic.APIError) -> str:
    """A sentence for the rep; decided by the SDK's exception types, never by message text."""
    if isinstance(exc, anthropic.APITimeoutError):
        return "Claude timed out"
    if isinstance(exc, anthropic.APIConnectionError):
        return "Claude could not be reached"
    if isinstance(exc, anthropic.AuthenticationError):
        return "Claude rejected the API key (401)"
    if isinstance(exc, anthropic.PermissionDeniedError):
        return "Claude refused access for this API key (403)"
    if isinstance(exc, anthropic.RateLimitError):
        return "Claude is rate-limiting this account (429) after retries"
    if isinstance(exc, anthropic.OverloadedError):
        return "Claude is overloaded (529) after retries"
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 529:
            return "Claude is overloaded (529) after retries"
        if exc.status_code >= 500:
            return f"Claude had a server error ({exc.status_code}) after retries"
        return f"Claude refused the request ({exc.status_code})"
    if isinstance(exc, anthropic.APIResponseValidationError):
        return "Claude returned malformed output"
    return f"Claude failed ({type(exc).__name__})"


def failure_reason(exc: anthropic.APIError) -> str:
    """Why a Messages API call failed, in the sentence the rep reads for the extractor's."""
    return _reason(exc)
