"""``smartnotes eval``: how well the tasks match what a careful rep would have noted."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from pipeline.errors import InputError, ModelError, PipelineError
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.evaluation.gold import LabelledCall, load_set
from smartnotes.evaluation.record import record as record_score
from smartnotes.evaluation.record import tenant_exists
from smartnotes.evaluation.run import Extractor, evaluate, report
from smartnotes.evaluation.scoring import CallScore, Totals
from smartnotes.settings import Settings
from smartnotes.storage.open import SchemaError, open_database

T = TypeVar("T")

_MEASURES = ("recall", "precision", "deadline_accuracy", "grounding_rate")


def evaluate_command(
    folder: Annotated[
        Path, typer.Argument(help="A folder of labelled calls (NAME.vtt + NAME.gold.json).")
    ],
    peer: Annotated[
        str | None,
        typer.Option(
            help="'gold': a local Messages API peer answers like a perfect Claude (the gold "
            "commitments with the words said, no dates), so what is measured is ours."
        ),
    ] = None,
    extractor: Annotated[
        str,
        typer.Option(help="'auto' (Claude when configured, else local) or 'local'."),
    ] = "auto",
    call: Annotated[
        list[str] | None, typer.Option("--call", help="Only this call (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    record: Annotated[
        str | None,
        typer.Option(
            metavar="TENANT",
            help="Keep the quality score for this tenant (its labelled calls): the admin "
            "console and `admin metrics` show the latest.",
        ),
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            help="Exit 1 when recall, precision, deadline accuracy or grounding overall is "
            "below this (0 to 1)."
        ),
    ] = None,
) -> None:
    """Score task extraction on labelled calls: recall, precision, deadlines, grounding."""

    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    problem = _option_problem(peer, extractor)
    if problem:
        raise fail(err, problem, Exit.BAD_INPUT)
    settings = load_settings(err)
    try:
        calls = _chosen_calls(folder, call or [])
    except InputError as exc:
        raise fail(err, str(exc), Exit.BAD_INPUT) from None
    chosen: Extractor = "local" if extractor == "local" else "auto"
    if record is not None and not _with_database(
        err, settings, partial(tenant_exists, tenant_id=record)
    ):
        raise fail(err, f"--record: no tenant {record}", Exit.BAD_INPUT)

    def progress(score: CallScore) -> None:
        if not as_json:
            err.print(f"  {escape(score.name)}: {score.found}/{score.commitments} found")

    try:
        scores = asyncio.run(
            evaluate(calls, settings, extractor=chosen, peer=peer == "gold", progress=progress)
        )
    except InputError as exc:
        raise fail(err, str(exc), Exit.BAD_INPUT) from None
    except ModelError as exc:
        raise fail(err, str(exc), Exit.BAD_SETUP) from None
    except PipelineError as exc:
        raise fail(err, str(exc), Exit.INCOMPLETE) from None
    document = report(scores)
    if record is not None:
        keep = partial(
            record_score, tenant_id=record, calls=len(scores), overall=document["overall"]
        )
        score = _with_database(err, settings, keep)
        err.print(f"Quality score {score:.2f} kept for tenant {escape(record)}.")
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        show(out, scores, document)
    if fail_under is not None:
        _check_floor(err, document, fail_under)


def _with_database(
    err: Console, settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]
) -> T:
    async def run() -> T:
        async with open_database(settings.database()) as engine:
            return await work(engine)

    try:
        return asyncio.run(run())
    except (SchemaError, SQLAlchemyError, OSError) as exc:
        raise fail(err, f"database: {str(exc).splitlines()[0]}", Exit.BAD_SETUP) from None


def _check_floor(err: Console, document: dict[str, Any], fail_under: float) -> None:
    overall = document["overall"]
    below = [m for m in _MEASURES if overall[m] < fail_under]
    if below:
        err.print(f"below {fail_under}: {', '.join(below)}")
        raise typer.Exit(1)


def _option_problem(peer: str | None, extractor: str) -> str | None:
    if peer not in (None, "gold"):
        return f"--peer: unknown peer {peer!r} (the one there is: gold)"
    if extractor not in ("auto", "local"):
        return f"--extractor: {extractor!r} is not auto or local"
    if peer and extractor == "local":
        return "--peer answers for Claude; it cannot go with --extractor local"
    return None


def _chosen_calls(folder: Path, names: list[str]) -> list[LabelledCall]:
    calls = load_set(folder)
    unknown = sorted(set(names) - {c.name for c in calls})
    if unknown:
        raise InputError(f"no labelled call named {unknown[0]!r}")
    return [c for c in calls if c.name in names] if names else calls


def show(out: Console, scores: list[CallScore], document: dict[str, object]) -> None:
    table = Table(title="Smart Notes eval", show_lines=False)
    for column in (
        "call",
        "gold",
        "tasks",
        "recall",
        "precision",
        "deadlines",
        "owners",
        "grounded",
        "dupl.",
        "s",
    ):
        table.add_column(column, justify="left" if column == "call" else "right")
    for score in scores:
        table.add_row(*_row(score.name, Totals.of([score]), f"{score.seconds:.1f}"))
    total_seconds = sum(s.seconds for s in scores)
    table.add_row(*_row("overall", Totals.of(scores), f"{total_seconds:.1f}"), style="bold")
    out.print(table)
    calls = document["calls"]
    for entry in calls if isinstance(calls, list) else []:
        for miss in entry["missed"]:
            out.print(f"[red]missed[/] {escape(entry['call'])}: {escape(miss['title'])}")
        for wrong in entry["wrong_deadlines"]:
            out.print(
                f"[yellow]deadline[/] {escape(entry['call'])}: {escape(wrong['title'])}: "
                f"'{escape(wrong['said'])}' is {wrong['expected']}, found {wrong['found']}"
            )
        for extra in entry["extra"] + entry["duplicate_tasks"]:
            out.print(f"[yellow]extra[/] {escape(entry['call'])}: {escape(extra['title'])}")


def _row(name: str, totals: Totals, seconds: str) -> list[str]:
    return [
        name,
        str(totals.commitments),
        str(totals.tasks),
        f"{totals.recall:.0%}",
        f"{totals.precision:.0%}",
        f"{totals.deadline_accuracy:.0%}",
        f"{totals.owner_accuracy:.0%}",
        f"{totals.grounding_rate:.0%}",
        str(totals.duplicates),
        seconds,
    ]
