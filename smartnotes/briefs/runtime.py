"""The look-ahead as the service builds it: only where briefs are on and both the bot (to send
them) and Graph (to read calendars) are configured."""

from __future__ import annotations

from datetime import timedelta

from smartnotes.briefs.lookahead import LookAhead
from smartnotes.meetings.runtime import GraphRuntime
from smartnotes.runs.review import Review
from smartnotes.settings import Settings
from smartnotes.teams.runtime import Teams, review_links


def build_look_ahead(
    settings: Settings,
    review: Review,
    teams: Teams | None,
    graph: GraphRuntime | None,
    review_secret: bytes,
) -> LookAhead | None:
    if not settings.brief.enabled or teams is None or graph is None:
        return None
    return LookAhead(
        review.sessions,
        graph.client,
        teams.cards.publisher,
        review.outbox.crm,
        review.directory(),
        tenant_id=graph.config.tenant,
        lead=timedelta(minutes=settings.brief.lead_minutes),
        review_url_for=review_links(settings, review_secret),
    )
