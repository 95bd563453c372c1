"""One writer at a time on SQLite, queued in the event loop instead of in SQLite's busy handler.

SQLite lets one connection write at a time. A second writer waits in SQLite's busy handler,
which polls with sleeps that grow to 100 ms; with a few hundred requests at once those sleeps,
not the work, set the response time (most of the service's time went to them under the API
benchmark). Here a connection takes an asyncio lock, shared by the engine's connections,
before its first write and gives it back when it returns to the pool (its transaction is over
by then), so writers wait in order and the next starts as soon as the previous one commits.

A ``SELECT ... FOR UPDATE`` takes the lock too: on PostgreSQL it locks the row, SQLite cannot,
and without it a version read and the update that follows could interleave with another edit.
Readers never wait (WAL). Other processes on the same file (the CLI) still meet SQLite's own
locking, with its busy timeout.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

HELD = "smartnotes_write_lock_held"
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)


class WriteLockTimeoutError(TimeoutError):
    """Another write held the database longer than the busy timeout."""


def serialize_writes(engine: AsyncEngine, *, timeout: float) -> asyncio.Lock:
    """Installs the lock on a SQLite engine; returns it (tests look at it)."""
    lock = asyncio.Lock()

    def before_cursor_execute(
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> None:
        if conn.info.get(HELD) or not _writes(statement, context):
            return
        await_only(_acquire(lock, timeout))
        conn.info[HELD] = True

    def release(_: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        if record.info.pop(HELD, False):
            lock.release()

    def invalidated(
        dbapi: DBAPIConnection | None, record: ConnectionPoolEntry, _: BaseException | None
    ) -> None:
        # Invalidation clears the record's info, so the flag would be gone by the checkin.
        release(dbapi, record)

    event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine.sync_engine.pool, "checkin", release)
    event.listen(engine.sync_engine.pool, "detach", release)
    event.listen(engine.sync_engine.pool, "invalidate", invalidated)
    return lock


async def _acquire(lock: asyncio.Lock, seconds: float) -> None:
    if not lock.locked():
        # Free: taken without a pass through the event loop (wait_for would schedule a task).
        await lock.acquire()
        return
    try:
        await asyncio.wait_for(lock.acquire(), seconds)
    except TimeoutError:
        raise WriteLockTimeoutError(
            f"another write held the database for more than {seconds:g} s"
        ) from None


def _writes(statement: str, context: ExecutionContext | None) -> bool:
    if _WRITE.match(statement):
        return True
    compiled = getattr(context, "compiled", None)
    # The dialect drops FOR UPDATE from the SQL it renders, so ask the statement itself.
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
