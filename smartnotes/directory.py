"""Tenants, users and seats: the admin side of who Smart Notes works for."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import AuditEntry, Seat, Tenant, User


class DirectoryError(Exception):
    """An admin command that cannot be done as asked; the message says why."""


async def ensure_tenant(session: AsyncSession, tenant_id: str, name: str = "") -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(id=tenant_id, name=name or tenant_id)
        session.add(tenant)
        await session.flush()
    return tenant


async def find_user(session: AsyncSession, tenant_id: str, email: str) -> User | None:
    return (
        await session.execute(
            select(User).where(User.tenant_id == tenant_id, User.email == _email(email))
        )
    ).scalar_one_or_none()


async def ensure_user(
    session: AsyncSession, tenant_id: str, email: str, display_name: str = ""
) -> User:
    user = await find_user(session, tenant_id, email)
    if user is None:
        user = User(tenant_id=tenant_id, email=_email(email), display_name=display_name)
        session.add(user)
        await session.flush()
    return user


# The personas of the product requirements; a tenant may use labels of its own.
COHORTS = ("deal-closer", "relationship-builder", "all-rounder")
_COHORT = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,59}$")


def check_cohort(cohort: str) -> str:
    """A cohort label as stored: lower case, 1 to 60 letters, digits, spaces, ``.``, ``_``,
    ``-``; a DirectoryError says what is wrong."""
    cleaned = " ".join(cohort.strip().lower().split())
    if not _COHORT.match(cleaned):
        raise DirectoryError(
            f"cohort {cohort!r}: 1 to 60 letters, digits, spaces, '.', '_' or '-' "
            f"(e.g. {', '.join(COHORTS)})"
        )
    return cleaned


async def add_seat(
    session: AsyncSession,
    tenant_id: str,
    email: str,
    *,
    by: str,
    display_name: str = "",
    cohort: str | None = None,
) -> User:
    await ensure_tenant(session, tenant_id)
    user = await ensure_user(session, tenant_id, email, display_name)
    seat = await session.get(Seat, (tenant_id, user.id))
    if seat is None:
        seat = Seat(tenant_id=tenant_id, user_id=user.id, granted_by=by)
        session.add(seat)
        session.add(
            AuditEntry(
                actor=by, action="seat_added", detail={"user": user.email, "tenant": tenant_id}
            )
        )
    if cohort is not None:
        _set_cohort(session, seat, user, check_cohort(cohort), by)
    return user


async def set_cohort(
    session: AsyncSession, tenant_id: str, email: str, cohort: str | None, *, by: str
) -> None:
    """Put a seated rep in a cohort (None: in none)."""
    user = await find_user(session, tenant_id, email)
    seat = None if user is None else await session.get(Seat, (tenant_id, user.id))
    if user is None or seat is None:
        raise DirectoryError(f"no seat for {email} in tenant {tenant_id}")
    _set_cohort(session, seat, user, None if cohort is None else check_cohort(cohort), by)


def _set_cohort(session: AsyncSession, seat: Seat, user: User, cohort: str | None, by: str) -> None:
    if seat.cohort != cohort:
        seat.cohort = cohort
        session.add(
            AuditEntry(
                actor=by,
                action="seat_cohort",
                detail={"user": user.email, "tenant": user.tenant_id, "cohort": cohort},
            )
        )


async def seat_rows(session: AsyncSession, tenant_id: str) -> list[tuple[User, Seat]]:
    rows = await session.execute(
        select(User, Seat)
        .join(Seat, Seat.user_id == User.id)
        .where(Seat.tenant_id == tenant_id)
        .order_by(User.email)
    )
    return [(user, seat) for user, seat in rows.tuples()]


async def remove_seat(session: AsyncSession, tenant_id: str, email: str, *, by: str) -> None:
    user = await find_user(session, tenant_id, email)
    if user is None:
        raise DirectoryError(f"no user {email} in tenant {tenant_id}")
    removed = await session.execute(
        delete(Seat).where(Seat.tenant_id == tenant_id, Seat.user_id == user.id)
    )
    if getattr(removed, "rowcount", 0):
        session.add(
            AuditEntry(
                actor=by, action="seat_removed", detail={"user": user.email, "tenant": tenant_id}
            )
        )


async def set_tenant_enabled(
    session: AsyncSession, tenant_id: str, enabled: bool, *, by: str
) -> None:
    tenant = await ensure_tenant(session, tenant_id)
    tenant.enabled = enabled
    session.add(
        AuditEntry(
            actor=by, action="tenant_on" if enabled else "tenant_off", detail={"tenant": tenant_id}
        )
    )


async def set_user_enabled(
    session: AsyncSession, tenant_id: str, email: str, enabled: bool, *, by: str
) -> None:
    user = await find_user(session, tenant_id, email)
    if user is None:
        raise DirectoryError(f"no user {email} in tenant {tenant_id}")
    user.enabled = enabled
    session.add(
        AuditEntry(
            actor=by,
            action="user_on" if enabled else "user_off",
            detail={"user": user.email, "tenant": user.tenant_id},
        )
    )


async def set_confidential_default(
    session: AsyncSession, tenant_id: str, email: str, confidential: bool, *, by: str
) -> None:
    user = await find_user(session, tenant_id, email)
    if user is None:
        raise DirectoryError(f"no user {email} in tenant {tenant_id}")
    user.confidential_default = confidential
    session.add(
        AuditEntry(
            actor=by,
            action="confidential_default",
            detail={"user": user.email, "tenant": user.tenant_id, "confidential": confidential},
        )
    )


SAVE_MODES = ("review", "auto")


async def set_tenant_save_mode(
    session: AsyncSession,
    tenant_id: str,
    mode: str | None,
    after_hours: float | None = None,
    *,
    by: str,
) -> None:
    """The tenant's save mode; ``None`` goes back to the service's default."""
    if mode is not None and mode not in SAVE_MODES:
        raise DirectoryError(f"save mode must be one of {', '.join(SAVE_MODES)}")
    if after_hours is not None and not 0 < after_hours <= 24 * 30:
        raise DirectoryError("auto-save hours must be more than 0 and at most 720")
    tenant = await ensure_tenant(session, tenant_id)
    tenant.save_mode, tenant.auto_save_after_hours = mode, after_hours
    session.add(
        AuditEntry(
            actor=by,
            action="tenant_save_mode",
            detail={"tenant": tenant_id, "mode": mode, "after_hours": after_hours},
        )
    )


async def set_user_save_mode(
    session: AsyncSession, tenant_id: str, email: str, mode: str | None, *, by: str
) -> None:
    """A rep's own save mode; ``None`` follows the tenant's."""
    if mode is not None and mode not in SAVE_MODES:
        raise DirectoryError(f"save mode must be one of {', '.join(SAVE_MODES)}")
    user = await find_user(session, tenant_id, email)
    if user is None:
        raise DirectoryError(f"no user {email} in tenant {tenant_id}")
    user.save_mode = mode
    session.add(
        AuditEntry(
            actor=by,
            action="user_save_mode",
            detail={"user": user.email, "tenant": user.tenant_id, "mode": mode},
        )
    )


async def set_timezone(
    session: AsyncSession, tenant_id: str, email: str | None, zone: str | None, *, by: str
) -> None:
    """The time zone deadlines are read in: a rep's own (``email``) or the tenant's default.
    ``None`` clears it (a rep's zone is then learned again from Teams or their mailbox)."""
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DirectoryError(
                f"unknown time zone {zone!r} (an IANA name such as Europe/Berlin)"
            ) from None
    if email is None:
        tenant = await ensure_tenant(session, tenant_id)
        tenant.default_timezone = zone
        detail = {"tenant": tenant_id, "timezone": zone}
    else:
        user = await find_user(session, tenant_id, email)
        if user is None:
            raise DirectoryError(f"no user {email} in tenant {tenant_id}")
        user.timezone = zone
        detail = {"user": user.email, "tenant": user.tenant_id, "timezone": zone}
    session.add(AuditEntry(actor=by, action="timezone", detail=detail))


async def seats(session: AsyncSession, tenant_id: str) -> list[User]:
    return list(
        (
            await session.execute(
                select(User)
                .join(Seat, Seat.user_id == User.id)
                .where(Seat.tenant_id == tenant_id)
                .order_by(User.email)
            )
        ).scalars()
    )


def _email(email: str) -> str:
    cleaned = email.strip().lower()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@"):
        raise DirectoryError(f"not an e-mail address: {email!r}")
    return cleaned
