"""Transcript parsers against real-format samples and every kind of bad text input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import EmptyTranscriptError, EncodingError, TranscriptFormatError
from pipeline.formats import is_audio, parse_transcript_bytes, parse_transcript_text
from pipeline.transcript import UNKNOWN_SPEAKER

SAMPLES = Path(__file__).parents[2] / "smartnotes" / "samples"

# The content example from Microsoft's "Get callTranscript" page (unpadded timestamps).
GRAPH_DOC_VTT = """WEBVTT

0:0:0.0 --> 0:0:5.320
<v User Name>This is first speaker.</v>

0:0:5.320 --> 0:0:8.780
<v User Name>This is second speaker.</v>
"""

# What Teams writes today: cue identifiers, padded timestamps, entities inside voice spans.
TEAMS_VTT = """WEBVTT

5a2bd9a9-5e9b-4b2d-9f0c-6a1f0e2c3d4e/11-0
00:00:03.120 --> 00:00:07.480
<v Maria Chen>Thanks for joining &amp; welcome.</v>

5a2bd9a9-5e9b-4b2d-9f0c-6a1f0e2c3d4e/12-0
00:00:08.000 --> 00:00:10.500
<v Daniel Okafor>Happy to be here.</v> <v Priya Raman>Me too.</v>
"""

# metadataContent: a WebVTT whose cue payloads are JSON (as Graph documents it).
METADATA_VTT = """WEBVTT

00:00:00.000 --> 00:00:05.320
{
  "startDateTime": "2026-11-17T16:00:03.1990000Z",
  "endDateTime": "2026-11-17T16:00:08.5190000Z",
  "speakerName": "Maria Chen",
  "spokenText": "I will send the revised quote by Friday.",
  "spokenLanguage": "en-us"
}

00:00:05.320 --> 00:00:08.780
{
  "startDateTime": "2026-11-17T16:00:08.5190000Z",
  "endDateTime": "2026-11-17T16:00:11.9790000Z",
  "speakerName": "Daniel Okafor",
  "spokenText": "Great, thank you.",
  "spokenLanguage": "en-us"
}
"""


def test_graph_documented_vtt_example() -> None:
    transcript = parse_transcript_text(GRAPH_DOC_VTT)
    assert transcript.source_format == "teams_vtt"
    assert [(s.speaker, s.start, s.end, s.text) for s in transcript.segments] == [
        ("User Name", 0.0, 5.32, "This is first speaker."),
        ("User Name", 5.32, 8.78, "This is second speaker."),
    ]


def test_teams_vtt_voice_tags_identifiers_and_entities() -> None:
    transcript = parse_transcript_text(TEAMS_VTT)
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("Maria Chen", "Thanks for joining & welcome."),
        ("Daniel Okafor", "Happy to be here."),
        ("Priya Raman", "Me too."),
    ]
    assert transcript.segments[0].start == pytest.approx(3.12)


def test_metadata_content_cues() -> None:
    transcript = parse_transcript_text(METADATA_VTT)
    assert transcript.source_format == "teams_metadata"
    assert transcript.speakers == ["Maria Chen", "Daniel Okafor"]
    assert transcript.segments[0].text == "I will send the revised quote by Friday."
    assert transcript.started_at == datetime(2026, 11, 17, 16, 0, 3, 199000, tzinfo=UTC)
    assert transcript.language == "en-us"


def test_metadata_cue_without_spoken_text_is_malformed() -> None:
    bad = METADATA_VTT.replace('"spokenText"', '"said"', 1)
    with pytest.raises(TranscriptFormatError, match="cue on line 3 has no spokenText"):
        parse_transcript_text(bad)


def test_plain_webvtt_with_notes_and_speaker_prefixes() -> None:
    text = """WEBVTT
Kind: captions

NOTE exported by a meeting recorder

1
00:01.000 --> 00:04.000
Anna Lee: We will send the contract tomorrow.

2
00:04.500 --> 00:06.000
- sounds good
"""
    transcript = parse_transcript_text(text)
    assert transcript.source_format == "webvtt"
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("Anna Lee", "We will send the contract tomorrow."),
        (UNKNOWN_SPEAKER, "- sounds good"),
    ]


def test_srt() -> None:
    text = """1
00:00:01,000 --> 00:00:03,500
Bob: I'll call the client.

2
00:00:04,000 --> 00:00:05,000
<i>Okay.</i>
"""
    transcript = parse_transcript_text(text)
    assert transcript.source_format == "srt"
    assert transcript.segments[0].speaker == "Bob"
    assert transcript.segments[0].end == 3.5
    assert transcript.segments[1].text == "Okay."


def test_speaker_lines_with_timestamps() -> None:
    text = "[00:00:05] Anna: Hello.\n[00:01:10] Bob: I'll send it Friday.\ncontinued here\n"
    transcript = parse_transcript_text(text)
    assert transcript.source_format == "speaker_lines"
    assert not transcript.timing_estimated
    assert [(s.speaker, s.start, s.text) for s in transcript.segments] == [
        ("Anna", 5.0, "Hello."),
        ("Bob", 70.0, "I'll send it Friday. continued here"),
    ]


def test_speaker_lines_without_timestamps_estimate_timing() -> None:
    transcript = parse_transcript_text("Anna: one two three four five\nBob: six seven\n")
    assert transcript.timing_estimated
    assert transcript.segments[0].start == 0.0
    assert transcript.segments[1].start == transcript.segments[0].end > 0


def test_json_segments_list_and_object() -> None:
    segments = [
        {"speaker": "B", "start": 4, "end": 6, "text": "second"},
        {"speaker": "A", "start": 0, "end": 3, "text": "first"},
    ]
    listed = parse_transcript_text(json.dumps(segments))
    wrapped = parse_transcript_text(json.dumps({"segments": segments}))
    assert [s.text for s in listed.segments] == ["first", "second"]
    assert listed.segments == wrapped.segments


def test_stream_transcript_json_entries() -> None:
    document = {
        "$schema": "http://stream.office.com/schemas/transcript.json",
        "version": "1.0.0",
        "type": "Transcript",
        "entries": [
            {
                "id": "1",
                "text": "Hello everyone.",
                "speakerDisplayName": "Smith, John",
                "startOffset": "00:00:22.2871418",
                "endOffset": "00:00:23.1671418",
                "spokenLanguageTag": "en-gb",
            },
        ],
    }
    transcript = parse_transcript_text(json.dumps(document))
    assert transcript.source_format == "stream_json"
    assert transcript.segments[0].speaker == "Smith, John"
    assert transcript.segments[0].start == pytest.approx(22.2871418)


def test_shipped_sample_call_parses() -> None:
    transcript = parse_transcript_bytes((SAMPLES / "sales_call.vtt").read_bytes())
    assert transcript.source_format == "teams_vtt"
    assert set(transcript.speakers) == {"Maria Chen", "Daniel Okafor", "Priya Raman"}
    assert transcript.duration > 300


def test_utf8_bom_and_utf16_are_read() -> None:
    assert parse_transcript_bytes(b"\xef\xbb\xbf" + GRAPH_DOC_VTT.encode()).segments
    assert parse_transcript_bytes(GRAPH_DOC_VTT.encode("utf-16")).segments


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", EmptyTranscriptError, "empty"),
        (b"   \n\t \n", EmptyTranscriptError, "empty"),
        (b"WEBVTT\n\n", EmptyTranscriptError, "no speech"),
        (b"Anna: caf\xe9 au lait", EncodingError, r"not UTF-8 text \(byte 0xe9 at offset 9\)"),
        (
            b"WEBVTT\n\n00:00:01.000 -> 00:00:02.000\n<v A>hi</v>\n",
            TranscriptFormatError,
            "line 3 has no cue timing",
        ),
        (
            b"WEBVTT\n\n00:00:xx.000 --> 00:00:02.000\n<v A>hi</v>\n",
            TranscriptFormatError,
            "not a timestamp",
        ),
        (
            b"WEBVTT\n\n00:00:05.000 --> 00:00:02.000\n<v A>hi</v>\n",
            TranscriptFormatError,
            "ends before it starts",
        ),
        (
            b"just some prose without any structure at all.\nmore prose.",
            TranscriptFormatError,
            "unrecognised transcript format",
        ),
        (
            b'[{"speaker": "A", "start": "soon", "end": 1, "text": "x"}]',
            TranscriptFormatError,
            "segment 1 field 'start'",
        ),
        (b'{"segments": [', TranscriptFormatError, "malformed JSON transcript"),
        (b'{"hello": 1}', TranscriptFormatError, "must be a list of segments"),
    ],
)
def test_bad_text_input_names_the_problem(
    data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_transcript_bytes(data, "call.txt")


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None, True),
        (b"ID3\x04\x00", None, True),
        (b"\xff\xfb\x90\x00", None, True),
        (b"\x00\x00\x00\x20ftypM4A ", None, True),
        (b"OggS\x00\x02", None, True),
        (b"WEBVTT\n\n", "call.vtt", False),
        (b"garbage", "call.mp3", True),
    ],
)
def test_audio_is_recognised(head: bytes, name: str | None, expected: bool) -> None:
    assert is_audio(head, name) is expected
