"""Recognise a transcript's format and parse it into a :class:`Transcript`.

Text formats handled here: Teams WebVTT (``<v Speaker>`` voice tags), Teams ``metadataContent``
(a WebVTT whose cue payloads are JSON objects), plain WebVTT, SRT, ``Speaker: text`` lines,
a JSON list of segments and the Teams/Stream transcript JSON (``entries``). Audio is recognised
here but transcribed by :mod:`pipeline.asr`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pipeline.errors import EmptyTranscriptError, EncodingError, TranscriptFormatError
from pipeline.transcript import UNKNOWN_SPEAKER, Segment, Transcript, parse_timestamp

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".mp4", ".webm", ".flac", ".aac"}
)

# Speech rate used to estimate timings for sources without timestamps.
_WORDS_PER_SECOND = 2.5

_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_VOICE_SPAN = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>(.*?)(?:</v>|(?=<v[\s.])|$)", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPEAKER_LINE = re.compile(
    r"^\s*(?:[\[(]?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)[\])]?\s*[-\u2013]?\s*)?"
    r"(?P<speaker>[A-Z][\w.'\u2019-]*(?:\s+[\w.'\u2019-]+){0,4})\s*:\s+(?P<text>\S.*)$"
)
_LINE_TIMESTAMP = re.compile(
    r"^\s*[\[(]?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)[\])]?\s+(?P<text>\S.*)$"
)


def is_audio(data: bytes, filename: str | None = None) -> bool:
    """Audio by content first (magic bytes), then by file extension."""
    head = data[:16]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):  # text byte-order marks
        return False
    if head.startswith((b"RIFF", b"OggS", b"fLaC", b"ID3", b"\x1aE\xdf\xa3")):
        return True
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio frame sync
        return True
    if head[4:8] == b"ftyp":  # ISO base media: mp4, m4a
        return True
    if filename is not None:
        lowered = filename.lower()
        return any(lowered.endswith(ext) for ext in AUDIO_EXTENSIONS)
    return False


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise EncodingError(f"transcript is not valid UTF-16 text ({exc.reason})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"transcript is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc


def detect_text_format(text: str) -> str:
    """Name the format of a decoded transcript; raises for text that is none of them."""
    stripped = text.lstrip()
    if not stripped:
        raise EmptyTranscriptError("transcript is empty")
    if stripped.startswith("WEBVTT"):
        return "webvtt"
    first_line = stripped.split("\n", 1)[0]
    if stripped[0] == "{" or (stripped[0] == "[" and not _SPEAKER_LINE.match(first_line)):
        return "json"
    first_block = stripped.split("\n\n", 1)[0].splitlines()
    if len(first_block) >= 2 and first_block[0].strip().isdigit() and "-->" in first_block[1]:
        return "srt"
    lines = [line for line in stripped.splitlines() if line.strip()]
    speaker_lines = sum(1 for line in lines if _SPEAKER_LINE.match(line))
    if speaker_lines and speaker_lines >= len(lines) * 0.3:
        return "speaker_lines"
    raise TranscriptFormatError(
        "unrecognised transcript format: expected WebVTT, SRT, 'Speaker: text' lines, "
        "a JSON list of segments, or audio"
    )


def parse_transcript_text(text: str, fmt: str | None = None) -> Transcript:
    """Parse decoded transcript text; ``fmt`` skips detection."""
    fmt = fmt or detect_text_format(text)
    parsers = {
        "webvtt": _parse_webvtt,
        "srt": _parse_srt,
        "speaker_lines": _parse_speaker_lines,
        "json": _parse_json,
    }
    try:
        parser = parsers[fmt]
    except KeyError:
        raise TranscriptFormatError(f"unknown transcript format {fmt!r}") from None
    transcript = parser(text)
    if not transcript.segments:
        raise EmptyTranscriptError(f"{_FORMAT_NAMES[transcript.source_format]} has no speech in it")
    return transcript


def parse_transcript_bytes(data: bytes, filename: str | None = None) -> Transcript:
    """Decode and parse a text transcript. Audio must go through :mod:`pipeline.asr`."""
    if not data.strip():
        raise EmptyTranscriptError("transcript is empty")
    if is_audio(data, filename):
        raise TranscriptFormatError("this is audio, not a text transcript")
    return parse_transcript_text(decode_text(data))


_FORMAT_NAMES = {
    "webvtt": "WebVTT transcript",
    "teams_vtt": "Teams WebVTT transcript",
    "teams_metadata": "Teams metadataContent transcript",
    "srt": "SRT transcript",
    "speaker_lines": "transcript",
    "json": "JSON transcript",
    "stream_json": "Teams transcript JSON",
    "audio": "recording",
}


# -- WebVTT and SRT ------------------------------------------------------------------------


def _cue_blocks(text: str, kind: str) -> Iterator[tuple[int, float, float, list[str]]]:
    """Yield (line number, start, end, payload lines) for every cue of a VTT or SRT file."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    if kind == "WebVTT":
        while index < len(lines) and not lines[index].strip():
            index += 1
        if index >= len(lines) or not lines[index].lstrip().startswith("WEBVTT"):
            raise TranscriptFormatError("malformed WebVTT: missing WEBVTT header")
        index += 1
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*lines[index:], ""], start=index + 1):
        if line.strip():
            block.append((number, line))
            continue
        if block:
            yield from _cue_from_block(block, kind)
            block = []


def _cue_from_block(
    block: list[tuple[int, str]], kind: str
) -> Iterator[tuple[int, float, float, list[str]]]:
    first = block[0][1].strip()
    if kind == "WebVTT" and first.split(" ", 1)[0] in {"NOTE", "STYLE", "REGION"}:
        return
    timing_at = next((i for i, (_, line) in enumerate(block[:2]) if "-->" in line), None)
    if timing_at is None:
        if kind == "WebVTT" and len(block) == 1 and "-->" not in first and block[0][0] <= 3:
            return  # header metadata such as "Kind: captions"
        raise TranscriptFormatError(f"malformed {kind}: line {block[0][0]} has no cue timing")
    number, timing = block[timing_at]
    match = _TIMING.match(timing)
    if match is None:
        raise TranscriptFormatError(f"malformed {kind}: bad cue timing on line {number}")
    try:
        start, end = parse_timestamp(match[1]), parse_timestamp(match[2])
    except ValueError as exc:
        raise TranscriptFormatError(f"malformed {kind}: {exc} on line {number}") from None
    if end < start:
        raise TranscriptFormatError(f"malformed {kind}: cue ends before it starts on line {number}")
    yield number, start, end, [line for _, line in block[timing_at + 1 :]]


def _parse_webvtt(text: str) -> Transcript:
    cues = list(_cue_blocks(text, "WebVTT"))
    if cues and _looks_like_json(cues[0][3]):
        return _parse_metadata_vtt(cues)
    segments: list[Segment] = []
    voiced = False
    for _, start, end, payload in cues:
        body = "\n".join(payload)
        spans = _VOICE_SPAN.findall(body)
        if spans:
            voiced = True
            for speaker, spoken in spans:
                _append(segments, speaker.strip(), start, end, _clean(spoken))
        else:
            speaker, spoken = _split_speaker(_clean(body))
            _append(segments, speaker, start, end, spoken)
    return Transcript(segments=tuple(segments), source_format="teams_vtt" if voiced else "webvtt")


def _looks_like_json(payload: list[str]) -> bool:
    return bool(payload) and payload[0].lstrip().startswith("{")


def _parse_metadata_vtt(cues: list[tuple[int, float, float, list[str]]]) -> Transcript:
    """Teams ``metadataContent``: each cue's payload is a JSON object with the spoken text."""
    segments: list[Segment] = []
    started_at: datetime | None = None
    language: str | None = None
    for number, start, end, payload in cues:
        try:
            cue = json.loads("\n".join(payload))
        except json.JSONDecodeError as exc:
            raise TranscriptFormatError(
                f"malformed metadataContent: cue on line {number} is not JSON ({exc.msg})"
            ) from None
        if not isinstance(cue, dict) or "spokenText" not in cue:
            raise TranscriptFormatError(
                f"malformed metadataContent: cue on line {number} has no spokenText"
            )
        if started_at is None and isinstance(cue.get("startDateTime"), str):
            started_at = _parse_cue_start(cue["startDateTime"], start)
        language = language or cue.get("spokenLanguage")
        _append(segments, str(cue.get("speakerName") or ""), start, end, str(cue["spokenText"]))
    return Transcript(
        segments=tuple(segments),
        source_format="teams_metadata",
        started_at=started_at,
        language=language,
    )


def _parse_cue_start(value: str, offset: float) -> datetime | None:
    """The recording's absolute start: the first cue's startDateTime minus its offset."""
    from datetime import timedelta

    try:
        moment = datetime.fromisoformat(_trim_fraction(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment - timedelta(seconds=offset)


def _trim_fraction(value: str) -> str:
    # Graph writes seven fractional digits; fromisoformat accepts at most six.
    return re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))


def _parse_srt(text: str) -> Transcript:
    segments: list[Segment] = []
    for _, start, end, payload in _cue_blocks(text, "SRT"):
        speaker, spoken = _split_speaker(_clean("\n".join(payload)))
        _append(segments, speaker, start, end, spoken)
    return Transcript(segments=tuple(segments), source_format="srt")


# -- Speaker lines -------------------------------------------------------------------------


def _parse_speaker_lines(text: str) -> Transcript:
    turns: list[tuple[str, float | None, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _SPEAKER_LINE.match(line)
        if match:
            stamp = _optional_timestamp(match["ts"])
            turns.append((match["speaker"], stamp, match["text"]))
            continue
        continued = _LINE_TIMESTAMP.match(line)
        body = continued["text"] if continued else line
        if turns:
            speaker, stamp, previous = turns[-1]
            turns[-1] = (speaker, stamp, f"{previous} {body}")
        else:
            turns.append((UNKNOWN_SPEAKER, None, body))
    estimated = any(stamp is None for _, stamp, _ in turns)
    segments: list[Segment] = []
    clock = 0.0
    for i, (speaker, stamp, spoken) in enumerate(turns):
        length = max(1.0, len(spoken.split()) / _WORDS_PER_SECOND)
        start = clock if estimated or stamp is None else stamp
        next_stamp = turns[i + 1][1] if i + 1 < len(turns) else None
        end = next_stamp if not estimated and next_stamp is not None else start + length
        end = max(end, start)
        _append(segments, speaker, start, end, spoken)
        clock = end
    return Transcript(
        segments=tuple(segments), source_format="speaker_lines", timing_estimated=estimated
    )


def _optional_timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


# -- JSON ----------------------------------------------------------------------------------


def _parse_json(text: str) -> Transcript:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFormatError(
            f"malformed JSON transcript: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        return _parse_stream_json(document["entries"])
    items = document.get("segments") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise TranscriptFormatError(
            "JSON transcript must be a list of segments (or an object with a 'segments' list)"
        )
    segments: list[Segment] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise TranscriptFormatError(f"JSON transcript: segment {position} is not an object")
        try:
            segment = Segment.model_validate(item)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "segment"
            raise TranscriptFormatError(
                f"JSON transcript: segment {position} field '{where}': {problem['msg']}"
            ) from None
        if segment.end < segment.start:
            raise TranscriptFormatError(
                f"JSON transcript: segment {position} ends before it starts"
            )
        if segment.text:
            segments.append(segment)
    segments.sort(key=lambda s: s.start)
    return Transcript(segments=tuple(segments), source_format="json")


def _parse_stream_json(entries: list[Any]) -> Transcript:
    segments: list[Segment] = []
    language: str | None = None
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise TranscriptFormatError(f"transcript JSON: entry {position} is not an object")
        try:
            start = parse_timestamp(str(entry.get("startOffset", "")))
            end = parse_timestamp(str(entry.get("endOffset") or entry.get("startOffset", "")))
        except ValueError as exc:
            raise TranscriptFormatError(f"transcript JSON: entry {position}: {exc}") from None
        language = language or entry.get("spokenLanguageTag")
        _append(
            segments,
            str(entry.get("speakerDisplayName") or ""),
            start,
            max(start, end),
            str(entry.get("text") or ""),
        )
    segments.sort(key=lambda s: s.start)
    return Transcript(segments=tuple(segments), source_format="stream_json", language=language)


# -- helpers -------------------------------------------------------------------------------


def _clean(payload: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", payload)).split())


def _split_speaker(text: str) -> tuple[str, str]:
    match = _SPEAKER_LINE.match(text)
    if match and match["ts"] is None:
        return match["speaker"], match["text"]
    return UNKNOWN_SPEAKER, text


def _append(segments: list[Segment], speaker: str, start: float, end: float, text: str) -> None:
    cleaned = " ".join(text.split())
    if cleaned:
        segments.append(Segment(speaker=speaker, start=start, end=end, text=cleaned))


def format_label(source_format: str) -> str:
    """A human name for a ``Transcript.source_format`` value."""
    return _FORMAT_NAMES.get(source_format, source_format)
