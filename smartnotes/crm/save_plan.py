"""What saving a run writes to the CRM: the note and the tasks, planned from the rep's review.

Pure planning over the run's rows; the outbox (``smartnotes.crm.outbox``) delivers what is planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from crm_adapters.contract import NoteWrite, TaskWrite
from pipeline.sides import Side
from smartnotes.runs.views import effective_task
from smartnotes.storage.models import CrmWrite, Run, RunTask, TaskStatus


@dataclass(frozen=True)
class Reviewer:
    """The rep the saved notes are for: a customer's commitment becomes their follow-up."""

    email: str
    name: str = ""


def plan_writes(
    run: Run,
    tasks: Sequence[tuple[RunTask, Side]],
    reviewer: Reviewer,
    *,
    auto_after: float | None = None,
) -> list[CrmWrite]:
    """The CRM writes for a reviewed run: its note, then each accepted task."""
    note = note_write(
        run,
        reviewer,
        key=f"smartnotes:{run.id}:note",
        saved=_saved_how(auto_after, changed=False),
        reviewed=auto_after is None,
    )
    writes = [
        CrmWrite(
            run_id=run.id,
            kind="note",
            idempotency_key=note.idempotency_key,
            payload=note.model_dump(mode="json"),
        )
    ]
    for task, side in tasks:
        if task.status != TaskStatus.ACCEPTED:
            continue
        done = completion_write(run, task)
        if done is not None:
            writes.append(done)
            continue
        write = task_write(run, task, side, reviewer, key=f"smartnotes:{run.id}:task:{task.id}")
        writes.append(
            CrmWrite(
                run_id=run.id,
                kind="task",
                target=task.id,
                idempotency_key=write.idempotency_key,
                payload=write.model_dump(mode="json"),
            )
        )
    return writes


def completion_write(run: Run, task: RunTask) -> CrmWrite | None:
    """Completing the open task a kept proposal names, in the CRM; ``None`` for other tasks."""
    target = task.generated.get("completes")
    if not isinstance(target, dict) or not target.get("crm_task_id"):
        return None
    key = f"smartnotes:{run.id}:complete:{task.id}"
    return CrmWrite(
        run_id=run.id,
        kind="complete",
        target=task.id,
        idempotency_key=key,
        payload={"external_id": str(target["crm_task_id"]), "idempotency_key": key},
    )


def note_write(
    run: Run, reviewer: Reviewer, *, key: str, saved: str | None, reviewed: bool = True
) -> NoteWrite:
    """The run's note as it stands, labelled with where it came from."""
    if run.customer_id is None:
        raise ValueError("a run needs a customer before it can be saved")
    summary = run.summary_edited if run.summary_edited is not None else run.summary_generated
    provenance: dict[str, Any] = {
        "run_id": run.id,
        "source": run.source,
        "call_id": run.call_id,
        "summary": "edited by the rep" if run.summary_edited is not None else "AI generated",
        "extractor": run.extractor,
        "extractor_model": run.extractor_model,
        # Nobody reviewed auto-saved notes: the CRM says so next to them.
        "reviewed_by": reviewer.email if reviewed else None,
    }
    if saved is not None:
        provenance["saved"] = saved
    return NoteWrite(
        customer_id=run.customer_id,
        title=_note_title(run),
        body=(summary or "").strip() or "(no summary)",
        call_url=run.call_url,
        call_started_at=run.call_started_at,
        provenance=provenance,
        idempotency_key=key,
    )


def task_write(run: Run, task: RunTask, side: Side, reviewer: Reviewer, *, key: str) -> TaskWrite:
    """A task as the CRM gets it. A task on the customer's side ("Daniel sends the security
    questionnaire") is the customer's to do, not the rep's: it becomes the rep's follow-up on
    it, due when the customer promised it."""
    fields = effective_task(task)
    title, owner = str(fields["title"]), str(fields.get("owner") or "")
    description = _task_description(fields)
    if side == "customer":
        who = owner or run.customer_name or "the customer"
        description = f"Waiting on {who} (customer).\n\n{description}".strip()
        title, owner = f"Follow up: {title}", reviewer.name or reviewer.email
    return TaskWrite(
        title=title[:300],
        description=description,
        due_date=fields.get("due_date") or None,
        priority=fields.get("priority") or "medium",
        owner=owner,
        customer_id=run.customer_id,
        related_to=fields.get("related_to") or "",
        call_url=run.call_url,
        idempotency_key=key,
    )


def saved_how(run: Run, *, changed: bool) -> str | None:
    """How the note came to be in the CRM, for its provenance."""
    hours = None
    if run.auto_saved_at is not None and run.ready_at is not None:
        hours = round((run.auto_saved_at - run.ready_at).total_seconds() / 3600, 1)
    return _saved_how(hours if run.auto_saved_at is not None else None, changed=changed)


def _saved_how(auto_after: float | None, *, changed: bool) -> str | None:
    text = None
    if auto_after is not None:
        text = f"auto-saved {auto_after:g} h after the notes were ready, unreviewed"
    if changed:
        text = f"{text}; then changed by the rep" if text else "changed by the rep after saving"
    return text


def _note_title(run: Run) -> str:
    when = run.call_started_at or run.created_at
    day = when.astimezone(ZoneInfo(run.timezone)).strftime("%Y-%m-%d")
    who = run.customer_name or "customer"
    return f"Call with {who} on {day}"[:300]


def _task_description(fields: dict[str, Any]) -> str:
    text = str(fields.get("description") or "")
    # Where the task came from goes with it into the CRM.
    evidence = fields.get("evidence") or []
    if evidence:
        quote = evidence[0]
        at = quote.get("at")
        stamp = f" at {_clock(at)}" if isinstance(at, int | float) else ""
        text = f'{text}\n\nFrom the call{stamp}: "{quote.get("quote", "")}"'.strip()
    return text


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
