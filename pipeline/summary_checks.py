"""Checks a summary passes before the rep sees it.

A small local model copies what it reads: the prompt's ``<transcript>`` wrapper, transcript
lines, HTML it half remembers, instructions a transcript smuggled in, and it claims things were
done that were only promised. A summary is refused when it has

- markup: tags (``<script>``, ``<table>``, ``<transcript>``), chat-template tokens, the
  escaped wrapper (``[transcript]``);
- an echo: a transcript line (``[00:01:02] Maria Chen: ...``) or words of the prompt itself;
- a long verbatim copy: twelve or more words in a row as said on the call;
- instructions: a line that tells a model what to do ("ignore the previous instructions",
  "new instructions"), or words of such a line in the transcript;
- an unsupported claim: something sent, signed, paid or submitted ("I sent", "we've
  e-mailed", "an e-mail was sent") when nothing in the call says it was done;
- a loop: a sentence said again, or a phrase going round within one.

What the rep sees while the summary streams: ``SummaryGate`` holds each sentence back until it
has passed these checks, so refused text never reaches the rep. A loop ends the summary where
it starts repeating (what came before stands). Any other problem refuses the attempt, and the
summarizer writes it once more with other settings. What was already shown is never taken
back: the second try streams in full when nothing was shown, and only its continuation when
it starts with the text shown; a second try that starts differently cannot replace what the
rep read. When no try passes, the step fails with ``SummaryRejectedError``: the step's failure
event names the problem, says whether the text shown is a part of a summary, and that the rep
writes their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pipeline.errors import PipelineError
from pipeline.grounding import normalised_words
from pipeline.transcript import Transcript

COPY_WORDS = 12
_PROMPT_ECHO_WORDS = 7
_INSTRUCTION_ECHO_WORDS = 5
_LOOP_SENTENCE_WORDS = 4

_MARKUP = re.compile(
    r"<\s*/?\s*[a-z][\w:-]*(?:\s[^<>]*)?/?\s*>|<\|[^|<>]*\|>|\[/?\s*(?:transcript|notes)\s*\]",
    re.IGNORECASE,
)
_TRANSCRIPT_LINE = re.compile(
    r"\[\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\]\s*[^:\n]{1,60}:|\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\s*-->"
)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|rules|prompts?)\b"
    r"|\b(?:ignore|disregard)\s+(?:all|everything)\s+(?:above|before|previous)"
    r"|\bnew\s+instructions?\b|\bsystem\s+prompt\b|\byou\s+are\s+now\b"
    r"|\bfrom\s+now\s+on,?\s+(?:you|always|only|write|answer|respond|reply)\b"
    r"|\b(?:respond|answer|reply|output)\s+only\s+(?:with|in)\b",
    re.IGNORECASE,
)
# Verbs that claim a thing was done, by family: the call supports a claim when it says a verb
# of the same family in the past.
_DONE = {
    "sent": "send",
    "emailed": "send",
    "mailed": "send",
    "forwarded": "send",
    "shared": "send",
    "delivered": "send",
    "shipped": "send",
    "uploaded": "send",
    "signed": "sign",
    "countersigned": "sign",
    "paid": "pay",
    "invoiced": "pay",
    "submitted": "submit",
}
# A done-verb after one of these is a plan, not a claim: "will be sent", "agreed to send".
_NOT_YET = frozenset(
    {
        "will",
        "to",
        "be",
        "going",
        "would",
        "should",
        "could",
        "can",
        "shall",
        "must",
        "need",
        "needs",
        "not",
        "if",
        "once",
        "when",
        "until",
        "get",
        "gets",
    }
)
_PLAIN = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "or",
        "to",
        "of",
        "for",
        "on",
        "in",
        "at",
        "by",
        "with",
        "was",
        "were",
        "is",
        "are",
        "has",
        "have",
        "had",
        "been",
        "i",
        "we",
        "you",
        "they",
        "he",
        "she",
        "it",
        "already",
        "just",
        "over",
        "also",
        "our",
        "their",
        "them",
        "us",
        "me",
        "this",
        "that",
        "all",
    }
)
_SPEAKER_LINE = re.compile(r"^\s*(?:[-*\u2022]\s*)?([^:\n]{2,60}):\s*(.+)", re.DOTALL)
# Words of a turn that, after its speaker's name, make a line a copy of the transcript.
_TURN_START_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


class SummaryRejectedError(PipelineError):
    """The summary failed its checks on every attempt; the message names the problem."""


@dataclass(frozen=True)
class Problem:
    kind: str  # markup, echo, copy, instructions, claim, loop
    detail: str  # one line for the rep: what the summary did

    def __str__(self) -> str:
        return self.detail


def _ngrams(words: Sequence[str], size: int) -> Iterable[tuple[str, ...]]:
    return (tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def _excerpt(text: str, words: int = 8) -> str:
    parts = " ".join(text.split()).split(" ")
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


class SummarySource:
    """What a summary is checked against, read once per summary: the call and the prompt."""

    def __init__(self, transcript: Transcript, prompt_texts: Sequence[str] = ()) -> None:
        said = [segment.text for segment in transcript.segments]
        self._turns: dict[tuple[str, ...], list[list[str]]] = {}
        for segment in transcript.segments:
            speaker = tuple(normalised_words(segment.speaker))
            self._turns.setdefault(speaker, []).append(normalised_words(segment.text))
        self._copies = set(_ngrams(normalised_words(" ".join(said)), COPY_WORDS))
        prompt = [re.sub(r"\{[a-z_]+\}", " ", text) for text in prompt_texts]
        self._prompt_grams = {
            gram for text in prompt for gram in _ngrams(normalised_words(text), _PROMPT_ECHO_WORDS)
        }
        self._prompt_lines = {
            tuple(words)
            for text in prompt
            for line in text.splitlines()
            if len(words := normalised_words(line)) >= 2
        }
        sentences = [s for text in said for s in _sentences(text)]
        self._instruction_grams = {
            gram
            for s in sentences
            if _INSTRUCTION.search(s)
            for gram in _ngrams(normalised_words(s), _INSTRUCTION_ECHO_WORDS)
        }
        self._done: list[tuple[str, frozenset[str]]] = []
        for sentence in sentences:
            words = normalised_words(sentence)
            families = {_DONE[w] for w in words if w in _DONE}
            things = frozenset(w for w in words if w not in _PLAIN and w not in _DONE)
            self._done.extend((family, things) for family in families)

    def problem(self, sentence: str) -> Problem | None:
        """What is wrong with one sentence of a summary, taken on its own."""
        if markup := _MARKUP.search(sentence):
            return Problem("markup", f"it contains markup ({_excerpt(markup[0], 3)})")
        if _TRANSCRIPT_LINE.search(sentence) or self._copies_a_turn(sentence):
            return Problem("echo", f'it copies a transcript line ("{_excerpt(sentence)}")')
        words = normalised_words(sentence)
        if tuple(words) in self._prompt_lines or any(
            gram in self._prompt_grams for gram in _ngrams(words, _PROMPT_ECHO_WORDS)
        ):
            return Problem("echo", f'it repeats the prompt ("{_excerpt(sentence)}")')
        if _INSTRUCTION.search(sentence) or any(
            gram in self._instruction_grams for gram in _ngrams(words, _INSTRUCTION_ECHO_WORDS)
        ):
            return Problem(
                "instructions", f'it repeats instructions from the call ("{_excerpt(sentence)}")'
            )
        if any(gram in self._copies for gram in _ngrams(words, COPY_WORDS)):
            return Problem(
                "copy", f'it copies the transcript word for word ("{_excerpt(sentence)}")'
            )
        if claim := self._unsupported_claim(words):
            return Problem("claim", f'it says "{claim}", which the call does not support')
        return None

    def _copies_a_turn(self, sentence: str) -> bool:
        """A line like ``Maria Chen: Thanks for joining.``: a speaker and the start of a turn."""
        line = _SPEAKER_LINE.match(sentence)
        if line is None:
            return False
        turns = self._turns.get(tuple(normalised_words(line[1])), [])
        words = normalised_words(line[2])
        size = min(len(words), _TURN_START_WORDS)
        return any(size and turn[:size] == words[:size] for turn in turns)

    def _unsupported_claim(self, words: list[str]) -> str | None:
        for position, word in enumerate(words):
            family = _DONE.get(word)
            if family is None or _NOT_YET & set(words[max(0, position - 3) : position]):
                continue
            near = words[max(0, position - 5) : position + 6]
            things = {w for w in near if w not in _PLAIN and w not in _DONE}
            supported = any(
                done == family and (not things or things & said) for done, said in self._done
            )
            if not supported:
                return " ".join(words[max(0, position - 2) : position + 3])
        return None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _repeats(words: tuple[str, ...], earlier: set[tuple[str, ...]]) -> bool:
    """A sentence said before, or a phrase going round within one (a 4-word run three times)."""
    if len(words) >= _LOOP_SENTENCE_WORDS and words in earlier:
        return True
    seen: dict[tuple[str, ...], int] = {}
    for gram in _ngrams(words, 4):
        seen[gram] = seen.get(gram, 0) + 1
        if seen[gram] >= 3:
            return True
    return False


def check_summary(summary: str, source: SummarySource) -> list[Problem]:
    """Every problem of a whole summary, in order; empty when it may be shown."""
    problems: list[Problem] = []
    earlier: set[tuple[str, ...]] = set()
    for sentence in _sentences(summary):
        words = tuple(normalised_words(sentence))
        if _repeats(words, earlier):
            problems.append(Problem("loop", f'it repeats itself ("{_excerpt(sentence)}")'))
            continue
        earlier.add(words)
        found = source.problem(sentence)
        if found is not None:
            problems.append(found)
    return problems


class SummaryGate:
    """Streams a summary sentence by sentence, each only once it passed the checks.

    ``feed`` takes the model's pieces; ``show`` gets them again, in order, once the sentence
    they belong to passed. ``stopped`` turns true at the first problem or loop: nothing more is
    shown, and the generation may end there. ``text`` is what was shown (the summary, when
    ``problem`` is None), stripped.
    """

    def __init__(self, source: SummarySource, show: Callable[[str], None] | None = None) -> None:
        self._source = source
        self._show = show
        self._pieces: list[str] = []
        self._pending = ""
        self._shown: list[str] = []
        self._earlier: set[tuple[str, ...]] = set()
        self.problem: Problem | None = None
        self.looped = False

    @property
    def stopped(self) -> bool:
        return self.problem is not None or self.looped

    @property
    def raw(self) -> str:
        """What was shown, exactly as it was shown."""
        return "".join(self._shown)

    @property
    def text(self) -> str:
        return self.raw.strip()

    def feed(self, piece: str) -> None:
        if self.stopped or not piece:
            return
        self._pieces.append(piece)
        self._pending += piece
        while not self.stopped and (end := _SENTENCE_END.search(self._pending)) is not None:
            self._take(self._pending[: end.end()])

    def finish(self) -> None:
        """The model is done: check and show what is left of the last sentence."""
        if not self.stopped and self._pending:
            self._take(self._pending)
        if self.looped and not self.text:
            self.problem = Problem("loop", "it only repeats itself")

    def _take(self, chunk: str) -> None:
        words = tuple(normalised_words(chunk))
        if words:
            if _repeats(words, self._earlier):
                self.looped = True
                return
            found = self._source.problem(chunk)
            if found is not None:
                self.problem = found
                return
            self._earlier.add(words)
        self._pending = self._pending[len(chunk) :]
        self._release(len(chunk))

    def _release(self, size: int) -> None:
        # The model's own pieces go out, not whole sentences: the rep still sees it written.
        while size > 0 and self._pieces:
            piece = self._pieces.pop(0)
            if len(piece) > size:
                piece, rest = piece[:size], piece[size:]
                self._pieces.insert(0, rest)
            size -= len(piece)
            self._shown.append(piece)
            if self._show is not None:
                self._show(piece)
