"""Retention: what a call left behind is deleted once it is old enough.

- Transcripts and recordings (the run's stored file, and a Graph download kept for it) after
  ``transcript_days`` (default 30): the notes stay; re-creating tasks is no longer possible,
  and the run says its transcript is gone.
- Runs, with their steps, tasks, decisions, feedback, CRM-write records and notifications,
  after ``run_days`` (default 365), unless a save is still being delivered.
- Audit entries after ``audit_days`` (default 730).
- Usage records (billing records) after ``usage_days`` (default 730), counted from the
  processing they record; they outlive the run they describe.

Ages count from when the run (or entry) was created. Notes and tasks saved to the CRM are the
CRM's and are not touched. An hourly job (``purge_expired``) applies it; each pass is logged
and audited with its counts, never with what was deleted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.runs.intake import delete_files
from smartnotes.search.index import forget
from smartnotes.settings import RetentionSettings
from smartnotes.storage.models import AuditEntry, MeetingMedia, Run, RunStatus, UsageRecord

log = logging.getLogger(__name__)

# A run in these states is still someone's work in progress: never purged whole.
_IN_FLIGHT = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SAVING)
# Rows handled per transaction: a first pass over years of history does not hold one long
# transaction (or one huge statement) on the database.
BATCH = 500


@dataclass(frozen=True)
class Purged:
    transcripts: int = 0
    downloads: int = 0
    runs: int = 0
    audit_entries: int = 0
    usage_records: int = 0

    def __bool__(self) -> bool:
        return any(
            (self.transcripts, self.downloads, self.runs, self.audit_entries, self.usage_records)
        )


class Retention:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: RetentionSettings
    ) -> None:
        self.sessions = sessions
        self.settings = settings

    async def purge(self, now: datetime | None = None) -> Purged:
        now = now or utcnow()
        days = self.settings
        purged = Purged(
            transcripts=await self._transcripts(now - timedelta(days=days.transcript_days)),
            downloads=await self._downloads(now - timedelta(days=days.transcript_days)),
            runs=await self._runs(now - timedelta(days=days.run_days)),
            audit_entries=await self._audit(now - timedelta(days=days.audit_days)),
            usage_records=await self._usage(now - timedelta(days=days.usage_days)),
        )
        if purged:
            log.info(
                "retention: %d transcripts, %d downloads, %d runs, %d audit entries, "
                "%d usage records deleted",
                purged.transcripts,
                purged.downloads,
                purged.runs,
                purged.audit_entries,
                purged.usage_records,
            )
            async with self.sessions() as session, session.begin():
                session.add(
                    AuditEntry(
                        actor="system",
                        action="retention_purge",
                        detail={
                            "transcripts": purged.transcripts,
                            "downloads": purged.downloads,
                            "runs": purged.runs,
                            "audit_entries": purged.audit_entries,
                            "usage_records": purged.usage_records,
                        },
                    )
                )
        return purged

    async def _transcripts(self, cutoff: datetime) -> int:
        count = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        select(Run.id, Run.transcript_ref)
                        .where(
                            Run.created_at < cutoff,
                            Run.transcript_ref.is_not(None),
                            Run.status.not_in(_IN_FLIGHT),
                        )
                        .limit(BATCH)
                    )
                ).all()
                if not rows:
                    return count
                # The row first: if the process dies before the file goes, the next pass
                # cannot find it again, so files go right after, in the same pass.
                await session.execute(
                    update(Run)
                    .where(Run.id.in_([r.id for r in rows]))
                    .values(transcript_ref=None, transcript_deleted_at=utcnow())
                )
                await forget(session, [r.id for r in rows], transcripts_only=True)
            await asyncio.to_thread(delete_files, [r.transcript_ref for r in rows])
            count += len(rows)

    async def _downloads(self, cutoff: datetime) -> int:
        count = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        select(MeetingMedia.id, MeetingMedia.file_ref)
                        .where(MeetingMedia.created_at < cutoff, MeetingMedia.file_ref.is_not(None))
                        .limit(BATCH)
                    )
                ).all()
                if not rows:
                    return count
                await session.execute(
                    update(MeetingMedia)
                    .where(MeetingMedia.id.in_([r.id for r in rows]))
                    .values(file_ref=None)
                )
            await asyncio.to_thread(delete_files, [r.file_ref for r in rows])
            count += len(rows)

    async def _runs(self, cutoff: datetime) -> int:
        count = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        select(Run.id, Run.transcript_ref)
                        .where(Run.created_at < cutoff, Run.status.not_in(_IN_FLIGHT))
                        .limit(BATCH)
                    )
                ).all()
                if not rows:
                    return count
                # Steps, tasks, feedback, CRM-write records, notifications, attendees and
                # cards go with the run (ON DELETE CASCADE).
                await session.execute(delete(Run).where(Run.id.in_([r.id for r in rows])))
            await asyncio.to_thread(delete_files, [r.transcript_ref for r in rows])
            count += len(rows)

    async def _audit(self, cutoff: datetime) -> int:
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _usage(self, cutoff: datetime) -> int:
        async with self.sessions() as session, session.begin():
            result = await session.execute(delete(UsageRecord).where(UsageRecord.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
