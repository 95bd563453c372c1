"""A tenant's evaluation score, kept for the admin's success metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.storage.database import sessions
from smartnotes.storage.models import EvalScore, Tenant

# The measures the quality score averages: finding every commitment comes first, but a score
# that ignored wrong tasks, wrong deadlines or quotes not said would flatter the extractor.
MEASURES = ("recall", "precision", "deadline_accuracy", "grounding_rate")


def quality_score(overall: dict[str, Any]) -> float:
    return sum(float(overall[m]) for m in MEASURES) / len(MEASURES)


async def tenant_exists(engine: AsyncEngine, tenant_id: str) -> bool:
    async with sessions(engine)() as session:
        return await session.get(Tenant, tenant_id) is not None


async def record(engine: AsyncEngine, tenant_id: str, calls: int, overall: dict[str, Any]) -> float:
    score = quality_score(overall)
    async with sessions(engine)() as session, session.begin():
        session.add(
            EvalScore(
                tenant_id=tenant_id,
                calls=calls,
                score=score,
                detail={m: overall[m] for m in MEASURES},
            )
        )
    return score
