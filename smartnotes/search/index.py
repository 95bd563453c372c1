"""Keeping the search index in step with the runs.

A run's segments are rebuilt whole from the run as it stands (its note, its tasks, its stored
transcript) whenever it changes: the job ``index_run`` is deferred when a run changes in this
process, and a periodic reconciliation catches what a crash between the change and the defer
missed (``runs.indexed_at`` against ``runs.updated_at``). Runs still being processed, and
rejected tasks, are not indexed; a confidential run's transcript is not either (it is not
kept), its note and tasks are, and only its owner will find them.

A rebuild keeps the segments whose words did not change (and with them their vectors, when
search by meaning is on: ``smartnotes.search.semantic``), deletes the ones that went and adds
the new ones; the reconciliation also embeds what is still without a vector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.errors import InputError
from pipeline.events import utcnow
from pipeline.formats import is_audio, parse_transcript_bytes
from smartnotes.runs.intake import TranscriptStore
from smartnotes.runs.views import effective_task
from smartnotes.search.semantic import Semantic
from smartnotes.storage.models import (
    Run,
    RunStatus,
    RunTask,
    SearchEmbedding,
    SearchSegment,
    TaskStatus,
)
from smartnotes.storage.sealed import SealError

log = logging.getLogger(__name__)

NOT_YET = (RunStatus.QUEUED, RunStatus.RUNNING)
# A stored transcript larger than this is a recording: its words are in the note and tasks.
MAX_TEXT_BYTES = 8 * 1024 * 1024
# How far back the reconciliation looks for runs changed since they were indexed.
RECONCILE_DAYS = 3


async def reindex(
    sessions: async_sessionmaker[AsyncSession], store: TranscriptStore, run_id: str
) -> int:
    """Rebuild one run's segments; returns how many it has now."""
    async with sessions() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return 0
        tasks = list(
            (
                await session.execute(
                    select(RunTask).where(RunTask.run_id == run_id).order_by(RunTask.position)
                )
            ).scalars()
        )
        changed_at = run.updated_at
        ready = run.status not in NOT_YET
        transcript_ref = run.transcript_ref if ready and not run.confidential else None
    lines = await _transcript_lines(store, transcript_ref) if transcript_ref else []
    async with sessions() as session, session.begin():
        run = await session.get(Run, run_id, with_for_update=True)
        if run is None:
            return 0
        existing = list(
            (
                await session.execute(select(SearchSegment).where(SearchSegment.run_id == run_id))
            ).scalars()
        )
        segments = _segments(run, tasks, lines) if ready else []
        kept, added, gone = _changes(existing, segments)
        if gone:
            await session.execute(delete(SearchSegment).where(SearchSegment.id.in_(gone)))
        for segment in kept:
            segment.customer_id = run.customer_id
        session.add_all(added)
        if run.confidential and kept:
            # A run made confidential keeps no vectors: its words go to no outside model.
            await session.execute(
                delete(SearchEmbedding).where(
                    SearchEmbedding.segment_id.in_([segment.id for segment in kept])
                )
            )
        # The change time read above, not now: a change made while this ran is newer and the
        # reconciliation will index the run again.
        await session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(indexed_at=changed_at, updated_at=Run.updated_at)
            .execution_options(synchronize_session=False)
        )
    return len(segments)


def _changes(
    existing: list[SearchSegment], wanted: list[SearchSegment]
) -> tuple[list[SearchSegment], list[SearchSegment], list[int]]:
    """Which stored segments stay (same kind, task, speaker, time and words), which wanted
    ones are new, and the ids of the stored ones to delete."""

    def key(segment: SearchSegment) -> tuple[object, ...]:
        return (segment.kind, segment.ref, segment.speaker, segment.start_seconds, segment.text)

    stored: dict[tuple[object, ...], list[SearchSegment]] = {}
    for segment in existing:
        stored.setdefault(key(segment), []).append(segment)
    kept: list[SearchSegment] = []
    added: list[SearchSegment] = []
    for segment in wanted:
        same = stored.get(key(segment))
        if same:
            kept.append(same.pop())
        else:
            added.append(segment)
    gone = [segment.id for left in stored.values() for segment in left]
    return kept, added, gone


def _segments(
    run: Run, tasks: list[RunTask], lines: list[tuple[str, float, str]]
) -> list[SearchSegment]:
    def segment(kind: str, text: str, **extra: object) -> SearchSegment:
        return SearchSegment(
            run_id=run.id,
            tenant_id=run.tenant_id,
            customer_id=run.customer_id,
            kind=kind,
            text=text,
            **extra,
        )

    found: list[SearchSegment] = []
    note = run.summary_edited or run.summary_generated
    if note:
        found.append(segment("note", note))
    for task in tasks:
        if task.status == TaskStatus.REJECTED:
            continue
        fields = effective_task(task)
        quotes = " ".join(str(e.get("quote", "")) for e in fields.get("evidence") or [])
        text = " ".join(
            part
            for part in (
                str(fields.get("title") or ""),
                str(fields.get("description") or ""),
                str(fields.get("owner") or ""),
                quotes,
            )
            if part
        )
        if text:
            found.append(segment("task", text, ref=task.id))
    for speaker, start, text in lines:
        found.append(segment("transcript", text, speaker=speaker[:200], start_seconds=start))
    return found


async def _transcript_lines(store: TranscriptStore, ref: str) -> list[tuple[str, float, str]]:
    def read() -> list[tuple[str, float, str]]:
        path = Path(ref)
        if not path.is_file() or path.stat().st_size > MAX_TEXT_BYTES:
            return []
        data = store.read_bytes(ref)
        if is_audio(data, path.name):
            return []
        transcript = parse_transcript_bytes(data, path.name)
        return [(s.speaker, s.start, s.text) for s in transcript.segments if s.text]

    try:
        return await asyncio.to_thread(read)
    except (OSError, SealError, InputError) as exc:
        log.warning("transcript of %s not indexed: %s", ref, exc)
        return []


async def stale(sessions: async_sessionmaker[AsyncSession], *, limit: int = 500) -> list[str]:
    """Runs changed since they were indexed (recent ones: older changes were caught then)."""
    since: datetime = utcnow() - timedelta(days=RECONCILE_DAYS)
    async with sessions() as session:
        rows = await session.execute(
            select(Run.id)
            .where(
                Run.updated_at >= since,
                Run.status.not_in(NOT_YET),
                or_(Run.indexed_at.is_(None), Run.updated_at > Run.indexed_at),
            )
            .order_by(Run.updated_at)
            .limit(limit)
        )
        return list(rows.scalars())


async def forget(
    session: AsyncSession, run_ids: list[str], *, transcripts_only: bool = False
) -> None:
    """Drop runs' segments now, in the caller's transaction (erasure, retention): what the
    index holds must go when its source goes, not at the next reindex."""
    if not run_ids:
        return
    query = delete(SearchSegment).where(SearchSegment.run_id.in_(run_ids))
    if transcripts_only:
        query = query.where(SearchSegment.kind == "transcript")
    await session.execute(query)


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    defer: Callable[[str], Awaitable[None]],
    *,
    semantic: Semantic | None = None,
) -> int:
    """Defer a reindex of every run changed since it was indexed; returns how many. With
    search by meaning on, embed what is still without a vector."""
    found = await stale(sessions)
    for run_id in found:
        await defer(run_id)
    if semantic is not None:
        await semantic.backfill(sessions)
    return len(found)
