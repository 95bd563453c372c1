"""Step 1: a short summary from the local model, streamed token by token.

A transcript that does not fit the context is summarized part by part (map), and the part
notes are merged (reduce), so the middle and the end of a long call are read like the start.
Only the final pass is streamed: that is the text the rep keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.chunking import split_turns
from pipeline.errors import ModelError
from pipeline.local_llm import LocalModel
from pipeline.prompting import Prompts, fill, quote_material
from pipeline.transcript import Segment, Transcript, merge_turns

TokenCallback = Callable[[str], None]
ProgressCallback = Callable[[int, int], None]

# Room kept free for the chat template's own tokens and rounding in the counts.
_TEMPLATE_MARGIN = 96


@dataclass(frozen=True)
class SummaryOptions:
    max_tokens: int = 400
    part_tokens: int = 220
    max_words: int = 180
    part_words: int = 120
    temperature: float = 0.1


class Summarizer:
    def __init__(
        self, model: LocalModel, prompts: Prompts, options: SummaryOptions | None = None
    ) -> None:
        self.model = model
        self.prompts = prompts
        self.options = options or SummaryOptions()
        self._system = prompts.local_system

    def _budget(self, instruction: str, reply_tokens: int, *, with_transcript: bool = True) -> int:
        fixed = self.model.count_tokens(self._system) + self.model.count_tokens(instruction)
        if with_transcript:
            fixed += self.model.count_tokens(self.prompts.local_transcript)
        budget = self.model.n_ctx - reply_tokens - fixed - _TEMPLATE_MARGIN
        if budget < 64:
            raise ModelError(
                f"context of {self.model.n_ctx} tokens is too small for a summary; "
                "raise SMARTNOTES_SUMMARIZER_CONTEXT"
            )
        return budget

    def plan(self, transcript: Transcript) -> list[list[Segment]]:
        """The parts the transcript is read in: one when it fits, more when it doesn't."""
        single = self._budget(self.prompts.summary_single, self.options.max_tokens)
        if self.model.count_tokens(transcript.render()) <= single:
            return [merge_turns(transcript.segments)]
        part_budget = self._budget(self.prompts.summary_map, self.options.part_tokens)
        return split_turns(transcript, part_budget, self.model.count_tokens)

    def summarize(
        self,
        transcript: Transcript,
        on_token: TokenCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Blocking; run it in a thread. ``on_token`` sees the final text as it is written."""
        parts = self.plan(transcript)
        if len(parts) == 1:
            prompt = self.part_prompt(transcript, parts[0], 1, 1)
            return self._generate(prompt, self.options.max_tokens, on_token)
        notes: list[str] = []
        for number, part in enumerate(parts, start=1):
            if on_progress is not None:
                on_progress(number - 1, len(parts))
            prompt = self.part_prompt(transcript, part, number, len(parts))
            notes.append(self._generate(prompt, self.options.part_tokens, None))
        if on_progress is not None:
            on_progress(len(parts), len(parts))
        return self._reduce(notes, on_token)

    def part_prompt(
        self, transcript: Transcript, part: list[Segment], number: int, parts: int
    ) -> str:
        """The user message for one part (the whole call when ``parts`` is 1)."""
        if parts == 1:
            instruction = fill(self.prompts.summary_single, max_words=self.options.max_words)
        else:
            instruction = fill(
                self.prompts.summary_map,
                part=number,
                parts=parts,
                max_words=self.options.part_words,
            )
        return transcript_prompt(self.prompts, transcript, part, instruction)

    def reduce_prompt(self, notes: list[str], max_words: int) -> str:
        return fill(self.prompts.summary_reduce, notes=_join_notes(notes), max_words=max_words)

    def _reduce(self, notes: list[str], on_token: TokenCallback | None) -> str:
        budget = self._budget(
            self.prompts.summary_reduce, self.options.max_tokens, with_transcript=False
        )
        if budget < 2 * (self.options.part_tokens + 8):
            # Each round must at least halve the notes, or the reduction never converges.
            raise ModelError(
                f"context of {self.model.n_ctx} tokens is too small to merge part summaries; "
                "raise SMARTNOTES_SUMMARIZER_CONTEXT"
            )
        while True:
            groups = _group(notes, budget, self.model.count_tokens)
            if len(groups) == 1:
                prompt = self.reduce_prompt(groups[0], self.options.max_words)
                return self._generate(prompt, self.options.max_tokens, on_token)
            notes = [
                self._generate(
                    self.reduce_prompt(group, self.options.part_words),
                    self.options.part_tokens,
                    None,
                )
                for group in groups
            ]

    def _generate(self, prompt: str, max_tokens: int, on_token: TokenCallback | None) -> str:
        messages = [
            {"role": "system", "content": self._system},
            {"role": "user", "content": prompt},
        ]
        pieces: list[str] = []
        for piece in self.model.stream_chat(
            messages, max_tokens=max_tokens, temperature=self.options.temperature
        ):
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
        return "".join(pieces).strip()


def transcript_prompt(
    prompts: Prompts, transcript: Transcript, part: list[Segment], instruction: str
) -> str:
    """The transcript block first, the task after it: the shared prefix the cache reuses."""
    block = fill(prompts.local_transcript, transcript=quote_material(transcript.render(part)))
    return f"{block}\n\n{instruction}"


def _join_notes(notes: list[str]) -> str:
    return quote_material("\n\n".join(f"Part {i}:\n{note}" for i, note in enumerate(notes, 1)))


def _group(notes: list[str], budget: int, count: Callable[[str], int]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    used = 0
    for note in notes:
        cost = count(note) + 8
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(note)
        used += cost
    return groups
