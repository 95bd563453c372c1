"""procrastinate on the embedded SQLite database: its connector interface, in SQLite's SQL.

procrastinate's own connectors speak to PostgreSQL, where its queries call PL/pgSQL functions.
The embedded default has no server, so this connector answers the same named queries
(``defer_jobs``, ``fetch_job``, ``retry_job``…) with SQLite statements on the service's own
engine, in the same tables and with the same rules: a job's ``lock`` lets one job of that lock
run at a time, a ``queueing_lock`` admits one waiting job, a periodic task is deferred once per
timestamp, stalled workers are pruned by heartbeat. procrastinate's worker, retries, periodic
deferrer and job manager run unchanged on top of it.

Jobs survive a restart (they are rows in the database file). Workers on the same file learn of
new jobs by polling; those in this process are also told at once, after the deferring
transaction commits. Times are stored as UTC epoch seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from procrastinate import connector, exceptions, manager, schema, sql, types
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

Row = dict[str, Any]
JOB_COLUMNS = (
    "id, queue_name, task_name, priority, lock, queueing_lock, args, status, scheduled_at, "
    "attempts, abort_requested, worker_id"
)
QUALIFIED = ", ".join("job." + column.strip() for column in JOB_COLUMNS.split(","))
# The statements below interpolate only these column lists and bind-parameter markers
# (``:q0, :q1``), never a value: hence the S608 exemptions.
ANY_QUEUE = "procrastinate_any_queue_v1"
# The queries that create jobs: workers are told of those after the transaction commits.
DEFERS = frozenset({"defer_jobs", "defer_periodic_job"})

JOB_TABLE_PREFIX = "procrastinate_"
# In the order they are created; dropped the other way round.
JOB_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_workers",
    "procrastinate_periodic_defers",
)
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS procrastinate_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_name TEXT NOT NULL,
        task_name TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        lock TEXT,
        queueing_lock TEXT,
        args TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'todo',
        scheduled_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        abort_requested INTEGER NOT NULL DEFAULT 0,
        worker_id INTEGER,
        CHECK (status IN ('todo', 'doing', 'succeeded', 'failed', 'cancelled', 'aborted'))
    )""",
    # The same unique indexes as procrastinate's schema, under the same names: one waiting job
    # per queueing lock, one running job per lock.
    f"""CREATE UNIQUE INDEX IF NOT EXISTS {manager.QUEUEING_LOCK_CONSTRAINT}
        ON procrastinate_jobs (queueing_lock) WHERE status = 'todo'""",
    """CREATE UNIQUE INDEX IF NOT EXISTS procrastinate_jobs_lock_idx_v1
        ON procrastinate_jobs (lock) WHERE status = 'doing'""",
    """CREATE INDEX IF NOT EXISTS procrastinate_jobs_fetch
        ON procrastinate_jobs (status, queue_name, priority DESC, id)""",
    """CREATE TABLE IF NOT EXISTS procrastinate_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS procrastinate_events_job ON procrastinate_events (job_id)",
    """CREATE TABLE IF NOT EXISTS procrastinate_workers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        last_heartbeat REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS procrastinate_periodic_defers (
        task_name TEXT NOT NULL,
        periodic_id TEXT NOT NULL DEFAULT '',
        defer_timestamp INTEGER NOT NULL,
        job_id INTEGER,
        PRIMARY KEY (task_name, periodic_id)
    )""",
)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # procrastinate's times are aware; a naive one is taken as UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _job(row: Mapping[str, Any]) -> Row:
    job = dict(row)
    job["args"] = json.loads(job["args"])
    job["scheduled_at"] = _datetime(job["scheduled_at"])
    job["abort_requested"] = bool(job["abort_requested"])
    return job


class SQLiteConnector(connector.BaseAsyncConnector):
    """procrastinate's connector interface over the service's SQLite engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._names = {query: name for name, query in sql.queries.items()}
        ddl = schema.SchemaManager.get_schema()
        # The schema manager escapes its script's % signs before it sends it.
        self._names[ddl] = self._names[ddl.replace("%", "%%")] = "apply_schema"
        self._listeners: list[tuple[connector.Notify, frozenset[str]]] = []
        self._telling: set[asyncio.Task[None]] = set()

    # procrastinate's interface ------------------------------------------------------------

    def get_sync_connector(self) -> connector.BaseConnector:
        return self

    async def open_async(self, pool: connector.Pool | None = None) -> None:
        return None

    async def close_async(self) -> None:
        self._listeners.clear()

    def make_dynamic_query(self, query: str, **identifiers: str) -> str:
        return query.format(**identifiers)

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await self._run(None, query, "run", arguments)

    async def execute_query_one_async(self, query: str, **arguments: Any) -> Row:
        result: Row = await self._run(None, query, "one", arguments)
        return result

    async def execute_query_all_async(self, query: str, **arguments: Any) -> list[Row]:
        return list(await self._run(None, query, "all", arguments))

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> Row:
        result: Row = await self._run(connection, query, "one", arguments)
        return result

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[Row]:
        return list(await self._run(connection, query, "all", arguments))

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        self._listeners.append((on_notification, frozenset(channels)))

    # Dispatch ------------------------------------------------------------------------------

    async def _run(self, connection: Any, query: str, suffix: str, arguments: Any) -> Any:
        name = self._names.get(query)
        if name is None:
            raise exceptions.ConnectorException(f"a query this connector does not know: {query}")
        method = getattr(self, f"_{name}_{suffix}", None) or getattr(self, f"_{name}")
        try:
            return await self._dispatch(method, name, connection, arguments)
        except IntegrityError as exc:
            # A unique index said no: procrastinate's own error, as its connectors raise it.
            lock_index = manager.QUEUEING_LOCK_CONSTRAINT
            raise exceptions.UniqueViolation(
                constraint_name=lock_index if "queueing_lock" in str(exc.orig) else None,
                queueing_lock=None,
            ) from None
        except SQLAlchemyError as exc:
            raise exceptions.ConnectorException(str(exc)) from exc

    async def _dispatch(self, method: Any, name: str, connection: Any, arguments: Any) -> Any:
        deferred: list[str] = []
        if name in DEFERS:
            arguments = {**arguments, "_queues": deferred}
        if connection is None:
            async with self.engine.begin() as own:
                result = await method(own, **arguments)
            for queue in deferred:
                await self._notify(queue, {"type": "job_inserted"})
            return result
        # The caller's transaction: the job exists exactly when the caller's rows do, and
        # workers here are told once it commits.
        if isinstance(connection, AsyncSession):
            result = await method(await connection.connection(), **arguments)
            target: Any = connection.sync_session
            hook = "after_commit"
        elif isinstance(connection, AsyncConnection):
            result = await method(connection, **arguments)
            target, hook = connection.sync_connection, "commit"
        else:
            raise exceptions.ConnectorException(
                "an external connection must be a SQLAlchemy AsyncSession or AsyncConnection"
            )
        if deferred and self._listeners:
            event.listen(target, hook, self._told_later(deferred), once=True)
        return result

    def _told_later(self, queues: list[str]) -> Any:
        def committed(*_: Any) -> None:
            loop = asyncio.get_running_loop()
            for queue in queues:
                told = loop.create_task(self._notify(queue, {"type": "job_inserted"}))
                self._telling.add(told)
                told.add_done_callback(self._telling.discard)

        return committed

    async def _execute(self, db: AsyncConnection, statement: str, **params: Any) -> list[Row]:
        result = await db.execute(text(statement), params)
        if not result.returns_rows:
            return []
        return [dict(row._mapping) for row in result]

    # Notifications -------------------------------------------------------------------------

    async def _notify(self, queue: str, notification: Mapping[str, Any]) -> None:
        channels = {ANY_QUEUE, f"procrastinate_queue_v1#{queue}"}
        payload = json.dumps(notification)
        for callback, listening in list(self._listeners):
            for channel in channels & listening:
                await callback(channel=channel, payload=payload)

    # The queries ---------------------------------------------------------------------------

    async def _apply_schema(self, db: AsyncConnection, **_: Any) -> None:
        for statement in SCHEMA:
            await db.execute(text(statement))

    async def _check_connection(self, db: AsyncConnection, **_: Any) -> Row:
        rows = await self._execute(
            db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = :t",
            t="procrastinate_jobs",
        )  # fmt: skip
        return {"check": rows[0]["name"] if rows else None}

    async def _defer_jobs(
        self,
        db: AsyncConnection,
        jobs: list[types.JobToDefer],
        _queues: list[str] | None = None,
    ) -> list[Row]:
        now = time.time()
        rows: list[Row] = []
        # No savepoint around the batch: the whole transaction is rolled back when an insert
        # fails (ours, or the caller's). A SAVEPOINT as the first statement of a caller's
        # transaction would even open a transaction of its own in sqlite3, which its RELEASE
        # commits, so the job would outlive a caller that rolls back.
        for job in jobs:
            try:
                inserted = await self._execute(
                    db,
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, "
                    "queueing_lock, args, scheduled_at) VALUES (:queue, :task, :priority, "
                    ":lock, :queueing_lock, :args, :scheduled_at) RETURNING id",
                    queue=job.queue_name,
                    task=job.task_name,
                    priority=job.priority,
                    lock=job.lock,
                    queueing_lock=job.queueing_lock,
                    args=json.dumps(job.args),
                    scheduled_at=_epoch(job.scheduled_at),
                )
            except IntegrityError as exc:
                if manager.QUEUEING_LOCK_CONSTRAINT in str(exc.orig) or (
                    "queueing_lock" in str(exc.orig)
                ):
                    raise exceptions.UniqueViolation(
                        constraint_name=manager.QUEUEING_LOCK_CONSTRAINT,
                        queueing_lock=job.queueing_lock,
                    ) from None
                raise exceptions.ConnectorException(str(exc.orig)) from None
            job_id = inserted[0]["id"]
            if job.scheduled_at is not None:
                await self._event(db, job_id, "scheduled", _epoch(job.scheduled_at))
            await self._event(db, job_id, "deferred", now)
            rows.append({"id": job_id})
        if _queues is not None:
            _queues.extend(job.queue_name for job in jobs)
        return rows

    async def _defer_periodic_job_one(
        self,
        db: AsyncConnection,
        queue: str,
        task_name: str,
        priority: int,
        args: types.JSONDict,
        defer_timestamp: int,
        lock: str | None,
        queueing_lock: str | None,
        periodic_id: str,
        _queues: list[str] | None = None,
    ) -> Row:
        # One defer per task and timestamp, whichever worker's deferrer gets there first.
        claimed = await self._execute(
            db,
            "INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp) "
            "VALUES (:task, :pid, :ts) ON CONFLICT (task_name, periodic_id) DO UPDATE "
            "SET defer_timestamp = excluded.defer_timestamp, job_id = NULL "
            "WHERE procrastinate_periodic_defers.defer_timestamp < excluded.defer_timestamp "
            "RETURNING task_name",
            task=task_name,
            pid=periodic_id,
            ts=defer_timestamp,
        )
        if not claimed:
            return {"id": None}
        job = types.JobToDefer(queue, task_name, priority, lock, queueing_lock, args, None)
        try:
            rows = await self._defer_jobs(db, [job], _queues)
        except exceptions.UniqueViolation:
            return {"id": None}
        await self._execute(
            db,
            "UPDATE procrastinate_periodic_defers SET job_id = :id "
            "WHERE task_name = :task AND periodic_id = :pid",
            id=rows[0]["id"],
            task=task_name,
            pid=periodic_id,
        )
        return rows[0]

    async def _fetch_job_one(
        self, db: AsyncConnection, queues: Iterable[str] | None, worker_id: int
    ) -> Row:
        queue_list = None if queues is None else list(queues)
        where = ""
        params: dict[str, Any] = {"now": time.time(), "worker": worker_id}
        if queue_list is not None:
            marks = ", ".join(f":q{i}" for i in range(len(queue_list)))
            where = f"AND queue_name IN ({marks})"
            params.update({f"q{i}": name for i, name in enumerate(queue_list)})
        # SQLite has one writer at a time: the select and the update below cannot interleave
        # with another worker's, so no job is handed out twice.
        rows = await self._execute(
            db,
            f"""UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker
                WHERE id = (
                    SELECT id FROM procrastinate_jobs AS candidate
                    WHERE status = 'todo' {where}
                      AND (scheduled_at IS NULL OR scheduled_at <= :now)
                      AND (lock IS NULL OR NOT EXISTS (
                          SELECT 1 FROM procrastinate_jobs AS running
                          WHERE running.status = 'doing' AND running.lock = candidate.lock))
                      AND (lock IS NULL OR NOT EXISTS (
                          SELECT 1 FROM procrastinate_jobs AS earlier
                          WHERE earlier.status = 'todo' AND earlier.lock = candidate.lock
                            AND earlier.id < candidate.id))
                    ORDER BY priority DESC, id ASC LIMIT 1)
                RETURNING {JOB_COLUMNS}""",
            **params,
        )
        if not rows:
            return {"id": None}
        await self._event(db, rows[0]["id"], "started", params["now"])
        return _job(rows[0])

    async def _finish_job_run(
        self, db: AsyncConnection, job_id: int, status: str, delete_job: bool
    ) -> None:
        if delete_job:
            await self._execute(db, "DELETE FROM procrastinate_jobs WHERE id = :id", id=job_id)
            return
        updated = await self._execute(
            db,
            "UPDATE procrastinate_jobs SET status = :status, attempts = attempts + 1, "
            "abort_requested = 0 WHERE id = :id AND status = 'doing' RETURNING id",
            id=job_id,
            status=status,
        )
        if not updated:
            raise exceptions.ConnectorException(f"job {job_id} was not running")
        await self._event(db, job_id, status, time.time())

    async def _cancel_job_one(
        self, db: AsyncConnection, job_id: int, abort: bool, delete_job: bool
    ) -> Row:
        rows = await self._execute(
            db, "SELECT status, queue_name FROM procrastinate_jobs WHERE id = :id", id=job_id
        )
        if not rows:
            return {"id": None}
        status, queue = rows[0]["status"], rows[0]["queue_name"]
        if status == "todo":
            if delete_job:
                await self._execute(db, "DELETE FROM procrastinate_jobs WHERE id = :id", id=job_id)
            else:
                await self._execute(
                    db, "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE id = :id",
                    id=job_id,
                )  # fmt: skip
                await self._event(db, job_id, "cancelled", time.time())
            return {"id": job_id}
        if status == "doing" and abort:
            await self._execute(
                db, "UPDATE procrastinate_jobs SET abort_requested = 1 WHERE id = :id", id=job_id
            )
            await self._event(db, job_id, "abort_requested", time.time())
            await self._notify(queue, {"type": "abort_job_requested", "job_id": job_id})
            return {"id": job_id}
        return {"id": None}

    async def _get_job_status_one(self, db: AsyncConnection, job_id: int) -> Row:
        rows = await self._execute(
            db, "SELECT status FROM procrastinate_jobs WHERE id = :id", id=job_id
        )
        return rows[0] if rows else {"status": None}

    async def _retry_job_run(
        self,
        db: AsyncConnection,
        job_id: int,
        retry_at: datetime,
        new_priority: int | None = None,
        new_queue_name: str | None = None,
        new_lock: str | None = None,
    ) -> None:
        updated = await self._execute(
            db,
            "UPDATE procrastinate_jobs SET status = 'todo', attempts = attempts + 1, "
            "scheduled_at = :at, priority = COALESCE(:priority, priority), "
            "queue_name = COALESCE(:queue, queue_name), lock = COALESCE(:lock, lock), "
            "worker_id = NULL "
            "WHERE id = :id AND status IN ('doing', 'failed') RETURNING queue_name",
            id=job_id,
            at=_epoch(retry_at),
            priority=new_priority,
            queue=new_queue_name,
            lock=new_lock,
        )
        if not updated:
            raise exceptions.ConnectorException(f"job {job_id} cannot be retried")
        now = time.time()
        await self._event(db, job_id, "scheduled", _epoch(retry_at))
        await self._event(db, job_id, "deferred_for_retry", now)

    async def _select_stalled_jobs_by_started_all(
        self, db: AsyncConnection, nb_seconds: int, queue: str | None, task_name: str | None
    ) -> list[Row]:
        rows = await self._execute(
            db,
            f"""SELECT {QUALIFIED}
                FROM procrastinate_jobs AS job JOIN procrastinate_events AS event
                  ON event.job_id = job.id AND event.type = 'started'
                WHERE job.status = 'doing'
                  AND (:queue IS NULL OR job.queue_name = :queue)
                  AND (:task IS NULL OR job.task_name = :task)
                GROUP BY job.id HAVING MAX(event.at) < :before""",
            queue=queue,
            task=task_name,
            before=time.time() - nb_seconds,
        )
        return [_job(row) for row in rows]

    async def _select_stalled_jobs_by_heartbeat_all(
        self,
        db: AsyncConnection,
        queue: str | None,
        task_name: str | None,
        seconds_since_heartbeat: float,
    ) -> list[Row]:
        rows = await self._execute(
            db,
            f"""SELECT {QUALIFIED}
                FROM procrastinate_jobs AS job
                LEFT JOIN procrastinate_workers AS worker ON worker.id = job.worker_id
                WHERE job.status = 'doing'
                  AND (:queue IS NULL OR job.queue_name = :queue)
                  AND (:task IS NULL OR job.task_name = :task)
                  AND (worker.id IS NULL OR worker.last_heartbeat < :before)""",
            queue=queue,
            task=task_name,
            before=time.time() - seconds_since_heartbeat,
        )
        return [_job(row) for row in rows]

    async def _delete_old_jobs_run(
        self, db: AsyncConnection, nb_hours: int, queue: str | None, statuses: Iterable[str]
    ) -> None:
        wanted = list(statuses)
        marks = ", ".join(f":s{i}" for i in range(len(wanted))) or "NULL"
        await self._execute(
            db,
            f"""DELETE FROM procrastinate_jobs WHERE id IN (
                  SELECT job.id FROM procrastinate_jobs AS job
                  JOIN procrastinate_events AS event ON event.job_id = job.id
                  WHERE job.status IN ({marks}) AND (:queue IS NULL OR job.queue_name = :queue)
                  GROUP BY job.id HAVING MAX(event.at) < :before)""",
            queue=queue,
            before=time.time() - nb_hours * 3600,
            **{f"s{i}": status for i, status in enumerate(wanted)},
        )

    async def _listen_queue_run(self, db: AsyncConnection, **_: Any) -> None:
        return None

    async def _count_jobs_status_all(self, db: AsyncConnection) -> list[Row]:
        return await self._execute(
            db, "SELECT count(*) AS count, status FROM procrastinate_jobs GROUP BY status"
        )

    async def _list_jobs_all(self, db: AsyncConnection, **filters: Any) -> list[Row]:
        rows = await self._execute(
            db,
            f"""SELECT {JOB_COLUMNS} FROM procrastinate_jobs
                WHERE (:id IS NULL OR id = :id)
                  AND (:queue_name IS NULL OR queue_name = :queue_name)
                  AND (:task_name IS NULL OR task_name = :task_name)
                  AND (:status IS NULL OR status = :status)
                  AND (:lock IS NULL OR lock = :lock)
                  AND (:queueing_lock IS NULL OR queueing_lock = :queueing_lock)
                  AND (:worker_id IS NULL OR worker_id = :worker_id)
                ORDER BY id""",
            **{
                key: filters.get(key)
                for key in (
                    "id",
                    "queue_name",
                    "task_name",
                    "status",
                    "lock",
                    "queueing_lock",
                    "worker_id",
                )
            },
        )
        return [_job(row) for row in rows]

    async def _grouped(self, db: AsyncConnection, column: str, filters: Any) -> list[Row]:
        jobs = await self._list_jobs_all(
            db,
            queue_name=filters.get("queue_name"),
            task_name=filters.get("task_name"),
            status=filters.get("status"),
            lock=filters.get("lock"),
        )
        groups: dict[str, dict[str, int]] = {}
        for job in jobs:
            if job[column] is None:
                continue
            stats = groups.setdefault(job[column], {})
            stats[job["status"]] = stats.get(job["status"], 0) + 1
        return [
            {"name": name, "jobs_count": sum(stats.values()), "stats": stats}
            for name, stats in sorted(groups.items())
        ]

    async def _list_queues_all(self, db: AsyncConnection, **filters: Any) -> list[Row]:
        return await self._grouped(db, "queue_name", filters)

    async def _list_tasks_all(self, db: AsyncConnection, **filters: Any) -> list[Row]:
        return await self._grouped(db, "task_name", filters)

    async def _list_locks_all(self, db: AsyncConnection, **filters: Any) -> list[Row]:
        return await self._grouped(db, "lock", filters)

    async def _list_jobs_to_abort_all(
        self, db: AsyncConnection, queue_name: str | None = None
    ) -> list[Row]:
        return await self._execute(
            db,
            "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND abort_requested = 1 "
            "AND (:queue IS NULL OR queue_name = :queue)",
            queue=queue_name,
        )

    async def _register_worker_one(self, db: AsyncConnection) -> Row:
        rows = await self._execute(
            db,
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (:now) RETURNING id",
            now=time.time(),
        )
        return {"worker_id": rows[0]["id"]}

    async def _unregister_worker_run(self, db: AsyncConnection, worker_id: int) -> None:
        await self._execute(
            db, "UPDATE procrastinate_jobs SET worker_id = NULL WHERE worker_id = :id", id=worker_id
        )
        await self._execute(db, "DELETE FROM procrastinate_workers WHERE id = :id", id=worker_id)

    async def _update_heartbeat_run(self, db: AsyncConnection, worker_id: int) -> None:
        await self._execute(
            db,
            "UPDATE procrastinate_workers SET last_heartbeat = :now WHERE id = :id",
            now=time.time(),
            id=worker_id,
        )

    async def _prune_stalled_workers_all(
        self, db: AsyncConnection, seconds_since_heartbeat: float
    ) -> list[Row]:
        pruned = await self._execute(
            db,
            "DELETE FROM procrastinate_workers WHERE last_heartbeat < :before "
            "RETURNING id AS worker_id",
            before=time.time() - seconds_since_heartbeat,
        )
        if pruned:
            await self._execute(
                db,
                "UPDATE procrastinate_jobs SET worker_id = NULL WHERE worker_id IS NOT NULL "
                "AND worker_id NOT IN (SELECT id FROM procrastinate_workers)",
            )
        return pruned

    async def _event(self, db: AsyncConnection, job_id: int, kind: str, at: float | None) -> None:
        await self._execute(
            db,
            "INSERT INTO procrastinate_events (job_id, type, at) VALUES (:job, :type, :at)",
            job=job_id,
            type=kind,
            at=at if at is not None else time.time(),
        )
