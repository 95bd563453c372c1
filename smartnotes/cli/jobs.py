"""``smartnotes jobs``: the job queue, for operators, over either database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import procrastinate
import typer
from procrastinate import exceptions
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from smartnotes.cli.common import Exit, fail, load_settings
from smartnotes.jobs.engine import job_app
from smartnotes.settings import Settings
from smartnotes.storage.open import SchemaError, open_database

T = TypeVar("T")

OUT = Console(highlight=False)
ERR = Console(stderr=True, highlight=False)

jobs_app = typer.Typer(
    help="The job queue: what waits, runs and failed; retry or cancel a job.",
    no_args_is_help=True,
)


class JobStatus(StrEnum):
    todo = "todo"
    doing = "doing"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    aborting = "aborting"
    aborted = "aborted"


class JobNotFoundError(LookupError):
    pass


@asynccontextmanager
async def _jobs(settings: Settings) -> AsyncIterator[procrastinate.App]:
    async with open_database(settings.database()) as engine:
        app = job_app(engine)
        await app.open_async()
        try:
            yield app
        finally:
            await app.close_async()


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:

    settings = load_settings(ERR)
    try:
        return asyncio.run(work(settings))
    except SchemaError as exc:
        raise fail(ERR, str(exc), Exit.BAD_SETUP) from None
    except JobNotFoundError as exc:
        raise fail(ERR, str(exc), Exit.BAD_INPUT) from None
    except (SQLAlchemyError, OSError, exceptions.ConnectorException) as exc:
        raise fail(ERR, f"the job queue: {str(exc).splitlines()[0]}", Exit.BAD_SETUP) from None


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this job, e.g. process_run.")] = None,
    limit: Annotated[int, typer.Option(help="The newest N.", min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """The newest jobs, with their state, attempts and what they are about."""

    async def work(settings: Settings) -> list[dict[str, Any]]:
        async with _jobs(settings) as app:
            found = await app.job_manager.list_jobs_async(
                queue=queue, task=task, status=status.value if status else None
            )
            newest = sorted(found, key=lambda job: job.id or 0, reverse=True)[:limit]
            return [_row(job) for job in newest]

    rows = _run(work)
    if as_json:
        OUT.print_json(json.dumps(rows))
        return
    if not rows:
        OUT.print("No jobs.")
        return
    table = Table("id", "queue", "job", "state", "attempts", "about", "scheduled")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["queue"],
            row["task"],
            row["status"],
            str(row["attempts"]),
            escape(row["about"]),
            row["scheduled_at"] or "",
        )
    OUT.print(table)


@jobs_app.command("retry")
def retry(job_id: Annotated[int, typer.Argument(help="The job's id (jobs list).")]) -> None:
    """Run a failed job again now."""

    async def work(settings: Settings) -> None:
        async with _jobs(settings) as app:
            job = await _job(app, job_id)
            if job.status != JobStatus.failed:
                raise JobNotFoundError(f"job {job_id} is {job.status}; only failed jobs retry")
            await app.job_manager.retry_job_by_id_async(job_id, retry_at=datetime.now(UTC))

    _run(work)
    OUT.print(f"Job {job_id} is queued again.")


@jobs_app.command("cancel")
def cancel(job_id: Annotated[int, typer.Argument(help="The job's id (jobs list).")]) -> None:
    """Cancel a waiting job, or stop a running one (its worker aborts it within a second)."""

    async def work(settings: Settings) -> str:
        async with _jobs(settings) as app:
            job = await _job(app, job_id)
            if job.status not in (JobStatus.todo, JobStatus.doing):
                raise JobNotFoundError(f"job {job_id} is {job.status}; nothing to cancel")
            if not await app.job_manager.cancel_job_by_id_async(job_id, abort=True):
                raise JobNotFoundError(f"job {job_id} finished meanwhile")
            return "stopping" if job.status == JobStatus.doing else "cancelled"

    OUT.print(f"Job {job_id}: {_run(work)}.")


async def _job(app: procrastinate.App, job_id: int) -> procrastinate.jobs.Job:
    found = list(await app.job_manager.list_jobs_async(id=job_id))
    if not found:
        raise JobNotFoundError(f"no job {job_id}")
    return found[0]


def _row(job: procrastinate.jobs.Job) -> dict[str, Any]:
    about = ", ".join(f"{key}={value}" for key, value in sorted(job.task_kwargs.items()))
    return {
        "id": job.id,
        "queue": job.queue,
        "task": job.task_name,
        "status": job.status,
        "attempts": job.attempts,
        "lock": job.lock,
        "about": about or (job.lock or ""),
        "scheduled_at": job.scheduled_at.isoformat() if job.scheduled_at else None,
    }
