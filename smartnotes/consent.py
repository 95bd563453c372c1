"""A tenant's consent to AI processing: who agreed to which version of the terms, and when.

Without a consent to the terms in force (``Settings.terms_version``) nothing of the tenant's is
processed (``smartnotes.runs.gate``). A consent is kept after it is withdrawn, and after a new
version of the terms needs a new one: it is the proof of what was agreed, by whom, when.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from sqlalchemy import Exists, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.events import utcnow
from smartnotes.directory import DirectoryError, ensure_tenant
from smartnotes.storage.models import AuditEntry, Consent

_PERSON = re.compile(r"^(?:(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+)>|(?P<bare>[^<>\s]+))$")
# The audit log's actor column is this long.
_ACTOR_LENGTH = 200
_PERSON_LENGTH = 320


class Recorded(NamedTuple):
    consent: Consent
    new: bool


def check_person(by: str) -> str:
    """Who agrees (or withdraws) as stored: ``Name <email>`` or ``email``, the address in
    lower case; a DirectoryError says what is wrong. Proof of consent needs a person to ask."""
    cleaned = " ".join(by.split())
    match = _PERSON.match(cleaned)
    if match is not None:
        name = (match["name"] or "").strip()
        email = (match["email"] or match["bare"]).lower()
        if _looks_like_email(email) and len(cleaned) <= _PERSON_LENGTH:
            return f"{name} <{email}>" if name else email
    raise DirectoryError(
        f'name the person who agrees as "Name <email>" or an e-mail address, not {by!r}'
    )


def person_email(stored: str) -> str:
    """The e-mail address in a stored ``accepted_by`` / ``withdrawn_by``."""
    match = _PERSON.match(stored)
    if match is None:
        return stored.strip().lower()
    return (match["email"] or match["bare"]).lower()


def person_name(stored: str) -> str:
    """The name in a stored ``accepted_by`` / ``withdrawn_by`` (empty for a bare address)."""
    match = _PERSON.match(stored)
    return (match["name"] or "").strip() if match is not None else ""


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain)


def covering(tenant_id: Any, terms_version: str) -> Exists:
    """SQL: the tenant has a consent to ``terms_version`` that was not withdrawn
    (``tenant_id`` may be a column, for a query over tenants)."""
    return exists().where(
        Consent.tenant_id == tenant_id,
        Consent.terms_version == terms_version,
        Consent.withdrawn_at.is_(None),
    )


async def in_force(session: AsyncSession, tenant_id: str, terms_version: str) -> Consent | None:
    """The tenant's consent to ``terms_version``, if one was given and not withdrawn."""
    return (
        await session.execute(
            select(Consent)
            .where(
                Consent.tenant_id == tenant_id,
                Consent.terms_version == terms_version,
                Consent.withdrawn_at.is_(None),
            )
            .order_by(Consent.accepted_at)
            .limit(1)
        )
    ).scalar_one_or_none()


async def latest(session: AsyncSession, tenant_id: str) -> Consent | None:
    """The tenant's most recent consent, to any version, withdrawn or not."""
    return (
        await session.execute(
            select(Consent)
            .where(Consent.tenant_id == tenant_id)
            .order_by(Consent.accepted_at.desc(), Consent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def record_consent(
    session: AsyncSession,
    tenant_id: str,
    *,
    by: str,
    terms_version: str,
    actor: str | None = None,
) -> Recorded:
    """Record that ``by`` agreed, for the tenant, to AI processing under ``terms_version``;
    ``actor`` is who recorded it (default: ``by``). A consent to the same version already in
    force is kept as it is (the first agreement is the proof) and returned."""
    person = check_person(by)
    found = await in_force(session, tenant_id, terms_version)
    if found is not None:
        return Recorded(found, new=False)
    await ensure_tenant(session, tenant_id)
    consent = Consent(
        tenant_id=tenant_id, terms_version=terms_version, accepted_by=person, accepted_at=utcnow()
    )
    session.add(consent)
    session.add(
        AuditEntry(
            actor=(actor or person)[:_ACTOR_LENGTH],
            action="consent_given",
            detail={"tenant": tenant_id, "by": person, "terms_version": terms_version},
        )
    )
    await session.flush()
    return Recorded(consent, new=True)


async def withdraw_consent(
    session: AsyncSession, tenant_id: str, *, by: str, actor: str | None = None
) -> list[Consent]:
    """Withdraw every consent of the tenant still in force: from now on nothing of the
    tenant's is processed, runs already queued included."""
    person = check_person(by)
    active = list(
        (
            await session.execute(
                select(Consent)
                .where(Consent.tenant_id == tenant_id, Consent.withdrawn_at.is_(None))
                .order_by(Consent.id)
                .with_for_update()
            )
        ).scalars()
    )
    if not active:
        raise DirectoryError(f"tenant {tenant_id} has no consent to withdraw")
    now = utcnow()
    for consent in active:
        consent.withdrawn_by, consent.withdrawn_at = person, now
    session.add(
        AuditEntry(
            actor=(actor or person)[:_ACTOR_LENGTH],
            action="consent_withdrawn",
            detail={
                "tenant": tenant_id,
                "by": person,
                "terms_versions": sorted({c.terms_version for c in active}),
            },
        )
    )
    return active


def needed(tenant_id: str, terms_version: str) -> str:
    """What an admin does about a tenant without consent, in one sentence."""
    return (
        f"tenant {tenant_id} has not agreed to AI processing under the terms in force "
        f"({terms_version}, shown at /terms): no call of theirs is processed until an admin "
        f'runs: smartnotes admin tenant on {tenant_id} --accept-terms --by "Name <email>"'
    )
