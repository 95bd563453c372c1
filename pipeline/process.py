"""The two-model pipeline: summary and task extraction, concurrently, from the full transcript.

The local model writes the summary (streamed); the extractor (Claude, or the local model when
Claude is unavailable, failing or not allowed) reads the whole transcript at the same time,
never the summary. When both need the local model they share it and the summary goes first,
because it is what the rep reads while the tasks are still being made.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from pipeline.asr import Transcriber
from pipeline.assemble import build_tasks
from pipeline.errors import ExtractionError, PipelineError, TranscriptTooLongError
from pipeline.events import EventSink, PipelineEvent, Step, run_with_events
from pipeline.extraction import CallContext, TaskExtractor
from pipeline.local_extractor import LocalExtractor
from pipeline.open_tasks import completions, drop_known
from pipeline.sources import check_file, file_is_audio, read_text_transcript, transcribe_file
from pipeline.summarizer import Summarizer
from pipeline.tasks import ExtractedTask, Task, TaskOrigin
from pipeline.transcript import Transcript
from pipeline.usage import RunUsage, model_time


class ExtractorInfo(BaseModel):
    name: Literal["claude", "local"]
    model: str
    fallback_reason: str | None = None
    # What had to be repaired in the extractor's answer (one line each).
    repairs: list[str] = []
    # What the customer's open tasks changed: a task not proposed again because it is open.
    notes: list[str] = []


class StepRecord(BaseModel):
    step: Step
    started_at: datetime
    finished_at: datetime | None = None
    status: Literal["running", "done", "failed"] = "running"
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class TranscriptInfo(BaseModel):
    source_format: str
    duration_seconds: float
    segments: int
    words: int
    speakers: list[str]
    timing_estimated: bool


class PipelineResult(BaseModel):
    summary: str
    summary_model: str
    tasks: list[Task]
    extractor: ExtractorInfo | None
    steps: list[StepRecord]
    warnings: list[str]
    errors: list[str]
    transcript: TranscriptInfo

    @property
    def complete(self) -> bool:
        return not self.errors


# Why only local models run when the caller does not say.
CONFIDENTIAL = "confidential call: only local models run"

# Receives the tasks as soon as they exist, with the extractor that made them.
TasksCallback = Callable[[list[Task], ExtractorInfo], Awaitable[None]]


class Emitter:
    """Delivers events in order to a sync or async sink and keeps the step records."""

    def __init__(self, sink: EventSink | None) -> None:
        self._sink = sink
        self.steps: dict[Step, StepRecord] = {}
        self.warnings: list[str] = []
        # The recording's length, as the transcriber reports it with its progress.
        self.recording_seconds = 0.0

    async def emit(self, event: PipelineEvent) -> None:
        if event.kind == "step_started" and event.step is not None:
            self.steps[event.step] = StepRecord(step=event.step, started_at=event.at)
        elif event.kind in ("step_finished", "step_failed") and event.step is not None:
            record = self.steps[event.step]
            record.finished_at = event.at
            record.status = "done" if event.kind == "step_finished" else "failed"
            record.error = event.text or None
        elif event.kind == "warning":
            self.warnings.append(event.text)
        elif event.kind == "progress" and event.step == Step.TRANSCRIBING and event.total:
            self.recording_seconds = event.total
        if self._sink is not None:
            outcome = self._sink(event)
            if inspect.isawaitable(outcome):
                await outcome

    async def step(
        self,
        kind: Literal["step_started", "step_finished", "step_failed"],
        step: Step,
        text: str = "",
    ) -> None:
        await self.emit(PipelineEvent(kind=kind, step=step, text=text))


class Pipeline:
    def __init__(
        self,
        *,
        summarizer: Summarizer,
        local_extractor: LocalExtractor,
        remote_extractor: TaskExtractor | None = None,
        remote_unavailable_reason: str = "no ANTHROPIC_API_KEY set",
        recall_check: bool = True,
        max_call_seconds: float = 3 * 3600,
    ) -> None:
        self.summarizer = summarizer
        self.local_extractor = local_extractor
        self.remote_extractor = remote_extractor
        self.remote_unavailable_reason = remote_unavailable_reason
        self.recall_check = recall_check
        self.max_call_seconds = max_call_seconds

    def check_length(self, transcript: Transcript) -> None:
        if transcript.duration > self.max_call_seconds:
            raise TranscriptTooLongError(
                f"transcript runs {_hours(transcript.duration)}, longer than the "
                f"{_hours(self.max_call_seconds)} limit (SMARTNOTES_MAX_CALL_MINUTES)"
            )

    async def run(
        self,
        transcript: Transcript,
        context: CallContext,
        sink: EventSink | None = None,
        *,
        local_only: bool = False,
        local_only_reason: str = CONFIDENTIAL,
        emitter: Emitter | None = None,
        summary: str | None = None,
        on_tasks: TasksCallback | None = None,
        usage: RunUsage | None = None,
    ) -> PipelineResult:
        """Both steps from the full transcript; a ``summary`` already made (a run resumed after
        a crash) is kept and only the tasks are made. ``on_tasks`` gets the tasks the moment
        they are made, while the summary may still be streaming. ``usage`` gets what the
        models used, as they use it."""
        self.check_length(transcript)
        emitter = emitter or Emitter(sink)
        summary_done = asyncio.Event()
        summary_job = asyncio.create_task(
            self._summarize(transcript, emitter, summary_done, usage)
            if summary is None
            else _already(summary, summary_done)
        )
        tasks_job = asyncio.create_task(
            self._tasks(
                transcript,
                context,
                emitter,
                summary_done,
                local_only_reason if local_only else None,
                on_tasks,
                usage,
            )
        )
        try:
            (summary_text, summary_error), (tasks, extractor, tasks_error) = await asyncio.gather(
                summary_job, tasks_job
            )
        except asyncio.CancelledError:
            # gather ends at the first cancelled child; wait for both, so no generation is left
            # running on the model after the run is stopped (and the model can be closed).
            summary_job.cancel()
            tasks_job.cancel()
            await asyncio.gather(summary_job, tasks_job, return_exceptions=True)
            raise
        errors = [e for e in (summary_error, tasks_error) if e]
        done = PipelineEvent(kind="failed" if errors else "done", text="; ".join(errors))
        await emitter.emit(done)
        return PipelineResult(
            summary=summary_text,
            summary_model=self.summarizer.model.name,
            tasks=tasks,
            extractor=extractor,
            steps=sorted(emitter.steps.values(), key=lambda r: r.started_at),
            warnings=emitter.warnings,
            errors=errors,
            transcript=TranscriptInfo(
                source_format=transcript.source_format,
                duration_seconds=transcript.duration,
                segments=len(transcript.segments),
                words=transcript.word_count,
                speakers=transcript.speakers,
                timing_estimated=transcript.timing_estimated,
            ),
        )

    async def make_tasks(
        self,
        transcript: Transcript,
        context: CallContext,
        *,
        local_only_reason: str | None = None,
    ) -> tuple[list[Task], ExtractorInfo | None, list[str], str | None]:
        """The task side alone (analyzing, creating tasks), as a run makes it: the tasks, the
        extractor that made them, the warnings and the error, if the step failed."""
        self.check_length(transcript)
        emitter = Emitter(None)
        no_summary = asyncio.Event()
        no_summary.set()
        tasks, info, error = await self._tasks(
            transcript, context, emitter, no_summary, local_only_reason
        )
        return tasks, info, emitter.warnings, error

    async def process_file(
        self,
        path: Path,
        context: CallContext,
        transcriber: Callable[[], Transcriber],
        sink: EventSink | None = None,
        *,
        local_only: bool = False,
        local_only_reason: str = CONFIDENTIAL,
        summary: str | None = None,
        on_tasks: TasksCallback | None = None,
        usage: RunUsage | None = None,
    ) -> tuple[Transcript, PipelineResult]:
        """A transcript file or a recording, start to end; audio is transcribed first.
        ``local_only_reason`` says why only local models run (the run shows it)."""
        emitter = Emitter(sink)
        check_file(path)
        if file_is_audio(path):
            transcript = await transcribe_file(path, transcriber(), emitter.emit)
            if usage is not None:
                usage.audio_seconds = emitter.recording_seconds or transcript.duration
        else:
            transcript = await asyncio.to_thread(read_text_transcript, path)
        self.check_length(transcript)
        if transcript.started_at is not None and context.started_at_assumed:
            context = replace(context, started_at=transcript.started_at, started_at_assumed=False)
        if context.started_at_assumed:
            await emitter.emit(
                PipelineEvent(
                    kind="warning",
                    text="The call's start time is unknown; deadlines are resolved against "
                    f"{context.started_at:%Y-%m-%d}.",
                )
            )
        result = await self.run(
            transcript,
            context,
            local_only=local_only,
            local_only_reason=local_only_reason,
            emitter=emitter,
            summary=summary,
            on_tasks=on_tasks,
            usage=usage,
        )
        return transcript, result

    async def _summarize(
        self,
        transcript: Transcript,
        emitter: Emitter,
        finished: asyncio.Event,
        usage: RunUsage | None = None,
    ) -> tuple[str, str | None]:
        await emitter.step("step_started", Step.SUMMARIZING)

        def summarize(post: Callable[[PipelineEvent], None]) -> str:
            with model_time(self.summarizer.model.busy, usage):
                return self.summarizer.summarize(
                    transcript,
                    lambda piece: post(
                        PipelineEvent(kind="token", step=Step.SUMMARIZING, text=piece)
                    ),
                    lambda done, total: post(
                        PipelineEvent(
                            kind="progress",
                            step=Step.SUMMARIZING,
                            done=done,
                            total=total,
                            text=f"part {min(done + 1, total)} of {total}",
                        )
                    ),
                )

        try:
            text = await run_with_events(summarize, emitter.emit)
            if not text:
                raise PipelineError("the summarizer produced no text")
        except PipelineError as exc:
            await emitter.step("step_failed", Step.SUMMARIZING, str(exc))
            return "", f"summary failed: {exc}"
        finally:
            finished.set()
        await emitter.step("step_finished", Step.SUMMARIZING)
        return text, None

    async def _tasks(
        self,
        transcript: Transcript,
        context: CallContext,
        emitter: Emitter,
        summary_done: asyncio.Event,
        local_only_reason: str | None,
        on_tasks: TasksCallback | None = None,
        usage: RunUsage | None = None,
    ) -> tuple[list[Task], ExtractorInfo | None, str | None]:
        await emitter.step("step_started", Step.ANALYZING)
        try:
            extracted, info = await self._extract(
                transcript, context, emitter, summary_done, local_only_reason, usage
            )
        except PipelineError as exc:
            await emitter.step("step_failed", Step.ANALYZING, str(exc))
            return [], None, f"task extraction failed: {exc}"
        await emitter.step("step_finished", Step.ANALYZING)
        await emitter.step("step_started", Step.CREATING_TASKS)
        origin: TaskOrigin = info.name
        # A claim that an open task is done is not a new task: it is checked on its own below.
        labels = {task.ref for task in context.open_tasks}
        new = [item for item in extracted if item.completes.strip().upper() not in labels]
        tasks = await asyncio.to_thread(
            build_tasks, new, transcript, context, origin, recall_check=self.recall_check
        )
        if context.open_tasks:
            tasks, info = await asyncio.to_thread(
                _against_open_tasks, tasks, info, extracted, transcript, context
            )
        if on_tasks is not None:
            await on_tasks(tasks, info)
        await emitter.step("step_finished", Step.CREATING_TASKS)
        return tasks, info, None

    async def _extract(
        self,
        transcript: Transcript,
        context: CallContext,
        emitter: Emitter,
        summary_done: asyncio.Event,
        local_only_reason: str | None,
        usage: RunUsage | None,
    ) -> tuple[list[ExtractedTask], ExtractorInfo]:
        remote = None if local_only_reason else self.remote_extractor
        reason = local_only_reason or self.remote_unavailable_reason
        repaired: list[str] = []
        if remote is not None:
            try:
                tasks = await remote.extract(transcript, context, repaired, usage)
                await _repairs(emitter, repaired)
                if usage is not None:
                    usage.extractor = "claude"
                return tasks, ExtractorInfo(
                    name="claude", model=remote.model_name, repairs=repaired
                )
            except ExtractionError as exc:
                reason = exc.reason
                repaired.clear()
        await emitter.emit(
            PipelineEvent(
                kind="warning",
                step=Step.ANALYZING,
                text=f"Tasks come from the local extractor: {reason}.",
            )
        )
        if self.local_extractor.model is self.summarizer.model:
            await summary_done.wait()
        await emitter.emit(
            PipelineEvent(kind="progress", step=Step.ANALYZING, text="local extractor running")
        )
        tasks = await self.local_extractor.extract(transcript, context, repaired, usage)
        await _repairs(emitter, repaired)
        if usage is not None:
            usage.extractor = "local"
        return tasks, ExtractorInfo(
            name="local",
            model=self.local_extractor.model_name,
            fallback_reason=reason,
            repairs=repaired,
        )


def _against_open_tasks(
    tasks: list[Task],
    info: ExtractorInfo,
    extracted: list[ExtractedTask],
    transcript: Transcript,
    context: CallContext,
) -> tuple[list[Task], ExtractorInfo]:
    """The tasks without those already open, with the completions the call shows."""
    notes: list[str] = []
    kept = drop_known(tasks, context.open_tasks, notes)
    done = [
        task.model_copy(update={"origin": info.name})
        for task in completions(extracted, transcript, context.open_tasks, notes)
    ]
    return [*kept, *done], info.model_copy(update={"notes": notes})


async def _repairs(emitter: Emitter, repaired: list[str]) -> None:
    """What was repaired in the extractor's answer, as one warning on the run: the tasks that
    stand are shown, and the rep can see that the answer was not clean."""
    if not repaired:
        return
    shown = "; ".join(repaired[:5]) + (
        f"; and {len(repaired) - 5} more" if len(repaired) > 5 else ""
    )
    await emitter.emit(
        PipelineEvent(
            kind="warning",
            step=Step.ANALYZING,
            text=f"Part of the extractor's answer was repaired: {shown}.",
        )
    )


async def _already(summary: str, finished: asyncio.Event) -> tuple[str, str | None]:
    finished.set()
    return summary, None


def _hours(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"
