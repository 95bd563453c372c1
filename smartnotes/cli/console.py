"""Terminal output for ``smartnotes process`` and ``smartnotes demo``.

The summary streams to stdout as the model writes it; step changes and warnings go to stderr.
Step events that arrive while the summary is streaming wait until it ends, so the text the rep
reads is never cut by a status line.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.text import Text

from pipeline.events import PipelineEvent, Step
from pipeline.formats import format_label
from pipeline.process import PipelineResult
from pipeline.tasks import Task
from pipeline.transcript import Transcript, format_timestamp

STEP_LABELS = {
    Step.TRANSCRIBING: "Transcribing",
    Step.SUMMARIZING: "Summarizing",
    Step.ANALYZING: "Analyzing",
    Step.CREATING_TASKS: "Creating tasks",
}


class LiveView:
    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err
        self._streaming = False
        self._held: list[PipelineEvent] = []
        self._last_percent = -1

    def __call__(self, event: PipelineEvent) -> None:
        if event.kind == "token":
            if not self._streaming:
                self._streaming = True
                self.out.print(Text("Summary (AI generated)", style="bold"))
            self.out.out(event.text, end="", highlight=False)
            self.out.file.flush()
            return
        if self._streaming and event.step != Step.SUMMARIZING:
            self._held.append(event)
            return
        if event.kind == "step_finished" and event.step == Step.SUMMARIZING and self._streaming:
            self._streaming = False
            self.out.print()
            self.out.print()
            self._show(event)
            for held in self._held:
                self._show(held)
            self._held.clear()
            return
        self._show(event)

    def _show(self, event: PipelineEvent) -> None:
        label = STEP_LABELS.get(event.step, "") if event.step else ""
        if event.kind == "step_started":
            self.err.print(f"[cyan]▸ {label}…[/]")
        elif event.kind == "step_finished":
            self.err.print(f"[green]✓ {label}[/]")
        elif event.kind == "step_failed":
            self.err.print(f"[red]✗ {label} failed: {escape(event.text)}[/]")
        elif event.kind == "progress" and event.total:
            self._progress(event, label)
        elif event.kind == "warning":
            self.err.print(f"[yellow]! {escape(event.text)}[/]")

    def _progress(self, event: PipelineEvent, label: str) -> None:
        if event.step == Step.TRANSCRIBING and event.done is not None and event.total:
            percent = int(100 * event.done / event.total)
            if percent // 10 != self._last_percent // 10 or percent == 100:
                self._last_percent = percent
                self.err.print(f"  {label}: {percent}% of {event.total:.0f} s of audio")
        elif event.text:
            self.err.print(f"  {label}: {escape(event.text)}")


def header(console: Console, path: Path) -> None:
    console.print(Text(f"Smart Notes · {path.name}", style="bold"))


def transcript_line(console: Console, transcript: Transcript) -> None:
    estimated = " (timings estimated)" if transcript.timing_estimated else ""
    console.print(
        f"[dim]{format_label(transcript.source_format)} · "
        f"{format_timestamp(transcript.duration)} · {len(transcript.speakers)} speaker(s) · "
        f"{transcript.word_count} words{estimated}[/]"
    )


def show_result(console: Console, result: PipelineResult) -> None:
    if result.extractor is not None:
        source = f"{result.extractor.name} extractor ({result.extractor.model})"
        if result.extractor.fallback_reason:
            source += f" — {result.extractor.fallback_reason}"
        console.print(f"[dim]Tasks by the {escape(source)}[/]")
    console.print(_task_list(result.tasks))
    console.print(
        "[dim]AI generated: review and edit before anything is saved to the CRM. "
        "✓ = quote found in the transcript, ? = not found (check it).[/]"
    )
    timings = ", ".join(
        f"{STEP_LABELS[r.step].lower()} {r.seconds:.1f} s"
        for r in result.steps
        if r.seconds is not None
    )
    console.print(f"[dim]Steps: {timings}[/]")
    if not result.complete:
        console.print(f"[bold red]INCOMPLETE: {escape('; '.join(result.errors))}[/]")


def _task_list(tasks: list[Task]) -> Group:
    """One block a task: the line a rep scans, then where it came from."""
    blocks: list[Text] = [Text(f"Tasks ({len(tasks)})", style="bold")]
    for number, task in enumerate(tasks, start=1):
        line = Text(f"{number:>2}. ")
        line.append(task.title, style="bold")
        facts = [f"{task.priority.value} priority"]
        if task.owner:
            facts.append(f"owner {task.owner}")
        if task.due_date is not None:
            said = f' ("{task.due_text}")' if task.due_text else ""
            facts.append(f"due {task.due_date:%a %d %b %Y}{said}")
        elif task.due_text:
            facts.append(f'due "{task.due_text}" (no date)')
        if task.related_to:
            facts.append(task.related_to)
        line.append("\n    " + " · ".join(facts), style="cyan")
        if task.description:
            line.append(f"\n    {task.description}")
        for evidence in task.evidence:
            mark = "✓" if evidence.verified else "? unverified"
            when = format_timestamp(evidence.at) if evidence.at is not None else "--:--:--"
            who = f" {evidence.speaker}" if evidence.speaker else ""
            line.append(f"\n    {mark} [{when}]{who}: “{evidence.quote}”", style="dim")
        if task.origin == "recall_check":
            line.append(
                "\n    found by the recall check: keep it only if it is a real commitment",
                style="yellow",
            )
        blocks.append(line)
    return Group(*blocks)
