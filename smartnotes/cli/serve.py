"""``smartnotes serve``: the service, until SIGINT or SIGTERM (then a graceful stop)."""

from __future__ import annotations

import asyncio
import gc
from typing import Annotated

import typer
from aiohttp import web
from rich.console import Console

from smartnotes import logs
from smartnotes.cli.common import Exit, fail, load_settings

ERR = Console(stderr=True, highlight=False)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: SMARTNOTES_HOST]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [default: SMARTNOTES_PORT]", min=0, max=65535)
    ] = None,
    process: Annotated[
        bool,
        typer.Option(
            "--process/--no-process",
            help="Process runs here (load the models); --no-process serves only the API.",
        ),
    ] = True,
) -> None:
    """Start Smart Notes: the review API, the webhooks, the bot and the job worker."""
    from pipeline.errors import ModelError
    from smartnotes.meetings.runtime import GraphSetupError
    from smartnotes.storage.open import SchemaError
    from smartnotes.teams.runtime import BotSetupError
    from smartnotes.web.app import create_app

    settings = load_settings(ERR)
    logs.configure(settings.log_format, settings.log_level)
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    try:
        web.run_app(
            _freeze_at_start(create_app(settings, process=process)),
            host=bind_host,
            port=bind_port,
            backlog=settings.listen_backlog,
            shutdown_timeout=settings.shutdown_grace,
            print=lambda _: ERR.print(
                f"Smart Notes is listening on http://{bind_host}:{bind_port}"
            ),
            access_log=None,
            loop=_event_loop(),
        )
    # A model file or model server that is not there is set-up, not a crash.
    except (SchemaError, GraphSetupError, BotSetupError, ModelError) as exc:
        raise fail(ERR, str(exc), Exit.BAD_SETUP) from None
    except OSError as exc:
        raise fail(
            ERR, f"cannot listen on {bind_host}:{bind_port}: {exc}", Exit.BAD_SETUP
        ) from None


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): the same asyncio, with less overhead per
    request and per wake-up; the standard loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _freeze_at_start(app: web.Application) -> web.Application:
    """Once the service is up, what it loaded (modules, models, the SDKs) lives as long as the
    process: it is moved out of the cycle collector's sight. Otherwise every full collection
    walks all of it and stops the service for about 150 ms, the slowest answers under load.
    Only here, where the process is the service's own (tests build many apps in one)."""

    async def freeze(_: web.Application) -> None:
        gc.collect()
        gc.freeze()

    app.on_startup.append(freeze)
    return app
