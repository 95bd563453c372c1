"""Schema migrations (Alembic), run programmatically on the service's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.jobs.sqlite_connector import JOB_TABLE_PREFIX

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


# The database's own full-text index on search_segments (migration 0012): SQLite's FTS5 table
# with its shadow tables; PostgreSQL's stored vector column and its GIN index. With pgvector,
# search_embeddings' vector column (migration 0016).
_SEARCH_INDEX = ("search_fts", "ix_search_segments_fts", "embedding_pg")


def modelled(name: str | None, kind: str, _: object) -> bool:
    """Whether a table is one of our models: the job engine's tables are procrastinate's
    schema (migration 0009) and the full-text index is the database's own; both are left out
    when the models are compared with the database."""
    named = name or ""
    if kind == "table" and named.startswith(JOB_TABLE_PREFIX):
        return False
    return not named.startswith(_SEARCH_INDEX)


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%'; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
