"""Search across calls on SQLite and PostgreSQL: what a rep finds is what the review lets them
see (their own runs; runs they attended that are not confidential; never another tenant's),
and the index follows the runs: an edit, a rejected task, an erasure, a deleted transcript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select, update

from pipeline.events import utcnow
from smartnotes.privacy import Privacy
from smartnotes.runs.retention import Retention
from smartnotes.search.index import reconcile, reindex, stale
from smartnotes.settings import RetentionSettings, Settings
from smartnotes.storage.models import Run, SearchSegment
from tests.api_client import Api, running_api
from tests.seed import seed_run, seed_user
from tests.waits import until

TENANT = "northwind"
ANA = (TENANT, "ana@northwind.test")
BEN = (TENANT, "ben@northwind.test")
VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Daniel Ortiz>Legal still needs the DPA before we can sign.

00:00:05.000 --> 00:00:09.000
<v Ana Lima>I will send the signed DPA by Friday.
"""
DPA_TASK = {
    "title": "Send the signed DPA",
    "description": "Legal needs it before signing",
    "owner": "Ana Lima",
    "evidence": [{"quote": "I will send the signed DPA by Friday.", "at": 5.0}],
}
PRICING_TASK = {"title": "Send annual pricing", "owner": "Ben", "evidence": []}


@pytest_asyncio.fixture
async def api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False) as started:
        yield started


async def _indexed(api: Api, run_id: str) -> None:
    """Ask for the run's reindex as a change would, and wait for the job to have run."""
    async with api.service.sessions() as session:
        before = await session.scalar(select(Run.updated_at).where(Run.id == run_id))
    await api.service.jobs.index(run_id)

    async def done() -> bool:
        async with api.service.sessions() as session:
            indexed = await session.scalar(select(Run.indexed_at).where(Run.id == run_id))
        # Later than ``before`` too: a ready run is coached next, and reindexed after that.
        return indexed is not None and before is not None and indexed >= before

    await until(done)


async def _settled(api: Api, run_ids: list[str]) -> None:
    """Every run coached and indexed since: nothing left for the index to catch up."""

    async def done() -> bool:
        async with api.service.sessions() as session:
            rows = (
                await session.execute(select(Run.coaching).where(Run.id.in_(run_ids)))
            ).scalars()
            coached = all(row is not None for row in rows)
        return coached and await stale(api.service.sessions) == []

    await until(done)


async def _search(api: Api, who: tuple[str, str], query: str, **params: str) -> Any:
    status, body = await api.call(
        "GET", "/api/search?" + urlencode({"q": query, **params}), as_user=who
    )
    assert status == 200, body
    return body["hits"]


async def _world(api: Api, tmp_path: Path) -> dict[str, str]:
    sessions = api.service.sessions
    ana = await seed_user(sessions, TENANT, ANA[1], "Ana Lima")
    ben = await seed_user(sessions, TENANT, BEN[1])
    other = await seed_user(sessions, "globex", "ana@northwind.test")
    runs = {
        "ana": await seed_run(
            sessions,
            TENANT,
            ana,
            call_id="ana-1",
            customer=("c-1", "Contoso"),
            tasks=[DPA_TASK],
        ),
        "ben": await seed_run(sessions, TENANT, ben, call_id="ben-1", tasks=[DPA_TASK]),
        "ben_attended": await seed_run(
            sessions, TENANT, ben, call_id="ben-2", attendees=(ANA[1],), tasks=[PRICING_TASK]
        ),
        "ben_confidential": await seed_run(
            sessions,
            TENANT,
            ben,
            call_id="ben-3",
            attendees=(ANA[1],),
            confidential=True,
            tasks=[DPA_TASK],
        ),
        "globex": await seed_run(sessions, "globex", other, call_id="g-1", tasks=[DPA_TASK]),
    }
    transcript = tmp_path / "ana-1.vtt"
    transcript.write_text(VTT, encoding="utf-8")
    async with sessions() as session, session.begin():
        await session.execute(
            update(Run).where(Run.id == runs["ana"]).values(transcript_ref=str(transcript))
        )
        await session.execute(
            update(Run)
            .where(Run.id == runs["ben_attended"])
            .values(summary_generated="Ben walked Ana through annual pricing and the DPA.")
        )
    for run_id in runs.values():
        await _indexed(api, run_id)
    await _settled(api, list(runs.values()))
    return runs


async def test_a_rep_finds_only_what_the_review_lets_them_see(api: Api, tmp_path: Path) -> None:
    runs = await _world(api, tmp_path)
    found = await _search(api, ANA, "What did they say about the DPA?")
    assert {h["run_id"] for h in found} == {runs["ana"], runs["ben_attended"]}
    kinds = {(h["run_id"], h["kind"]) for h in found}
    assert (runs["ana"], "task") in kinds
    assert (runs["ana"], "transcript") in kinds
    line = next(h for h in found if h["kind"] == "transcript" and h["speaker"] == "Daniel Ortiz")
    assert (line["at_seconds"], line["customer_name"]) == (1.0, "Contoso")
    assert "Legal still needs the DPA" in line["text"]
    assert {h["own"] for h in found if h["run_id"] == runs["ben_attended"]} == {False}

    mine = {h["run_id"] for h in await _search(api, BEN, "DPA")}
    assert mine == {runs["ben"], runs["ben_attended"], runs["ben_confidential"]}
    # Stemmed on both databases: "signing" finds "signed" and "sign".
    assert {h["run_id"] for h in await _search(api, ANA, "signing")} == {runs["ana"]}
    assert {h["run_id"] for h in await _search(api, ANA, "DPA", customer="c-1")} == {runs["ana"]}
    assert await _search(api, ANA, "kubernetes") == []


async def test_bad_questions_and_one_run_credentials_are_refused(api: Api) -> None:
    await seed_user(api.service.sessions, TENANT, ANA[1])
    for query, field in (("", "q"), ("the and of", "q"), ("x" * 501, "q")):
        status, body = await api.call("GET", "/api/search?" + f"q={query}", as_user=ANA)
        assert (status, body["error"]["field"]) == (422, field), body
    status, body = await api.call("GET", "/api/search?q=dpa&limit=0", as_user=ANA)
    assert (status, body["error"]["field"]) == (422, "limit")
    status, _ = await api.call("GET", "/api/search?q=dpa")
    assert status == 401


async def test_the_index_follows_edits_decisions_erasure_and_retention(
    api: Api, tmp_path: Path
) -> None:
    runs = await _world(api, tmp_path)
    status, run = await api.call("GET", f"/api/runs/{runs['ana']}", as_user=ANA)
    assert status == 200
    status, run = await api.call(
        "PATCH",
        f"/api/runs/{runs['ana']}/summary",
        as_user=ANA,
        json_body={"text": "Contoso wants a reseller discount.", "version": run["version"]},
    )
    assert status == 200, run

    async def found(query: str) -> set[str]:
        return {h["run_id"] for h in await _search(api, ANA, query)}

    # The edit defers the reindex; nothing else is asked for here.
    await until(lambda: _has(found, "reseller", runs["ana"]))
    task = run["tasks"][0]
    status, run = await api.call(
        "POST",
        f"/api/runs/{runs['ana']}/tasks/{task['id']}/reject",
        as_user=ANA,
        json_body={"version": task["version"]},
    )
    assert status == 200, run

    async def task_gone() -> bool:
        hits = await _search(api, ANA, "DPA")
        return not any(h["kind"] == "task" and h["run_id"] == runs["ana"] for h in hits)

    await until(task_gone)

    # Retention deletes the stored transcript: its lines leave the index with it.
    async with api.service.sessions() as session, session.begin():
        await session.execute(
            update(Run)
            .where(Run.id == runs["ana"])
            .values(created_at=utcnow() - timedelta(days=40))
        )
    await Retention(api.service.sessions, RetentionSettings()).purge()
    async with api.service.sessions() as session:
        kinds = set(
            (
                await session.execute(
                    select(SearchSegment.kind).where(SearchSegment.run_id == runs["ana"])
                )
            ).scalars()
        )
    assert kinds == {"note"}


async def _has(found: Any, query: str, run_id: str) -> bool:
    return run_id in await found(query)


async def test_a_change_missed_by_a_dead_process_is_caught_up(api: Api, tmp_path: Path) -> None:
    runs = await _world(api, tmp_path)
    assert await stale(api.service.sessions) == []
    # A change committed by a process that died before deferring the reindex.
    async with api.service.sessions() as session, session.begin():
        await session.execute(
            update(Run).where(Run.id == runs["ben"]).values(summary_edited="Escrow terms agreed.")
        )
    assert await stale(api.service.sessions) == [runs["ben"]]
    assert await reconcile(api.service.sessions, api.service.jobs.index) == 1

    async def caught_up() -> bool:
        return {h["run_id"] for h in await _search(api, BEN, "escrow")} == {runs["ben"]}

    await until(caught_up)
    assert await stale(api.service.sessions) == []
    assert await reindex(api.service.sessions, api.service.store, "no-such-run") == 0


async def test_an_erased_person_leaves_nothing_in_the_index(api: Api, tmp_path: Path) -> None:
    runs = await _world(api, tmp_path)
    # Ana's own runs go entirely; Ben's runs keep their notes and tasks with her name
    # rewritten, in the index as in the runs.
    erased = await Privacy(api.service.sessions).erase("ana@northwind.test", actor="test")
    assert erased is not None
    async with api.service.sessions() as session:
        rows = (await session.execute(select(SearchSegment))).scalars().all()
    assert rows, "Ben's runs are still indexed"
    assert runs["ana"] not in {r.run_id for r in rows}
    for row in rows:
        assert "ana@northwind.test" not in row.text
        assert "Ana Lima" not in row.text, row.text
    found = {h["run_id"] for h in await _search(api, BEN, "pricing")}
    assert found == {runs["ben"], runs["ben_attended"], runs["ben_confidential"]}
