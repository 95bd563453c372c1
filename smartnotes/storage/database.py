"""The database: one async engine per process, built from settings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from crm_adapters.embedded import CRMBase
from smartnotes.storage.models import Base
from smartnotes.storage.sqlite import make_sqlite_engine

# Every table the service owns, its own and the embedded CRM's, for migrations and checks.
METADATA: tuple[MetaData, ...] = (Base.metadata, CRMBase.metadata)

# Seconds a SQLite statement waits for another process's write before giving up.
SQLITE_BUSY_TIMEOUT = 30.0


def database_url(url: str | None, data_dir: Path) -> str:
    """The configured URL, or a SQLite file in the data directory (created on first start)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir / 'smartnotes.db'}"


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        return make_sqlite_engine(url, busy_timeout=SQLITE_BUSY_TIMEOUT)
    return create_async_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
