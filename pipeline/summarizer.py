"""Step 1: a short summary from the local model, streamed token by token.

A transcript that does not fit the context is summarized part by part (map), and the part
notes are merged (reduce), so the middle and the end of a long call are read like the start.
Only the final pass is streamed: that is the text the rep keeps. It is checked as it is
written (``summary_checks``): refused text is never shown, a refused summary is written once
more with other settings, and a second refusal fails the step with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.chat_model import ChatModel
from pipeline.chunking import split_turns
from pipeline.errors import ModelError
from pipeline.prompting import Prompts, fill, quote_material
from pipeline.summary_checks import SummaryGate, SummaryRejectedError, SummarySource
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
    repeat_penalty: float = 1.1
    # The second try after a refused summary: greedy, with repeats penalised harder, which is
    # what most often breaks a copy or a loop.
    retry_temperature: float = 0.0
    retry_repeat_penalty: float = 1.3


@dataclass(frozen=True)
class _Settings:
    temperature: float
    repeat_penalty: float


class Summarizer:
    def __init__(
        self, model: ChatModel, prompts: Prompts, options: SummaryOptions | None = None
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
            final = self.part_prompt(transcript, parts[0], 1, 1)
            instruction = self.prompts.summary_single
        else:
            notes: list[str] = []
            for number, part in enumerate(parts, start=1):
                if on_progress is not None:
                    on_progress(number - 1, len(parts))
                prompt = self.part_prompt(transcript, part, number, len(parts))
                notes.append(self._generate(prompt, self.options.part_tokens))
            if on_progress is not None:
                on_progress(len(parts), len(parts))
            final = self._reduce(notes)
            instruction = self.prompts.summary_reduce
        source = SummarySource(
            transcript, [self._system, self.prompts.local_transcript, instruction]
        )
        return self._checked(final, source, on_token)

    def _checked(self, prompt: str, source: SummarySource, on_token: TokenCallback | None) -> str:
        first = SummaryGate(source, on_token)
        self._stream(prompt, self.options.max_tokens, self._first, first)
        if first.problem is None:
            return first.text
        # The second try streams only what continues the text already shown: what the rep saw
        # is never taken back, so a second try that starts differently cannot replace it.
        shown = first.raw
        second = SummaryGate(source, None if shown.strip() else on_token)
        self._stream(prompt, self.options.max_tokens, self._retry, second)
        if second.problem is None and shown.strip() and second.raw.startswith(shown):
            if on_token is not None and len(second.raw) > len(shown):
                on_token(second.raw[len(shown) :])
            return second.text
        if second.problem is None and not shown.strip():
            return second.text
        why = f"{first.problem}; then {second.problem}" if second.problem else str(first.problem)
        raise _refused(why, shown_part=bool(shown.strip()))

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

    @property
    def _first(self) -> _Settings:
        return _Settings(self.options.temperature, self.options.repeat_penalty)

    @property
    def _retry(self) -> _Settings:
        return _Settings(self.options.retry_temperature, self.options.retry_repeat_penalty)

    def _reduce(self, notes: list[str]) -> str:
        """The prompt of the final merge, after as many rounds as the notes need to fit."""
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
                return self.reduce_prompt(groups[0], self.options.max_words)
            notes = [
                self._generate(
                    self.reduce_prompt(group, self.options.part_words), self.options.part_tokens
                )
                for group in groups
            ]

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self._system},
            {"role": "user", "content": prompt},
        ]

    def _generate(self, prompt: str, max_tokens: int) -> str:
        """A part's notes: read only by the final pass, which is checked."""
        return self.model.chat(
            self._messages(prompt),
            max_tokens=max_tokens,
            temperature=self.options.temperature,
            repeat_penalty=self.options.repeat_penalty,
        ).strip()

    def _stream(self, prompt: str, max_tokens: int, settings: _Settings, gate: SummaryGate) -> None:
        pieces = self.model.stream_chat(
            self._messages(prompt),
            max_tokens=max_tokens,
            temperature=settings.temperature,
            repeat_penalty=settings.repeat_penalty,
        )
        try:
            for piece in pieces:
                gate.feed(piece)
                if gate.stopped:
                    break
        finally:
            # Ends the generation now, and gives the model's lock back, when the gate stopped.
            pieces.close()
        gate.finish()


def _refused(why: str, *, shown_part: bool) -> SummaryRejectedError:
    shown = "; what was shown passed the checks but is not a whole summary" if shown_part else ""
    return SummaryRejectedError(
        f"the model's summary was refused: {why}{shown}; write the summary yourself"
    )


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
