"""The embedded database: SQLite, its statements run in the event loop's own thread.

SQLAlchemy speaks to SQLite through aiosqlite, which hands every call (open a cursor, execute,
fetch, close, commit) to a worker thread and wakes the loop when it is done. A statement on a
local SQLite file takes microseconds; the hand-off costs about 200 µs of CPU and thread
switching each way, several per statement, and under load that, not SQLite, bounded the
service (the API benchmark's requests spent most of their time there). ``LoopConnection``
keeps aiosqlite's interface, which the dialect needs, and runs each call at once instead.

That is safe because nothing in the process waits for SQLite's locks: WAL lets readers read
while one connection writes, and ``sqlite_writes`` queues writers in the event loop, so a
statement never sleeps in SQLite's busy handler. The one wait left is another process writing
the same file (an admin command); SQLite's busy timeout bounds it, and those writes are short.
PostgreSQL is the database for deployments that outgrow this.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from types import TracebackType
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from smartnotes.storage.sqlite_writes import serialize_writes


class LoopConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread: every call runs in the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        # The dialect posts some calls (setting the isolation level) to the queue directly.
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> LoopConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, LoopConnection]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs what is put in it at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to whoever awaits the future
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


def make_sqlite_engine(url: str, *, busy_timeout: float) -> AsyncEngine:
    database = sqlite_database(url)

    async def connect() -> aiosqlite.Connection:
        connector = partial(
            sqlite3.connect, database, timeout=busy_timeout, check_same_thread=False
        )
        return await LoopConnection(connector)

    engine = create_async_engine(url, async_creator=connect)
    event.listen(engine.sync_engine, "connect", partial(_pragmas, busy_timeout=busy_timeout))
    serialize_writes(engine, timeout=busy_timeout)
    return engine


def sqlite_database(url: str) -> str:
    """The file a SQLite URL names; options are refused rather than silently ignored."""
    parsed = make_url(url)
    if parsed.query:
        names = ", ".join(sorted(parsed.query))
        raise ValueError(f"SQLite URLs take a file path only, not options ({names}): {url}")
    return parsed.database or ":memory:"


def _pragmas(connection: DBAPIConnection, _: ConnectionPoolEntry, *, busy_timeout: float) -> None:
    # WAL lets readers work while a writer commits; foreign keys are off by default in SQLite.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the database; a power cut (not a process crash) may
    # lose the last commits. It saves an fsync per commit, which bounds write throughput.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()


class LoopSession(AsyncSession):
    """A session on the embedded database that closes in place.

    SQLAlchemy closes a session leaving ``async with`` in a task of its own, so that a close
    waiting on the network is not abandoned if the caller is cancelled. Here nothing waits:
    statements run in the loop's thread, so the close cannot be interrupted halfway. The task
    only cost a turn of the event loop, with the connection still checked out, and under load
    (200 readers at once) the pool ran dry on connections waiting for that turn; requests then
    waited seconds for one while new arrivals took each connection given back.
    """

    async def __aexit__(
        self,
        type_: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _maker_context_manager(self) -> Any:
        # ``sessions.begin()``: commit or roll back, then close, in place as well.
        return _InPlace(self)


class _InPlace:
    __slots__ = ("session", "transaction")

    def __init__(self, session: LoopSession) -> None:
        self.session = session

    async def __aenter__(self) -> LoopSession:
        self.transaction = self.session.begin()
        await self.transaction.__aenter__()
        return self.session

    async def __aexit__(
        self,
        type_: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.transaction.__aexit__(type_, value, traceback)
        finally:
            await self.session.close()
