"""Finding runs for an admin or an operator: who owns them, where they stand, what went wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import Run, RunTask, User


@dataclass(frozen=True)
class RunRow:
    id: str
    tenant_id: str
    owner_email: str
    source: str
    status: str
    step: str | None
    customer: str | None
    tasks: int
    confidential: bool
    created_at: datetime
    problem: str | None

    @property
    def state_text(self) -> str:
        state = self.status.replace("_", " ")
        return f"{state} ({self.step.replace('_', ' ')})" if self.step else state

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "owner": self.owner_email,
            "source": self.source,
            "status": self.status,
            "step": self.step,
            "customer": self.customer,
            "tasks": self.tasks,
            "confidential": self.confidential,
            "created_at": self.created_at.isoformat(),
            "problem": self.problem,
        }


async def find_runs(
    session: AsyncSession,
    *,
    tenant: str | None = None,
    user: str | None = None,
    state: str | None = None,
    limit: int = 50,
) -> list[RunRow]:
    """Runs newest first; an admin sees every run's state, never its summary or tasks."""
    tasks = select(RunTask.run_id, func.count().label("n")).group_by(RunTask.run_id).subquery()
    query = (
        select(Run, User.email, func.coalesce(tasks.c.n, 0))
        .join(User, User.id == Run.owner_id)
        .outerjoin(tasks, tasks.c.run_id == Run.id)
        .order_by(Run.created_at.desc())
        .limit(limit)
    )
    if tenant is not None:
        query = query.where(Run.tenant_id == tenant)
    if user is not None:
        query = query.where(func.lower(User.email) == user.strip().lower())
    if state is not None:
        query = query.where(Run.status == state)
    rows = (await session.execute(query)).all()
    return [
        RunRow(
            id=run.id,
            tenant_id=run.tenant_id,
            owner_email=email,
            source=run.source,
            status=run.status,
            step=run.step,
            customer=run.customer_name or run.customer_id,
            tasks=int(count),
            confidential=run.confidential,
            created_at=run.created_at,
            problem=f"{run.failed_step}: {run.error}"
            if run.error and run.failed_step
            else run.error,
        )
        for run, email, count in rows
    ]


def _problem(run: Run) -> str | None:
    if run.error and run.failed_step:
        return f"{run.failed_step}: {run.error}"
    return run.error
