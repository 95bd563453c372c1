"""Auto-save: notes a rep never opens are saved after a while, by the Save button's rule.

A tenant (or one rep) chooses ``auto`` instead of ``review``: the rep stays the last instance
of decision without being asked every time. The window counts from when the notes were first
ready; a rep who acts before it ends (saves, discards, edits) is simply not auto-saved, since
only runs still waiting for review are picked. A run without a customer cannot be saved; its
rep is told once and it waits for them. A periodic job looks once a minute
(``smartnotes.jobs.tasks.register_upkeep``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.runs.review import Review
from smartnotes.settings import ReviewSettings
from smartnotes.storage.models import Run, RunStatus, Tenant, User

log = logging.getLogger(__name__)


class AutoSaver:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        review: Review,
        settings: ReviewSettings,
        *,
        batch: int = 100,
    ) -> None:
        self.sessions = sessions
        self.review = review
        self.settings = settings
        self.batch = batch

    async def save_due(self, now: datetime | None = None) -> list[str]:
        """Auto-save every run whose window has ended; returns the ids saved."""
        now = now or utcnow()
        saved: list[str] = []
        for run_id, hours in await self._due(now):
            try:
                blocked = await self.review.auto_save(run_id, waited_hours=hours)
            except Exception:
                # One run must not hold up the others; it is tried again next round.
                log.exception("auto-save of run %s failed", run_id)
                continue
            if blocked is None:
                saved.append(run_id)
        return saved

    async def _due(self, now: datetime) -> list[tuple[str, float]]:
        default_mode = self.settings.save_mode
        mode = func.coalesce(User.save_mode, Tenant.save_mode, default_mode)
        query = (
            select(Run.id, Run.ready_at, Tenant.auto_save_after_hours)
            .join(User, User.id == Run.owner_id)
            .join(Tenant, Tenant.id == Run.tenant_id)
            .where(
                Run.status == RunStatus.NEEDS_REVIEW,
                Run.ready_at.is_not(None),
                Run.auto_save_blocked.is_(None),
                mode == "auto",
            )
            .order_by(Run.ready_at)
            .limit(self.batch)
        )
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
        due: list[tuple[str, float]] = []
        for run_id, ready_at, tenant_hours in rows:
            hours = tenant_hours or self.settings.auto_save_after_hours
            if ready_at is not None and ready_at + timedelta(hours=hours) <= now:
                due.append((run_id, hours))
        return due
