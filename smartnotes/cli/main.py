"""The ``smartnotes`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.errors import InputError, ModelError, PipelineError
from pipeline.events import utcnow
from pipeline.extraction import CallContext
from pipeline.process import PipelineResult
from pipeline.transcript import Transcript
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.cli.console import LiveView, header, show_result, transcript_line
from smartnotes.settings import Settings

if TYPE_CHECKING:
    from smartnotes.engine import Engine

app = typer.Typer(
    name="smartnotes",
    help="Smart Notes: call transcripts in, summaries and CRM tasks out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The sample call shipped with the package, beside the cli package.
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _register_subcommands() -> None:
    from smartnotes.cli.admin import admin_app, crm_app
    from smartnotes.cli.db import db_app
    from smartnotes.cli.eval import evaluate_command
    from smartnotes.cli.graph import graph_app
    from smartnotes.cli.jobs import jobs_app
    from smartnotes.cli.manifest import manifest_app
    from smartnotes.cli.metrics import metrics_command
    from smartnotes.cli.serve import serve
    from smartnotes.cli.worker import worker

    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("eval")(evaluate_command)

    app.add_typer(db_app, name="db")
    admin_app.command("metrics")(metrics_command)
    app.add_typer(admin_app, name="admin")
    app.add_typer(crm_app, name="crm")
    app.add_typer(manifest_app, name="manifest")
    app.add_typer(graph_app, name="graph")
    app.add_typer(jobs_app, name="jobs")


def main() -> None:
    app()


def _context(
    started_at: str | None, timezone: str | None, rep: str, settings: Settings, err: Console
) -> CallContext:
    zone_name = timezone or settings.default_timezone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(err, f"unknown time zone: {zone_name}", Exit.BAD_INPUT) from None
    if started_at is None:
        return CallContext(
            started_at=utcnow(), timezone=zone_name, rep=rep, started_at_assumed=True
        )
    try:
        moment = datetime.fromisoformat(started_at)
    except ValueError:
        raise fail(
            err, f"--started-at is not an ISO date-time: {started_at}", Exit.BAD_INPUT
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return CallContext(started_at=moment, timezone=zone_name, rep=rep)


def _run(
    files: list[tuple[Path, CallContext]],
    settings: Settings,
    as_json: bool,
    out: Console,
    err: Console,
) -> list[tuple[Path, Transcript, PipelineResult]]:
    from smartnotes.engine import Engine  # loads llama.cpp; keep --help fast

    try:
        engine = Engine(settings)
    except ModelError as exc:
        raise fail(err, str(exc), Exit.BAD_SETUP) from None
    try:
        return asyncio.run(_process_all(engine, files, as_json, out, err))
    finally:
        engine.close()


async def _process_all(
    engine: Engine,
    files: list[tuple[Path, CallContext]],
    as_json: bool,
    out: Console,
    err: Console,
) -> list[tuple[Path, Transcript, PipelineResult]]:
    """All files in one event loop: the Claude client's connections belong to it."""
    results: list[tuple[Path, Transcript, PipelineResult]] = []
    try:
        for path, context in files:
            if not as_json:
                header(err, path)
            view = None if as_json else LiveView(out, err)
            try:
                transcript, result = await engine.pipeline.process_file(
                    path, context, engine.transcriber, view
                )
            except InputError as exc:
                raise fail(err, f"{path.name}: {exc}", Exit.BAD_INPUT) from None
            except ModelError as exc:
                raise fail(err, str(exc), Exit.BAD_SETUP) from None
            except PipelineError as exc:
                raise fail(err, f"{path.name}: {exc}", Exit.INCOMPLETE) from None
            if not as_json:
                transcript_line(err, transcript)
                show_result(out, result)
            results.append((path, transcript, result))
    finally:
        await engine.aclose()
    return results


def _json_document(path: Path, result: PipelineResult) -> dict[str, object]:
    document: dict[str, object] = {"file": str(path), "complete": result.complete}
    document.update(result.model_dump(mode="json"))
    document["steps"] = [{**r.model_dump(mode="json"), "seconds": r.seconds} for r in result.steps]
    return document


@app.command()
def process(
    file: Annotated[Path, typer.Argument(help="Transcript (VTT, SRT, text, JSON) or recording.")],
    started_at: Annotated[
        str | None,
        typer.Option(
            help="When the call started (ISO 8601); deadlines like 'by Friday' count from it."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The rep's time zone, e.g. Europe/Berlin (default SMARTNOTES_DEFAULT_TIMEZONE)."
        ),
    ] = None,
    rep: Annotated[str, typer.Option(help="The rep's name as it appears in the call.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Summarize a call and extract its tasks."""
    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    settings = load_settings(err)
    context = _context(started_at, timezone, rep, settings, err)
    [(path, _, result)] = _run([(file, context)], settings, as_json, out, err)
    if as_json:
        sys.stdout.write(json.dumps(_json_document(path, result), indent=2) + "\n")
    if not result.complete:
        raise typer.Exit(int(Exit.INCOMPLETE))


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON documents.")] = False,
) -> None:
    """Run Smart Notes on the sample sales call shipped with it (no account, no key)."""
    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    settings = load_settings(err)
    zone = "America/Chicago"
    context = CallContext(
        started_at=datetime(2026, 11, 17, 10, 0, tzinfo=ZoneInfo(zone)),
        timezone=zone,
        rep="Maria Chen",
    )
    files = [(SAMPLES / "sales_call.vtt", context), (SAMPLES / "sales_call_excerpt.wav", context)]
    if not as_json:
        err.print(
            "[bold]Smart Notes demo[/]: a sales call between Maria Chen (Northwind Analytics) "
            "and Contoso Logistics on Tuesday 17 November 2026, 10:00 in Chicago — first its "
            "Teams transcript, then a 42-second recording of part of it.\n"
        )
    results = _run(files, settings, as_json, out, err)
    if as_json:
        documents = [_json_document(path, result) for path, _, result in results]
        sys.stdout.write(json.dumps(documents, indent=2) + "\n")
    else:
        _explain_models(err, settings, results)
    if any(not result.complete for _, _, result in results):
        raise typer.Exit(int(Exit.INCOMPLETE))


def _explain_models(
    err: Console, settings: Settings, results: list[tuple[Path, Transcript, PipelineResult]]
) -> None:
    _, _, first = results[0]
    extractor = first.extractor
    extractor_line = (
        f"{extractor.name} ({extractor.model})"
        + (f" because {extractor.fallback_reason}" if extractor.fallback_reason else "")
        if extractor
        else "none"
    )
    summarizer = "bundled demo model" if settings.summarizer_model is None else "your model"
    asr = "bundled Whisper tiny.en" if settings.asr_model is None else str(settings.asr_model)
    err.print(
        "\n[bold]Models that ran[/]\n"
        f"  summary: {escape(first.summary_model)} in llama.cpp ({summarizer})\n"
        f"  tasks:   {escape(extractor_line)}\n"
        f"  speech:  faster-whisper with {escape(asr)}\n"
        "The demo models are tiny so this runs anywhere; expect rough prose. For production:\n"
        "  SMARTNOTES_SUMMARIZER_MODEL=/models/Meta-Llama-3-8B-Instruct.Q4_K_M.gguf\n"
        "  ANTHROPIC_API_KEY=sk-ant-...        (tasks by Claude; without it the local model)\n"
        "  SMARTNOTES_ASR_MODEL=/models/faster-whisper-small.en\n"
        "See README.md, Configuration."
    )


_register_subcommands()

if __name__ == "__main__":
    main()
