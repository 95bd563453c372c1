"""Changes after a save reach the CRM: an edited summary updates the note, an edited task is
updated, a rejected one deleted, one accepted late created (or, for the completion of an open
task, completed).

A change does not carry its payload: the outbox row (kind ``task_sync`` or ``note_sync``) only
names what changed, and what is sent is read when it is sent. So changes made while an earlier
one is on its way are never overtaken by it: after a send lands, a task or note that changed
again meanwhile is sent once more, and several quick changes cost one pending row, not one per
change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_adapters.contract import CRMAdapter, TaskCompleter, WriteResult
from crm_adapters.errors import AdapterConfigError, CRMNotFoundError
from smartnotes.crm.save_plan import Reviewer, note_write, saved_how, task_write
from smartnotes.runs.views import CallSides
from smartnotes.storage.models import CrmWrite, Run, RunTask, TaskStatus, User

SYNC_TASK, SYNC_NOTE = "task_sync", "note_sync"
SYNC_KINDS = frozenset({SYNC_TASK, SYNC_NOTE})
_DONE = "done"


@dataclass(frozen=True)
class Synced:
    """What one send did: the CRM's answer (none for a delete or nothing to do), and a marker
    of the state that was sent, to tell whether it changed again meanwhile."""

    marker: str
    result: WriteResult | None = None
    deleted: bool = False


def queue_sync(
    session: AsyncSession, run: Run, pending: list[CrmWrite], target: str | None
) -> bool:
    """Queue the sync of ``target`` (a task id; ``None``: the note). ``pending`` are the run's
    pending sync rows: one already waiting for the same thing is enough. Returns whether a row
    was added."""
    kind = SYNC_NOTE if target is None else SYNC_TASK
    if any(w.kind == kind and w.target == target for w in pending):
        return False
    session.add(
        CrmWrite(
            run_id=run.id,
            kind=kind,
            target=target,
            idempotency_key=f"smartnotes:{run.id}:{kind}:{target or 'note'}:{run.version}",
            payload={},
        )
    )
    return True


async def send_sync(
    sessions: async_sessionmaker[AsyncSession], crm: CRMAdapter, write: CrmWrite
) -> Synced:
    async with sessions() as session:
        run = await session.get(Run, write.run_id)
        owner = await session.get(User, run.owner_id) if run is not None else None
        if run is None or owner is None:
            return Synced(marker="")
        reviewer = Reviewer(owner.email, owner.display_name)
        if write.kind == SYNC_NOTE:
            return await _send_note(session, crm, run, reviewer)
        task = await session.get(RunTask, write.target) if write.target else None
        if task is None or task.run_id != run.id:
            return Synced(marker="")
        side = CallSides.of(run, owner.email).side(task)
    marker = str(task.version)
    completes = task.generated.get("completes")
    if isinstance(completes, dict):
        return await _send_completion(crm, run, task, completes, marker)
    key = f"smartnotes:{run.id}:task:{task.id}:v{task.version}"
    if task.status == TaskStatus.REJECTED:
        if task.crm_task_id is None:
            return Synced(marker=marker)
        await crm.delete_task(task.crm_task_id, f"smartnotes:{run.id}:task:{task.id}:delete")
        return Synced(marker=marker, deleted=True)
    if task.status not in (TaskStatus.ACCEPTED, TaskStatus.WRITTEN):
        return Synced(marker=marker)  # still a suggestion: nothing goes to the CRM
    payload = task_write(run, task, side, reviewer, key=key)
    if task.crm_task_id is not None:
        try:
            return Synced(marker, await crm.update_task(task.crm_task_id, payload))
        except CRMNotFoundError:
            pass  # deleted in the CRM meanwhile: the rep still wants it, so it is made again
    return Synced(marker, await crm.create_task(payload))


async def _send_completion(
    crm: CRMAdapter, run: Run, task: RunTask, completes: dict[str, object], marker: str
) -> Synced:
    """A completion accepted after the save completes its task; nothing undoes one that has
    landed (the review refuses to reject it)."""
    if task.status != TaskStatus.ACCEPTED or not completes.get("crm_task_id"):
        return Synced(marker=marker)
    if not isinstance(crm, TaskCompleter):
        raise AdapterConfigError(f"the {crm.name} CRM cannot complete tasks")
    key = f"smartnotes:{run.id}:complete:{task.id}"
    return Synced(marker, await crm.complete_task(str(completes["crm_task_id"]), key))


async def _send_note(
    session: AsyncSession, crm: CRMAdapter, run: Run, reviewer: Reviewer
) -> Synced:
    summary = run.summary_edited if run.summary_edited is not None else run.summary_generated
    marker = _digest(summary or "")
    written = (
        await session.execute(
            select(CrmWrite.external_id).where(
                CrmWrite.run_id == run.id, CrmWrite.kind == "note", CrmWrite.status == _DONE
            )
        )
    ).scalar_one_or_none()
    if written is None:
        return Synced(marker=marker)  # the note itself has not landed; it carries the change
    note = note_write(
        run,
        reviewer,
        key=f"smartnotes:{run.id}:note:{marker[:16]}",
        saved=saved_how(run, changed=True),
    )
    return Synced(marker, await crm.update_note(written, note))


async def record_sync(session: AsyncSession, write: CrmWrite, synced: Synced) -> bool:
    """Record what a send did; returns whether the row is done (``False``: what it is about
    changed while it was sent, so it goes again)."""
    run = await session.get(Run, write.run_id)
    if run is None:
        return True
    if write.kind == SYNC_NOTE:
        summary = run.summary_edited if run.summary_edited is not None else run.summary_generated
        return synced.marker == _digest(summary or "")
    task = await session.get(RunTask, write.target, with_for_update=True) if write.target else None
    if task is None:
        return True
    if synced.deleted:
        task.crm_task_id, task.crm_url = None, None
    elif synced.result is not None:
        task.crm_task_id = synced.result.external_id
        task.crm_url = synced.result.url or task.crm_url
        if task.status == TaskStatus.ACCEPTED:
            task.status = TaskStatus.WRITTEN
    return synced.marker == str(task.version)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
