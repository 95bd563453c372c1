"""The pipeline's exception tree.

Every failure a user can cause or meet is one of these, with a one-line message that names the
problem; outside errors (llama.cpp, faster-whisper, the Anthropic SDK) are translated at the
boundary with ``raise ... from exc``.

    PipelineError
    ├── InputError              the input itself is unusable
    │   ├── EmptyTranscriptError      nothing was said / the file is empty
    │   ├── EncodingError             text that is not UTF-8
    │   ├── TranscriptFormatError     malformed or unrecognised transcript
    │   ├── AudioError                corrupt, unreadable or silent audio
    │   └── TranscriptTooLongError    longer than the configured maximum
    ├── ModelError              a model file is missing or cannot be loaded
    ├── ExtractionError         an extractor gave up (the caller may fall back)
    └── StepFailedError         a pipeline step failed; carries the step name
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error raised by the pipeline."""


class InputError(PipelineError):
    """The transcript or audio given to the pipeline is unusable."""


class EmptyTranscriptError(InputError):
    pass


class EncodingError(InputError):
    pass


class TranscriptFormatError(InputError):
    pass


class AudioError(InputError):
    pass


class TranscriptTooLongError(InputError):
    pass


class ModelError(PipelineError):
    """A model file is missing, unreadable or not a model."""


class ExtractionError(PipelineError):
    """An extractor could not produce tasks; ``reason`` is shown to the rep."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StepFailedError(PipelineError):
    """A pipeline step failed; what the other steps produced is kept on the result."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step} failed: {message}")
        self.step = step
        self.message = message
