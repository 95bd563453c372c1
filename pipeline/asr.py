"""Audio to transcript with faster-whisper (CTranslate2), VAD on, progress reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.cores import model_threads
from pipeline.errors import AudioError, ModelError
from pipeline.transcript import UNKNOWN_SPEAKER, Segment, Transcript

ProgressCallback = Callable[[float, float], None]


class Transcriber:
    """A loaded Whisper model; load once, transcribe many files."""

    def __init__(
        self,
        model_path: Path,
        *,
        compute_type: str = "int8",
        cpu_threads: int | None = None,
        language: str | None = None,
    ) -> None:
        if not model_path.is_dir() or not (model_path / "model.bin").is_file():
            raise ModelError(
                f"ASR model not found: {model_path} (expected a CTranslate2 Whisper folder "
                "with model.bin)"
            )
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(
                str(model_path),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads or model_threads(),
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load ASR model {model_path}: {exc}") from exc
        self.path = model_path
        self.name = model_path.name
        self.language = language

    def transcribe(self, audio: Path, progress: ProgressCallback | None = None) -> Transcript:
        """Blocking; run it in a thread. ``progress(seconds_done, seconds_total)``."""
        if not audio.is_file():
            raise AudioError(f"audio file not found: {audio}")
        if audio.stat().st_size == 0:
            raise AudioError(f"audio file is empty: {audio}")
        try:
            segments, info = self._model.transcribe(
                str(audio),
                language=self.language,
                vad_filter=True,
                beam_size=5,
                temperature=0.0,
                condition_on_previous_text=False,
            )
            total = float(info.duration or 0.0)
            collected: list[Segment] = []
            for piece in segments:  # a generator: decoding happens while we iterate
                text = " ".join(piece.text.split())
                if text:
                    collected.append(
                        Segment(
                            speaker=UNKNOWN_SPEAKER,
                            start=max(0.0, piece.start),
                            end=max(piece.start, piece.end),
                            text=text,
                        )
                    )
                if progress is not None:
                    progress(min(piece.end, total), total)
        except Exception as exc:
            raise AudioError(f"cannot decode audio {audio.name}: {_describe(exc)}") from exc
        if progress is not None:
            progress(total, total)
        if total <= 0:
            raise AudioError(f"audio file has no sound in it: {audio.name}")
        if not collected:
            raise AudioError(f"no speech found in {audio.name} ({total:.0f} s of audio)")
        return Transcript(
            segments=tuple(collected),
            source_format="audio",
            language=getattr(info, "language", None),
        )


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
