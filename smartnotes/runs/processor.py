"""Processing one run: match the customer, run the pipeline, keep every step on the record.

Each finished piece is saved as soon as it exists (the customer, the summary, the tasks), so a
run interrupted by a crash resumes from its last completed step: a saved summary is not
written again, saved tasks are not extracted again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.contract import Capability, CRMAdapter, TaskCompleter
from crm_adapters.errors import CRMError
from pipeline.asr import Transcriber
from pipeline.errors import PipelineError
from pipeline.events import PipelineEvent, Step, utcnow
from pipeline.extraction import CallContext
from pipeline.open_tasks import OpenTask
from pipeline.process import CONFIDENTIAL, ExtractorInfo, Pipeline, PipelineResult
from pipeline.tasks import Task
from pipeline.usage import RunUsage
from smartnotes.briefs.facts import Rep
from smartnotes.consent import covering
from smartnotes.metrics import Metrics
from smartnotes.runs.gate import Decision, Skip, code
from smartnotes.runs.intake import TranscriptStore
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.notify import Kind, notify
from smartnotes.runs.open_tasks import open_tasks
from smartnotes.runs.task_merge import new_tasks, touched
from smartnotes.settings import UsageSettings
from smartnotes.storage.models import AuditEntry, Run, RunStatus, RunStep, RunTask, TaskStatus, User
from smartnotes.storage.sealed import SealError
from smartnotes.usage import metering

log = logging.getLogger(__name__)

MATCHING_CUSTOMER = "matching_customer"


class RunProcessor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pipeline: Pipeline,
        transcriber: Callable[[], Transcriber],
        crm: CRMAdapter,
        store: TranscriptStore,
        live: LiveEvents | None = None,
        metrics: Metrics | None = None,
        *,
        terms_version: str,
        usage: UsageSettings | None = None,
    ) -> None:
        self.sessions = sessions
        self.pipeline = pipeline
        self.transcriber = transcriber
        self.crm = crm
        self.store = store
        self.live = live
        self.metrics = metrics
        self.terms_version = terms_version
        self.usage = usage or UsageSettings()

    async def unfinished(self) -> list[str]:
        """The runs left queued or running, oldest first."""
        async with self.sessions() as session:
            ids = list(
                (
                    await session.execute(
                        select(Run.id)
                        .where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]))
                        .order_by(Run.created_at)
                    )
                ).scalars()
            )
        return ids

    async def process(self, run_id: str) -> None:
        if await self._cancel_without_consent(run_id):
            return
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                return  # finished, cancelled or waiting for the rep: nothing to do
            if run.status == RunStatus.RUNNING:
                await _close_interrupted_steps(session, run)
            run.status = RunStatus.RUNNING
            owner = await session.get(User, run.owner_id)
            snapshot = _Snapshot(run, owner)
            # Tasks are done when an extraction saved them (it names its extractor); a
            # re-creation clears the extractor and keeps only the tasks the rep acted on.
            tasks_done = (
                run.extractor is not None
                and (
                    await session.execute(
                        select(RunTask.id).where(RunTask.run_id == run_id).limit(1)
                    )
                ).first()
                is not None
            )
            meter = await metering.start(
                session,
                run,
                self.usage,
                uses_claude=not tasks_done
                and not run.confidential
                and self.pipeline.remote_extractor is not None,
            )
        usage = RunUsage()
        try:
            await self._process(run_id, snapshot, tasks_done, meter, usage)
        finally:
            # Also when the run is stopped: what the models used is paid for all the same.
            await asyncio.shield(self._save_usage(meter, usage))

    async def _process(
        self,
        run_id: str,
        snapshot: _Snapshot,
        tasks_done: bool,
        meter: metering.Meter,
        usage: RunUsage,
    ) -> None:
        customer_id = snapshot.customer_id
        if customer_id is None and snapshot.emails:
            customer_id = await self._match_customer(run_id, snapshot.emails)
        if snapshot.summary is not None and tasks_done:
            await self._finish(run_id, snapshot, None)
            return
        if snapshot.transcript_ref is None or not await asyncio.to_thread(
            Path(snapshot.transcript_ref).is_file
        ):
            await self._fail(run_id, "loading", "the call's transcript is no longer available")
            return
        sink = _StepRecorder(self, run_id)
        saved_early = False

        async def tasks_ready(tasks: list[Task], info: ExtractorInfo) -> None:
            # The rep sees the tasks the moment they exist, whatever the summary is doing.
            nonlocal saved_early
            await self._save_tasks(run_id, tasks, info, None)
            saved_early = True
            await self._save_usage(meter, usage)
            await self._changed(run_id)

        known = await self._open_tasks(run_id, snapshot, customer_id) if not tasks_done else []
        try:
            async with self.store.plain(snapshot.transcript_ref) as transcript:
                _, result = await self.pipeline.process_file(
                    transcript,
                    snapshot.context(known),
                    self.transcriber,
                    sink,
                    local_only=snapshot.confidential or meter.limited is not None,
                    local_only_reason=meter.limited.reason if meter.limited else CONFIDENTIAL,
                    summary=snapshot.summary,
                    on_tasks=tasks_ready,
                    usage=usage,
                )
        except SealError as exc:
            await self._fail(run_id, "loading", f"the stored transcript cannot be opened: {exc}")
            return
        except PipelineError as exc:
            await self._fail(run_id, sink.current or "loading", str(exc))
            return
        if not saved_early:
            await self._save_tasks(run_id, result.tasks, result.extractor, result.summary)
        elif result.summary:
            await self.save_summary(run_id, result.summary)
        await self._finish(run_id, snapshot, result)

    async def _cancel_without_consent(self, run_id: str) -> bool:
        """A run queued before its tenant's consent was withdrawn, or before new terms took
        effect, is not processed. It ends cancelled, as when the rep says "don't process this
        call", not failed: nothing went wrong that a retry could mend (the rep cannot give the
        tenant's consent), and its transcript is deleted, since nothing may process it now."""
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                return False
            if await session.scalar(select(covering(run.tenant_id, self.terms_version))):
                return False
            why = Decision(False, Skip.NO_CONSENT, terms_version=self.terms_version).why
            if run.status == RunStatus.RUNNING:
                await _close_interrupted_steps(session, run)
            await asyncio.to_thread(self.store.delete, run.transcript_ref)
            run.transcript_ref, run.transcript_deleted_at = None, utcnow()
            run.status, run.step, run.error = RunStatus.CANCELLED, None, why
            run.version += 1
            session.add(
                AuditEntry(
                    actor="system",
                    run_id=run_id,
                    action="run_cancelled",
                    detail={"reason": why, "skip": code(Skip.NO_CONSENT), "tenant": run.tenant_id},
                )
            )
            notify(
                session,
                run.owner_id,
                run_id,
                Kind.NOT_PROCESSED,
                "Smart Notes did not process your call: your organization has not agreed to AI "
                "processing under the current terms. Your administrator can change that.",
            )
        log.warning("run %s cancelled: %s", run_id, why)
        await self._changed(run_id)
        return True

    async def _save_usage(self, meter: metering.Meter, usage: RunUsage) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await metering.save(session, meter, usage)
        except SQLAlchemyError:
            # The call stays counted (its record was written when processing started); only
            # the amounts are missing, which must not hide how the run itself ended.
            log.exception("the usage of usage record %d could not be saved", meter.record_id)

    async def _match_customer(self, run_id: str, emails: list[str]) -> str | None:
        await self.record_step(run_id, MATCHING_CUSTOMER, "running")
        try:
            customer = await self.crm.find_customer(emails)
        except CRMError as exc:
            # Not fatal: the rep can pick the customer when saving.
            await self.record_step(run_id, MATCHING_CUSTOMER, "failed", str(exc))
            return None
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id)
            if run is not None and customer is not None:
                run.customer_id, run.customer_name = customer.id, customer.name
        await self.record_step(run_id, MATCHING_CUSTOMER, "done")
        return customer.id if customer is not None else None

    async def _open_tasks(
        self, run_id: str, snapshot: _Snapshot, customer_id: str | None
    ) -> list[OpenTask]:
        """The customer's tasks still open from the owner's earlier calls, for extraction."""
        if customer_id is None or snapshot.rep_of is None:
            return []
        completable = Capability.COMPLETE_TASK in self.crm.capabilities and isinstance(
            self.crm, TaskCompleter
        )
        async with self.sessions() as session:
            return await open_tasks(
                session, snapshot.rep_of, customer_id, exclude_run=run_id, completable=completable
            )

    async def save_summary(self, run_id: str, summary: str) -> None:
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if (
                run is not None
                and run.status == RunStatus.RUNNING
                and run.summary_generated is None
            ):
                run.summary_generated = summary

    async def _save_tasks(
        self,
        run_id: str,
        tasks: list[Task],
        extractor: ExtractorInfo | None,
        summary: str | None,
    ) -> None:
        """The extraction's tasks, merged into the ones the rep already acted on (a
        re-creation keeps them; see ``smartnotes.runs.task_merge``)."""
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or run.status != RunStatus.RUNNING:
                return  # stopped meanwhile: nothing the models made is kept
            if summary and run.summary_generated is None:
                run.summary_generated = summary
            if extractor is None:
                return  # extraction failed: keep whatever tasks were there
            if self.metrics is not None:
                self.metrics.extracted(extractor.name, extractor.fallback_reason)
            run.extractor = extractor.name
            run.extractor_model = extractor.model
            run.extractor_fallback_reason = extractor.fallback_reason
            run.extractor_repairs = extractor.repairs or None
            run.task_notes = extractor.notes or None
            existing = list(
                (
                    await session.execute(
                        select(RunTask).where(RunTask.run_id == run_id).order_by(RunTask.position)
                    )
                ).scalars()
            )
            kept = [task for task in existing if touched(task)]
            for task in existing:
                if not touched(task):
                    await session.delete(task)
            fresh = new_tasks(kept, [task.model_dump(mode="json") for task in tasks])
            start = max((task.position for task in kept), default=-1) + 1
            for position, generated in enumerate(fresh, start=start):
                session.add(
                    RunTask(
                        run_id=run_id,
                        position=position,
                        generated=dict(generated),
                        status=TaskStatus.PROPOSED,
                    )
                )

    async def _finish(
        self, run_id: str, snapshot: _Snapshot, result: PipelineResult | None
    ) -> None:
        failed = result is not None and not result.complete
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id)
            if run is None or run.status != RunStatus.RUNNING:
                return  # cancelled while processing
            run.version += 1
            if failed and result is not None:
                run.status = RunStatus.FAILED
                run.failed_step = next(
                    (r.step.value for r in result.steps if r.status == "failed"), None
                )
                run.error = "; ".join(result.errors)
            else:
                run.status = RunStatus.NEEDS_REVIEW
                run.step = None
                run.ready_at = run.ready_at or utcnow()
            if run.confidential and not failed:
                # Confidential: the transcript is not kept once processing is done.
                await asyncio.to_thread(self.store.delete, run.transcript_ref)
                run.transcript_ref, run.transcript_deleted_at = None, utcnow()
            session.add(
                AuditEntry(
                    actor="system",
                    run_id=run_id,
                    action="run_failed" if failed else "run_ready",
                    detail={"error": run.error} if failed else {},
                )
            )
            if failed:
                notify(session, run.owner_id, run_id, Kind.FAILED, _failed_message(run))
            elif run.notify_when_done:
                notify(session, run.owner_id, run_id, Kind.READY, "Your call notes are ready.")
        if result is not None:
            _log_outcome(run_id, result)
        await self._changed(run_id)

    async def _fail(self, run_id: str, step: str, message: str) -> None:
        log.warning("run %s failed at %s: %s", run_id, step, message)
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id)
            if run is None or run.status != RunStatus.RUNNING:
                return
            run.status, run.failed_step, run.error = RunStatus.FAILED, step, message
            run.version += 1
            session.add(
                AuditEntry(
                    actor="system",
                    run_id=run_id,
                    action="run_failed",
                    detail={"step": step, "error": message},
                )
            )
            notify(session, run.owner_id, run_id, Kind.FAILED, _failed_message(run))
        await self._changed(run_id)

    async def _changed(self, run_id: str) -> None:
        if self.live is not None:
            await self.live.changed(run_id)

    async def record_step(
        self, run_id: str, step: str, status: str, error: str | None = None
    ) -> None:
        async with self.sessions() as session, session.begin():
            if status == "running":
                session.add(RunStep(run_id=run_id, step=step, status=status))
                await _current_step(session, run_id)
                return
            row = (
                await session.execute(
                    select(RunStep)
                    .where(
                        RunStep.run_id == run_id, RunStep.step == step, RunStep.status == "running"
                    )
                    .order_by(RunStep.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is not None:
                row.status, row.finished_at, row.error = status, utcnow(), error
                if self.metrics is not None:
                    self.metrics.step_finished(step, status, row.started_at, row.finished_at)
            await _current_step(session, run_id)


async def _current_step(session: AsyncSession, run_id: str) -> None:
    """The run's ``step`` is the step in progress: summarizing and analyzing run side by side,
    and the one started last is shown while it runs, then the other one again."""
    await session.flush()
    running = (
        await session.execute(
            select(RunStep.step)
            .where(RunStep.run_id == run_id, RunStep.status == "running")
            .order_by(RunStep.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    run = await session.get(Run, run_id)
    if run is not None and run.status == RunStatus.RUNNING:
        run.step = running


async def _close_interrupted_steps(session: AsyncSession, run: Run) -> None:
    """A resumed run's history stays true: what the stopped process left running did not
    finish, and the run is not in any step until the resumed one starts it again."""
    for step in (
        await session.execute(
            select(RunStep).where(RunStep.run_id == run.id, RunStep.status == "running")
        )
    ).scalars():
        step.status, step.finished_at = "interrupted", utcnow()
        step.error = "the service stopped while this step ran; it was run again"
    run.step = None


def _failed_message(run: Run) -> str:
    # Failures are never silent: the rep learns what failed and that a retry is one click away.
    step = (run.failed_step or "processing").replace("_", " ")
    return (
        f"Smart Notes could not finish {step} for your call: {run.error}. "
        "What was produced so far is on the run; retry it from there or update the CRM manually."
    )


class _Snapshot:
    """What processing needs from the run, read once under the row lock."""

    def __init__(self, run: Run, owner: User | None) -> None:
        self.customer_id = run.customer_id
        self.emails = [p["email"] for p in run.participants if p.get("email")]
        self.names = tuple(p["name"] for p in run.participants if p.get("name"))
        self.summary = run.summary_generated
        self.transcript_ref = run.transcript_ref
        self.confidential = run.confidential
        self.started_at = run.call_started_at
        self.created_at = run.created_at
        self.timezone = run.timezone
        self.rep = owner.display_name if owner is not None else ""
        # Whose earlier calls are the context: the owner's, as the review shows them.
        self.rep_of = (
            Rep(tenant_id=run.tenant_id, user_id=owner.id, email=owner.email, zone=owner.timezone)
            if owner is not None
            else None
        )

    def context(self, open_tasks: list[OpenTask] | None = None) -> CallContext:
        return CallContext(
            open_tasks=tuple(open_tasks or ()),
            started_at=self.started_at or self.created_at,
            timezone=self.timezone,
            rep=self.rep,
            participants=self.names,
            started_at_assumed=self.started_at is None,
        )


class _StepRecorder:
    """Pipeline events onto the run record: steps as rows, the summary as soon as it is done."""

    def __init__(self, processor: RunProcessor, run_id: str) -> None:
        self.processor = processor
        self.run_id = run_id
        self.current: str | None = None
        self._summary: list[str] = []

    async def __call__(self, event: PipelineEvent) -> None:
        if event.kind == "token":
            self._summary.append(event.text)
        elif event.step is not None and event.kind in (
            "step_started",
            "step_finished",
            "step_failed",
        ):
            status = {"step_started": "running", "step_finished": "done", "step_failed": "failed"}[
                event.kind
            ]
            if event.kind == "step_started":
                self.current = event.step.value
            await self.processor.record_step(
                self.run_id, event.step.value, status, event.text or None
            )
            if event.kind == "step_finished" and event.step == Step.SUMMARIZING:
                await self.processor.save_summary(self.run_id, "".join(self._summary).strip())
        if self.processor.live is not None:
            await self.processor.live.pipeline_event(self.run_id, event)


__all__ = ["MATCHING_CUSTOMER", "RunProcessor"]


def _log_outcome(run_id: str, result: PipelineResult) -> None:
    """One line per processed run for the operator: counts, models, timings; never text."""
    steps = ", ".join(
        f"{r.step.value} {r.status}" + (f" {r.seconds:.1f}s" if r.seconds is not None else "")
        for r in result.steps
    )
    extractor = result.extractor
    log.info(
        "run %s %s: %d tasks by %s, summary by %s; %s",
        run_id,
        "processed" if result.complete else "failed",
        len(result.tasks),
        f"{extractor.name} ({extractor.model})" if extractor else "no extractor",
        result.summary_model or "no model",
        steps,
        extra={
            "tasks": len(result.tasks),
            "extractor": extractor.name if extractor else "",
            "fallback": bool(extractor and extractor.fallback_reason),
        },
    )
