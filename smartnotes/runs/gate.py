"""The gate before any processing: is Smart Notes on for this tenant, this rep and this call?

Active by default for licensed users (a seat in their tenant) of a tenant that agreed to AI
processing under the terms in force (``smartnotes.consent``); off for the whole tenant, for a
user, or for one call. A call that does not pass leaves nothing behind but an audit entry
saying why. Confidential mode (the user's default, or the call's flag) passes, with only local
models allowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.consent import covering, needed
from smartnotes.metrics import Metrics
from smartnotes.storage.models import AuditEntry, Seat, Tenant, User

log = logging.getLogger(__name__)


class Skip(StrEnum):
    UNKNOWN_TENANT = "tenant is not set up"
    TENANT_OFF = "Smart Notes is switched off for the tenant"
    NO_CONSENT = "the tenant has not agreed to AI processing"
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
    terms_version: str = ""

    @property
    def why(self) -> str:
        """The reason as the caller and the audit log read it."""
        if self.reason is None:
            return ""
        if self.reason is Skip.NO_CONSENT:
            return f"{self.reason} (terms {self.terms_version})"
        return str(self.reason)


def code(reason: Skip) -> str:
    """The reason's name in audit entries and metrics: ``no_consent``, ``tenant_off``..."""
    return reason.name.lower()


async def decide(
    session: AsyncSession,
    tenant_id: str,
    owner_email: str,
    *,
    terms_version: str,
    opted_out: bool = False,
    confidential: bool | None = None,
) -> Decision:
    # One round trip: every call goes through here, and the answer must be current (a
    # switch turned off a second ago applies to the next call), so nothing is cached.
    email = owner_email.strip().lower()
    row = (
        await session.execute(
            select(
                Tenant.enabled,
                covering(Tenant.id, terms_version).label("agreed"),
                User,
                Seat.user_id,
            )
            .select_from(Tenant)
            .outerjoin(User, and_(User.tenant_id == Tenant.id, User.email == email))
            .outerjoin(Seat, and_(Seat.tenant_id == Tenant.id, Seat.user_id == User.id))
            .where(Tenant.id == tenant_id)
        )
    ).first()
    if row is None:
        return Decision(False, Skip.UNKNOWN_TENANT)
    tenant_enabled, agreed, user, seat = row
    if not tenant_enabled:
        return Decision(False, Skip.TENANT_OFF)
    if not agreed:
        return Decision(False, Skip.NO_CONSENT, terms_version=terms_version)
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


async def skipped_calls(
    session: AsyncSession, tenant_id: str, reason: Skip, since: datetime | None = None
) -> int:
    """How many of the tenant's calls and meetings the gate turned away for ``reason``
    (since ``since``), from the audit log."""
    query = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action.in_(("call_skipped", "meeting_skipped")),
            AuditEntry.detail["skip"].as_string() == code(reason),
            AuditEntry.detail["tenant"].as_string() == tenant_id,
        )
    )
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return int(await session.scalar(query) or 0)


# A tenant without consent sends every call here: the admin needs to hear of it, not a line
# per call.
NOTICE_INTERVAL = 3600.0


class SkipNotices:
    """Calls the gate turned away: counted by reason, and the ones an admin must act on (no
    consent) logged as a warning, once per tenant per ``interval`` seconds in this process."""

    def __init__(
        self,
        metrics: Metrics | None,
        *,
        interval: float = NOTICE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self._told: dict[str, float] = {}

    def skipped(self, tenant_id: str, reason: Skip, terms_version: str) -> None:
        if self.metrics is not None:
            self.metrics.call_skipped(code(reason))
        if reason is not Skip.NO_CONSENT:
            return  # the tenant's or the rep's own choice: nothing for an admin to fix
        now = self.clock()
        told = self._told.get(tenant_id)
        if told is not None and now - told < self.interval:
            return
        if len(self._told) >= 10_000:
            self._told.clear()  # bounded; at worst a tenant is told again early
        self._told[tenant_id] = now
        log.warning(
            "a call was not processed: %s (smartnotes admin tenant consent %s shows how many)",
            needed(tenant_id, terms_version),
            tenant_id,
            extra={"tenant": tenant_id, "skip": code(reason)},
        )
