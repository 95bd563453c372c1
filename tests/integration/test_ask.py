"""Asking about one's calls, on SQLite and PostgreSQL: Claude through the local Messages API
with the real SDK (tool calls, results, an answer tool), the answer held to what the rep's own
search returned and to the words stored; the local answer without a key or when Claude fails;
and nobody else's call, or a confidential one's words, ever reaching an answer or Claude."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from pipeline.local_llm import LocalModel
from smartnotes import directory
from smartnotes.ask.asker import CONFIDENTIAL, LEFT_OUT, NO_KEY
from smartnotes.ask.claude import SEARCH_TOOL
from smartnotes.auth import ReviewTokenAuth, issue_review_token
from smartnotes.search.query import Searcher
from smartnotes.service import Service
from smartnotes.settings import CohortLimit, Settings, UsageSettings
from smartnotes.storage.models import Run, SearchSegment, UsageRecord, User
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    Reply,
    Scripted,
    error_reply,
    tool_call,
    tool_results,
)
from tests.seed import seed_run, seed_user
from tests.waits import until

TENANT = "northwind"
ANA = (TENANT, "ana@northwind.test")
BEN = (TENANT, "ben@northwind.test")
QUESTION = "What did Contoso promise about the DPA?"
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
# Words only in runs Ana may not see, or may not send to Claude: none may reach either.
HIDDEN = {
    "ben": "Chase the DPA countersignature",
    "ben_confidential": "Agree the DPA escrow clause",
    "globex": "Globex DPA redlines",
    "ana_confidential": "Send Fabrikam the DPA annex under NDA",
}


class AskingClaude:
    """Claude's replies to the questions only: the service's other Claude calls (task
    extraction, coaching after a reindex) share the fake and get its default reply."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self.script: deque[Scripted] = deque()
        self._others = fake.default
        fake.default = self._reply

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [body for body in self.fake.requests if _asks(body)]

    def then(self, *replies: Scripted) -> None:
        self.script.extend(replies)

    def _reply(self, body: dict[str, Any]) -> Reply:
        scripted = self.script.popleft() if _asks(body) and self.script else self._others
        return scripted(body) if callable(scripted) else scripted


def _asks(body: dict[str, Any]) -> bool:
    return any(tool.get("name") == SEARCH_TOOL for tool in body.get("tools") or [])


@pytest.fixture
def claude(fake_claude: FakeAnthropic) -> AskingClaude:
    return AskingClaude(fake_claude)


def task(title: str) -> dict[str, Any]:
    return {"title": title, "owner": "Ben", "evidence": []}


async def indexed(service: Service, run_id: str) -> None:
    """Ask for the run's reindex as a change would, and wait for the index to hold the run
    as it is now or later (jobs that follow a reindex may change the run again)."""
    async with service.sessions() as session:
        before = await session.scalar(select(Run.updated_at).where(Run.id == run_id))
    assert before is not None
    await service.jobs.index(run_id)

    async def done() -> bool:
        async with service.sessions() as session:
            indexed_at = await session.scalar(select(Run.indexed_at).where(Run.id == run_id))
        return indexed_at is not None and indexed_at >= before

    await until(done)


async def seed_world(service: Service, tmp_path: Path) -> dict[str, str]:
    """Ana's calls, one she attended, and calls she may not see (or not send to Claude)."""
    sessions = service.sessions
    ana = await seed_user(sessions, TENANT, ANA[1], "Ana Lima")
    ben = await seed_user(sessions, TENANT, BEN[1], "Ben")
    other = await seed_user(sessions, "globex", ANA[1])
    runs = {
        "ana": await seed_run(
            sessions, TENANT, ana, call_id="ana-1", customer=("c-1", "Contoso"), tasks=[DPA_TASK]
        ),
        "ana_confidential": await seed_run(
            sessions,
            TENANT,
            ana,
            call_id="ana-2",
            confidential=True,
            customer=("c-2", "Fabrikam"),
            tasks=[task(HIDDEN["ana_confidential"])],
        ),
        "ben": await seed_run(sessions, TENANT, ben, call_id="ben-1", tasks=[task(HIDDEN["ben"])]),
        "ben_attended": await seed_run(
            sessions, TENANT, ben, call_id="ben-2", attendees=(ANA[1],), tasks=[]
        ),
        "ben_confidential": await seed_run(
            sessions,
            TENANT,
            ben,
            call_id="ben-3",
            attendees=(ANA[1],),
            confidential=True,
            tasks=[task(HIDDEN["ben_confidential"])],
        ),
        "globex": await seed_run(
            sessions, "globex", other, call_id="g-1", tasks=[task(HIDDEN["globex"])]
        ),
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
        await indexed(service, run_id)
    return runs


@asynccontextmanager
async def service_with_world(
    tmp_path: Path, database: SecretStr | None, claude: AskingClaude | None, **extra: Any
) -> AsyncIterator[tuple[Api, dict[str, str]]]:
    keys: dict[str, Any] = {}
    if claude is not None:
        keys = {
            "anthropic_api_key": SecretStr(TEST_KEY),
            "anthropic_base_url": claude.base_url,
            "extractor_max_retries": 0,
        }
    settings = Settings(data_dir=tmp_path, database_url=database, **keys, **extra)
    async with running_api(settings, process=False) as api:
        yield api, await seed_world(api.service, tmp_path)


async def ask(api: Api, question: str, **body: Any) -> dict[str, Any]:
    status, answer = await api.call(
        "POST", "/api/ask", as_user=ANA, json_body={"question": question, **body}
    )
    assert status == 200, answer
    return dict(answer)


async def stored_texts(api: Api, run_id: str) -> list[str]:
    async with api.service.sessions() as session:
        rows = await session.execute(
            select(SearchSegment.text).where(SearchSegment.run_id == run_id)
        )
    return list(rows.scalars())


async def assert_quotes_are_stored_words(api: Api, citations: Iterable[dict[str, Any]]) -> None:
    for citation in citations:
        texts = await stored_texts(api, citation["run_id"])
        assert any(citation["quote"] in text for text in texts), citation


def sources_given(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The numbered sources our search tool returned to Claude in this request."""
    found: list[dict[str, Any]] = []
    for result in tool_results(body):
        if not result.get("is_error") and result["content"].startswith("["):
            found.extend(json.loads(result["content"]))
    return found


def answer_call(answer: str, citations: list[dict[str, Any]]) -> Reply:
    return tool_call("answer", {"answer": answer, "citations": citations})


def source_saying(body: dict[str, Any], words: str) -> int:
    """The transcript line with these words, by the number Claude was given it under."""
    given = sources_given(body)
    [number] = [s["source"] for s in given if s["kind"] == "transcript" and words in s["text"]]
    return int(number)


async def test_claude_answers_from_the_reps_calls_with_grounded_citations(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> None:
    async with service_with_world(tmp_path, service_database, claude) as (api, runs):
        # Nothing matches: "I don't know" and what was searched, without asking any model.
        unknown = await ask(api, "When is the Kubernetes migration?")
        assert unknown["found"] is False
        assert unknown["answer"].startswith("I don't know")
        assert "Kubernetes migration" in unknown["answer"]
        assert unknown["answered_by"]["engine"] == "none"
        assert claude.requests == []

        def answer(body: dict[str, Any]) -> Reply:
            legal = source_saying(body, "Legal still needs the DPA")
            send = source_saying(body, "I will send the signed DPA by Friday.")
            return answer_call(
                f"Contoso's legal team needs the DPA before signing [{legal}]. Ana promised "
                f"to send the signed DPA by Friday [{send}]. They also agreed to an escrow "
                "clause [99]. Ben will chase a countersignature [98, 99].",
                [
                    {"source": legal, "quote": "legal still  needs the DPA"},
                    {"source": send, "quote": "I will send the signed DPA by Friday."},
                    # Words from a run Ana may not see, put on a source she may.
                    {"source": send, "quote": HIDDEN["ben_confidential"]},
                    # A source our search never returned to Claude.
                    {"source": 99, "quote": HIDDEN["ben"]},
                ],
            )

        claude.then(tool_call("search_calls", {"query": "Contoso DPA promise"}), answer)
        found = await ask(api, QUESTION)

    assert found["found"] is True
    assert found["answered_by"]["engine"] == "claude"
    assert found["answered_by"]["model"] == "claude-sonnet-4-6"
    # Ana's own confidential call matched too: left out of what Claude saw, and said so.
    assert found["answered_by"]["reason"] == LEFT_OUT
    assert [(c["number"], c["run_id"], c["quote"]) for c in found["citations"]] == [
        (1, runs["ana"], "Legal still needs the DPA"),
        (2, runs["ana"], "I will send the signed DPA by Friday"),
    ]
    assert found["citations"][0]["speaker"] == "Daniel Ortiz"
    assert found["citations"][0]["at_seconds"] == 1.0
    assert found["citations"][0]["customer_name"] == "Contoso"
    assert found["answer"] == (
        "Contoso's legal team needs the DPA before signing [1]. Ana promised to send the "
        "signed DPA by Friday [2]."
    )
    await assert_quotes_are_stored_words(api, found["citations"])
    assert found["searched"] == [QUESTION, "Contoso DPA promise"]

    first, second = claude.requests
    assert [t["name"] for t in first["tools"]] == ["search_calls", "answer"]
    assert first["tool_choice"] == {"type": "any"}
    assert first["temperature"] <= 0.2
    assert first["model"] == "claude-sonnet-4-6"
    [call] = second["messages"][1]["content"]
    assert [r["tool_use_id"] for r in tool_results(second)] == [call["id"]]
    given = json.dumps(sources_given(second))
    assert "Legal still needs the DPA" in given
    for words in HIDDEN.values():
        assert words not in given, words
    assert set(claude.fake.keys) == {TEST_KEY}


async def test_no_one_elses_call_and_no_confidential_words_reach_claude_or_an_answer(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> None:
    """Claude searches three times, for the hidden runs' own words too, and cites everything
    it was given; then a question only Ana's confidential call answers."""

    def cite_all(body: dict[str, Any]) -> Reply:
        given = [s for request in claude.requests for s in sources_given(request)]
        return answer_call(
            "Everything said about the DPA [1].",
            [{"source": s["source"], "quote": s["text"]} for s in given],
        )

    async with service_with_world(tmp_path, service_database, claude) as (api, runs):
        claude.then(
            tool_call("search_calls", {"query": "DPA"}),
            tool_call("search_calls", {"query": "countersignature escrow redlines annex"}),
            tool_call("search_calls", {"query": "DPA", "customer": "Contoso"}),
            cite_all,
        )
        answer = await ask(api, "Everything about the DPA")
        secret = await ask(api, "the Fabrikam annex")

        assert {c["run_id"] for c in answer["citations"]} == {runs["ana"], runs["ben_attended"]}
        await assert_quotes_are_stored_words(api, answer["citations"])
        sent = json.dumps(claude.requests)
        for words in HIDDEN.values():
            assert words not in sent, words
            assert words not in json.dumps(answer), words
        # The third round was the last: the fourth request could only answer.
        assert [r["tool_choice"] for r in claude.requests] == [
            {"type": "any"},
            {"type": "any"},
            {"type": "any"},
            {"type": "tool", "name": "answer"},
        ]

        assert len(claude.requests) == 4, "a confidential-only question went to Claude"
        assert secret["answered_by"] == {
            "engine": "local",
            "model": None,
            "reason": CONFIDENTIAL,
            "label": f"local excerpts, no model: {CONFIDENTIAL}",
        }
        assert {c["run_id"] for c in secret["citations"]} == {runs["ana_confidential"]}
        await assert_quotes_are_stored_words(api, secret["citations"])


async def test_claude_failing_gives_the_local_answer_and_says_why(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> None:
    async with service_with_world(tmp_path, service_database, claude) as (api, runs):
        claude.then(error_reply(500, "api_error", "Internal server error"))
        answer = await ask(api, QUESTION)
        off_schema = answer_call("The DPA [1].", [{"source": "one"}])
        claude.then(tool_call("search_calls", {"query": "DPA"}), off_schema)
        malformed = await ask(api, QUESTION)
        claude.then(error_reply(529, "overloaded_error", "Overloaded"))
        only_contoso = await ask(api, "DPA", customer_id="c-1")

    assert answer["answered_by"]["engine"] == "local"
    assert answer["answered_by"]["reason"] == (
        "Claude unavailable (Claude had a server error (500) after retries)"
    )
    assert malformed["answered_by"]["reason"] == (
        "Claude unavailable (Claude returned malformed output (answer off its schema))"
    )
    for local in (answer, malformed):
        assert local["found"] is True
        assert {c["run_id"] for c in local["citations"]} <= {
            runs["ana"],
            runs["ana_confidential"],
            runs["ben_attended"],
        }
        assert local["answer"].endswith("[1][2][3]")
    await assert_quotes_are_stored_words(api, answer["citations"])
    assert {c["customer_id"] for c in only_contoso["citations"]} == {"c-1"}


async def test_without_a_key_the_local_model_answers_with_the_stored_words(
    tmp_path: Path, service_database: SecretStr | None, local_model: LocalModel
) -> None:
    async with service_with_world(tmp_path, service_database, None) as (api, runs):
        # The web role loads no model: the excerpts are the answer.
        plain = await ask(api, QUESTION)
        # A process that processes calls has the model loaded: it writes the lead line.
        asker = api.service.asker
        assert asker is not None
        asker.model = local_model
        who = Searcher(TENANT, await user_id(api, ANA[1]), ANA[1])
        led = (await asker.answer(QUESTION, who)).to_json()

    assert plain["answered_by"]["label"] == f"local excerpts, no model: {NO_KEY}"
    assert plain["answer"] == "Here is what your calls say about this. [1][2][3]"
    assert led["answered_by"]["engine"] == "local"
    assert led["answered_by"]["model"] == local_model.name
    assert led["answered_by"]["reason"] == NO_KEY
    for answer in (plain, led):
        assert answer["found"] is True
        numbers = [c["number"] for c in answer["citations"]]
        assert numbers == list(range(1, len(numbers) + 1))
        assert {c["run_id"] for c in answer["citations"]} <= {
            runs["ana"],
            runs["ana_confidential"],
            runs["ben_attended"],
        }
        assert answer["answer"].endswith("".join(f"[{n}]" for n in numbers))
        # Each cited line is a stored segment, whole and verbatim.
        for citation in answer["citations"]:
            assert citation["quote"] in await stored_texts(api, citation["run_id"])


async def test_bad_questions_and_one_run_credentials_are_refused(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=service_database,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=claude.base_url,
    )
    async with running_api(settings, process=False) as api:
        ana = await seed_user(api.service.sessions, TENANT, ANA[1])
        run_id = await seed_run(api.service.sessions, TENANT, ana, call_id="ana-1")
        for body, field in (
            ({}, "question"),
            ({"question": "  "}, "question"),
            ({"question": "x" * 501}, "question"),
            ({"question": "the and of"}, "question"),
            ({"question": "dpa", "customer_id": ""}, "customer_id"),
            ({"question": "dpa", "run_id": run_id}, "run_id"),
        ):
            status, error = await api.call("POST", "/api/ask", as_user=ANA, json_body=body)
            assert (status, error["error"]["field"]) == (422, field), (body, error)
        status, _ = await api.call("POST", "/api/ask", json_body={"question": "dpa"})
        assert status == 401
        token = issue_review_token(api.service.review_secret, TENANT, ANA[1], run_id)
        status, _ = await api.call(
            "POST",
            "/api/ask",
            json_body={"question": "dpa"},
            headers={ReviewTokenAuth.HEADER: token},
        )
        assert status == 404
    assert claude.requests == []


async def user_id(api: Api, email: str) -> str:
    async with api.service.sessions() as session:
        found = await directory.find_user(session, TENANT, email)
    assert found is not None
    return found.id


async def test_claudes_tokens_for_a_question_count_on_the_reps_seat_and_its_limit_holds(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> None:
    usage = UsageSettings(limits={"*": CohortLimit(claude_tokens_per_month=2000)})
    async with service_with_world(tmp_path, service_database, claude, usage=usage) as (api, _):

        def answer(body: dict[str, Any]) -> Reply:
            send = source_saying(body, "I will send the signed DPA by Friday.")
            return answer_call(
                f"Ana will send the signed DPA by Friday [{send}].",
                [{"source": send, "quote": "I will send the signed DPA by Friday."}],
            )

        claude.then(tool_call("search_calls", {"query": "Contoso DPA"}), answer)
        first = await ask(api, QUESTION)
        assert first["answered_by"]["engine"] == "claude"
        async with api.service.sessions() as session:
            records = (
                await session.execute(
                    select(UsageRecord)
                    .join(User, User.id == UsageRecord.user_id)
                    .where(User.email == ANA[1])
                )
            ).scalars()
            # The deal coach's records of the seeded runs are theirs: a question has no run.
            counted = [(r.calls, r.claude_input_tokens, r.claude_output_tokens)
                       for r in records if r.run_id is None]  # fmt: skip
        # Two answers of the Messages API (the search, then the answer), as it counted them;
        # a question is no call.
        assert counted == [(0, 2 * 1200, 2 * 300)]

        # 3,000 tokens or more this month: past the cohort's 2,000, the next question is answered
        # with the stored words, and Claude is not asked.
        second = await ask(api, QUESTION)
        assert second["answered_by"]["engine"] == "local"
        assert second["answered_by"]["reason"] == (
            "Claude limit for your cohort reached (2,000 Claude tokens this month)"
        )
        assert second["found"] is True
        assert len(claude.requests) == 2
