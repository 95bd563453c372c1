"""The embedded SQLite engine: statements in the loop's thread, writers queued, never lost."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select, text, update
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from smartnotes.storage.database import make_engine, sessions
from smartnotes.storage.sqlite import make_sqlite_engine
from smartnotes.storage.sqlite_writes import WriteLockTimeoutError

metadata = MetaData()
counters = Table(
    "counters",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", Integer, nullable=False),
)


async def _prepare(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(counters.insert().values(name="calls", value=0))
    return engine


@pytest_asyncio.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _prepare(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"))
    yield engine
    await engine.dispose()


async def _value(engine: AsyncEngine, name: str = "calls") -> int:
    async with engine.connect() as connection:
        query = select(counters.c.value).where(counters.c.name == name)
        return int((await connection.execute(query)).scalar_one())


async def test_statements_run_in_the_event_loops_thread(engine: AsyncEngine) -> None:
    def register(dbapi: DBAPIConnection, _: ConnectionPoolEntry) -> None:
        dbapi.create_function("thread_id", 0, threading.get_ident)

    event.listen(engine.sync_engine, "connect", register)
    await engine.dispose()  # new connections, with the function
    async with engine.connect() as connection:
        ran_in = (await connection.execute(text("SELECT thread_id()"))).scalar_one()
    assert ran_in == threading.get_ident()


async def test_read_then_write_under_for_update_loses_no_update(engine: AsyncEngine) -> None:
    # Each increment reads, yields to the loop (as real code does between statements), then
    # writes what it read plus one. SQLite has no row locks: the FOR UPDATE read queues it
    # behind the writer before it, so no increment is computed from a stale value.
    async def increment() -> None:
        async with engine.begin() as connection:
            value = (
                await connection.execute(select(counters.c.value).with_for_update())
            ).scalar_one()
            await asyncio.sleep(0.01)
            await connection.execute(update(counters).values(value=value + 1))

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await _value(engine) == 20


async def test_concurrent_writers_wait_their_turn_instead_of_failing(engine: AsyncEngine) -> None:
    async def add(n: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(counters.insert().values(name=f"c{n}", value=n))
            await asyncio.sleep(0.005)  # holds the write across a pass through the loop
            await connection.execute(
                update(counters)
                .where(counters.c.name == "calls")
                .values(value=counters.c.value + 1)
            )

    await asyncio.gather(*(add(n) for n in range(30)))
    async with engine.connect() as connection:
        rows = (await connection.execute(select(counters.c.name))).scalars().all()
    assert len(rows) == 31
    assert await _value(engine) == 30


async def test_readers_do_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    async with engine.begin() as writer:
        await writer.execute(update(counters).values(value=5))
        # The write is not committed: a reader sees the value before it, at once.
        assert await asyncio.wait_for(_value(engine), timeout=1) == 0
    assert await _value(engine) == 5


async def test_a_writer_held_up_too_long_gets_a_clear_error(tmp_path: Path) -> None:
    engine = await _prepare(
        make_sqlite_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", busy_timeout=0.2)
    )
    try:
        async with engine.begin() as first:
            await first.execute(update(counters).values(value=1))
            with pytest.raises(WriteLockTimeoutError, match=r"more than 0\.2 s"):
                async with engine.begin() as second:
                    await second.execute(update(counters).values(value=2))
        # The first write landed; the lock was given back, so the next writer goes through.
        assert await _value(engine) == 1
        async with engine.begin() as third:
            await third.execute(update(counters).values(value=3))
        assert await _value(engine) == 3
    finally:
        await engine.dispose()


async def test_a_failed_transaction_gives_the_lock_back(engine: AsyncEngine) -> None:
    async def fail_half_way() -> None:
        async with engine.begin() as connection:
            await connection.execute(update(counters).values(value=9))
            raise RuntimeError("the request failed half-way")

    with pytest.raises(RuntimeError):
        await fail_half_way()
    assert await _value(engine) == 0
    async with engine.begin() as connection:
        await asyncio.wait_for(connection.execute(update(counters).values(value=4)), timeout=1)
    assert await _value(engine) == 4


def test_sqlite_urls_with_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"file path only, not options \(mode\)"):
        make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}?mode=ro")


async def test_a_session_closes_in_place_without_a_turn_of_the_loop(engine: AsyncEngine) -> None:
    """Leaving ``async with`` gives the connection back at once: no task, no wait behind the
    other ready callbacks. Under load that wait held every pooled connection at the same time
    and requests queued for seconds to get one."""
    factory = sessions(engine)
    loop = asyncio.get_running_loop()
    turns: list[str] = []
    pool = engine.sync_engine.pool

    async with factory() as session:
        await session.execute(select(counters.c.value))
        loop.call_soon(turns.append, "session")
    assert turns == [], "the close did not pass through the event loop"
    assert pool.checkedout() == 0  # type: ignore[attr-defined]

    async with factory.begin() as session:
        await session.execute(update(counters).values(value=counters.c.value + 1))
        loop.call_soon(turns.append, "transaction")
    assert turns == []
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _value(engine) == 1, "the transaction was committed on the way out"

    async def fail() -> None:
        async with factory.begin() as session:
            await session.execute(update(counters).values(value=99))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await fail()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _value(engine) == 1
    await asyncio.sleep(0)
    assert turns == ["session", "transaction"]
