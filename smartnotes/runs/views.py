"""Runs as the rep sees them: plain JSON-ready dicts for the API, the review page and cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.sides import Person, Side, task_side
from smartnotes.storage.models import Feedback, Run, RunStatus, RunStep, RunTask, TaskStatus

# The fields of a task the rep may change; everything else (evidence, confidence) is the
# model's and stays as it was produced.
EDITABLE_TASK_FIELDS = ("title", "description", "due_date", "priority", "owner", "side")

Decision = Literal["suggested", "accepted", "edited", "rejected"]
Group = Literal["mine", "customer", "check", "done"]


def effective_task(task: RunTask) -> dict[str, Any]:
    """The task as it stands: what the model produced, with the rep's edits over it."""
    return {**task.generated, **(task.edited or {})}


@dataclass(frozen=True)
class CallSides:
    """What decides whose side a task is on: the call's people and the rep."""

    participants: tuple[Person, ...]
    rep_email: str
    customer_name: str | None = None

    @classmethod
    def of(cls, run: Run, rep_email: str) -> CallSides:
        people = tuple(
            Person(str(p.get("name") or ""), str(p.get("email") or "")) for p in run.participants
        )
        return cls(people, rep_email, run.customer_name)

    def side(self, task: RunTask) -> Side:
        fields = effective_task(task)
        chosen = fields.get("side")
        if chosen in ("rep", "customer"):
            return "rep" if chosen == "rep" else "customer"
        owner = str(fields.get("owner") or "")
        return task_side(owner, self.participants, self.rep_email, self.customer_name)


def decision(task: RunTask) -> Decision:
    """The rep's decision on a task: a change to it counts as keeping it."""
    if task.status == TaskStatus.REJECTED:
        return "rejected"
    if task.edited:
        return "edited"
    if task.status in (TaskStatus.ACCEPTED, TaskStatus.WRITTEN):
        return "accepted"
    return "suggested"


# Decisions that keep a task: it is the rep's to do (or done, for a completion).
KEPT = ("accepted", "edited")


def completes(task: RunTask) -> str | None:
    """The id of the open task this row proposes to complete, if it is such a proposal."""
    target = task.generated.get("completes")
    if isinstance(target, dict) and isinstance(target.get("task_id"), str):
        return str(target["task_id"])
    return None


def completed_ids(tasks: Iterable[RunTask]) -> set[str]:
    """The tasks that a kept completion among ``tasks`` closed."""
    return {
        target
        for task in tasks
        if (target := completes(task)) is not None and decision(task) in KEPT
    }


def is_open(task: RunTask, completed: set[str]) -> bool:
    return completes(task) is None and decision(task) in KEPT and task.id not in completed


def group(task: RunTask, side: Side) -> Group:
    if completes(task) is not None:
        return "done"
    if task.generated.get("origin") == "recall_check":
        return "check"
    return "mine" if side == "rep" else "customer"


def will_save(task: RunTask, side: Side) -> bool:
    """Whether saving writes this task: the rep's own tasks unless rejected; a recall-check
    finding, the customer's commitment or the completion of an open task only once the rep
    kept it (accepted or edited)."""
    if task.status == TaskStatus.WRITTEN:
        return False
    kept = decision(task)
    if kept == "rejected":
        return False
    return kept != "suggested" or group(task, side) == "mine"


def task_view(task: RunTask, sides: CallSides) -> dict[str, Any]:
    fields = effective_task(task)
    side = sides.side(task)
    edited = task.edited or {}
    return {
        "id": task.id,
        "position": task.position,
        "status": task.status,
        "version": task.version,
        "edited": bool(task.edited),
        "crm_task_id": task.crm_task_id,
        "crm_url": task.crm_url,
        **{name: fields.get(name) for name in EDITABLE_TASK_FIELDS},
        "side": side,
        "decision": decision(task),
        "group": group(task, side),
        "will_save": will_save(task, side),
        # The date the rep set differs from the words said: the page strikes the words.
        "due_changed": "due_date" in edited
        and edited["due_date"] != task.generated.get("due_date"),
        "due_text": fields.get("due_text", ""),
        "priority_reason": fields.get("priority_reason", ""),
        "related_to": fields.get("related_to", ""),
        "evidence": fields.get("evidence", []),
        "confidence": fields.get("confidence"),
        "origin": fields.get("origin"),
        # The open task from an earlier call this proposal marks done (null for a new task).
        "completes": task.generated.get("completes"),
        "generated": task.generated,
    }


def run_summary_view(run: Run, viewer_id: str) -> dict[str, Any]:
    """A run in a list: enough to pick it, nothing heavy."""
    return {
        "id": run.id,
        "source": run.source,
        "call_id": run.call_id,
        "call_started_at": _iso(run.call_started_at),
        "customer_name": run.customer_name,
        "status": run.status,
        "step": run.step,
        "role": "owner" if run.owner_id == viewer_id else "attendee",
        "confidential": run.confidential,
        "created_at": _iso(run.created_at),
        "version": run.version,
    }


def run_view(
    run: Run,
    viewer_id: str,
    *,
    tasks: list[RunTask],
    steps: list[RunStep],
    feedback: list[Feedback],
    rep_email: str = "",
    streaming_summary: str | None = None,
) -> dict[str, Any]:
    summary = run.summary_edited if run.summary_edited is not None else run.summary_generated
    sides = CallSides.of(run, rep_email)
    views = [task_view(t, sides) for t in tasks]
    return {
        **run_summary_view(run, viewer_id),
        "call_url": run.call_url,
        "timezone": run.timezone,
        "participants": run.participants,
        "customer_id": run.customer_id,
        "ai_generated": True,
        "summary": {
            "text": summary if summary is not None else streaming_summary,
            "generated": run.summary_generated,
            "edited": run.summary_edited is not None,
            "streaming": summary is None and streaming_summary is not None,
        },
        # The deal coach: next steps, objections, sentiment (null until it ran).
        "coaching": run.coaching,
        "extractor": {
            "name": run.extractor,
            "model": run.extractor_model,
            "fallback_reason": run.extractor_fallback_reason,
            "repairs": run.extractor_repairs or [],
            # What the customer's open tasks changed: tasks not proposed again.
            "notes": run.task_notes or [],
        },
        "tasks": views,
        "needs_customer": run.customer_id is None,
        "save_plan": save_plan(run, views),
        "steps": [
            {
                "step": s.step,
                "status": s.status,
                "started_at": _iso(s.started_at),
                "finished_at": _iso(s.finished_at),
                "error": s.error,
            }
            for s in steps
        ],
        "error": {"step": run.failed_step, "message": run.error} if run.error else None,
        "notify_when_done": run.notify_when_done,
        "ready_at": _iso(run.ready_at),
        # Saved without the rep: the page and card say so, and changes still reach the CRM.
        "auto_saved_at": _iso(run.auto_saved_at),
        "transcript_kept": run.transcript_ref is not None,
        "feedback": _latest_feedback(feedback, viewer_id),
    }


def save_plan(run: Run, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """What Save writes, said before it is pressed; after a save, what was written."""
    if run.status in (RunStatus.SAVING, RunStatus.SAVED):
        written = sum(t["status"] == TaskStatus.WRITTEN for t in tasks)
        queued = sum(t["status"] == TaskStatus.ACCEPTED for t in tasks)
        return {
            "note": True,
            "tasks": written + queued,
            "written": written,
            "label": _saved_label(run.status == RunStatus.SAVED, written + queued),
        }
    count = sum(bool(t["will_save"]) for t in tasks)
    done = sum(bool(t["will_save"]) and t.get("completes") is not None for t in tasks)
    label = f"Save note and {_tasks(count - done)}"
    if done:
        label = f"Save note, {_tasks(count - done)} and mark {_tasks(done)} done"
    return {"note": True, "tasks": count, "written": 0, "label": label}


def _saved_label(done: bool, count: int) -> str:
    what = f"the note and {_tasks(count)}"
    return f"Saved {what} to the CRM" if done else f"Saving {what} to the CRM"


def _tasks(count: int) -> str:
    return "1 task" if count == 1 else f"{count} tasks"


def _latest_feedback(feedback: list[Feedback], viewer_id: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for entry in sorted(feedback, key=lambda f: f.id):
        if entry.user_id == viewer_id:
            latest[entry.target] = {"rating": entry.rating, "comment": entry.comment}
    return latest


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
