"""Runs as the rep sees them: plain JSON-ready dicts for the API, the review page and cards."""

from __future__ import annotations

from typing import Any

from smartnotes.storage.models import Feedback, Run, RunStep, RunTask

# The fields of a task the rep may change; everything else (evidence, confidence) is the
# model's and stays as it was produced.
EDITABLE_TASK_FIELDS = ("title", "description", "due_date", "priority", "owner")


def effective_task(task: RunTask) -> dict[str, Any]:
    """The task as it stands: what the model produced, with the rep's edits over it."""
    return {**task.generated, **(task.edited or {})}


def task_view(task: RunTask) -> dict[str, Any]:
    fields = effective_task(task)
    return {
        "id": task.id,
        "position": task.position,
        "status": task.status,
        "version": task.version,
        "edited": bool(task.edited),
        "crm_task_id": task.crm_task_id,
        **{name: fields.get(name) for name in EDITABLE_TASK_FIELDS},
        "due_text": fields.get("due_text", ""),
        "priority_reason": fields.get("priority_reason", ""),
        "related_to": fields.get("related_to", ""),
        "evidence": fields.get("evidence", []),
        "confidence": fields.get("confidence"),
        "origin": fields.get("origin"),
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
    streaming_summary: str | None = None,
) -> dict[str, Any]:
    summary = run.summary_edited if run.summary_edited is not None else run.summary_generated
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
        "extractor": {
            "name": run.extractor,
            "model": run.extractor_model,
            "fallback_reason": run.extractor_fallback_reason,
        },
        "tasks": [task_view(t) for t in tasks],
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
        "transcript_kept": run.transcript_ref is not None,
        "feedback": _latest_feedback(feedback, viewer_id),
    }


def _latest_feedback(feedback: list[Feedback], viewer_id: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for entry in sorted(feedback, key=lambda f: f.id):
        if entry.user_id == viewer_id:
            latest[entry.target] = {"rating": entry.rating, "comment": entry.comment}
    return latest


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
