"""The rep's review of a run: reading it, editing, deciding, saving. Transport-free: the API,
the bot and the review page all call this.

Who may see a run: its owner, and the call's attendees unless the run is confidential. Anyone
else gets ``NotFoundError``, exactly as for a run that does not exist, so nothing about another
user's run leaks. Edits carry the version they were made against; a stale one is a
``ConflictError`` with the current version, never a silent overwrite.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from crm_adapters.contract import Capability, Customer, CustomerDirectory
from crm_adapters.errors import CRMConflictError, CRMError
from pipeline.errors import InputError
from pipeline.events import utcnow
from pipeline.formats import is_audio, parse_transcript_bytes
from smartnotes.crm.outbox import PENDING, Outbox
from smartnotes.crm.save_plan import Reviewer, plan_writes
from smartnotes.crm.sync import SYNC_KINDS, queue_sync
from smartnotes.jobs import JobQueue
from smartnotes.runs.intake import TranscriptStore, stop_processing
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.notify import Kind, notify
from smartnotes.runs.offload import sized
from smartnotes.runs.task_merge import touched
from smartnotes.runs.views import (
    EDITABLE_TASK_FIELDS,
    CallSides,
    completes,
    group,
    run_summary_view,
    run_view,
    will_save,
)
from smartnotes.storage.models import (
    AuditEntry,
    CrmWrite,
    Feedback,
    Notification,
    Run,
    RunAttendee,
    RunStatus,
    RunStep,
    RunTask,
    TaskStatus,
    User,
)
from smartnotes.storage.sealed import SealError

EDITABLE = (RunStatus.NEEDS_REVIEW, RunStatus.FAILED)
_TRANSCRIPT_GONE = "the transcript is no longer kept (confidential, or the call was not processed)"


class ReviewError(Exception):
    """Base of the errors a review action can end in."""


class NotFoundError(ReviewError):
    pass


class ForbiddenError(ReviewError):
    """The viewer may see the run but not do this (only its owner may)."""


class ConflictError(ReviewError):
    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class UnavailableError(ReviewError):
    """Something the action needs (the CRM) did not answer; trying again later may work."""


class InvalidError(ReviewError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Viewer:
    tenant_id: str
    user_id: str
    email: str


class Review:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: TranscriptStore,
        outbox: Outbox,
        queue: JobQueue,
        live: LiveEvents,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.outbox = outbox
        self.queue = queue
        self.live = live

    # Reading ------------------------------------------------------------------------------

    async def list_runs(
        self, viewer: Viewer, *, limit: int = 50, status: str | None = None
    ) -> list[dict[str, Any]]:
        query = _LIST if status is None else _LIST_WITH_STATUS
        params = {**_viewer_params(viewer), "limit": limit, "status": status}
        async with self.sessions() as session:
            runs = (await session.execute(query, params)).scalars()
            return [run_summary_view(run, viewer.user_id) for run in runs]

    async def get(self, viewer: Viewer, run_id: str) -> dict[str, Any]:
        async with self.sessions() as session:
            run = await self._find(session, viewer, run_id)
            return await self._view(session, viewer, run)

    async def check_visible(self, viewer: Viewer, run_id: str) -> None:
        """``NotFoundError`` unless the viewer may see the run."""
        async with self.sessions() as session:
            await self._find(session, viewer, run_id)

    async def notifications(self, viewer: Viewer, *, unread: bool = False) -> list[dict[str, Any]]:
        query = (
            select(Notification)
            .where(Notification.user_id == viewer.user_id)
            .order_by(Notification.id.desc())
            .limit(100)
        )
        if unread:
            query = query.where(Notification.read_at.is_(None))
        async with self.sessions() as session:
            return [
                {
                    "id": n.id,
                    "run_id": n.run_id,
                    "kind": n.kind,
                    "message": n.message,
                    "created_at": n.created_at.isoformat(),
                    "read": n.read_at is not None,
                }
                for n in (await session.execute(query)).scalars()
            ]

    async def mark_read(self, viewer: Viewer, notification_id: int) -> None:
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.user_id == viewer.user_id)
                .values(read_at=utcnow())
            )
            if getattr(result, "rowcount", 0) != 1:
                raise NotFoundError("no such notification")

    # Changing -----------------------------------------------------------------------------

    async def edit_summary(
        self, viewer: Viewer, run_id: str, text: str, version: int
    ) -> dict[str, Any]:
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id, version)
            # After a failure the rep may write the summary the model did not finish.
            if run.summary_generated is None and run.status != RunStatus.FAILED:
                raise ConflictError("the summary is not finished yet", run.version)
            _editable(run, after_save=True)
            run.summary_edited = text
            run.version += 1
            _audit(session, viewer, run, "summary_edited", {"chars": len(text)})
            await self._sync_after_save(session, viewer, run, None)
            view = await self._view(session, viewer, run)
        await self._changed_after_save(run_id)
        return view

    async def edit_task(
        self, viewer: Viewer, run_id: str, task_id: str, changes: dict[str, Any], version: int
    ) -> dict[str, Any]:
        unknown = set(changes) - set(EDITABLE_TASK_FIELDS)
        if unknown:
            raise InvalidError(sorted(unknown)[0], "this field cannot be edited")
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id)
            _editable(run, after_save=True)
            task = await self._task(session, run, task_id)
            if task.version != version:
                raise ConflictError("the task changed since you loaded it", task.version)
            if completes(task) is not None:
                raise InvalidError(
                    "task", "completing an open task has nothing to edit: accept or reject it"
                )
            edited = dict(task.edited or {})
            for name, value in changes.items():
                edited[name] = value.isoformat() if isinstance(value, date) else value
            task.edited = edited
            task.version += 1
            run.version += 1
            _audit(session, viewer, run, "task_edited", {"task": task_id, "fields": list(changes)})
            await self._sync_after_save(session, viewer, run, task.id)
            view = await self._view(session, viewer, run)
        await self._changed_after_save(run_id)
        return view

    async def decide_task(
        self, viewer: Viewer, run_id: str, task_id: str, *, accept: bool, version: int | None
    ) -> dict[str, Any]:
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id)
            _editable(run, after_save=True)
            task = await self._task(session, run, task_id)
            if version is not None and task.version != version:
                raise ConflictError("the task changed since you loaded it", task.version)
            wanted = TaskStatus.ACCEPTED if accept else TaskStatus.REJECTED
            if not accept and task.status == TaskStatus.WRITTEN and completes(task) is not None:
                raise InvalidError(
                    "task", "this task is already completed in the CRM; reopen it there"
                )
            already = task.status == wanted or (accept and task.status == TaskStatus.WRITTEN)
            if not already:
                task.status = wanted
                task.version += 1
                run.version += 1
                action = "task_accepted" if accept else "task_rejected"
                _audit(session, viewer, run, action, {"task": task_id})
                await self._sync_after_save(session, viewer, run, task.id)
            view = await self._view(session, viewer, run)
        await self._changed_after_save(run_id)
        return view

    async def _sync_after_save(
        self, session: AsyncSession, viewer: Viewer, run: Run, target: str | None
    ) -> None:
        """A change to saved notes goes to the CRM too (``smartnotes.crm.sync``); the run is
        saving again until it has landed."""
        if run.status != RunStatus.SAVED:
            return
        pending = list(
            (
                await session.execute(
                    select(CrmWrite).where(
                        CrmWrite.run_id == run.id,
                        CrmWrite.status == PENDING,
                        CrmWrite.kind.in_(SYNC_KINDS),
                    )
                )
            ).scalars()
        )
        queue_sync(session, run, pending, target)
        run.status = RunStatus.SAVING
        _audit(session, viewer, run, "changed_after_save", {"target": target or "summary"})
        await self.outbox.dispatch(session, run.id)

    async def _changed_after_save(self, run_id: str) -> None:
        await self.live.changed(run_id)

    async def retrigger_tasks(
        self, viewer: Viewer, run_id: str, version: int | None
    ) -> dict[str, Any]:
        """Extract the tasks again; the summary, and the rep's edits to it, stay."""
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id, version)
            _editable(run)
            if run.transcript_ref is None:
                raise ConflictError(
                    "the call's transcript is no longer kept (confidential or deleted), "
                    "so tasks cannot be created again",
                    run.version,
                )
            # The rep's work stays: tasks they edited, accepted or rejected are kept and the new
            # extraction merges into them; only untouched suggestions are replaced.
            replaced = 0
            for task in await _tasks(session, run_id):
                if not touched(task):
                    await session.delete(task)
                    replaced += 1
            run.extractor = run.extractor_model = run.extractor_fallback_reason = None
            # The coach read the old tasks: it coaches the new ones once they are ready.
            run.coaching = None
            run.status, run.step, run.error, run.failed_step = RunStatus.QUEUED, None, None, None
            run.version += 1
            _audit(session, viewer, run, "tasks_retriggered", {"replaced": replaced})
            view = await self._view(session, viewer, run)
        await self.queue.enqueue(run_id)
        await self.live.changed(run_id)
        return view

    async def retry(self, viewer: Viewer, run_id: str) -> dict[str, Any]:
        """Retry a failed run from the record; it resumes from its last completed step."""
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id)
            if run.status != RunStatus.FAILED:
                raise ConflictError("only a failed run can be retried", run.version)
            run.status, run.error, run.failed_step = RunStatus.QUEUED, None, None
            run.version += 1
            _audit(session, viewer, run, "run_retried", {})
            view = await self._view(session, viewer, run)
        await self.queue.enqueue(run_id)
        await self.live.changed(run_id)
        return view

    async def feedback(
        self, viewer: Viewer, run_id: str, target: str, rating: str, comment: str
    ) -> dict[str, Any]:
        async with self.sessions() as session, session.begin():
            run = await self._find(session, viewer, run_id)
            if _COACHED.match(target):
                _coached_item(run, target)
            elif target != "summary":
                await self._task(session, run, target, field="target")
            session.add(
                Feedback(
                    run_id=run_id,
                    user_id=viewer.user_id,
                    target=target,
                    rating=rating,
                    comment=comment,
                )
            )
            _audit(session, viewer, run, "feedback", {"target": target, "rating": rating})
            view = await self._view(session, viewer, run)
        return view

    async def save(
        self,
        viewer: Viewer,
        run_id: str,
        *,
        version: int | None,
        customer_id: str | None = None,
        accept_proposed: bool = True,
    ) -> dict[str, Any]:
        """Queue the reviewed note and the accepted tasks for the CRM.

        Saving is the rep's decision on the tasks left as proposed: they are accepted, unless
        ``accept_proposed`` is false. Saving a run already being saved retries its pending
        writes now; saving a saved run changes nothing.
        """
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id)
            if run.status == RunStatus.SAVING:
                # Saving again retries the pending writes now, not when their backoff ends.
                await self.outbox.dispatch(session, run_id)
            elif run.status != RunStatus.SAVED:
                if version is not None and run.version != version:
                    raise ConflictError("the run changed since you loaded it", run.version)
                if not _saveable(run):
                    raise ConflictError(
                        f"the run is {run.status.replace('_', ' ')}; "
                        "it can be saved once it is ready for review",
                        run.version,
                    )
                await self._queue_writes(session, viewer, run, customer_id, accept_proposed)
                await self.outbox.dispatch(session, run_id)
            view = await self._view(session, viewer, run)
        await self.live.changed(run_id)
        return view

    async def auto_save(self, run_id: str, *, waited_hours: float) -> str | None:
        """Save notes the rep left unreviewed, by the rule of the Save button. Returns why it
        could not (no customer yet), told to the rep once; ``None`` when saved or no longer
        due (the rep acted meanwhile)."""
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            owner = await session.get(User, run.owner_id) if run is not None else None
            if run is None or owner is None or run.status != RunStatus.NEEDS_REVIEW:
                return None
            viewer = Viewer(tenant_id=run.tenant_id, user_id=owner.id, email=owner.email)
            if run.customer_id is None:
                reason = "no customer was matched to this call"
                if run.auto_save_blocked != reason:
                    run.auto_save_blocked = reason
                    notify(
                        session,
                        owner.id,
                        run.id,
                        Kind.AUTO_SAVE_BLOCKED,
                        "Your call notes could not be saved automatically: choose the customer "
                        "and save them.",
                    )
                return reason
            await self._queue_writes(
                session, viewer, run, None, accept_proposed=True, auto_after=waited_hours
            )
            await self.outbox.dispatch(session, run_id)
            run.auto_saved_at = utcnow()
            notify(
                session,
                owner.id,
                run.id,
                Kind.AUTO_SAVED,
                "Your call notes were saved to the CRM automatically; you can still change them.",
            )
        await self.live.changed(run_id)
        return None

    async def _queue_writes(
        self,
        session: AsyncSession,
        viewer: Viewer,
        run: Run,
        customer_id: str | None,
        accept_proposed: bool,
        auto_after: float | None = None,
    ) -> None:
        if customer_id and customer_id != run.customer_id:
            customer = await self._writable_customer(viewer, customer_id)
            run.customer_id, run.customer_name = customer.id, customer.name
        if run.customer_id is None:
            raise InvalidError(
                "customer_id", "no customer was matched to this call; choose the customer"
            )
        sides = await _sides(session, run, viewer)
        tasks = [(task, sides.side(task)) for task in await _tasks(session, run.id)]
        for task, side in tasks:
            # Saving decides what the rep left open: their own tasks go, unless they said no;
            # a recall-check finding or the customer's commitment only when they kept it.
            open_ = task.status == TaskStatus.PROPOSED and (task.edited or accept_proposed)
            if open_ and will_save(task, side):
                task.status = TaskStatus.ACCEPTED
                task.version += 1
        owner = await session.get(User, run.owner_id)
        reviewer = Reviewer(viewer.email, owner.display_name if owner is not None else "")
        for write in plan_writes(run, tasks, reviewer, auto_after=auto_after):
            session.add(write)
        run.status, run.error = RunStatus.SAVING, None
        run.version += 1
        tasks_count = sum(t.status == TaskStatus.ACCEPTED for t, _ in tasks)
        if auto_after is None:
            _audit(session, viewer, run, "save_requested", {"tasks": tasks_count})
        else:
            session.add(
                AuditEntry(
                    actor="system:auto-save",
                    run_id=run.id,
                    action="auto_save_requested",
                    detail={"tasks": tasks_count, "after_hours": auto_after},
                )
            )

    async def later(self, viewer: Viewer, run_id: str) -> dict[str, Any]:
        """The rep closed the review: tell them when the run is ready (now, if it is)."""
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id)
            if not run.notify_when_done:
                run.notify_when_done = True
                run.version += 1
                _audit(session, viewer, run, "inform_later", {})
                if run.status == RunStatus.NEEDS_REVIEW:
                    notify(session, run.owner_id, run.id, Kind.READY, "Your call notes are ready.")
            view = await self._view(session, viewer, run)
        await self.live.changed(run_id)
        return view

    async def stop(
        self, viewer: Viewer, run_id: str, cancel: Callable[[str], Awaitable[bool]]
    ) -> dict[str, Any]:
        """ "Don't process this call": only the owner may; the transcript is deleted."""
        async with self.sessions() as session:
            run = await self._find(session, viewer, run_id)
            if run.owner_id != viewer.user_id:
                raise ForbiddenError("only the rep who owns the call can stop its processing")
            if run.status in (RunStatus.SAVING, RunStatus.SAVED):
                raise ConflictError("the notes are already saved to the CRM", run.version)
        await stop_processing(self.sessions, self.store, run_id, by=viewer.email)
        await cancel(run_id)
        await self._forget_output(run_id)
        await self.live.changed(run_id)
        return await self.get(viewer, run_id)

    async def _forget_output(self, run_id: str) -> None:
        """A call the rep chose not to process keeps nothing the models made of it."""
        async with self.sessions() as session, session.begin():
            run = await session.get(Run, run_id, with_for_update=True)
            if run is None or run.status != RunStatus.CANCELLED:
                return
            run.summary_generated = run.summary_edited = None
            await session.execute(delete(RunTask).where(RunTask.run_id == run_id))

    async def accept_all(self, viewer: Viewer, run_id: str, version: int | None) -> dict[str, Any]:
        """Accept every suggestion of the rep's own; findings to check and the customer's
        commitments are left for the rep to decide one by one."""
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id, version)
            _editable(run)
            sides = await _sides(session, run, viewer)
            accepted: list[str] = []
            for task in await _tasks(session, run_id):
                side = sides.side(task)
                if task.status == TaskStatus.PROPOSED and group(task, side) == "mine":
                    task.status = TaskStatus.ACCEPTED
                    task.version += 1
                    accepted.append(task.id)
            if accepted:
                run.version += 1
                _audit(session, viewer, run, "tasks_accepted", {"tasks": accepted})
            view = await self._view(session, viewer, run)
        await self.live.changed(run_id)
        return view

    async def transcript(self, viewer: Viewer, run_id: str) -> dict[str, Any]:
        """The call's words, line by line, for the review's click-to-jump from a quote."""
        async with self.sessions() as session:
            run = await self._find(session, viewer, run_id)
            ref = run.transcript_ref
        if ref is None:
            return {"segments": [], "kept": False, "reason": _TRANSCRIPT_GONE}
        path = Path(ref)
        try:
            data = await asyncio.to_thread(self.store.read_bytes, ref)
        except FileNotFoundError:
            return {"segments": [], "kept": False, "reason": _TRANSCRIPT_GONE}
        except SealError as exc:
            return {"segments": [], "kept": True, "reason": f"it cannot be opened: {exc}"}
        if is_audio(data, path.name):
            return {"segments": [], "kept": True, "reason": "the call was a recording"}
        try:
            parsed = await sized(len(data), parse_transcript_bytes, data, path.name)
        except InputError as exc:
            return {"segments": [], "kept": True, "reason": str(exc)}
        segments = [s.model_dump(mode="json") for s in parsed.segments]
        return {"segments": segments, "kept": True, "reason": None}

    # The customer of a call ---------------------------------------------------------------

    def directory(self) -> CustomerDirectory | None:
        crm = self.outbox.crm
        if Capability.SEARCH_CUSTOMERS in crm.capabilities and isinstance(crm, CustomerDirectory):
            return crm
        return None

    def can_create_customers(self) -> bool:
        return (
            self.directory() is not None
            and Capability.CREATE_CUSTOMER in self.outbox.crm.capabilities
        )

    async def search_customers(
        self, viewer: Viewer, run_id: str, query: str, *, limit: int = 10
    ) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            await self._find(session, viewer, run_id)
        directory = self._directory_or_refuse()
        try:
            found = await directory.search_customers(query, user_email=viewer.email, limit=limit)
        except CRMError as exc:
            raise UnavailableError(f"the CRM could not be searched: {exc}") from exc
        return [{"id": c.id, "name": c.name, "url": c.url} for c in found]

    async def choose_customer(
        self, viewer: Viewer, run_id: str, customer_id: str, version: int | None
    ) -> dict[str, Any]:
        """Set the call's customer, when the CRM lets the rep write to it."""
        async with self.sessions() as session:
            await self._find(session, viewer, run_id)
        customer = await self._writable_customer(viewer, customer_id)
        return await self._set_customer(viewer, run_id, customer, version, "customer_chosen")

    async def create_customer(
        self, viewer: Viewer, run_id: str, name: str, emails: Sequence[str], version: int | None
    ) -> dict[str, Any]:
        """Create the prospect in the CRM and make it the call's customer."""
        async with self.sessions() as session:
            run = await self._find(session, viewer, run_id)
            if run.owner_id != viewer.user_id:
                raise ForbiddenError("only the rep who owns the call can choose its customer")
        directory = self._directory_or_refuse()
        if not self.can_create_customers():
            raise ForbiddenError("this CRM does not let Smart Notes create customers")
        try:
            customer = await directory.create_customer(name, emails, user_email=viewer.email)
        except CRMConflictError as exc:
            # Not a stale page: the CRM said no to this prospect (a contact it already has).
            raise InvalidError("email", f"the CRM refused the new customer: {exc}") from exc
        except CRMError as exc:
            raise UnavailableError(f"the CRM could not create the customer: {exc}") from exc
        return await self._set_customer(viewer, run_id, customer, version, "prospect_created")

    def _directory_or_refuse(self) -> CustomerDirectory:
        directory = self.directory()
        if directory is None:
            raise ForbiddenError("this CRM does not offer a customer search")
        return directory

    async def _writable_customer(self, viewer: Viewer, customer_id: str) -> Customer:
        directory = self._directory_or_refuse()
        try:
            customer = await directory.may_write(customer_id, user_email=viewer.email)
        except CRMError as exc:
            raise UnavailableError(
                f"the CRM could not be asked about {customer_id}: {exc}"
            ) from exc
        if customer is None:
            raise ForbiddenError(
                "the CRM does not let you write to this customer (or there is no such customer)"
            )
        return customer

    async def _set_customer(
        self, viewer: Viewer, run_id: str, customer: Customer, version: int | None, action: str
    ) -> dict[str, Any]:
        async with self.sessions() as session, session.begin():
            run = await self._for_change(session, viewer, run_id, version)
            if run.owner_id != viewer.user_id:
                raise ForbiddenError("only the rep who owns the call can choose its customer")
            if run.status in (RunStatus.SAVING, RunStatus.SAVED, RunStatus.CANCELLED):
                raise ConflictError(
                    f"the run is {run.status}; its customer cannot change now", run.version
                )
            if run.customer_id != customer.id:
                run.customer_id, run.customer_name = customer.id, customer.name
                run.version += 1
                _audit(session, viewer, run, action, {"customer": customer.id})
            view = await self._view(session, viewer, run)
        await self.live.changed(run_id)
        return view

    # Helpers ------------------------------------------------------------------------------

    async def _find(
        self, session: AsyncSession, viewer: Viewer, run_id: str, *, lock: bool = False
    ) -> Run:
        params = {**_viewer_params(viewer), "run_id": run_id}
        query = _FIND_FOR_CHANGE if lock else _FIND
        run = (await session.execute(query, params)).scalar_one_or_none()
        if run is None:
            raise NotFoundError("no such run")
        return run

    async def _for_change(
        self, session: AsyncSession, viewer: Viewer, run_id: str, version: int | None = None
    ) -> Run:
        # Locked as it is read (the row on PostgreSQL; on SQLite the database's one writer
        # slot), so two edits are serialized and the version check holds.
        run = await self._find(session, viewer, run_id, lock=True)
        if version is not None and run.version != version:
            raise ConflictError("the run changed since you loaded it", run.version)
        return run

    async def _task(
        self, session: AsyncSession, run: Run, task_id: str, *, field: str | None = None
    ) -> RunTask:
        task = await session.get(RunTask, task_id)
        if task is None or task.run_id != run.id:
            if field is not None:
                raise InvalidError(field, "no such task in this run")
            raise NotFoundError("no such task")
        return task

    async def _view(self, session: AsyncSession, viewer: Viewer, run: Run) -> dict[str, Any]:
        steps = (await session.execute(_STEPS, {"run_id": run.id})).scalars()
        feedback = (await session.execute(_FEEDBACK, {"run_id": run.id})).scalars()
        return run_view(
            run,
            viewer.user_id,
            tasks=await _tasks(session, run.id),
            steps=list(steps),
            feedback=list(feedback),
            rep_email=await _rep_email(session, run, viewer),
            streaming_summary=self.live.partial_summary(run.id),
        )


# The statements of every read, built once with parameters: building a statement (and the
# key of its compiled form) costs more than running it on the embedded database.
_VISIBLE: ColumnElement[bool] = and_(
    Run.tenant_id == bindparam("tenant_id"),
    or_(
        Run.owner_id == bindparam("user_id"),
        and_(
            Run.confidential.is_(False),
            Run.id.in_(select(RunAttendee.run_id).where(RunAttendee.email == bindparam("email"))),
        ),
    ),
)
_FIND = select(Run).where(Run.id == bindparam("run_id"), _VISIBLE)
_FIND_FOR_CHANGE = _FIND.with_for_update(of=Run).execution_options(populate_existing=True)
# A list looks up the caller's own and attended runs by index, then applies the same rule,
# instead of reading every run of the tenant.
_MINE = union(
    select(Run.id.label("run_id")).where(Run.owner_id == bindparam("user_id")),
    select(RunAttendee.run_id).where(RunAttendee.email == bindparam("email")),
).subquery()
_LIST = (
    select(Run)
    .join(_MINE, Run.id == _MINE.c.run_id)
    .where(
        Run.tenant_id == bindparam("tenant_id"),
        or_(Run.owner_id == bindparam("user_id"), Run.confidential.is_(False)),
    )
    .order_by(Run.created_at.desc())
    .limit(bindparam("limit"))
)
_LIST_WITH_STATUS = _LIST.where(Run.status == bindparam("status"))
_STEPS = select(RunStep).where(RunStep.run_id == bindparam("run_id")).order_by(RunStep.id)
_FEEDBACK = select(Feedback).where(Feedback.run_id == bindparam("run_id"))
_TASKS = select(RunTask).where(RunTask.run_id == bindparam("run_id")).order_by(RunTask.position)


def _viewer_params(viewer: Viewer) -> dict[str, Any]:
    """Who may see a run: its owner, or an attendee of a run that is not confidential."""
    return {"tenant_id": viewer.tenant_id, "user_id": viewer.user_id, "email": viewer.email}


def _saveable(run: Run) -> bool:
    """Ready for review, or failed with a summary: what was produced (and what the rep wrote
    in its place) is still theirs to save."""
    if run.status == RunStatus.NEEDS_REVIEW:
        return True
    has_summary = run.summary_edited is not None or run.summary_generated is not None
    return run.status == RunStatus.FAILED and has_summary


def _editable(run: Run, *, after_save: bool = False) -> None:
    """Whether the rep may change the run now. Saved notes stay changeable (``after_save``)
    where the change can follow them into the CRM; while a save is on its way, not yet."""
    if after_save and run.status == RunStatus.SAVED:
        return
    if run.status == RunStatus.SAVING:
        raise ConflictError(
            "the notes are being saved to the CRM; change them again once they are saved",
            run.version,
        )
    if run.status not in EDITABLE and not (
        run.status == RunStatus.RUNNING and run.summary_generated is not None
    ):
        raise ConflictError(
            f"the run is {run.status.replace('_', ' ')} and cannot be changed now", run.version
        )


async def _rep_email(session: AsyncSession, run: Run, viewer: Viewer) -> str:
    """The run owner's e-mail: sides are the owner's team and the customer, whoever looks."""
    if run.owner_id == viewer.user_id:
        return viewer.email
    owner = await session.get(User, run.owner_id)
    return owner.email if owner is not None else ""


async def _sides(session: AsyncSession, run: Run, viewer: Viewer) -> CallSides:
    return CallSides.of(run, await _rep_email(session, run, viewer))


async def _tasks(session: AsyncSession, run_id: str) -> list[RunTask]:
    return list((await session.execute(_TASKS, {"run_id": run_id})).scalars())


# Feedback on one of the coach's suggestions: "next_step:2", "objection:0".
_COACHED = re.compile(r"^(next_step|objection):(\d{1,2})$")
_COACHED_LISTS = {"next_step": "next_steps", "objection": "objections"}


def _coached_item(run: Run, target: str) -> None:
    match = _COACHED.match(target)
    coaching = run.coaching or {}
    if match is None:
        raise InvalidError("target", "no such suggestion in this run")
    items = coaching.get(_COACHED_LISTS[match[1]]) or []
    if int(match[2]) >= len(items):
        raise InvalidError("target", "no such suggestion in this run")


def _audit(
    session: AsyncSession, viewer: Viewer, run: Run, action: str, detail: dict[str, Any]
) -> None:
    session.add(AuditEntry(actor=viewer.email, run_id=run.id, action=action, detail=detail))


__all__: Sequence[str] = [
    "ConflictError",
    "ForbiddenError",
    "InvalidError",
    "NotFoundError",
    "Review",
    "ReviewError",
    "UnavailableError",
    "Viewer",
]
