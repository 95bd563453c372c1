"""The deal coach on a ready run, on SQLite and PostgreSQL: Claude through the local Messages
API (its ungrounded items dropped), the local analysis without a key or on a confidential
call, the earlier calls with the customer as context, and feedback per suggestion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import update

from smartnotes.insights.metrics import compute
from smartnotes.settings import CohortLimit, Settings, UsageSettings
from smartnotes.storage.models import Run, UsageRecord
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tool_call
from tests.seed import seed_run, seed_user
from tests.waits import until

TENANT = "northwind"
MARIA = (TENANT, "maria@northwind.test")
VTT = """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Maria Chen>Thanks for joining, Daniel. Shall we look at the rollout?

00:00:06.000 --> 00:00:12.000
<v Daniel Ortiz>Honestly the price is too high for our budget this year.

00:00:13.000 --> 00:00:18.000
<v Daniel Ortiz>Maybe we can start with a pilot, I'm not sure yet.

00:00:19.000 --> 00:00:24.000
<v Maria Chen>I will send you a revised quote by Friday.
"""
# The 24 s call in eight stretches of 3 s: Daniel speaks in the third (no listed word) and the
# fifth (a hesitant line).
DANIEL_SERIES = [
    {"start": 6.0, "end": 9.0, "sentiment": 0.0, "hesitation": 0.0},
    {"start": 12.0, "end": 15.0, "sentiment": 0.0, "hesitation": 1.0},
]
QUOTE_TASK = {
    "title": "Send revised quote",
    "owner": "Maria Chen",
    "due_date": "2026-11-20",
    "evidence": [{"quote": "I will send you a revised quote by Friday.", "at": 19.0}],
}


async def _api(tmp_path: Path, database: SecretStr | None, **extra: Any) -> Any:
    settings = Settings(data_dir=tmp_path, database_url=database, **extra)
    return running_api(settings, process=False)


@pytest_asyncio.fixture
async def local_api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    async with await _api(tmp_path, service_database) as started:
        yield started


async def _ready_run(api: Api, tmp_path: Path, *, confidential: bool = False) -> tuple[str, str]:
    sessions = api.service.sessions
    maria = await seed_user(sessions, TENANT, MARIA[1], "Maria Chen")
    earlier = await seed_run(
        sessions, TENANT, maria, call_id="earlier", customer=("c-1", "Contoso"), tasks=[]
    )
    run_id = await seed_run(
        sessions,
        TENANT,
        maria,
        call_id="now",
        customer=("c-1", "Contoso"),
        tasks=[QUOTE_TASK],
        confidential=confidential,
    )
    transcript = tmp_path / "now.vtt"
    transcript.write_text(VTT, encoding="utf-8")
    async with sessions() as session, session.begin():
        await session.execute(
            update(Run)
            .where(Run.id == earlier)
            .values(summary_generated="Daniel asked about annual pricing. The demo went well.")
        )
        await session.execute(
            update(Run).where(Run.id == run_id).values(transcript_ref=str(transcript))
        )
    return earlier, run_id


async def _coached(api: Api, run_id: str) -> dict[str, Any]:
    # What a change of the run does: its reindex, which finds the run ready and not coached.
    await api.service.jobs.index(run_id)

    async def coached() -> dict[str, Any]:
        _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=MARIA)
        return dict(view) if view.get("coaching") else {}

    return await until(coached)


async def test_without_claude_the_local_analysis_coaches_and_says_so(
    local_api: Api, tmp_path: Path
) -> None:
    earlier, run_id = await _ready_run(local_api, tmp_path)
    view = await _coached(local_api, run_id)
    coaching = view["coaching"]
    assert (coaching["made_by"], coaching["fallback_reason"]) == (
        "local",
        "no Claude API key is configured",
    )
    (price,) = coaching["objections"]
    assert (price["category"], price["moment"]["at"], price["moment"]["speaker"]) == (
        "price",
        6.0,
        "Daniel Ortiz",
    )
    assert [e["call"] for e in price["earlier"]] == [earlier]
    assert [s["text"] for s in coaching["next_steps"]] == [
        "Send revised quote",
        "Answer the price concern",
    ]
    (daniel,) = coaching["sentiment"]
    assert daniel["speaker"] == "Daniel Ortiz"
    assert [m["label"] for m in daniel["moments"]] == ["hesitant"]
    assert (coaching["duration"], daniel["series"], daniel["trend"]) == (
        24.0,
        DANIEL_SERIES,
        "steady",
    )

    status, _ = await local_api.call(
        "POST",
        f"/api/runs/{run_id}/feedback",
        as_user=MARIA,
        json_body={"target": "next_step:1", "rating": "like", "comment": "useful"},
    )
    assert status == 201
    status, body = await local_api.call(
        "POST",
        f"/api/runs/{run_id}/feedback",
        as_user=MARIA,
        json_body={"target": "objection:4", "rating": "like"},
    )
    assert (status, body["error"]["field"]) == (422, "target")
    async with local_api.service.sessions() as session:
        found = await compute(session, TENANT)
    assert found["periods"][-1]["cohorts"]["all"]["feedback"]["coach"] == {
        "like": 1,
        "dislike": 0,
    }
    assert found["comments"][0]["target"] == "suggestion"


async def test_claude_coaches_and_what_it_cannot_ground_is_dropped(
    tmp_path: Path, service_database: SecretStr | None, fake_claude: FakeAnthropic
) -> None:
    fake_claude.then(
        tool_call(
            "record_coaching",
            {
                "next_steps": [
                    {
                        "text": "Propose a paid pilot",
                        "confidence": 0.7,
                        "why": "Daniel floated a pilot",
                        "quotes": ["Maybe we can start with a pilot"],
                    },
                    {
                        "text": "Offer a free year",
                        "confidence": 0.9,
                        "why": "never said",
                        "quotes": ["a free year would close it"],
                    },
                ],
                "objections": [
                    {
                        "category": "price",
                        "quote": "the price is too high for our budget this year",
                        "answers": {"formal": "F.", "friendly": "Fr.", "concise": "C."},
                    }
                ],
                "sentiment": [
                    {
                        "speaker": "Daniel Ortiz",
                        "sentiment": -0.2,
                        "hesitation": 0.5,
                        "moments": [{"quote": "I'm not sure yet", "label": "hesitant"}],
                    }
                ],
            },
        )
    )
    extra = {"anthropic_api_key": SecretStr(TEST_KEY), "anthropic_base_url": fake_claude.base_url}
    async with await _api(tmp_path, service_database, **extra) as api:
        earlier, run_id = await _ready_run(api, tmp_path)
        view = await _coached(api, run_id)
    coaching = view["coaching"]
    assert coaching["made_by"].startswith("claude:")
    assert coaching["fallback_reason"] is None
    assert [s["text"] for s in coaching["next_steps"]] == ["Propose a paid pilot"]
    assert coaching["next_steps"][0]["moments"][0]["at"] == 13.0
    assert [o["category"] for o in coaching["objections"]] == ["price"]
    # Claude's verdict, and beside it the course over the call counted from Daniel's lines.
    (daniel,) = coaching["sentiment"]
    assert (daniel["sentiment"], daniel["hesitation"]) == (-0.2, 0.5)
    assert (coaching["duration"], daniel["series"]) == (24.0, DANIEL_SERIES)
    (request,) = [r for r in fake_claude.requests if r["tool_choice"]["name"] == "record_coaching"]
    prompt = request["messages"][0]["content"]
    assert f"[{earlier}]" in prompt
    assert "Daniel asked about annual pricing." in prompt
    assert "the price is too high for our budget this year" in prompt


async def test_a_confidential_call_is_coached_locally_even_with_claude(
    tmp_path: Path, service_database: SecretStr | None, fake_claude: FakeAnthropic
) -> None:
    extra = {"anthropic_api_key": SecretStr(TEST_KEY), "anthropic_base_url": fake_claude.base_url}
    async with await _api(tmp_path, service_database, **extra) as api:
        _, run_id = await _ready_run(api, tmp_path, confidential=True)
        view = await _coached(api, run_id)
    assert view["coaching"]["fallback_reason"] == "confidential call: only local analysis"
    assert fake_claude.requests == []


async def test_answers_cite_the_teams_own_material(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    material = tmp_path / "material"
    (material / TENANT).mkdir(parents=True)
    (material / TENANT / "pricing.md").write_text(
        "# Pricing answers\n\nAnnual billing takes 15 % off the price for a budget this year.\n"
    )
    async with await _api(tmp_path, service_database, coach_material_dir=material) as api:
        _, run_id = await _ready_run(api, tmp_path)
        view = await _coached(api, run_id)
    (price,) = view["coaching"]["objections"]
    assert {
        "call": f"material:{TENANT}/pricing.md#2",
        "quote": ("Annual billing takes 15 % off the price for a budget this year."),
    } in price["earlier"]


async def test_a_rep_past_the_claude_limit_is_coached_locally(
    tmp_path: Path, service_database: SecretStr | None, fake_claude: FakeAnthropic
) -> None:
    usage = UsageSettings(limits={"*": CohortLimit(claude_tokens_per_month=100)})
    extra = {
        "anthropic_api_key": SecretStr(TEST_KEY),
        "anthropic_base_url": fake_claude.base_url,
        "usage": usage,
    }
    async with await _api(tmp_path, service_database, **extra) as api:
        _, run_id = await _ready_run(api, tmp_path)
        async with api.service.sessions() as session, session.begin():
            run = await session.get(Run, run_id)
            assert run is not None
            session.add(
                UsageRecord(
                    tenant_id=TENANT,
                    user_id=run.owner_id,
                    run_id="an-earlier-run",
                    calls=1,
                    claude_input_tokens=90,
                    claude_output_tokens=10,
                )
            )
        view = await _coached(api, run_id)
    assert view["coaching"]["fallback_reason"] == (
        "Claude limit for your cohort reached (100 Claude tokens this month)"
    )
    assert fake_claude.requests == []
