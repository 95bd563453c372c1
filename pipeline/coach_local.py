"""The deal coach without Claude: word lists over the customer's lines, and the call's tasks.

Plain and explainable rather than clever: an objection is a customer line that names a
concern's words (price, security, timing, …) together with a word of doubt; sentiment counts
positive, negative and hesitant words per customer speaker, over the whole call and in each of
``SERIES_WINDOWS`` equal stretches of it (``with_series``, also run beside Claude's verdict);
the next steps are the call's own tasks (earliest due first) and the objections to answer.
Every item quotes a line of the call, so it is grounded by construction. The answers' three
tones are fixed wording around the customer's own words and, where an earlier call touched the
same concern, that call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.coach import (
    MAX_NEXT_STEPS,
    Coaching,
    Moment,
    Mood,
    NextStep,
    Objection,
    Point,
    PriorCall,
    PriorSource,
)
from pipeline.transcript import Segment, Transcript

# Enough points to show a turn in the mood, few enough that each stretch holds a few lines.
SERIES_WINDOWS = 8
# How far the last stretch must sit from the first before the mood reads as moving.
TREND_STEP = 0.2

_CUES: dict[str, str] = {
    "price": r"price|pricing|expensive|budget|cost|costs|discount|cheaper|afford|too much",
    "security": r"security|secure|soc ?2|gdpr|dpa|compliance|privacy|encryption|iso ?27001",
    "timing": r"next quarter|next year|not now|timing|too soon|freeze|wait until|later this year",
    "competitor": r"competitor|alternative|already (?:use|have)|currently using|other vendors?",
    "authority": r"check with|my boss|sign[- ]off|approval|procurement|the board|legal",
    "need": r"don't need|do not need|not a priority|why would we|not sure we need",
}
_DOUBT = re.compile(
    r"\b(?:but|concern|concerned|worried|worry|not|can't|cannot|won't|need|needs|issue|"
    r"problem|too|only if|before we|unless|hard|difficult|tight)\b",
    re.IGNORECASE,
)
_POSITIVE = re.compile(
    r"\b(?:great|love|perfect|excellent|happy|interested|sounds good|makes sense|exciting|"
    r"definitely|absolutely|helpful|impressed|like it|good)\b",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"\b(?:concern|concerned|worried|expensive|problem|issue|frustrated|disappointed|"
    r"unfortunately|difficult|annoying|not happy|too slow|blocker)\b",
    re.IGNORECASE,
)
_HESITANT = re.compile(
    r"\b(?:maybe|not sure|i think|probably|might|we'll see|hmm|um|uh|possibly|i guess|"
    r"let me think|perhaps)\b",
    re.IGNORECASE,
)
_ANSWERS: dict[str, tuple[str, str, str]] = {
    "price": (
        "I understand the budget matters. Let me set out the cost against the value we "
        "discussed, and the options for annual terms.",
        "Totally fair on price! Let's look at what fits your budget together.",
        "Let's find the plan that fits the budget.",
    ),
    "security": (
        "Security is a fair requirement. I will send our security documentation and the "
        "data processing terms for your review.",
        "Good question on security, happy to get you everything your team needs.",
        "I'll send the security documents.",
    ),
    "timing": (
        "I understand the timing. Let us agree on when to revisit and what should be ready "
        "by then.",
        "No rush, let's pick a time that works for you.",
        "When should we pick this up again?",
    ),
    "competitor": (
        "It makes sense to compare. I can walk you through where we differ on the points "
        "you raised.",
        "Happy to show how we compare on what matters to you.",
        "Let me show you how we compare.",
    ),
    "authority": (
        "Of course. I can prepare a short summary for the people who need to sign off.",
        "Want me to put together something you can share with them?",
        "I'll send a summary for your approvers.",
    ),
    "need": (
        "That is a fair question. Let us go back to the problem you described and see "
        "whether this addresses it.",
        "Fair point, let's check it really solves your problem first.",
        "Let's confirm it solves your problem.",
    ),
}


@dataclass(frozen=True)
class CallTask:
    """A task of the call, as the next steps read it."""

    title: str
    due_date: str | None
    quote: str | None
    at: float | None
    speaker: str | None


def _customer_lines(transcript: Transcript, rep: str) -> list[Segment]:
    names = {part for part in rep.lower().split() if len(part) > 1}
    return [s for s in transcript.segments if not names & set(s.speaker.lower().split())]


def _moment(segment: Segment, label: str = "") -> Moment:
    return Moment(quote=segment.text, at=segment.start, speaker=segment.speaker, label=label)


def _objections(lines: list[Segment], prior: Sequence[PriorCall]) -> list[Objection]:
    found: list[Objection] = []
    seen: set[str] = set()
    for segment in lines:
        for category, cue in _CUES.items():
            if category in seen or not re.search(rf"\b(?:{cue})\b", segment.text, re.IGNORECASE):
                continue
            if not _DOUBT.search(segment.text):
                continue
            seen.add(category)
            formal, friendly, concise = _ANSWERS[category]
            earlier = [
                PriorSource(call=call.id, quote=sentence)
                for call in prior
                for sentence in re.split(r"(?<=[.!?])\s+", call.text)
                if re.search(rf"\b(?:{cue})\b", sentence, re.IGNORECASE)
            ][:2]
            found.append(
                Objection(
                    category=category,  # type: ignore[arg-type]
                    moment=_moment(segment, category),
                    answers={"formal": formal, "friendly": friendly, "concise": concise},
                    earlier=earlier,
                )
            )
    return found


def _sentiment(lines: Sequence[Segment]) -> float:
    positive = sum(len(_POSITIVE.findall(s.text)) for s in lines)
    negative = sum(len(_NEGATIVE.findall(s.text)) for s in lines)
    return round((positive - negative) / (positive + negative + 1), 2)


def _hesitation(lines: Sequence[Segment]) -> float:
    return round(sum(1 for s in lines if _HESITANT.search(s.text)) / len(lines), 2)


def sentiment_series(
    lines: Sequence[Segment], duration: float, windows: int = SERIES_WINDOWS
) -> list[Point]:
    """One speaker's sentiment and hesitation in each of ``windows`` equal stretches of the call.

    A line counts in the stretch where it starts. A stretch where the speaker said nothing has
    no point: the chart joins the stretches they spoke in instead of reading silence as neutral.
    """
    if duration <= 0 or windows < 1:
        return []
    width = duration / windows
    stretches: dict[int, list[Segment]] = {}
    for segment in lines:
        stretches.setdefault(min(int(segment.start / width), windows - 1), []).append(segment)
    return [
        Point(
            start=round(index * width, 2),
            end=round((index + 1) * width, 2),
            sentiment=_sentiment(own),
            hesitation=_hesitation(own),
        )
        for index, own in sorted(stretches.items())
    ]


def trend(series: Sequence[Point]) -> Literal["warming", "cooling", "steady"] | None:
    """Whether the speaker ended the call warmer or cooler than they began it."""
    if len(series) < 2:
        return None
    change = round(series[-1].sentiment - series[0].sentiment, 2)
    if change >= TREND_STEP:
        return "warming"
    return "cooling" if change <= -TREND_STEP else "steady"


def with_series(coaching: Coaching, transcript: Transcript) -> Coaching:
    """The coaching with each speaker's series over the call, counted from their own lines."""
    duration = round(transcript.duration, 2)
    moods = []
    for mood in coaching.sentiment:
        own = [s for s in transcript.segments if s.speaker == mood.speaker]
        series = sentiment_series(own, duration)
        moods.append(mood.model_copy(update={"series": series, "trend": trend(series)}))
    return coaching.model_copy(update={"sentiment": moods, "duration": duration})


def _moods(lines: list[Segment]) -> list[Mood]:
    moods = []
    for speaker in dict.fromkeys(s.speaker for s in lines):
        own = [s for s in lines if s.speaker == speaker]
        moments = []
        for segment in own:
            if _NEGATIVE.search(segment.text):
                moments.append(_moment(segment, "concerned"))
            elif _HESITANT.search(segment.text):
                moments.append(_moment(segment, "hesitant"))
            elif _POSITIVE.search(segment.text):
                moments.append(_moment(segment, "positive"))
        moods.append(
            Mood(
                speaker=speaker,
                sentiment=_sentiment(own),
                hesitation=_hesitation(own),
                moments=moments[:5],
            )
        )
    return moods


def _next_steps(tasks: Sequence[CallTask], objections: list[Objection]) -> list[NextStep]:
    steps = []
    dated = sorted(tasks, key=lambda t: (t.due_date is None, t.due_date or ""))
    for task in dated:
        if not task.quote:
            continue
        steps.append(
            NextStep(
                text=task.title,
                confidence=0.8 if task.due_date else 0.6,
                why="promised in the call" + (f", due {task.due_date}" if task.due_date else ""),
                moments=[Moment(quote=task.quote, at=task.at, speaker=task.speaker)],
            )
        )
    for objection in objections:
        steps.append(
            NextStep(
                text=f"Answer the {objection.category} concern",
                confidence=0.5,
                why="the customer raised it and it is not answered in a task",
                moments=[objection.moment],
                earlier=objection.earlier,
            )
        )
    return steps[:MAX_NEXT_STEPS]


def local_coaching(
    transcript: Transcript,
    rep: str,
    prior: Sequence[PriorCall],
    tasks: Sequence[CallTask],
    reason: str,
) -> Coaching:
    lines = _customer_lines(transcript, rep)
    objections = _objections(lines, prior)
    coaching = Coaching(
        next_steps=_next_steps(tasks, objections),
        objections=objections,
        sentiment=_moods(lines),
        made_by="local",
        fallback_reason=reason,
    )
    return with_series(coaching, transcript)
