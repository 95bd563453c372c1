"""Search latency over a large index, on SQLite and PostgreSQL.

Seeds one tenant with ``--segments`` indexed segments (default 100,000: notes, tasks and
transcript lines of 5,000 calls by 50 reps, words drawn from a Zipf-distributed vocabulary so
that some words are everywhere and most are rare; a third of the calls have an attendee, one in
ten is confidential), then times ``--queries`` searches (default 500) as random reps, one at a
time, each through ``smartnotes.search.query.search`` with its permission filter: questions of
one to four words, a mix of common, rare and absent words. As a baseline in the same process
and database, the same number of lookups of a run by id with the review's visibility rule.

With ``--embeddings DIMS``, every segment also gets a random unit vector of DIMS dimensions
(stored by ``Semantic.store``, as the index job stores them) and the same questions are timed
again ranked by words and meaning (``search`` with ``semantic``): without pgvector that is the
vectors of the rep's visible segments read and compared in Python; on a server with pgvector
(``--server``), compared by PostgreSQL's ``<=>``. The question's vector is made here, not by
an endpoint: the endpoint's own time is not in these figures.

Target: p99 < 100 ms on both databases. Run: ``python -m benchmarks.retrieval
[--segments 100000] [--queries 500] [--database sqlite|postgresql|both] [--embeddings 384]
[--server postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from benchmarks.common import percentile  # noqa: E402
from pipeline.events import utcnow  # noqa: E402
from smartnotes.runs.review import _FIND  # noqa: E402
from smartnotes.search.embeddings_api import EmbeddingsClient  # noqa: E402
from smartnotes.search.query import Searcher, search  # noqa: E402
from smartnotes.search.semantic import Semantic  # noqa: E402
from smartnotes.search.vectors import Vectors, unit  # noqa: E402
from smartnotes.settings import SearchSettings  # noqa: E402
from smartnotes.storage.database import make_engine, sessions  # noqa: E402
from smartnotes.storage.migrate import upgrade  # noqa: E402
from smartnotes.storage.models import (  # noqa: E402
    Run,
    RunAttendee,
    SearchSegment,
    Seat,
    Tenant,
    User,
)

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TENANT = "bench"
REPS = 50
SEGMENTS_PER_CALL = 20
_DOMAIN = (
    "dpa pricing discount renewal contract security audit soc2 legal procurement invoice "
    "pilot rollout onboarding integration api sso budget quote proposal timeline competitor "
    "migration support training license seats annual quarterly approval signature"
)
DOMAIN = _DOMAIN.split()


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)}
    return DOMAIN + sorted(words)


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(words, weights, k=rng.randint(8, 24)))


async def seed(engine: AsyncEngine, segments: int, rng: random.Random) -> list[Searcher]:
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    calls = segments // SEGMENTS_PER_CALL
    reps = [(uuid.uuid4().hex, f"rep{n}@bench.test") for n in range(REPS)]
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(insert(Tenant), [{"id": TENANT, "name": TENANT}])
        await connection.execute(
            insert(User),
            [{"id": i, "tenant_id": TENANT, "email": e, "display_name": e} for i, e in reps],
        )
        await connection.execute(
            insert(Seat), [{"tenant_id": TENANT, "user_id": i} for i, _ in reps]
        )
        runs, attendees, rows = [], [], []
        for n in range(calls):
            run_id = uuid.uuid4().hex
            owner, _ = rng.choice(reps)
            runs.append(
                {
                    "id": run_id,
                    "tenant_id": TENANT,
                    "owner_id": owner,
                    "source": "calling_tool",
                    "call_id": run_id,
                    "idempotency_key": run_id,
                    "status": "needs_review",
                    "confidential": rng.random() < 0.1,
                    "customer_id": f"c-{rng.randint(1, 400)}",
                    "created_at": now - timedelta(minutes=n),
                }
            )
            if rng.random() < 0.33:
                attendees.append({"run_id": run_id, "email": rng.choice(reps)[1]})
            for k in range(SEGMENTS_PER_CALL):
                kind = "note" if k == 0 else "task" if k < 4 else "transcript"
                rows.append(
                    {
                        "run_id": run_id,
                        "tenant_id": TENANT,
                        "customer_id": runs[-1]["customer_id"],
                        "kind": kind,
                        "start_seconds": float(k * 7) if kind == "transcript" else None,
                        "text": sentence(rng, words, weights),
                    }
                )
        await connection.execute(insert(Run), runs)
        if attendees:
            await connection.execute(insert(RunAttendee), attendees)
        for start in range(0, len(rows), 5000):
            await connection.execute(insert(SearchSegment), rows[start : start + 5000])
    async with engine.begin() as connection:
        # Fresh statistics, as a live database has: the planners pick the indexes.
        await connection.execute(text("ANALYZE"))
    return [Searcher(TENANT, i, e) for i, e in reps]


def questions(rng: random.Random, count: int) -> list[str]:
    words = vocabulary(random.Random(7))  # the vocabulary the index was built from
    common, rare = words[:200], words[200:]
    asked = []
    for _ in range(count):
        picked = rng.sample(common, rng.randint(0, 2)) + rng.sample(rare, rng.randint(1, 2))
        if rng.random() < 0.1:
            picked.append("zzzzabsent")
        asked.append("what about " + " ".join(picked))
    return asked


class MadeUpQuestions(Semantic):
    """Questions' vectors made here, at random: what is timed is the index's side alone."""

    def __init__(self, client: EmbeddingsClient, dims: int) -> None:
        # No threshold: random vectors are all far apart, and every search should take its
        # full depth of nearest segments, as a real question's would.
        config = SearchSettings(
            embeddings_url=client.url, embeddings_model="m", embeddings_min_similarity=-1
        )
        super().__init__(client, config)
        self.rng = np.random.default_rng(5)
        self.size = dims

    async def query_vector(self, question: str) -> Vectors | None:
        vector: Vectors = unit(self.rng.normal(size=(1, self.size)))[0]
        return vector


async def embed(engine: AsyncEngine, semantic: Semantic, dims: int) -> None:
    """A random unit vector for every segment, stored as the index job stores them."""
    factory = sessions(engine)
    rng = np.random.default_rng(9)
    async with factory() as session:
        rows = (
            await session.execute(
                select(SearchSegment.id, SearchSegment.text).order_by(SearchSegment.id)
            )
        ).all()
    for start in range(0, len(rows), 2000):
        chunk = [(row.id, row.text) for row in rows[start : start + 2000]]
        await semantic.store(factory, chunk, unit(rng.normal(size=(len(chunk), dims))))
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def measure(
    engine: AsyncEngine,
    who: list[Searcher],
    asked: list[str],
    semantic: Semantic | None = None,
) -> dict[str, float]:
    factory = sessions(engine)
    rng = random.Random(3)
    timings, baseline, hits = [], [], 0
    async with factory() as session:
        run_ids = [r for (r,) in await session.execute(text("SELECT id FROM runs LIMIT 2000"))]
        for question in asked:
            searcher = rng.choice(who)
            started = time.perf_counter()
            found = await search(session, searcher, question, limit=20, semantic=semantic)
            timings.append(time.perf_counter() - started)
            hits += len(found)
            params = {
                "tenant_id": searcher.tenant_id,
                "user_id": searcher.user_id,
                "email": searcher.email,
                "run_id": rng.choice(run_ids),
            }
            started = time.perf_counter()
            (await session.execute(_FIND, params)).scalar_one_or_none()
            baseline.append(time.perf_counter() - started)
    return {
        "p50": percentile(timings, 50) * 1000,
        "p99": percentile(timings, 99) * 1000,
        "max": max(timings) * 1000,
        "base_p50": percentile(baseline, 50) * 1000,
        "base_p99": percentile(baseline, 99) * 1000,
        "hits": hits / len(asked),
    }


def row(kind: str, segments: int, seeded: float, result: dict[str, float]) -> None:
    print(
        f"{kind:<13}{segments:>9}{seeded:>9.1f}{result['p50']:>9.1f}{result['p99']:>9.1f}"
        f"{result['max']:>9.1f}{result['hits']:>7.1f}{result['base_p50']:>10.2f}"
        f"{result['base_p99']:>10.2f}{result['p99'] / result['base_p99']:>9.1f}"
    )


async def one(kind: str, segments: int, queries: int, dims: int, server: str) -> None:
    rng = random.Random(7)
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        admin = None
    else:
        name = f"bench_retrieval_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    try:
        await upgrade(engine)
        started = time.perf_counter()
        who = await seed(engine, segments, rng)
        seeded = time.perf_counter() - started
        asked = questions(random.Random(11), queries)
        row(kind, segments, seeded, await measure(engine, who, asked))
        if dims:
            # The client is never called: MadeUpQuestions makes the questions' vectors.
            async with aiohttp.ClientSession() as http:
                client = EmbeddingsClient(http, "http://127.0.0.1:9", "m", batch=2000)
                semantic = MadeUpQuestions(client, dims)
                started = time.perf_counter()
                await embed(engine, semantic, dims)
                stored = time.perf_counter() - started
                result = await measure(engine, who, asked, semantic)
            way = "pgvector" if semantic.pgvector else "python"
            row(f"+{way} {dims}", segments, stored, result)
    finally:
        await engine.dispose()
        if admin is not None:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            await admin.dispose()


async def main(databases: list[str], segments: int, queries: int, dims: int, server: str) -> None:
    print(
        f"{'database':<13}{'segments':>9}{'seed s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'hits':>7}{'base p50':>10}{'base p99':>10}{'p99 x':>9}"
    )
    for kind in databases:
        await one(kind, segments, queries, dims, server)
    print("\nbase: a run looked up by id with the review's visibility rule, same session")
    if dims:
        print(
            "+python/+pgvector: the same questions by words and meaning; 'seed s' is the time "
            "to store the vectors"
        )
    print("target: search p99 < 100 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--embeddings", type=int, default=0, metavar="DIMS", help="time search by meaning too"
    )
    parser.add_argument("--server", default=SERVER, help="the PostgreSQL server to use")
    args = parser.parse_args()
    chosen = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    asyncio.run(main(chosen, args.segments, args.queries, args.embeddings, args.server))
