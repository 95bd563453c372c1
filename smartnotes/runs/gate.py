"""The gate before any processing: is Smart Notes on for this tenant, this rep and this call?

Active by default for licensed users (a seat in their tenant); off for the whole tenant, for a
user, or for one call. A call that does not pass leaves nothing behind but an audit entry
saying why. Confidential mode (the user's default, or the call's flag) passes, with only local
models allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import Seat, Tenant, User


class Skip(StrEnum):
    UNKNOWN_TENANT = "tenant is not set up"
    TENANT_OFF = "Smart Notes is switched off for the tenant"
    UNKNOWN_USER = "the rep is not a known user"
    NO_SEAT = "the rep has no Smart Notes seat"
    USER_OFF = "the rep switched Smart Notes off"
    CALL_OPTED_OUT = "the call was opted out"


@dataclass(frozen=True)
class Decision:
    process: bool
    reason: Skip | None = None
    user: User | None = None
    confidential: bool = False


async def decide(
    session: AsyncSession,
    tenant_id: str,
    owner_email: str,
    *,
    opted_out: bool = False,
    confidential: bool | None = None,
) -> Decision:
    # One round trip: every call goes through here, and the answer must be current (a
    # switch turned off a second ago applies to the next call), so nothing is cached.
    email = owner_email.strip().lower()
    row = (
        await session.execute(
            select(Tenant.enabled, User, Seat.user_id)
            .select_from(Tenant)
            .outerjoin(User, and_(User.tenant_id == Tenant.id, User.email == email))
            .outerjoin(Seat, and_(Seat.tenant_id == Tenant.id, Seat.user_id == User.id))
            .where(Tenant.id == tenant_id)
        )
    ).first()
    if row is None:
        return Decision(False, Skip.UNKNOWN_TENANT)
    tenant_enabled, user, seat = row
    if not tenant_enabled:
        return Decision(False, Skip.TENANT_OFF)
    if user is None:
        return Decision(False, Skip.UNKNOWN_USER)
    if seat is None:
        return Decision(False, Skip.NO_SEAT, user)
    if not user.enabled:
        return Decision(False, Skip.USER_OFF, user)
    if opted_out:
        return Decision(False, Skip.CALL_OPTED_OUT, user)
    return Decision(
        True, None, user, user.confidential_default if confidential is None else confidential
    )
