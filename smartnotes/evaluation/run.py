"""Run the task side of the pipeline over a labelled set and score every call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from pipeline.errors import PipelineError
from pipeline.sources import read_text_transcript
from smartnotes.evaluation.gold import LabelledCall
from smartnotes.evaluation.messages_api import MessagesServer
from smartnotes.evaluation.peer import GoldPeer
from smartnotes.evaluation.scoring import CallScore, Totals, score_call
from smartnotes.settings import Settings

if TYPE_CHECKING:
    from datetime import date

    from pipeline.tasks import Task
    from smartnotes.engine import Engine

Extractor = Literal["auto", "local"]
# The peer's key never leaves this machine: the peer listens on loopback only.
PEER_KEY = "eval-peer-key"


async def evaluate(
    calls: list[LabelledCall],
    settings: Settings,
    *,
    extractor: Extractor = "auto",
    peer: bool = False,
    progress: Callable[[CallScore], None] | None = None,
) -> list[CallScore]:
    """Score each call; ``peer`` answers as a perfect Claude (see :mod:`.peer`)."""
    server = MessagesServer(GoldPeer(calls)) if peer else None
    if server is not None:
        base_url = await server.start()
        settings = settings.model_copy(
            update={"anthropic_api_key": SecretStr(PEER_KEY), "anthropic_base_url": base_url}
        )
    from smartnotes.engine import Engine  # loads llama.cpp

    engine = await asyncio.to_thread(Engine, settings)
    scores: list[CallScore] = []
    try:
        for call in calls:
            score = await _one(engine, call, extractor)
            scores.append(score)
            if progress is not None:
                progress(score)
    finally:
        await engine.aclose()
        await asyncio.to_thread(engine.close)
        if server is not None:
            await server.close()
    return scores


async def _one(engine: Engine, call: LabelledCall, extractor: Extractor) -> CallScore:
    transcript = await asyncio.to_thread(read_text_transcript, call.transcript_path)
    reason = "the local extractor was chosen for this evaluation" if extractor == "local" else None
    began = time.perf_counter()
    tasks, info, _, error = await engine.pipeline.make_tasks(
        transcript, call.context(), local_only_reason=reason
    )
    if error is not None:
        raise PipelineError(f"{call.name}: {error}")
    score = score_call(call, transcript, tasks)
    score.seconds = time.perf_counter() - began
    score.extractor = f"{info.name} ({info.model})" if info is not None else ""
    return score


def report(scores: list[CallScore]) -> dict[str, Any]:
    """The evaluation as one JSON document: figures per call and overall, and every miss."""
    return {
        "calls": [
            {
                "call": s.name,
                "extractor": s.extractor,
                "seconds": round(s.seconds, 2),
                **_figures(Totals.of([s])),
                "missed": [
                    {"title": c.title, "owner": c.owner, "quote": c.quote} for c in s.missed
                ],
                "extra": [_task(t) for t in s.extra],
                "duplicate_tasks": [_task(t) for t in s.duplicates],
                "wrong_deadlines": [
                    {
                        "title": p.gold.title,
                        "said": p.gold.due_text,
                        "expected": _day(p.gold.due_date),
                        "found": _day(p.task.due_date),
                    }
                    for p in s.pairs
                    if not p.deadline_right
                ],
                "wrong_owners": [
                    {"title": p.gold.title, "expected": p.gold.owner, "found": p.task.owner}
                    for p in s.pairs
                    if not p.owner_right
                ],
            }
            for s in scores
        ],
        "overall": _figures(Totals.of(scores)),
    }


def _figures(totals: Totals) -> dict[str, Any]:
    return {
        "commitments": totals.commitments,
        "tasks": totals.tasks,
        "found": totals.found,
        "recall": round(totals.recall, 4),
        "precision": round(totals.precision, 4),
        "deadline_accuracy": round(totals.deadline_accuracy, 4),
        "owner_accuracy": round(totals.owner_accuracy, 4),
        "side_accuracy": round(totals.side_accuracy, 4),
        "grounding_rate": round(totals.grounding_rate, 4),
        "duplicates": totals.duplicates,
        "extra": totals.extra,
    }


def _task(task: Task) -> dict[str, Any]:
    quote = task.evidence[0].quote if task.evidence else ""
    return {"title": task.title, "owner": task.owner, "origin": task.origin, "quote": quote}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
