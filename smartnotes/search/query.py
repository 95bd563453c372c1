"""Finding what was said and noted across a rep's calls, within what the rep may see.

Words are matched with the database's own full-text search (SQLite FTS5 with the Porter
stemmer, PostgreSQL's ``english`` text search configuration), any word of the question, best
matches first (BM25 on SQLite, cover density on PostgreSQL). The visibility rule is the
review's: the rep's own runs, and runs they attended that are not confidential.

With search by meaning on (``smartnotes.search.semantic``), the question's vector ranks the
same candidates (the same visibility rule, the same customer) by meaning too, and the two
rankings are merged by reciprocal rank fusion: a segment found both ways comes first, and one
that shares no word with the question can still be found. If the question cannot be embedded,
the words' ranking is the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.search.vectors import fuse
from smartnotes.storage.models import Run, RunAttendee, SearchSegment

if TYPE_CHECKING:
    from smartnotes.search.semantic import Semantic

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


_HIT = (
    SearchSegment.id,
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


def _scope(who: Searcher, customer_id: str | None, *columns: Any) -> Select[Any]:
    """``columns`` of the segments the rep may see, in the customer's calls if one is given:
    the only candidates of either ranking."""
    query = cast(
        "Select[Any]",
        select(*columns)
        .select_from(SearchSegment)
        .join(Run, Run.id == SearchSegment.run_id)
        .where(SearchSegment.tenant_id == who.tenant_id, _visible(who)),
    )
    if customer_id is not None:
        query = query.where(SearchSegment.customer_id == customer_id)
    return query


def _base(who: Searcher, customer_id: str | None) -> Select[Any]:
    return _scope(who, customer_id, *_HIT)


async def search(
    session: AsyncSession,
    who: Searcher,
    question: str,
    *,
    customer_id: str | None = None,
    limit: int = 20,
    semantic: Semantic | None = None,
) -> list[dict[str, Any]]:
    """The best matching segments the rep may see, best first; by words and, with
    ``semantic``, by meaning too."""
    words = terms(question)
    limit = max(1, min(limit, MAX_HITS))
    vector = await semantic.query_vector(question) if semantic is not None else None
    # Fused rankings need more than the page from each list: what one ranks 30th, the other
    # may rank 1st.
    depth = MAX_HITS if vector is not None else limit
    rows = list(await session.execute(_by_words(session, who, words, customer_id).limit(depth)))
    if semantic is None or vector is None:
        return [_hit(row, who) for row in rows[:limit]]
    candidates = await _candidates(session, who, customer_id)
    by_meaning = await semantic.nearest(session, candidates, vector, depth=MAX_HITS)
    found = {row.id: row for row in rows}
    order = fuse([list(found), by_meaning], limit=limit)
    more = [segment_id for segment_id in order if segment_id not in found]
    if more:
        # Read through the same visibility rule as every hit.
        extra = await session.execute(_base(who, customer_id).where(SearchSegment.id.in_(more)))
        found.update((row.id, row) for row in extra)
    return [_hit(found[segment_id], who) for segment_id in order if segment_id in found]


async def _candidates(session: AsyncSession, who: Searcher, customer_id: str | None) -> Select[Any]:
    """Ids of the segments the rep may see in scope: what the meaning's ranking compares."""
    if session.get_bind().dialect.name == "sqlite":
        return _scope(who, customer_id, SearchSegment.id)
    # PostgreSQL cannot tell how few runs the rule leaves (own, or attended and not
    # confidential), guesses thousands and reads every segment of the tenant; given the runs
    # it may see, read first by the same rule, it looks their segments up by run. Planned for
    # these runs each time: a prepared statement's generic plan, made for any number of runs,
    # was the slow one again (the driver prepares a statement after its fifth use).
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    visible = select(Run.id).where(Run.tenant_id == who.tenant_id, _visible(who))
    runs = list((await session.execute(visible)).scalars())
    query = select(SearchSegment.id).where(
        SearchSegment.tenant_id == who.tenant_id,
        SearchSegment.run_id == any_(bindparam("visible_runs", runs, ARRAY(String))),
    )
    if customer_id is not None:
        query = query.where(SearchSegment.customer_id == customer_id)
    return query


def _by_words(
    session: AsyncSession, who: Searcher, words: list[str], customer_id: str | None
) -> Select[Any]:
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
    return query


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
