"""``smartnotes db``: the service's database."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.storage.database import make_engine
from smartnotes.storage.migrate import current_revision, head_revision, upgrade

db_app = typer.Typer(help="The service's database: migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the database to the current schema."""

    err = Console(stderr=True, highlight=False)
    settings = load_settings(err)
    url = settings.database()

    async def run() -> tuple[str | None, str | None]:
        engine = make_engine(url)
        try:
            before = await current_revision(engine)
            await upgrade(engine, revision)
            return before, await current_revision(engine)
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(run())
    except (SQLAlchemyError, OSError) as exc:
        raise fail(
            err, f"database upgrade failed: {str(exc).splitlines()[0]}", Exit.BAD_SETUP
        ) from None
    if before == after:
        err.print(f"Database is at revision {after} (head {head_revision()}); nothing to do.")
    else:
        err.print(f"Database upgraded from {before or 'empty'} to {after}.")
