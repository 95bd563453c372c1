"""Check every task's evidence against the transcript, and merge duplicate tasks.

A quote is looked up in the normalised transcript (case, punctuation and apostrophes ignored,
contractions expanded on both sides: "I will" is "I'll"), exactly first and then fuzzily,
because ASR output and a model's paraphrase rarely agree character for character. A quote
that is found gets the transcript's own words, the speaker and the timestamp of where it was
said; one that is not found keeps the model's words and is marked unverified. No task is ever
dropped here.

Two tasks are one when they are the same commitment: the same person (matched against the
participants, so "John" is "John Miller" when the call has one John) and either the same
evidence span in the call with the same action, or near-identical titles. Different actions or
different deadlines are never merged, even when they were said in one breath.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from pipeline.sides import Person, match_person
from pipeline.tasks import Evidence, Task
from pipeline.transcript import Segment, Transcript, parse_timestamp

_WORD = re.compile(r"\S+")
_STRIP = re.compile(r"[^\w']+")
_STOPWORDS = frozenset(
    {
        "a",
        "am",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "do",
        "for",
        "from",
        "have",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "we",
        "you",
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

_CONTRACTIONS = {
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
    "won't": ("will", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
    "let's": ("let", "us"),
    "gonna": ("going", "to"),
    "wanna": ("want", "to"),
    "gotta": ("got", "to"),
}
_SUFFIXES = (("n't", "not"), ("'ll", "will"), ("'re", "are"), ("'ve", "have"), ("'m", "am"))
# "'s" is "is" only after these; after a name it is a possessive ("Maria's deck").
_IS_AFTER = frozenset(
    {"it", "that", "what", "there", "here", "he", "she", "who", "where", "how", "when"}
)


def normalise_word(word: str) -> str:
    return _STRIP.sub("", word.lower().replace("\u2019", "'").replace("\u2018", "'")).strip("'")


def expand(norm: str) -> tuple[str, ...]:
    """A normalised word with its contraction spelled out: ``i'll`` is ``("i", "will")``."""
    if norm in _CONTRACTIONS:
        return _CONTRACTIONS[norm]
    for suffix, full in _SUFFIXES:
        if norm.endswith(suffix) and len(norm) > len(suffix):
            return (norm[: -len(suffix)], full)
    if norm.endswith("'d") and len(norm) > 2:
        return (norm[:-2], "would")
    if norm.endswith("'s") and norm[:-2] in _IS_AFTER:
        return (norm[:-2], "is")
    return (norm,)


def normalised_words(text: str) -> list[str]:
    """``text`` as the words grounding compares: normalised, contractions expanded."""
    return [part for word in _WORD.findall(text) for part in expand(normalise_word(word)) if part]


def content_words(text: str) -> set[str]:
    """The words of ``text`` that say what it is about (no pronouns, articles, auxiliaries)."""
    return {w for w in normalised_words(text) if w not in _STOPWORDS}


@dataclass(frozen=True, slots=True)
class _Token:
    norm: str
    word: int  # index into ``TranscriptIndex.words``: "I'll" is two tokens of one word


@dataclass(frozen=True, slots=True)
class _Word:
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
        self.words: list[_Word] = []
        self.tokens: list[_Token] = []
        # The first token of each segment: where a segment's words begin in ``tokens``.
        self.segment_starts: list[int] = []
        for index, segment in enumerate(transcript.segments):
            self.segment_starts.append(len(self.tokens))
            for word in _WORD.findall(segment.text):
                parts = [p for p in expand(normalise_word(word)) if p]
                if not parts:
                    continue
                self.words.append(_Word(word, index))
                self.tokens.extend(_Token(part, len(self.words) - 1) for part in parts)
        self._norms = [t.norm for t in self.tokens]
        self._positions: dict[str, list[int]] = {}
        for position, token in enumerate(self.tokens):
            self._positions.setdefault(token.norm, []).append(position)

    def find(self, quote: str) -> Match | None:
        words = normalised_words(quote)
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
        # The ratio is fair to short quotes once contractions are spelled out: a quote of five
        # words or more may differ from the call by one word (changed, missing or extra).
        return best if best is not None and best.score >= FUZZY_THRESHOLD else None

    def span(self, quote: str, at: float | None = None) -> tuple[int, int] | None:
        """The tokens a quote covers: the occurrence said at ``at`` when the words occur more
        than once, else the best match anywhere."""
        words = normalised_words(quote)
        if not words:
            return None
        width = len(words)
        hits = [p for p in self._positions.get(words[0], []) if self._norms[p : p + width] == words]
        for hit in hits:
            if at is None or self.segment_of(hit).start == at:
                return hit, hit + width - 1
        if hits:
            return hits[0], hits[0] + width - 1
        match = self._find_fuzzy(words)
        return (match.first, match.last) if match is not None else None

    def segment_of(self, token: int) -> Segment:
        return self.transcript.segments[self.words[self.tokens[token].word].segment]

    def evidence_for(self, quote: str, fallback_at: float | None = None) -> Evidence:
        match = self.find(quote)
        if match is None:
            return Evidence(quote=quote, at=fallback_at, speaker=None, verified=False)
        first, last = self.tokens[match.first].word, self.tokens[match.last].word
        segment = self.transcript.segments[self.words[first].segment]
        said = " ".join(w.text for w in self.words[first : last + 1])
        return Evidence(quote=said, at=segment.start, speaker=segment.speaker, verified=True)


def model_timestamp(value: str) -> float | None:
    try:
        return parse_timestamp(value) if value else None
    except ValueError:
        return None


_VERB_FAMILY = {
    "email": "send",
    "mail": "send",
    "forward": "send",
    "share": "send",
    "circulate": "send",
    "book": "schedule",
    "arrange": "schedule",
    "organise": "schedule",
    "organize": "schedule",
    "set": "schedule",
    "phone": "call",
    "ring": "call",
    "create": "open",
    "file": "open",
    "raise": "open",
    "log": "open",
}
_DUE_FILLER = frozenset({"by", "before", "on", "until", "no", "later", "than", "the", "at", "in"})


# How a title may open before its verb: "Make sure to send…" is "Send…".
_TITLE_LEAD = re.compile(
    r"^\s*(?:please\s+|(?:make|be)\s+sure\s+(?:to\s+|that\s+)?|ensure\s+(?:that\s+)?|"
    r"remember\s+to\s+|need\s+to\s+|go\s+ahead\s+and\s+|don't\s+forget\s+to\s+)+",
    re.IGNORECASE,
)


def action_title(title: str) -> str:
    """A title without what only leads to its verb ("Make sure to send X" is "send X")."""
    return _TITLE_LEAD.sub("", title.replace("\u2019", "'"))


def action_words(task: Task) -> list[str]:
    """The title's content words, plurals and verb synonyms folded ("Email" is "send")."""
    words = [w for w in normalised_words(action_title(task.title)) if w not in _STOPWORDS]
    folded = [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    ]
    return [_VERB_FAMILY.get(w, w) for w in folded]


def _similar_titles(a: Task, b: Task) -> float:
    words_a = normalised_words(action_title(a.title))
    words_b = normalised_words(action_title(b.title))
    return SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


def _same_action(a: Task, b: Task, people: Sequence[Person]) -> bool:
    """The same verb (or a synonym) on mostly the same things; names of people are not what
    is done ("Send John the slots" and "Send John the demo invite" are two actions)."""
    names = {w for p in people for w in normalised_words(p.name)}
    words_a = [w for w in action_words(a) if w not in names]
    words_b = [w for w in action_words(b) if w not in names]
    if not words_a or not words_b or words_a[0] != words_b[0]:
        return False
    things_a, things_b = set(words_a[1:]), set(words_b[1:])
    if not things_a or not things_b:
        return things_a == things_b
    return len(things_a & things_b) >= 0.5 * min(len(things_a), len(things_b))


def same_action(a: Task, b: Task, people: Sequence[Person] = ()) -> bool:
    """Whether two tasks do the same thing: the same verb on mostly the same things."""
    return _same_action(a, b, people)


def _same_span(a: Task, b: Task) -> bool:
    """Whether the two tasks rest on the same words of the call: verified quotes of one cue
    that share a run of words (a quote is the transcript's own words once verified)."""
    for one in (e for e in a.evidence if e.verified):
        for two in (e for e in b.evidence if e.verified):
            if (one.at, one.speaker) != (two.at, two.speaker):
                continue
            words_one, words_two = normalised_words(one.quote), normalised_words(two.quote)
            shortest = min(len(words_one), len(words_two))
            if not shortest:
                continue
            run = SequenceMatcher(None, words_one, words_two, autojunk=False).find_longest_match()
            if run.size >= min(shortest, max(3, shortest / 2)):
                return True
    return False


def _due_words(task: Task) -> list[str]:
    return [w for w in normalised_words(task.due_text) if w not in _DUE_FILLER]


def _different_deadlines(a: Task, b: Task) -> bool:
    if a.due_date is not None and b.due_date is not None:
        return a.due_date != b.due_date
    words_a, words_b = _due_words(a), _due_words(b)
    return bool(words_a and words_b) and words_a != words_b


def call_people(tasks: Sequence[Task], participants: Sequence[str] = ()) -> list[Person]:
    """Who was on the call: the participants when known, else the speakers of the tasks'
    quotes and the full names the tasks were given to."""
    names = list(participants)
    if not names:
        names = [e.speaker for t in tasks for e in t.evidence if e.verified and e.speaker]
        names += [t.owner for t in tasks if len(t.owner.split()) > 1]
    return [Person(name) for name in dict.fromkeys(names)]


def _same_owner(a: Task, b: Task, people: Sequence[Person]) -> bool:
    if not a.owner or not b.owner or normalised_words(a.owner) == normalised_words(b.owner):
        return True
    person = match_person(a.owner, people)
    return person is not None and person == match_person(b.owner, people)


def is_duplicate(a: Task, b: Task, people: Sequence[Person] = ()) -> bool:
    """The same commitment: same person, no conflicting deadline, and the same words of the
    call with the same action, or titles that say the same thing."""
    if not _same_owner(a, b, people) or _different_deadlines(a, b):
        return False
    similar = _similar_titles(a, b) >= 0.75
    if _same_span(a, b):
        return similar or _same_action(a, b, people)
    return similar


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
    # Both name the same person by now; the fuller name ("John Miller", not "John") says who.
    owner = max((keep.owner, other.owner), key=len) if keep.owner and other.owner else None
    return keep.model_copy(
        update={
            "owner": owner or keep.owner or other.owner,
            "due_date": due_from.due_date,
            "due_text": due_from.due_text,
            "related_to": keep.related_to or other.related_to,
            "description": keep.description or other.description,
            "evidence": evidence,
            "confidence": max(keep.confidence, other.confidence),
        }
    )


def merge_duplicates(tasks: list[Task], participants: Sequence[str] = ()) -> list[Task]:
    """Merge tasks that are the same commitment; the more confident one leads. Order is kept.

    ``participants`` are the call's people by name; without them the speakers stand in.
    """
    people = call_people(tasks, participants)
    merged: list[Task] = []
    for task in tasks:
        for index, existing in enumerate(merged):
            if is_duplicate(existing, task, people):
                lead, other = (
                    (existing, task) if existing.confidence >= task.confidence else (task, existing)
                )
                merged[index] = merge_pair(lead, other)
                break
        else:
            merged.append(task)
    return merged
