"""Migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.crm.tables import METADATA
from smartnotes.jobs.sqlite_connector import JOB_TABLES
from smartnotes.storage.database import make_engine
from smartnotes.storage.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    modelled,
    upgrade,
)


def _combined() -> MetaData:
    combined = MetaData()
    for metadata in METADATA:
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": modelled}
    )
    return list(compare_metadata(context, _combined()))


async def test_migrations_match_the_models_exactly(db_engine: AsyncEngine) -> None:
    await upgrade(db_engine)
    assert await current_revision(db_engine) == head_revision()
    async with db_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    # SQLite's full-text index is a virtual table with shadow tables of its own.
    search = {f"search_fts{part}" for part in ("", "_data", "_idx", "_docsize", "_config")}
    expected = set(_combined().tables) | {"alembic_version"} | set(JOB_TABLES)
    assert tables == expected | (search if db_engine.dialect.name == "sqlite" else set())


async def test_upgrade_twice_is_a_no_op_and_downgrade_empties(db_engine: AsyncEngine) -> None:
    await upgrade(db_engine)
    await upgrade(db_engine)
    assert await current_revision(db_engine) == head_revision()

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with db_engine.begin() as connection:
        await connection.run_sync(downgrade)
    async with db_engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    # Nothing is left behind (on PostgreSQL, procrastinate's functions and types): it upgrades
    # again from empty.
    await upgrade(db_engine)
    assert await current_revision(db_engine) == head_revision()


async def test_db_upgrade_command_creates_the_embedded_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"SMARTNOTES_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartnotes",
        "db",
        "upgrade",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "upgraded from empty to" in err.decode()
    assert (data_dir / "smartnotes.db").is_file()
    engine = make_engine(f"sqlite+aiosqlite:///{data_dir / 'smartnotes.db'}")
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
