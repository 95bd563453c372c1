"""Which customer a meeting is with, and which customers a rep means by a name.

A meeting's customer comes from its attendees outside the rep's own e-mail domain: the CRM's
customer for their addresses, when the CRM lets the rep see it (where the CRM has a customer
directory, it is asked for the rep); else the customer of the rep's latest visible call that
one of them was on. Colleagues never make a meeting a customer's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.contract import CRMAdapter, Customer, CustomerDirectory
from crm_adapters.errors import CRMError
from smartnotes.briefs.facts import Rep, domain_of, visible
from smartnotes.storage.models import Run

log = logging.getLogger(__name__)

# The rep's latest calls with a customer that an attendee is looked up in.
RECENT_CALLS = 200


def outsiders(rep: Rep, emails: Sequence[str]) -> list[str]:
    """The addresses not of the rep's own organisation (by e-mail domain)."""
    return [e for e in emails if domain_of(e) and domain_of(e) != rep.domain]


async def customer_of(
    sessions: async_sessionmaker[AsyncSession],
    crm: CRMAdapter,
    directory: CustomerDirectory | None,
    rep: Rep,
    emails: Sequence[str],
) -> Customer | None:
    """The customer a meeting with these attendees is with, as the rep may see it."""
    external = outsiders(rep, emails)
    if not external:
        return None
    found = await _from_crm(crm, directory, rep, external)
    if found is not None:
        return found
    async with sessions() as session:
        rows = await session.execute(
            select(Run.customer_id, Run.customer_name, Run.participants)
            .where(visible(rep), Run.customer_id.is_not(None))
            .order_by(func.coalesce(Run.call_started_at, Run.created_at).desc())
            .limit(RECENT_CALLS)
        )
        wanted = set(external)
        for customer_id, name, participants in rows:
            emails_on_call = {str(p.get("email") or "").strip().lower() for p in participants}
            if customer_id and wanted & emails_on_call:
                return Customer(id=customer_id, name=name or customer_id)
    return None


async def _from_crm(
    crm: CRMAdapter, directory: CustomerDirectory | None, rep: Rep, external: list[str]
) -> Customer | None:
    try:
        found = await crm.find_customer(external)
        if found is not None and directory is not None:
            found = await directory.may_write(found.id, user_email=rep.email)
    except CRMError as exc:
        # The calls still know the customer; the CRM is asked again at the next look.
        log.warning("the CRM could not be asked about a meeting's attendees: %s", exc)
        return None
    return found


async def customers_named(
    sessions: async_sessionmaker[AsyncSession],
    directory: CustomerDirectory | None,
    rep: Rep,
    query: str,
    *,
    limit: int = 10,
) -> list[Customer]:
    """The customers the rep may see whose name contains ``query`` (any case): the CRM's
    directory as it answers for the rep, and the customers of the rep's visible calls. A name
    that matches one of them exactly is that one alone."""
    needle = " ".join(query.split()).lower()
    if not needle:
        return []
    found: dict[str, Customer] = {}
    if directory is not None:
        try:
            for customer in await directory.search_customers(
                needle, user_email=rep.email, limit=limit
            ):
                found.setdefault(customer.id, customer)
        except CRMError as exc:
            log.warning("the CRM could not be searched for a brief: %s", exc)
    async with sessions() as session:
        rows = await session.execute(
            select(Run.customer_id, Run.customer_name)
            .where(
                visible(rep),
                Run.customer_id.is_not(None),
                func.lower(Run.customer_name).contains(needle, autoescape=True),
            )
            .distinct()
            .limit(limit)
        )
        for customer_id, name in rows:
            if customer_id:
                found.setdefault(customer_id, Customer(id=customer_id, name=name or customer_id))
    exact = [c for c in found.values() if c.name.strip().lower() == needle]
    return exact or sorted(found.values(), key=lambda c: c.name.lower())[:limit]
