"""The database: one async engine per process, built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from smartnotes.storage.sqlite import LoopSession, make_sqlite_engine

# Seconds a SQLite statement waits for another process's write before giving up.
SQLITE_BUSY_TIMEOUT = 30.0


def database_url(url: str | None, data_dir: Path) -> str:
    """The configured URL, or a SQLite file in the data directory (created on first start)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{data_dir / 'smartnotes.db'}"


@dataclass(frozen=True)
class Pool:
    """Database connections a process keeps (``size``), may add under load (``overflow``),
    and how long a request waits for one before it is answered 503 (``timeout``, seconds)."""

    size: int = 20
    overflow: int = 20
    timeout: float = 5.0


DEFAULT_POOL = Pool()


def postgres_url(url: str) -> str:
    """A PostgreSQL URL on psycopg 3, whichever driver it names: the job engine defers a job
    on the connection of the transaction that writes its row (``smartnotes.jobs``), and that
    needs both on the same driver. Other databases are left as they are."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_conninfo(engine: AsyncEngine) -> str:
    """The engine's PostgreSQL database as a libpq URL, for what connects on its own (the job
    engine's pool, the live event channel)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(url: str, pool: Pool = DEFAULT_POOL) -> AsyncEngine:
    if url.startswith("sqlite"):
        return make_sqlite_engine(url, busy_timeout=SQLITE_BUSY_TIMEOUT)
    return create_async_engine(
        postgres_url(url),
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
        pool_pre_ping=True,
    )


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    if engine.dialect.name == "sqlite":
        return async_sessionmaker(engine, class_=LoopSession, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)
