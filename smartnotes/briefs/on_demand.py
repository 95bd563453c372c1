"""``brief <customer>`` in the bot's chat: the brief on the one customer of the rep's that the
name means, a list to choose from when it means several, or a plain "nothing known yet"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cards import build_brief_card
from crm_adapters.contract import CustomerDirectory
from smartnotes.briefs.customers import customers_named
from smartnotes.briefs.facts import Rep, brief_for
from smartnotes.runs.review import Viewer

# More matches than this are not listed: the rep is asked for more of the name.
MAX_LISTED = 8


async def brief_on_demand(
    sessions: async_sessionmaker[AsyncSession],
    directory: CustomerDirectory | None,
    rep: Rep,
    query: str,
    *,
    review_url_for: Callable[[Viewer, str], str | None],
) -> dict[str, Any] | str:
    """The brief card, or what to say instead."""
    asked = " ".join(query.split())
    if not asked:
        return "Say which customer: brief and their name, like brief Contoso."
    found = await customers_named(sessions, directory, rep, asked, limit=MAX_LISTED + 1)
    if not found:
        return (
            f"Nothing is known yet about \u201c{asked[:80]}\u201d: no customer of yours by "
            "that name, and none of your calls with one."
        )
    if len(found) > 1:
        names = ", ".join(c.name for c in found[:MAX_LISTED])
        more = " (and more: type more of the name)" if len(found) > MAX_LISTED else ""
        return (
            f"Several customers match \u201c{asked[:80]}\u201d: {names}{more}. "
            "Type brief and the one you mean."
        )
    customer = found[0]
    brief = await brief_for(
        sessions, rep, customer.id, customer.name, review_url_for=review_url_for
    )
    if not brief.knows_something:
        return (
            f"Nothing is known yet about {customer.name}: none of your calls with them has "
            "notes you can see."
        )
    return build_brief_card(brief)
