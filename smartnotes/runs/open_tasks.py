"""The customer's open tasks, as a call's extraction sees them (``pipeline.open_tasks``).

An open task is one a rep kept (accepted, edited or written to the CRM) in an earlier call with
the same customer that the rep may see, and that no later call completed: a completion the rep
kept closes it. Proposals to complete a task are never open tasks themselves.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.open_tasks import OpenTask
from smartnotes.briefs.facts import Rep, customer_runs
from smartnotes.runs.views import completed_ids, effective_task, is_open
from smartnotes.storage.models import Run, RunTask, TaskStatus


async def open_tasks(
    session: AsyncSession,
    rep: Rep,
    customer_id: str,
    *,
    exclude_run: str | None = None,
    completable: bool = True,
) -> list[OpenTask]:
    """The customer's open tasks the rep may see, newest call first, labelled T1, T2…

    ``completable`` is whether the CRM can complete a task: without it no task carries its
    CRM id, so none is proposed for completion (repeats are still left out).
    """
    runs = [run for run, _ in await customer_runs(session, rep, customer_id)]
    runs = [run for run in runs if run.id != exclude_run]
    if not runs:
        return []
    rows = list(
        (
            await session.execute(
                select(RunTask)
                .where(RunTask.run_id.in_([run.id for run in runs]))
                .order_by(RunTask.run_id, RunTask.position)
            )
        ).scalars()
    )
    completed = completed_ids(rows)
    by_run: dict[str, list[RunTask]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    found: list[OpenTask] = []
    for run in runs:
        for row in by_run.get(run.id, []):
            if not is_open(row, completed):
                continue
            fields = effective_task(row)
            written = row.status == TaskStatus.WRITTEN and row.crm_task_id
            found.append(
                OpenTask(
                    ref=f"T{len(found) + 1}",
                    task_id=row.id,
                    title=str(fields.get("title") or "Untitled task"),
                    owner=str(fields.get("owner") or ""),
                    due_date=str(fields["due_date"]) if fields.get("due_date") else None,
                    said_on=_day(run),
                    crm_task_id=row.crm_task_id if written and completable else None,
                )
            )
    return found


def _day(run: Run) -> str:
    moment: datetime = run.call_started_at or run.created_at
    try:
        zone = ZoneInfo(run.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).date().isoformat()
