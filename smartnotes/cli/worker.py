"""``smartnotes worker``: works queued jobs, until SIGINT or SIGTERM (then a graceful drain)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from smartnotes import logs
from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.jobs.engine import QUEUES
from smartnotes.settings import Settings

ERR = Console(stderr=True, highlight=False)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Runs processed at once [default: SMARTNOTES_WORKERS]", min=1, max=64),
    ] = None,
    queues: Annotated[
        str | None,
        typer.Option(
            help=(
                f"Queues to work, comma-separated, of {', '.join(QUEUES)} [default: all]; "
                "without runs the models are not loaded"
            )
        ),
    ] = None,
) -> None:
    """Work the job queues beside web-only processes (serve --no-process).

    Runs, CRM deliveries, Graph's side and the upkeep. SIGTERM lets running jobs finish within
    SMARTNOTES_SHUTDOWN_GRACE; what is left resumes on another worker."""
    from pipeline.errors import ModelError
    from smartnotes.meetings.runtime import GraphSetupError
    from smartnotes.storage.open import SchemaError
    from smartnotes.teams.runtime import BotSetupError

    settings = load_settings(ERR)
    chosen = _queues(queues)
    if chosen is None:
        raise fail(ERR, f"--queues takes names of {', '.join(QUEUES)}", Exit.BAD_INPUT)
    if settings.database().startswith("sqlite"):
        # The embedded file is one process's: at start it takes every registered worker for
        # dead. Workers beside web processes share a PostgreSQL database.
        raise fail(
            ERR,
            "smartnotes worker needs PostgreSQL (SMARTNOTES_DATABASE_URL); with the embedded "
            "database, smartnotes serve works the job queues itself",
            Exit.BAD_SETUP,
        )
    if concurrency is not None:
        settings = settings.model_copy(update={"workers": concurrency})
    logs.configure(settings.log_format, settings.log_level)
    try:
        asyncio.run(_work(settings, chosen))
    # A model file or model server that is not there is set-up, not a crash.
    except (SchemaError, GraphSetupError, BotSetupError, ModelError) as exc:
        raise fail(ERR, str(exc), Exit.BAD_SETUP) from None


def _queues(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return QUEUES
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not names or any(name not in QUEUES for name in names):
        return None
    return names


async def _work(settings: Settings, queues: tuple[str, ...]) -> None:
    from smartnotes.service import Service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Service.running(settings, queues=queues):
        ERR.print(f"Smart Notes worker: working {', '.join(queues)}")
        await stop.wait()
        ERR.print("Stopping: running jobs get the shutdown grace, the rest stay queued")
