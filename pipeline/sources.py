"""Read a transcript file or recording from disk into a :class:`Transcript`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from pipeline.asr import Transcriber
from pipeline.errors import EmptyTranscriptError, InputError
from pipeline.events import PipelineEvent, Step, run_with_events
from pipeline.formats import is_audio, parse_transcript_bytes
from pipeline.transcript import Transcript

MAX_TEXT_BYTES = 50 * 1024 * 1024

Emit = Callable[[PipelineEvent], Awaitable[None]]


def check_file(path: Path) -> int:
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyTranscriptError(f"{path.name} is empty (0 bytes)")
    return size


def file_is_audio(path: Path) -> bool:
    with path.open("rb") as handle:
        return is_audio(handle.read(64), path.name)


def read_text_transcript(path: Path) -> Transcript:
    size = check_file(path)
    if size > MAX_TEXT_BYTES:
        raise InputError(
            f"{path.name} is {size // 1_048_576} MB; transcripts are limited to "
            f"{MAX_TEXT_BYTES // 1_048_576} MB"
        )
    return parse_transcript_bytes(path.read_bytes(), path.name)


async def transcribe_file(path: Path, transcriber: Transcriber, emit: Emit) -> Transcript:
    """Transcribe in a thread, reporting progress as ``transcribing`` step events."""
    check_file(path)

    def work(post: Callable[[PipelineEvent], None]) -> Transcript:
        return transcriber.transcribe(
            path,
            lambda done, total: post(
                PipelineEvent(kind="progress", step=Step.TRANSCRIBING, done=done, total=total)
            ),
        )

    await emit(PipelineEvent(kind="step_started", step=Step.TRANSCRIBING))
    try:
        transcript = await run_with_events(work, emit)
    except InputError as exc:
        await emit(PipelineEvent(kind="step_failed", step=Step.TRANSCRIBING, text=str(exc)))
        raise
    await emit(PipelineEvent(kind="step_finished", step=Step.TRANSCRIBING))
    return transcript
