"""Every audio container the calling tool and Teams produce, through faster-whisper.

The committed espeak-ng WAV is re-encoded with PyAV (FFmpeg's encoders) into each format, so
the decode path is exercised on real mp3, AAC, Opus and FLAC streams.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from pipeline.asr import Transcriber
from pipeline.formats import is_audio

SAMPLE = Path(__file__).parents[2] / "smartnotes" / "samples" / "sales_call_excerpt.wav"


def _encode(destination: Path, codec: str, rate: int) -> Path:
    with av.open(str(SAMPLE)) as source, av.open(str(destination), "w") as target:
        stream = target.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return destination


@pytest.fixture(scope="module")
def transcriber(asr_model_path: str) -> Transcriber:
    return Transcriber(Path(asr_model_path))


@pytest.mark.parametrize(
    ("name", "codec", "rate"),
    [
        ("call.mp3", "libmp3lame", 16000),
        ("call.m4a", "aac", 16000),
        ("call.ogg", "libopus", 48000),
        ("meeting.mp4", "aac", 16000),  # the audio track of a Teams recording
        ("call.flac", "flac", 16000),
    ],
)
def test_encoded_recordings_are_transcribed(
    tmp_path: Path, transcriber: Transcriber, name: str, codec: str, rate: int
) -> None:
    path = _encode(tmp_path / name, codec, rate)
    with path.open("rb") as handle:
        assert is_audio(handle.read(16))  # recognised by content, not by name
    transcript = transcriber.transcribe(path)
    text = transcript.render().lower()
    assert "revised quote" in text
    assert "questionnaire" in text
    assert transcript.duration == pytest.approx(42, abs=3)
