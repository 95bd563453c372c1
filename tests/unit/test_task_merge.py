"""Re-created tasks merge into the rep's decisions instead of replacing them."""

from __future__ import annotations

from typing import Any

from smartnotes.runs.task_merge import new_tasks, touched
from smartnotes.storage.models import RunTask, TaskStatus


def _task(title: str, quote: str, at: float) -> dict[str, Any]:
    return {"title": title, "evidence": [{"quote": quote, "at": at, "verified": True}]}


def _row(generated: dict[str, Any], status: str = TaskStatus.PROPOSED, **edited: Any) -> RunTask:
    return RunTask(
        run_id="r", position=0, generated=generated, status=status, edited=edited or None
    )


def test_what_the_rep_touched() -> None:
    generated = _task("Send the quote", "I'll send the quote", 10.0)
    assert not touched(_row(generated))
    assert touched(_row(generated, TaskStatus.REJECTED))
    assert touched(_row(generated, TaskStatus.ACCEPTED))
    assert touched(_row(generated, title="Send the revised quote"))


def test_a_commitment_found_again_is_not_added_twice() -> None:
    rejected = _row(_task("Send the quote", "I'll send you the quote by Friday", 10.0), "rejected")
    edited = _row(_task("Book a demo", "let's book a demo next week", 40.0), title="Demo")
    fresh = [
        _task("Send quote to Daniel", "I'll send you the quote by Friday", 10.4),  # same moment
        _task("book a demo", "we should do a demo", 90.0),  # same title
        _task("Loop in legal", "I'll loop in legal", 120.0),
        _task("Share the SLA", "I'll send you the SLA", 10.0),  # same moment, other words
    ]
    kept = new_tasks([rejected, edited], fresh)
    assert [t["title"] for t in kept] == ["Loop in legal", "Share the SLA"]
