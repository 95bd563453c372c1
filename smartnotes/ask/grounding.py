"""Keeping an answer to its sources: a citation stands only when it names a match the rep's
own search returned and its quote is in that match's stored words; the answer's markers are
renumbered to the citations that stand, and the rest are dropped."""

from __future__ import annotations

import re
from collections.abc import Sequence

from smartnotes.ask.answers import Citation
from smartnotes.ask.sources import Sources, stored_text

# Curly quotes and dashes a model writes for the straight ones said in the call.
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})
# What a model puts around a quote that is not part of it.
_WRAPPING = " \t\n\"'\u201c\u201d\u2018\u2019.,;:!?\u2026"
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\]\s*)+")
# A full stop followed by space: "2.5%" and "e.g.x" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased with runs of white space as one space, and for each character
    of that the position in ``text`` it came from."""
    chars: list[str] = []
    where: list[int] = []
    space = True
    for position, char in enumerate(text.translate(_FOLD)):
        if char.isspace():
            if not space:
                chars.append(" ")
                where.append(position)
            space = True
            continue
        space = False
        for lowered in char.lower():
            chars.append(lowered)
            where.append(position)
    return "".join(chars), where


def find_quote(text: str, quote: str) -> str | None:
    """The words of ``text`` that ``quote`` gives, as ``text`` writes them; white space and
    case aside, the quote must be there word for word."""
    wanted, _ = _folded(quote.strip(_WRAPPING))
    wanted = wanted.strip()
    if not wanted:
        return None
    folded, where = _folded(text)
    start = folded.find(wanted)
    if start < 0:
        return None
    return text[where[start] : where[start + len(wanted) - 1] + 1]


def ground(
    text: str, proposed: Sequence[tuple[int, str | None]], sources: Sources
) -> tuple[str, list[Citation]]:
    """The answer with only its verifiable citations, numbered 1.. in the order the text
    first cites them, and its markers rewritten to match: the markers of dropped ones go,
    and so does a sentence that cited nothing else."""
    kept: list[tuple[int, str]] = []
    for number, quote in proposed:
        hit = sources.get(number)
        if hit is None:
            continue
        words = stored_text(hit)
        found = words if quote is None or not quote.strip(_WRAPPING) else find_quote(words, quote)
        if found is not None and (number, found) not in kept:
            kept.append((number, found))
    order = [n for n in dict.fromkeys(_cited(text)) if any(k == n for k, _ in kept)]
    order += [n for n in dict.fromkeys(k for k, _ in kept) if n not in order]
    renumbered = {old: new for new, old in enumerate(order, start=1)}
    citations = sorted(
        (Citation(renumbered[n], hit, quote) for n, quote in kept if (hit := sources.get(n))),
        key=lambda c: c.number,
    )
    return _rewrite(text, renumbered), citations


def _rewrite(text: str, renumbered: dict[int, int]) -> str:
    """Markers renumbered; a sentence whose every marker was dropped goes with them (its
    claim has no source left), one without markers stays."""

    def marker(match: re.Match[str]) -> str:
        numbers = [renumbered[n] for n in map(int, re.findall(r"\d+", match[1])) if n in renumbered]
        return "".join(f"[{n}]" for n in dict.fromkeys(numbers))

    lines: list[str] = []
    for line in text.strip().splitlines():
        kept = [
            _MARKER.sub(marker, sentence)
            for sentence in _sentences(line)
            if not (cited := _cited(sentence)) or any(n in renumbered for n in cited)
        ]
        rewritten = " ".join(kept)
        # A dropped marker leaves a space before the punctuation that followed it.
        rewritten = re.sub(r"[ \t]+([.,;:!?])", r"\1", rewritten)
        lines.append(re.sub(r"[ \t]{2,}", " ", rewritten).strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _sentences(line: str) -> list[str]:
    """A line's sentences, each with the markers written after its full stop."""
    found: list[str] = []
    for chunk in _SENTENCE_END.split(line.strip()):
        leading = _LEADING_MARKERS.match(chunk)
        if leading and found:
            found[-1] += " " + leading[0].strip()
            chunk = chunk[leading.end() :]
        if chunk:
            found.append(chunk)
    return found


def _cited(text: str) -> list[int]:
    """The source numbers ``text``'s markers name, in order."""
    return [int(n) for marker in _MARKER.findall(text) for n in re.findall(r"\d+", marker)]
