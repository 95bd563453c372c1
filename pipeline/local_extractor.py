"""The local task extractor: the llama.cpp model under a JSON-schema grammar.

Used when there is no Claude key, when Claude fails, and for confidential calls. The grammar
makes the model's output parse as the same task schema Claude fills, and the schema's length
and count limits keep a complete answer inside the token budget.
"""

from __future__ import annotations

import asyncio
import json

from pipeline.chat_model import ChatModel
from pipeline.errors import ExtractionError
from pipeline.extraction import (
    CallContext,
    call_facts,
    parse_tasks,
    plan_parts,
    system_prompt,
)
from pipeline.prompting import Prompts, fill
from pipeline.summarizer import transcript_prompt
from pipeline.tasks import ExtractedTask, extraction_schema
from pipeline.transcript import Transcript
from pipeline.usage import RunUsage, model_time

# Upper bound of one bounded task in tokens (about 1,000 characters of JSON).
_TOKENS_PER_TASK = 360


class LocalExtractor:
    name = "local"

    def __init__(
        self,
        model: ChatModel,
        prompts: Prompts,
        *,
        max_tasks_per_part: int = 8,
        temperature: float = 0.1,
    ) -> None:
        self.model = model
        self.model_name = model.name
        self.prompts = prompts
        self.temperature = temperature
        self.max_tokens = 64 + _TOKENS_PER_TASK * max_tasks_per_part
        self._schema = extraction_schema(max_tasks=max_tasks_per_part, bounded=True)
        self._instructions = system_prompt(prompts)

    async def extract(
        self,
        transcript: Transcript,
        context: CallContext,
        warnings: list[str] | None = None,
        usage: RunUsage | None = None,
    ) -> list[ExtractedTask]:
        """``usage`` gets the time the model spent on this call."""

        def work() -> list[ExtractedTask]:
            with model_time(self.model.busy, usage):
                return self.extract_sync(transcript, context, warnings)

        return await asyncio.to_thread(work)

    def extract_sync(
        self, transcript: Transcript, context: CallContext, warnings: list[str] | None = None
    ) -> list[ExtractedTask]:
        fixed = (
            self.model.count_tokens(self.prompts.local_system)
            + self.model.count_tokens(self._instructions)
            + 200
        )
        budget = self.model.n_ctx - self.max_tokens - fixed
        if budget < 256:
            raise ExtractionError(
                f"the local model's context ({self.model.n_ctx} tokens) is too small for "
                "task extraction"
            )
        parts = plan_parts(transcript, budget, self.model.count_tokens)
        tasks: list[ExtractedTask] = []
        for number, part in enumerate(parts, start=1):
            note = f" This is part {number} of {len(parts)} of the call." if len(parts) > 1 else ""
            instruction = fill(
                self.prompts.extract_local,
                instructions=self._instructions,
                part_note=note,
                **call_facts(context, transcript),
            )
            prompt = transcript_prompt(self.prompts, transcript, part, instruction)
            answer = self.model.chat(
                [
                    {"role": "system", "content": self.prompts.local_system},
                    {"role": "user", "content": prompt},
                ],
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                json_schema=self._schema,
            )
            try:
                # The grammar keeps the answer to the schema but lets a raw tab or newline into
                # a string; that is still the model's answer, so it is read, not thrown away.
                payload = json.loads(answer, strict=False)
            except json.JSONDecodeError as exc:
                raise ExtractionError(
                    f"the local extractor returned malformed output ({exc.msg})"
                ) from None
            tasks.extend(parse_tasks(payload, "the local extractor", warnings))
        return tasks
