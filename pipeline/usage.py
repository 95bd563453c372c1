"""What one processing of a call used: Claude's tokens, the local model's time, audio transcribed.

The caller makes a :class:`RunUsage` and hands it to the pipeline, which adds to it as the work
happens; so what a failed or stopped processing used is known too. The local model's time is
measured per thread (:class:`BusyClock`): one model serves every run of a process, and a run's
time is what the model generated for it, not what it waited while another run held the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RunUsage:
    # Seconds of the recording that was transcribed (0 for a text transcript).
    audio_seconds: float = 0.0
    # As the Messages API counted them in its answers.
    claude_input_tokens: int = 0
    claude_output_tokens: int = 0
    # The summary's and the local extractor's generations.
    local_model_seconds: float = 0.0
    # The extractor whose tasks the run got ("claude" or "local"); None: none finished.
    extractor: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def claude(self, input_tokens: int, output_tokens: int) -> None:
        with self._lock:
            self.claude_input_tokens += input_tokens
            self.claude_output_tokens += output_tokens

    def local_model(self, seconds: float) -> None:
        with self._lock:
            self.local_model_seconds += seconds


class BusyClock:
    """Seconds a model spent generating, counted for each calling thread apart."""

    def __init__(self) -> None:
        self._local = threading.local()

    def seconds(self) -> float:
        """What the model generated for the calling thread so far."""
        return float(getattr(self._local, "seconds", 0.0))

    @contextmanager
    def running(self) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self._local.seconds = self.seconds() + time.monotonic() - started


@contextmanager
def model_time(clock: BusyClock, usage: RunUsage | None) -> Iterator[None]:
    """Adds to ``usage`` the time the model generates for this thread inside the block."""
    before = clock.seconds()
    try:
        yield
    finally:
        if usage is not None:
            usage.local_model(clock.seconds() - before)
