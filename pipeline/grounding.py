"""Check every task's evidence against the transcript, and merge duplicate tasks.

A quote is looked up in the normalised transcript (case, punctuation and apostrophes ignored),
exactly first and then fuzzily, because ASR output and a model's paraphrase rarely agree
character for character. A quote that is found gets the transcript's own words, the speaker
and the timestamp of where it was said; one that is not found keeps the model's words and is
marked unverified. No task is ever dropped here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

from pipeline.tasks import Evidence, Task
from pipeline.transcript import Transcript, parse_timestamp

_WORD = re.compile(r"\S+")
_STRIP = re.compile(r"[^\w']+")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "i'll",
        "i'm",
        "we",
        "we'll",
        "you",
        "you'll",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "this",
        "to",
        "will",
        "with",
        "our",
        "your",
        "my",
        "me",
        "us",
    }
)
FUZZY_THRESHOLD = 0.8


def normalise_word(word: str) -> str:
    return _STRIP.sub("", word.lower().replace("\u2019", "'").replace("\u2018", "'")).strip("'")


@dataclass(frozen=True, slots=True)
class _Token:
    norm: str
    text: str
    segment: int


@dataclass(frozen=True, slots=True)
class Match:
    first: int
    last: int
    score: float


class TranscriptIndex:
    """The transcript as a token stream with an inverted index, built once per transcript."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self.tokens: list[_Token] = []
        for index, segment in enumerate(transcript.segments):
            for word in _WORD.findall(segment.text):
                norm = normalise_word(word)
                if norm:
                    self.tokens.append(_Token(norm, word, index))
        self._norms = [t.norm for t in self.tokens]
        self._positions: dict[str, list[int]] = {}
        for position, token in enumerate(self.tokens):
            self._positions.setdefault(token.norm, []).append(position)

    def find(self, quote: str) -> Match | None:
        words = [w for w in (normalise_word(x) for x in _WORD.findall(quote)) if w]
        if not words:
            return None
        exact = self._find_exact(words)
        if exact is not None:
            return exact
        return self._find_fuzzy(words)

    def _find_exact(self, words: list[str]) -> Match | None:
        width = len(words)
        for start in self._positions.get(words[0], []):
            if self._norms[start : start + width] == words:
                return Match(start, start + width - 1, 1.0)
        return None

    def _find_fuzzy(self, words: list[str]) -> Match | None:
        # Windows are anchored where the quote's content words occur, so a long call costs a
        # few dozen comparisons per quote instead of one per transcript word.
        votes: Counter[int] = Counter()
        for offset, word in enumerate(words):
            if word in _STOPWORDS:
                continue
            for position in self._positions.get(word, ()):
                votes[max(0, position - offset)] += 1
        if not votes:
            return None
        width = len(words)
        best: Match | None = None
        for start, _ in votes.most_common(25):
            for shift in (-2, -1, 0, 1, 2):
                begin = max(0, start + shift)
                for size in (width - 1, width, width + 1, width + 2):
                    window = self._norms[begin : begin + max(1, size)]
                    score = SequenceMatcher(None, words, window, autojunk=False).ratio()
                    if best is None or score > best.score:
                        best = Match(begin, begin + len(window) - 1, score)
        return best if best is not None and best.score >= FUZZY_THRESHOLD else None

    def evidence_for(self, quote: str, fallback_at: float | None = None) -> Evidence:
        match = self.find(quote)
        if match is None:
            return Evidence(quote=quote, at=fallback_at, speaker=None, verified=False)
        segment = self.transcript.segments[self.tokens[match.first].segment]
        said = " ".join(t.text for t in self.tokens[match.first : match.last + 1])
        return Evidence(quote=said, at=segment.start, speaker=segment.speaker, verified=True)


def model_timestamp(value: str) -> float | None:
    try:
        return parse_timestamp(value) if value else None
    except ValueError:
        return None


def _title_words(task: Task) -> list[str]:
    return [w for w in (normalise_word(x) for x in task.title.split()) if w]


def _similar_titles(a: Task, b: Task) -> float:
    return SequenceMatcher(None, _title_words(a), _title_words(b), autojunk=False).ratio()


def _same_moment(a: Task, b: Task) -> bool:
    spots_a = {(e.at, e.speaker) for e in a.evidence if e.verified}
    spots_b = {(e.at, e.speaker) for e in b.evidence if e.verified}
    return bool(spots_a & spots_b)


def is_duplicate(a: Task, b: Task) -> bool:
    if a.owner and b.owner and normalise_word(a.owner) != normalise_word(b.owner):
        return False
    similarity = _similar_titles(a, b)
    return similarity >= 0.75 or (similarity >= 0.4 and _same_moment(a, b))


def merge_pair(keep: Task, other: Task) -> Task:
    """Fold ``other`` into ``keep``: fill what ``keep`` lacks, union the evidence."""
    evidence = list(keep.evidence)
    seen = {(e.quote, e.at) for e in evidence}
    for item in other.evidence:
        if (item.quote, item.at) not in seen:
            evidence.append(item)
            seen.add((item.quote, item.at))
    evidence.sort(key=lambda e: (not e.verified, e.at if e.at is not None else float("inf")))
    due_from = keep if keep.due_date or keep.due_text else other
    return keep.model_copy(
        update={
            "owner": keep.owner or other.owner,
            "due_date": due_from.due_date,
            "due_text": due_from.due_text,
            "related_to": keep.related_to or other.related_to,
            "description": keep.description or other.description,
            "evidence": evidence,
            "confidence": max(keep.confidence, other.confidence),
        }
    )


def merge_duplicates(tasks: list[Task]) -> list[Task]:
    """Merge tasks that say the same thing; the more confident one leads. Order is kept."""
    merged: list[Task] = []
    for task in tasks:
        for index, existing in enumerate(merged):
            if is_duplicate(existing, task):
                lead, other = (
                    (existing, task) if existing.confidence >= task.confidence else (task, existing)
                )
                merged[index] = merge_pair(lead, other)
                break
        else:
            merged.append(task)
    return merged
