"""The one transcript model every input format is normalised to."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

UNKNOWN_SPEAKER = "Unknown speaker"


class Segment(BaseModel):
    """One stretch of speech by one speaker; times are seconds from the start of the call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    speaker: str = UNKNOWN_SPEAKER
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str

    @field_validator("speaker")
    @classmethod
    def _speaker_or_unknown(cls, value: str) -> str:
        return " ".join(value.split()) or UNKNOWN_SPEAKER

    @field_validator("text")
    @classmethod
    def _collapse_whitespace(cls, value: str) -> str:
        return " ".join(value.split())


class Transcript(BaseModel):
    """A call transcript: ordered segments plus what is known about where they came from."""

    model_config = ConfigDict(frozen=True)

    segments: tuple[Segment, ...]
    source_format: str
    # Absolute start of the recording when the source carries it (Teams metadataContent).
    started_at: datetime | None = None
    # True when the source had no timestamps and start/end were estimated from word counts.
    timing_estimated: bool = False
    language: str | None = None

    @property
    def duration(self) -> float:
        return max((s.end for s in self.segments), default=0.0)

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for segment in self.segments:
            seen.setdefault(segment.speaker, None)
        return list(seen)

    @property
    def word_count(self) -> int:
        return sum(len(s.text.split()) for s in self.segments)

    def render(self, segments: tuple[Segment, ...] | list[Segment] | None = None) -> str:
        """The transcript as the models read it: one ``[hh:mm:ss] Speaker: text`` line a turn.

        Without ``segments``, consecutive segments of one speaker are joined into turns.
        """
        chosen = merge_turns(self.segments) if segments is None else segments
        return "\n".join(f"[{format_timestamp(s.start)}] {s.speaker}: {s.text}" for s in chosen)


def format_timestamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def parse_timestamp(text: str) -> float:
    """``hh:mm:ss(.fff)``, ``mm:ss(.fff)`` or ``hh:mm:ss,fff`` (SRT) to seconds."""
    cleaned = text.strip().replace(",", ".")
    parts = cleaned.split(":")
    if not 2 <= len(parts) <= 3:
        raise ValueError(f"not a timestamp: {text!r}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r}") from None
    if any(n < 0 for n in numbers) or any(n >= 60 for n in numbers[1:]):
        raise ValueError(f"not a timestamp: {text!r}")
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def merge_turns(
    segments: tuple[Segment, ...] | list[Segment],
    *,
    max_gap: float = 3.0,
    max_length: float = 90.0,
) -> list[Segment]:
    """Join consecutive segments of one speaker into turns, so the models read fewer headers.

    Teams writes a cue every sentence or two; a model does not need a timestamp on each.
    """
    turns: list[Segment] = []
    for segment in segments:
        last = turns[-1] if turns else None
        if (
            last is not None
            and last.speaker == segment.speaker
            and segment.start - last.end <= max_gap
            and segment.end - last.start <= max_length
        ):
            turns[-1] = Segment(
                speaker=last.speaker,
                start=last.start,
                end=max(last.end, segment.end),
                text=f"{last.text} {segment.text}",
            )
        else:
            turns.append(segment)
    return turns
