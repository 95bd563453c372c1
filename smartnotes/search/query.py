"""Finding what was said and noted across a rep's calls, within what the rep may see.

Words are matched with the database's own full-text search (SQLite FTS5 with the Porter
stemmer, PostgreSQL's ``english`` text search configuration), any word of the question, best
matches first (BM25 on SQLite, cover density on PostgreSQL). The visibility rule is the
review's: the rep's own runs, and runs they attended that are not confidential.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import Run, RunAttendee, SearchSegment

MAX_TERMS = 12
MAX_HITS = 50
SNIPPET = 400
# Words that match nearly everything and say nothing about what the rep is after.
_STOPWORDS = (
    "a about after all also an and any are as at be been but by can could did do does "
    "for from had has have he her him his how i if in into is it its me my no not of on "
    "or our she so than that the their them then there these they this to up us was we "
    "were what when where which who why will with would you your"
)
STOPWORDS = frozenset(_STOPWORDS.split())
_WORD = re.compile(r"\w+")
# SQLite's FTS5 table (migration 0012): not a model, named here for the join.
_FTS = table("search_fts", column("rowid"))


class SearchError(ValueError):
    """A question that cannot be searched as given; the message says why."""


@dataclass(frozen=True)
class Searcher:
    tenant_id: str
    user_id: str
    email: str


def terms(question: str) -> list[str]:
    words = [w for w in _WORD.findall(question.lower()) if w not in STOPWORDS]
    unique = list(dict.fromkeys(words))[:MAX_TERMS]
    if not unique:
        raise SearchError("say what to look for: a name, a topic, a word that was said")
    return unique


def _visible(who: Searcher) -> ColumnElement[bool]:
    attended = select(RunAttendee.run_id).where(RunAttendee.email == who.email)
    return and_(
        Run.tenant_id == who.tenant_id,
        or_(
            Run.owner_id == who.user_id,
            and_(Run.confidential.is_(False), Run.id.in_(attended)),
        ),
    )


def _base(who: Searcher, customer_id: str | None) -> Select[Any]:
    query = cast(
        "Select[Any]",
        select(
            SearchSegment.run_id,
            SearchSegment.kind,
            SearchSegment.ref,
            SearchSegment.speaker,
            SearchSegment.start_seconds,
            SearchSegment.text,
            Run.call_started_at,
            Run.created_at,
            Run.customer_id,
            Run.customer_name,
            Run.call_url,
            Run.owner_id,
        )
        .join(Run, Run.id == SearchSegment.run_id)
        .where(SearchSegment.tenant_id == who.tenant_id, _visible(who)),
    )
    if customer_id is not None:
        query = query.where(SearchSegment.customer_id == customer_id)
    return query


async def search(
    session: AsyncSession,
    who: Searcher,
    question: str,
    *,
    customer_id: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The best matching segments the rep may see, best first."""
    words = terms(question)
    limit = max(1, min(limit, MAX_HITS))
    query = _base(who, customer_id)
    if session.get_bind().dialect.name == "sqlite":
        match = " OR ".join(f'"{w}"' for w in words)
        query = (
            query.join(_FTS, _FTS.c.rowid == SearchSegment.id)
            .where(text("search_fts MATCH :match").bindparams(match=match))
            .order_by(func.bm25(literal_column("search_fts")), SearchSegment.id)
        )
    else:
        vector: ColumnElement[Any] = literal_column("search_segments.search_fts_vector")
        wanted = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        query = query.where(vector.op("@@")(wanted)).order_by(
            func.ts_rank_cd(vector, wanted).desc(), SearchSegment.id
        )
    rows = await session.execute(query.limit(limit))
    return [_hit(row, who) for row in rows]


def _hit(row: Any, who: Searcher) -> dict[str, Any]:
    when = row.call_started_at or row.created_at
    return {
        "run_id": row.run_id,
        "call_at": when.isoformat(),
        "call_url": row.call_url,
        "customer_id": row.customer_id,
        "customer_name": row.customer_name,
        "kind": row.kind,
        "task_id": row.ref,
        "speaker": row.speaker,
        "at_seconds": row.start_seconds,
        "text": row.text if len(row.text) <= SNIPPET else row.text[: SNIPPET - 1] + "…",
        "own": row.owner_id == who.user_id,
    }
