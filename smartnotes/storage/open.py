"""Opening the service's database for a command or the server, schema checked first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.storage.database import DEFAULT_POOL, Pool, make_engine
from smartnotes.storage.migrate import current_revision, head_revision, upgrade


class SchemaError(Exception):
    """The database is not at the schema this version needs."""


@asynccontextmanager
async def open_database(url: str, pool: Pool = DEFAULT_POOL) -> AsyncIterator[AsyncEngine]:
    """The embedded SQLite database is created or migrated on first use; any other database
    must be migrated by ``smartnotes db upgrade`` first, so production schema changes are an
    explicit step."""
    engine = make_engine(url, pool)
    try:
        current, head = await current_revision(engine), head_revision()
        if current != head:
            if engine.dialect.name != "sqlite":
                raise SchemaError(
                    f"database schema is at {current or 'nothing'}, this version needs {head}: "
                    "run 'smartnotes db upgrade'"
                )
            await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()
