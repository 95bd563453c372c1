"""Split a transcript into pieces that fit a model's context, on turn boundaries."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.transcript import Segment, Transcript, merge_turns


def split_turns(
    transcript: Transcript, budget: int, count_tokens: Callable[[str], int]
) -> list[list[Segment]]:
    """Greedy packing of turns into chunks of at most ``budget`` tokens each.

    A single turn longer than the budget is cut into word runs, so nothing is ever dropped.
    """
    if budget <= 0:
        raise ValueError("chunk budget must be positive")
    chunks: list[list[Segment]] = [[]]
    used = 0
    for turn in merge_turns(transcript.segments):
        for piece in _fit(turn, budget, transcript, count_tokens):
            cost = count_tokens(transcript.render([piece])) + 1
            if chunks[-1] and used + cost > budget:
                chunks.append([])
                used = 0
            chunks[-1].append(piece)
            used += cost
    return [chunk for chunk in chunks if chunk]


def _fit(
    turn: Segment, budget: int, transcript: Transcript, count_tokens: Callable[[str], int]
) -> list[Segment]:
    if count_tokens(transcript.render([turn])) + 1 <= budget:
        return [turn]
    words = turn.text.split()
    # Halve until each part fits; a monologue of any length ends up in order, whole.
    middle = len(words) // 2
    if middle == 0:
        return [turn]
    span = turn.end - turn.start
    share = middle / len(words)
    first = Segment(
        speaker=turn.speaker,
        start=turn.start,
        end=turn.start + span * share,
        text=" ".join(words[:middle]),
    )
    second = Segment(
        speaker=turn.speaker,
        start=turn.start + span * share,
        end=turn.end,
        text=" ".join(words[middle:]),
    )
    return [
        *_fit(first, budget, transcript, count_tokens),
        *_fit(second, budget, transcript, count_tokens),
    ]
