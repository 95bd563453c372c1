"""A tenant's view of the audit log: which entries are the tenant's, filtered and paged.

The log has no tenant column. An entry about a run belongs to the run's tenant; one without a
run names its tenant in ``detail["tenant"]`` (seats, switches, skipped calls and meetings, the
console's own actions). Entries written before directory changes named their tenant carry
only ``detail["user"]``, an e-mail address, which may have a user in several tenants: such an
entry is shown only where that address has a user and in no other tenant. Everything else
(service-wide upkeep, erasures across tenants, entries of a run since deleted) is no tenant's
and shows in no console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import AuditEntry, Run, User

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    run_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    run_id: str | None
    action: str
    detail: dict[str, Any]


def in_tenant(tenant_id: str) -> ColumnElement[bool]:
    """The entries that are ``tenant_id``'s (see the module's docstring)."""
    tenant = AuditEntry.detail["tenant"].as_string()
    user = AuditEntry.detail["user"].as_string()
    ours = select(User.email).where(User.tenant_id == tenant_id)
    theirs = select(User.email).where(User.tenant_id != tenant_id)
    return or_(
        AuditEntry.run_id.in_(select(Run.id).where(Run.tenant_id == tenant_id)),
        and_(AuditEntry.run_id.is_(None), tenant == tenant_id),
        and_(
            AuditEntry.run_id.is_(None),
            tenant.is_(None),
            user.in_(ours),
            user.not_in(theirs),
        ),
    )


def _matching(tenant_id: str, filters: AuditFilter) -> list[ColumnElement[bool]]:
    conditions = [in_tenant(tenant_id)]
    if filters.actor:
        conditions.append(AuditEntry.actor == filters.actor)
    if filters.action:
        conditions.append(AuditEntry.action == filters.action)
    if filters.run_id:
        conditions.append(AuditEntry.run_id == filters.run_id)
    if filters.since is not None:
        conditions.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEntry.at < filters.until)
    return conditions


async def entries(
    session: AsyncSession,
    tenant_id: str,
    filters: AuditFilter,
    *,
    limit: int = PAGE_SIZE,
    after: int | None = None,
) -> list[AuditRow]:
    """The tenant's matching entries, newest first; ``after`` is the id of the last entry of
    the previous page (a cursor that another tenant's id turns into an empty page)."""
    conditions = _matching(tenant_id, filters)
    if after is not None:
        cursor = (
            await session.execute(
                select(AuditEntry.at, AuditEntry.id).where(
                    AuditEntry.id == after, in_tenant(tenant_id)
                )
            )
        ).one_or_none()
        if cursor is None:
            return []
        conditions.append(
            or_(
                AuditEntry.at < cursor.at,
                and_(AuditEntry.at == cursor.at, AuditEntry.id < cursor.id),
            )
        )
    rows = await session.execute(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return [
        AuditRow(e.id, e.at, e.actor, e.run_id, e.action, dict(e.detail or {}))
        for e in rows.scalars()
    ]


async def actions(session: AsyncSession, tenant_id: str) -> list[str]:
    """The actions that occur in the tenant's entries, for the filter's choices."""
    rows = await session.execute(
        select(AuditEntry.action).where(in_tenant(tenant_id)).distinct().order_by(AuditEntry.action)
    )
    return list(rows.scalars())
