"""Search by meaning on SQLite and PostgreSQL, with an OpenAI-compatible embeddings endpoint
serving a real model (SmolLM2, ``tests/fakes/embeddings_server.py``).

SmolLM2's vectors say little about meaning, so nothing here rests on which segment is nearest:
the threshold is off (every visible segment with a vector is a candidate), and the tests hold
the rest: which segments get vectors and when, that the visibility rule is the same for the
meaning's ranking as for the words', that an endpoint down costs the words nothing and is
caught up later, and that vectors leave with their words. ``tests/unit/test_search_vectors.py``
shows the ranking itself on hand-made vectors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import llama_cpp
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import and_, func, inspect, select, text, update

from pipeline.events import utcnow
from smartnotes.privacy import Privacy
from smartnotes.runs.retention import Retention
from smartnotes.search.index import reconcile
from smartnotes.settings import RetentionSettings, SearchSettings, Settings
from smartnotes.storage.models import Run, SearchEmbedding, SearchSegment
from tests.api_client import Api, running_api
from tests.fakes.embeddings_server import MODEL_NAME, EmbeddingsServer, load_embedding_model
from tests.integration.test_search import ANA, BEN, _search, _world
from tests.waits import until

pytestmark = pytest.mark.models
KEY = "sk-embeddings-test"
# No word of it is in any call of the world: whatever it finds, it found by meaning.
NO_SHARED_WORD = "security paperwork"


@pytest.fixture(scope="module")
def model() -> Iterator[llama_cpp.Llama]:
    loaded = load_embedding_model()
    yield loaded
    loaded.close()


@pytest_asyncio.fixture
async def endpoint(model: llama_cpp.Llama) -> AsyncIterator[EmbeddingsServer]:
    served = EmbeddingsServer(model, key=KEY)
    await served.start()
    yield served
    await served.stop()


@pytest_asyncio.fixture
async def api(
    tmp_path: Path, service_database: SecretStr | None, endpoint: EmbeddingsServer
) -> AsyncIterator[Api]:
    search = SearchSettings(
        embeddings_url=endpoint.base_url + "/v1",
        embeddings_model=MODEL_NAME,
        embeddings_key=SecretStr(KEY),
        embeddings_min_similarity=-1.0,
        # A loaded test machine embeds slowly; the fallback has a test of its own.
        embeddings_query_timeout=60.0,
        embeddings_timeout=120.0,
    )
    settings = Settings(data_dir=tmp_path, database_url=service_database, search=search)
    async with running_api(settings, process=False) as started:
        yield started


async def _missing(api: Api) -> int:
    """Segments of runs that are not confidential still without a vector of the model."""
    async with api.service.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(SearchSegment)
                .join(Run, Run.id == SearchSegment.run_id)
                .outerjoin(
                    SearchEmbedding,
                    and_(
                        SearchEmbedding.segment_id == SearchSegment.id,
                        SearchEmbedding.model == MODEL_NAME,
                    ),
                )
                .where(SearchEmbedding.segment_id.is_(None), Run.confidential.is_(False))
            )
            or 0
        )


async def _embedded(api: Api) -> None:
    async def done() -> bool:
        return await _missing(api) == 0

    await until(done, seconds=180)


async def _vectors(api: Api) -> dict[int, tuple[str, str, int]]:
    """Segment id: (run, model, dims) of every stored vector."""
    async with api.service.sessions() as session:
        rows = await session.execute(
            select(
                SearchEmbedding.segment_id,
                SearchSegment.run_id,
                SearchEmbedding.model,
                SearchEmbedding.dims,
            ).join(SearchSegment, SearchSegment.id == SearchEmbedding.segment_id)
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def _segment_ids(api: Api, run_id: str, kind: str | None = None) -> set[int]:
    query = select(SearchSegment.id).where(SearchSegment.run_id == run_id)
    if kind is not None:
        query = query.where(SearchSegment.kind == kind)
    async with api.service.sessions() as session:
        return set((await session.execute(query)).scalars())


async def _run_ids(api: Api, who: tuple[str, str], query: str, **params: str) -> set[str]:
    return {hit["run_id"] for hit in await _search(api, who, query, **params)}


async def test_vectors_follow_the_runs_and_meaning_keeps_the_visibility_rule(
    api: Api, endpoint: EmbeddingsServer, tmp_path: Path
) -> None:
    runs = await _world(api, tmp_path)
    await _embedded(api)
    vectors = await _vectors(api)
    # Every segment of every run but the confidential one; the endpoint saw the key.
    assert {run for run, _, _ in vectors.values()} == {
        runs["ana"],
        runs["ben"],
        runs["ben_attended"],
        runs["globex"],
    }
    assert {(model, dims) for _, model, dims in vectors.values()} == {(MODEL_NAME, endpoint.dims)}
    assert {seen.authorization for seen in endpoint.requests} == {f"Bearer {KEY}"}
    confidential_segments = await _segment_ids(api, runs["ben_confidential"])
    assert confidential_segments
    assert not confidential_segments & set(vectors)

    # Found by meaning alone: Ana's own call and the one she attended, every segment of them
    # (the threshold is off), never Ben's own, his confidential one, or another tenant's.
    found = await _search(api, ANA, NO_SHARED_WORD)
    visible = await _segment_ids(api, runs["ana"]) | await _segment_ids(api, runs["ben_attended"])
    assert {h["run_id"] for h in found} == {runs["ana"], runs["ben_attended"]}
    assert len(found) == len(visible)
    assert await _run_ids(api, ANA, NO_SHARED_WORD, customer="c-1") == {runs["ana"]}

    # Vectors for the confidential run's segments (as a run made confidential after it was
    # embedded had, until its reindex): only its owner finds them, by meaning as by words.
    await _copy_vector(api, next(iter(vectors)), confidential_segments)
    assert await _run_ids(api, ANA, NO_SHARED_WORD) == {runs["ana"], runs["ben_attended"]}
    assert await _run_ids(api, BEN, NO_SHARED_WORD) == {
        runs["ben"],
        runs["ben_attended"],
        runs["ben_confidential"],
    }

    # Words and meaning merged: every match by words is still found.
    by_words = {runs["ana"], runs["ben_attended"]}
    assert await _run_ids(api, ANA, "What did they say about the DPA?") == by_words

    # An edit: the run's changed note alone goes to the endpoint, from the index job; the
    # segments whose words did not change keep their vectors.
    sent = len(_inputs(endpoint))
    status, run = await api.call("GET", f"/api/runs/{runs['ana']}", as_user=ANA)
    assert status == 200
    status, run = await api.call(
        "PATCH",
        f"/api/runs/{runs['ana']}/summary",
        as_user=ANA,
        json_body={"text": "Contoso wants a reseller discount.", "version": run["version"]},
    )
    assert status == 200, run

    async def note_embedded() -> bool:
        notes = await _segment_ids(api, runs["ana"], "note")
        async with api.service.sessions() as session:
            text = await session.scalar(
                select(SearchSegment.text).where(SearchSegment.id.in_(notes))
            )
        return text == "Contoso wants a reseller discount." and bool(
            notes & set(await _vectors(api))
        )

    await until(note_embedded, seconds=120)
    await _embedded(api)
    assert _inputs(endpoint)[sent:] == ["Contoso wants a reseller discount."]


async def _copy_vector(api: Api, source: int, targets: set[int]) -> None:
    """Give ``targets`` the vector of segment ``source``, in every column the database keeps
    it in (with pgvector, ``embedding_pg`` too)."""
    async with api.service.sessions() as session, session.begin():
        connection = await session.connection()
        names = await connection.run_sync(
            lambda sync: [c["name"] for c in inspect(sync).get_columns("search_embeddings")]
        )
        rest = ", ".join(name for name in names if name != "segment_id")
        copy = text(
            f"INSERT INTO search_embeddings (segment_id, {rest}) "  # noqa: S608 - names from the database
            f"SELECT :target, {rest} FROM search_embeddings WHERE segment_id = :source"
        )
        await session.execute(copy, [{"target": t, "source": source} for t in targets])


def _inputs(endpoint: EmbeddingsServer) -> list[str]:
    """Every text the endpoint embedded, in order."""
    return [text for body in endpoint.accepted for text in body["input"]]


async def test_an_endpoint_down_costs_the_words_nothing_and_is_caught_up(
    api: Api, endpoint: EmbeddingsServer, tmp_path: Path
) -> None:
    runs = await _world(api, tmp_path)
    await _embedded(api)
    port = int(endpoint.base_url.rsplit(":", 1)[1])
    await endpoint.stop()

    assert await _run_ids(api, ANA, "DPA") == {runs["ana"], runs["ben_attended"]}
    assert await _search(api, ANA, NO_SHARED_WORD) == []
    # An edit while it is down is indexed by its words; its vector waits.
    status, run = await api.call("GET", f"/api/runs/{runs['ana']}", as_user=ANA)
    status, run = await api.call(
        "PATCH",
        f"/api/runs/{runs['ana']}/summary",
        as_user=ANA,
        json_body={"text": "Contoso wants a reseller discount.", "version": run["version"]},
    )
    assert status == 200, run

    async def by_words() -> bool:
        return runs["ana"] in await _run_ids(api, ANA, "reseller")

    await until(by_words)
    assert await _missing(api) == 1

    sent = len(_inputs(endpoint))
    await endpoint.start(port)
    # What the periodic reconciliation job does.
    await reconcile(api.service.sessions, api.service.jobs.index, semantic=api.service.semantic)
    assert await _missing(api) == 0
    assert _inputs(endpoint)[sent:] == ["Contoso wants a reseller discount."]


async def test_vectors_leave_with_their_words(api: Api, tmp_path: Path) -> None:
    runs = await _world(api, tmp_path)
    await _embedded(api)
    sessions = api.service.sessions
    semantic = api.service.semantic
    assert semantic is not None

    # Retention deletes the stored transcript: its lines' vectors go with the lines.
    lines = await _segment_ids(api, runs["ana"], "transcript")
    assert lines <= set(await _vectors(api))
    async with sessions() as session, session.begin():
        await session.execute(
            update(Run)
            .where(Run.id == runs["ana"])
            .values(created_at=utcnow() - timedelta(days=40))
        )
    await Retention(sessions, RetentionSettings()).purge()
    assert not lines & set(await _vectors(api))

    # A run made confidential keeps no vector from its next reindex on.
    async with sessions() as session, session.begin():
        await session.execute(
            update(Run).where(Run.id == runs["ben_attended"]).values(confidential=True)
        )
    await api.service.jobs.index(runs["ben_attended"])

    async def unembedded() -> bool:
        owned = await _segment_ids(api, runs["ben_attended"])
        return bool(owned) and not owned & set(await _vectors(api))

    await until(unembedded)

    # Erasure: Ana's own runs go with their vectors; where her name is rewritten out of
    # Ben's run, the vector of the old words goes, and the new words are embedded later.
    ana_segments = await _segment_ids(api, runs["ana"])
    ben_task = await _segment_ids(api, runs["ben"], "task")
    assert ben_task <= set(await _vectors(api))
    assert await Privacy(sessions).erase("ana@northwind.test", actor="test") is not None
    vectors = await _vectors(api)
    assert not ana_segments & set(vectors)
    assert not ben_task & set(vectors)
    await semantic.backfill(sessions)
    assert ben_task <= set(await _vectors(api))
