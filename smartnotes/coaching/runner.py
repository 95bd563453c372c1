"""Coaching a run once its notes are ready (the job ``coach_run``).

It runs after the notes, never before them: the rep reads the summary and tasks first, the
coaching arrives on the card and the page when it is done. Claude coaches when configured and
the run is not confidential; otherwise, or when Claude fails, the local analysis does and the
run says why. Earlier calls with the same customer that the rep may see (their own, or
attended and not confidential) are the context, at most ``PRIOR_CALLS`` notes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.coach import ClaudeCoach, Coaching, PriorCall
from pipeline.coach_local import CallTask, local_coaching, with_series
from pipeline.errors import ExtractionError, InputError
from pipeline.formats import is_audio, parse_transcript_bytes
from pipeline.prompting import Prompts
from pipeline.transcript import Transcript
from pipeline.usage import RunUsage
from smartnotes.coaching.material import paragraphs, relevant
from smartnotes.runs.intake import TranscriptStore
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.views import effective_task
from smartnotes.settings import UsageSettings
from smartnotes.storage.models import Run, RunAttendee, RunStatus, RunTask, TaskStatus, User
from smartnotes.storage.sealed import SealError
from smartnotes.usage.limits import Limited
from smartnotes.usage.metering import add_claude, claude_limit

log = logging.getLogger(__name__)

READY = (RunStatus.NEEDS_REVIEW, RunStatus.SAVING, RunStatus.SAVED)
PRIOR_CALLS = 5
# Beyond this a stored transcript is a recording: coaching needs the words, not the audio.
MAX_TEXT_BYTES = 8 * 1024 * 1024


class Coach:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: TranscriptStore,
        live: LiveEvents,
        prompts: Prompts,
        *,
        client: anthropic.AsyncAnthropic | None,
        model: str,
        usage: UsageSettings | None = None,
        material_dir: Path | None = None,
        on_usage: Callable[[int, int], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.material_dir = material_dir
        self.usage = usage or UsageSettings()
        self.store = store
        self.live = live
        self.claude = (
            ClaudeCoach(client, prompts, model=model, on_usage=on_usage) if client else None
        )

    async def run(self, run_id: str) -> None:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
            if run is None or run.status not in READY or run.coaching is not None:
                return
            owner = await session.get(User, run.owner_id)
            prior = await _prior(session, run, owner)
            tasks = await _tasks(session, run_id)
            ref, confidential = run.transcript_ref, run.confidential
            tenant_id = run.tenant_id
            limited = await claude_limit(session, run, self.usage)
            rep = (owner.display_name or owner.email) if owner else ""
        transcript = await self._transcript(ref) if ref else None
        if transcript is None:
            coaching: dict[str, Any] = {"unavailable": "the call's words are not kept"}
        else:
            material = await asyncio.to_thread(paragraphs, self.material_dir, tenant_id)
            prior += relevant(material, transcript)
            spent = RunUsage()
            made = await self._coach(transcript, rep, prior, tasks, confidential, limited, spent)
            coaching = made.model_dump(mode="json")
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or run.coaching is not None:
                return
            run.coaching = coaching
            if transcript is not None:
                await add_claude(session, run, spent)
        await self.live.changed(run_id)

    async def _coach(
        self,
        transcript: Transcript,
        rep: str,
        prior: list[PriorCall],
        tasks: list[CallTask],
        confidential: bool,
        limited: Limited | None,
        spent: RunUsage,
    ) -> Coaching:
        if confidential:
            reason = "confidential call: only local analysis"
        elif self.claude is None:
            reason = "no Claude API key is configured"
        elif limited is not None:
            reason = limited.reached
        else:
            try:
                made = await self.claude.coach(transcript, rep, prior, spent)
            except ExtractionError as exc:
                log.warning("coaching fell back to the local analysis: %s", exc)
                reason = str(exc)
            else:
                # Claude judges each speaker; the course over the call is counted from the
                # transcript beside it, so the chart never shows a mood nobody's words carry.
                return with_series(made, transcript)
        return local_coaching(transcript, rep, prior, tasks, reason)

    async def _transcript(self, ref: str) -> Transcript | None:
        def read() -> Transcript | None:
            data = self.store.read_bytes(ref)
            if len(data) > MAX_TEXT_BYTES or is_audio(data, ref):
                return None
            return parse_transcript_bytes(data, ref)

        try:
            return await asyncio.to_thread(read)
        except (OSError, SealError, InputError) as exc:
            log.warning("no coaching from %s: %s", ref, exc)
            return None


async def _prior(session: AsyncSession, run: Run, owner: User | None) -> list[PriorCall]:
    if run.customer_id is None or owner is None:
        return []
    attended = select(RunAttendee.run_id).where(RunAttendee.email == owner.email)
    rows = await session.execute(
        select(
            Run.id, Run.created_at, Run.call_started_at, Run.summary_edited, Run.summary_generated
        )
        .where(
            Run.tenant_id == run.tenant_id,
            Run.customer_id == run.customer_id,
            Run.id != run.id,
            Run.created_at < run.created_at,
            or_(
                Run.owner_id == owner.id,
                and_(Run.confidential.is_(False), Run.id.in_(attended)),
            ),
        )
        .order_by(Run.created_at.desc())
        .limit(PRIOR_CALLS)
    )
    return [
        PriorCall(id=r.id, when=(r.call_started_at or r.created_at).date().isoformat(), text=note)
        for r in rows
        if (note := r.summary_edited or r.summary_generated)
    ]


async def _tasks(session: AsyncSession, run_id: str) -> list[CallTask]:
    rows = await session.execute(
        select(RunTask).where(RunTask.run_id == run_id).order_by(RunTask.position)
    )
    found = []
    for task in rows.scalars():
        if task.status == TaskStatus.REJECTED:
            continue
        fields = effective_task(task)
        evidence: dict[str, Any] = next(iter(fields.get("evidence") or []), {})
        found.append(
            CallTask(
                title=str(fields.get("title") or ""),
                due_date=fields.get("due_date"),
                quote=evidence.get("quote"),
                at=evidence.get("at"),
                speaker=evidence.get("speaker"),
            )
        )
    return found


async def due(sessions: async_sessionmaker[AsyncSession], run_id: str) -> bool:
    """Whether the run is ready and not coached yet."""
    async with sessions() as session:
        row = (
            await session.execute(select(Run.status, Run.coaching).where(Run.id == run_id))
        ).first()
    # Read, not tested in SQL: a JSON column may hold JSON null as well as SQL NULL.
    return row is not None and row[0] in READY and row[1] is None
