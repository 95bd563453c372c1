"""Ranking by meaning: segments' vectors from an embeddings endpoint, and the segments nearest
to a question's vector.

Which segments get a vector: the indexed segments of runs that are not confidential (their
words go to no model outside the service, and the endpoint may be one). When: after a run's
reindex (``embed_run``, from the ``index_run`` job), and at every reconciliation for whatever
is still missing (``backfill``: the endpoint was down, the model changed, erasure rewrote a
text, the option was just turned on). An endpoint that fails leaves the words' index as it is
and is logged; a search whose question cannot be embedded answers by words alone, and does
not ask again for ``REST_SECONDS``.

What is compared: the vectors of the segments the rep may see in the search's scope (the
newest ``MAX_CANDIDATES``), from the candidate query ``smartnotes.search.query`` builds with
the review's visibility rule, exactly (no approximate index). Where: with pgvector (migration
0016 found it), in PostgreSQL, by ``<=>`` on the ``embedding_pg`` column; otherwise here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import UserDefinedType

from smartnotes.search.embeddings_api import EmbeddingsClient, EmbeddingsError
from smartnotes.search.vectors import Vectors, nearest, pack, unit
from smartnotes.settings import SearchSettings
from smartnotes.storage.models import Run, SearchEmbedding, SearchSegment

log = logging.getLogger(__name__)

# Segments embedded per reconciliation at most: the endpoint's work in one five-minute pass.
BACKFILL = 2000
# Vectors compared per search at most: beyond this, the rep's newest segments in scope.
MAX_CANDIDATES = 20_000
# After a question could not be embedded, searches go by words alone this long.
REST_SECONDS = 30.0
_PGVECTOR = text(
    "SELECT e.extversion FROM pg_extension e WHERE e.extname = 'vector' AND EXISTS ("
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = 'search_embeddings' AND column_name = 'embedding_pg')"
)
_INSERT_PG = text(
    "INSERT INTO search_embeddings (segment_id, model, dims, vector, embedding_pg) "
    "VALUES (:segment_id, :model, :dims, :vector, CAST(:embedding_pg AS vector))"
)


class Semantic:
    """The service's embeddings side of the index: one per process, with the client."""

    def __init__(self, client: EmbeddingsClient, config: SearchSettings) -> None:
        self.client = client
        self.min_similarity = config.embeddings_min_similarity
        self.query_timeout = config.embeddings_query_timeout
        # Asked for, or learnt from an answer: stored vectors of other lengths are redone.
        self.dims: int | None = config.embeddings_dimensions
        # pgvector's version where migration 0016 could use it, "" where not; None: not looked.
        self._pgvector: str | None = None
        self._resting_until = 0.0

    @property
    def model(self) -> str:
        return self.client.model

    @property
    def pgvector(self) -> str | None:
        """pgvector's version where the database compares vectors, "" where this process
        does; None until the first search or store looked."""
        return self._pgvector

    # Questions ----------------------------------------------------------------------------

    async def query_vector(self, question: str) -> Vectors | None:
        """The question's unit vector, or None (logged) when the endpoint fails it."""
        if time.monotonic() < self._resting_until:
            return None
        try:
            found = await self.client.embed([question], seconds=self.query_timeout)
        except EmbeddingsError as exc:
            self._resting_until = time.monotonic() + REST_SECONDS
            log.warning("searching by words alone for %g s: %s", REST_SECONDS, exc)
            return None
        vector: Vectors = unit(found)[0]
        return vector

    async def nearest(
        self, session: AsyncSession, candidates: Select[Any], vector: Vectors, *, depth: int
    ) -> list[int]:
        """Ids of the ``depth`` segments among ``candidates`` (a query of ``SearchSegment.id``
        the caller has limited to what the rep may see) nearest to ``vector``, best first."""
        dims = int(vector.shape[-1])
        newest = (
            candidates.join(SearchEmbedding, SearchEmbedding.segment_id == SearchSegment.id)
            .where(SearchEmbedding.model == self.model, SearchEmbedding.dims == dims)
            .order_by(SearchSegment.id.desc())
            .limit(MAX_CANDIDATES)
        )
        within: ColumnElement[bool]
        if session.get_bind().dialect.name == "sqlite":
            within = SearchEmbedding.segment_id.in_(newest)
        else:
            # PostgreSQL misjudges how few segments one rep sees, and joined the candidates
            # by reading every vector in the table; the ids, read first, are looked up by key.
            ids = list((await session.execute(newest)).scalars())
            if not ids:
                return []
            within = SearchEmbedding.segment_id == any_(
                bindparam("semantic_ids", ids, type_=ARRAY(Integer))
            )
        if await self._pgvector_version(session):
            # Exact, like the ranking below: over one rep's segments an HNSW index was slower
            # and found other neighbours (docs/architecture.md, "By meaning").
            distance = literal_column("search_embeddings.embedding_pg").op(
                "<=>", return_type=Float()
            )(cast(literal(_pg_literal(vector)), _PgVector()))
            ranked = await session.execute(
                select(SearchEmbedding.segment_id, distance)
                .where(within)
                .order_by(distance, SearchEmbedding.segment_id.desc())
                .limit(depth)
            )
            return [int(row[0]) for row in ranked if 1.0 - float(row[1]) >= self.min_similarity]
        # Unsorted: SQLite sorts rows of a few kilobytes slowly, and ``nearest`` ranks them.
        rows = await session.execute(
            select(SearchEmbedding.segment_id, SearchEmbedding.vector).where(within)
        )
        found = nearest(
            vector,
            [(row[0], row[1]) for row in rows],
            depth=depth,
            min_similarity=self.min_similarity,
        )
        return [segment_id for segment_id, _ in found]

    # Keeping vectors ----------------------------------------------------------------------

    async def embed_run(self, sessions: async_sessionmaker[AsyncSession], run_id: str) -> int:
        """Embed the run's segments that have no vector yet; how many were. A failing
        endpoint is logged, not raised: the reconciliation tries again."""
        try:
            return await self._embed(sessions, run_id=run_id, limit=None)
        except EmbeddingsError as exc:
            log.warning("run %s kept its words only for now: %s", run_id, exc)
            return 0

    async def backfill(
        self, sessions: async_sessionmaker[AsyncSession], *, limit: int = BACKFILL
    ) -> int:
        """Embed up to ``limit`` segments still without a vector, newest first; stops (and
        logs) at the first failure."""
        try:
            return await self._embed(sessions, run_id=None, limit=limit)
        except EmbeddingsError as exc:
            log.warning("search vectors not caught up, trying again later: %s", exc)
            return 0

    async def _embed(
        self, sessions: async_sessionmaker[AsyncSession], *, run_id: str | None, limit: int | None
    ) -> int:
        done = 0
        seen: set[int] = set()
        while limit is None or done < limit:
            size = self.client.batch if limit is None else min(self.client.batch, limit - done)
            async with sessions() as session:
                rows = (await session.execute(self._missing(run_id, seen).limit(size))).all()
            if not rows:
                break
            vectors = unit(await self.client.embed([row.text for row in rows]))
            self._learn(int(vectors.shape[1]))
            await self.store(sessions, [(row.id, row.text) for row in rows], vectors)
            # A segment that changed or went meanwhile is not asked for twice in one pass.
            seen.update(row.id for row in rows)
            done += len(rows)
        return done

    def _missing(self, run_id: str | None, seen: set[int]) -> Select[int, str]:
        this_model = [
            SearchEmbedding.segment_id == SearchSegment.id,
            SearchEmbedding.model == self.model,
        ]
        if self.dims is not None:
            this_model.append(SearchEmbedding.dims == self.dims)
        query = (
            select(SearchSegment.id, SearchSegment.text)
            .join(Run, Run.id == SearchSegment.run_id)
            .outerjoin(SearchEmbedding, and_(*this_model))
            .where(SearchEmbedding.segment_id.is_(None), Run.confidential.is_(False))
            .order_by(SearchSegment.id.desc())
        )
        if run_id is not None:
            query = query.where(SearchSegment.run_id == run_id)
        if seen:
            query = query.where(SearchSegment.id.not_in(seen))
        return query

    def _learn(self, dims: int) -> None:
        if self.dims != dims:
            if self.dims is not None:
                log.info("the embeddings endpoint answers %d dimensions, not %d", dims, self.dims)
            self.dims = dims

    async def store(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sent: list[tuple[int, str]],
        vectors: Vectors,
    ) -> int:
        """Store ``vectors`` (unit length, in the order of ``sent``: segment id and the words
        embedded) for the segments still there with those words, in runs still not
        confidential; how many were stored."""
        texts = dict(sent)
        position = {segment_id: n for n, (segment_id, _) in enumerate(sent)}
        async with sessions() as session, session.begin():
            # FOR SHARE: on PostgreSQL no reindex or erasure deletes or rewrites these segments
            # until this commits; on SQLite it takes the write lock first, to the same end.
            present = await session.execute(
                select(SearchSegment.id, SearchSegment.text)
                .join(Run, Run.id == SearchSegment.run_id)
                .where(SearchSegment.id.in_(texts), Run.confidential.is_(False))
                .with_for_update(read=True, of=SearchSegment)
            )
            keep = [row.id for row in present if texts.get(row.id) == row.text]
            if not keep:
                return 0
            await session.execute(
                delete(SearchEmbedding).where(SearchEmbedding.segment_id.in_(keep))
            )
            dims = int(vectors.shape[1])
            values: list[dict[str, Any]] = [
                {
                    "segment_id": segment_id,
                    "model": self.model,
                    "dims": dims,
                    "vector": pack(vectors[position[segment_id]]),
                }
                for segment_id in keep
            ]
            if await self._pgvector_version(session):
                for row in values:
                    row["embedding_pg"] = _pg_literal(vectors[position[row["segment_id"]]])
                await session.execute(_INSERT_PG, values)
            else:
                await session.execute(insert(SearchEmbedding), values)
        return len(keep)

    async def _pgvector_version(self, session: AsyncSession) -> str:
        if self._pgvector is None:
            if session.get_bind().dialect.name != "postgresql":
                self._pgvector = ""
            else:
                found = (await session.execute(_PGVECTOR)).scalar()
                self._pgvector = str(found) if found else ""
        return self._pgvector


class _PgVector(UserDefinedType[str]):
    """pgvector's type, for the cast of a question's vector; the column is outside the models."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "vector"


def _pg_literal(vector: Vectors) -> str:
    """pgvector's text form: ``[0.1,0.2,...]``, every float32 written back exactly."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"
