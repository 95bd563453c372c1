"""How the cards say things: the same words the review page uses for steps, states and sources."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STEP_LABELS = {
    "transcribing": "Transcribing",
    "summarizing": "Summarizing",
    "analyzing": "Analyzing",
    "creating_tasks": "Creating tasks",
}
# A step inside a sentence ("Something went wrong while ...").
STEP_NAMES = {
    "loading": "loading the call",
    "transcribing": "transcribing",
    "summarizing": "summarizing",
    "analyzing": "analyzing",
    "creating_tasks": "creating tasks",
    "matching_customer": "matching the customer",
}
STATUS_TEXT = {
    "queued": "Waiting to start…",
    "running": "Working on it…",
    "needs_review": "Ready for your review",
    "saving": "Saving to the CRM…",
    "saved": "Saved to the CRM",
    "failed": "Something went wrong",
    "cancelled": "Not processed",
}
TASK_BADGES = {
    "proposed": "Suggested",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "written": "In the CRM",
}
PROCESSING = ("queued", "running")


def step_name(step: str | None) -> str:
    if step is None:
        return "processing"
    return STEP_NAMES.get(step, step.replace("_", " "))


def clock(seconds: float) -> str:
    """A moment in the call as ``m:ss`` or ``h:mm:ss``, as the review page writes it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_time(iso: str | None, zone: str) -> str:
    """The call's start in the rep's time zone, formatted as the review page does."""
    if iso is None:
        return ""
    try:
        local = _aware(iso).astimezone(ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return iso
    return f"{local:%a %d %b %Y, %H:%M} ({zone})"


def client_time(iso: str) -> str:
    """A moment for a TextBlock to show in the viewer's own time zone and language.

    For lists of runs, which carry no time zone of their own; the DATE and TIME functions
    accept only whole-second RFC 3339 times.
    """
    try:
        stamp = f"{_aware(iso).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    except ValueError:
        return iso
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def due_label(value: str | None) -> str:
    if not value:
        return "No due date"
    try:
        return f"Due {date.fromisoformat(value):%a %d %b %Y}"
    except ValueError:
        return f"Due {value}"


def extractor_text(extractor: Mapping[str, Any]) -> str | None:
    """Which extractor made the tasks, and why it was the local one."""
    name, model = extractor.get("name"), extractor.get("model")
    suffix = f" ({model})" if model else ""
    if name == "claude":
        return f"Tasks by Claude{suffix}"
    if name == "local":
        reason = extractor.get("fallback_reason")
        return f"Tasks by the local extractor{suffix}" + (f": {reason}" if reason else "")
    return None


def source_text(task: Mapping[str, Any]) -> str:
    if task.get("origin") == "recall_check":
        return "Found by the recall check: a commitment no other task covered. Check it."
    by = "Claude" if task.get("origin") == "claude" else "the local model"
    return f"Suggested by {by}{', edited by you' if task.get('edited') else ''}."


def evidence_caption(item: Mapping[str, Any]) -> str:
    """Where a quote was said: ``at 1:10 · Priya Raman``, and whether it was found verbatim."""
    at = item.get("at")
    parts = [
        f"at {clock(at)}" if isinstance(at, int | float) else None,
        item.get("speaker") or None,
        "not found word for word in the call" if item.get("verified") is False else None,
    ]
    return " · ".join(part for part in parts if part)


def _aware(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    # The service stores UTC; a time without an offset is one of those.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
