"""Usage metering and the cohort limits, through the running service: real calls posted to the
API, processed with the demo model, Claude answered by the local Messages API server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from cards.run_card import build_run_card
from pipeline.asr import Transcriber
from pipeline.extraction import CallContext
from pipeline.local_llm import LocalModel
from pipeline.prompting import Prompts
from pipeline.usage import RunUsage
from smartnotes import directory
from smartnotes.settings import CohortLimit, Settings, UsageSettings
from smartnotes.storage.models import AuditEntry, Run, RunStatus, RunTask, UsageRecord
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY, claude_extractor, make_pipeline
from tests.fakes.anthropic_server import FakeAnthropic, Reply, tasks_reply
from tests.seed import seed_user

TENANT = "contoso-tenant"
REP = (TENANT, "maria@northwind.test")
CLOSER = (TENANT, "dana@northwind.test")
BUILDER = (TENANT, "ravi@northwind.test")
SAMPLE = Path(__file__).parents[2] / "smartnotes" / "samples" / "sales_call_excerpt.wav"
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Great. Can you also book a demo for our finance team next week?</v>

00:00:13.000 --> 00:00:15.000
<v Maria Chen>Yes, I will set that up.</v>
"""
TASK: dict[str, Any] = {
    "title": "Send revised quote with annual pricing",
    "description": "Annual pricing as requested by Daniel",
    "owner": "Maria Chen",
    "due_text": "by Friday",
    "due_date": "2026-11-20",
    "priority": "high",
    "quote": "I will send you a revised quote with the annual pricing by Friday.",
    "timestamp": "00:00:01",
    "confidence": 0.95,
}
# What the Messages API server says each answer used: numbers no default has.
INPUT_TOKENS, OUTPUT_TOKENS = 2345, 678


def counted_reply() -> Reply:
    reply = tasks_reply([TASK])
    reply.body["usage"] = {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}
    return reply


def upload(call_id: str, rep: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "transcript": VTT,
        "transcript_name": "call.vtt",
        "started_at": "2026-11-17T10:00:00-06:00",
        "timezone": "America/Chicago",
        "participants": [
            {"name": "Maria Chen", "email": rep},
            {"name": "Daniel Okafor", "email": "daniel@contoso.test"},
        ],
    }


@pytest_asyncio.fixture
async def live(
    tmp_path: Path, fake_claude: FakeAnthropic, service_database: SecretStr | None
) -> AsyncIterator[Api]:
    fake_claude.default = counted_reply()
    settings = Settings(
        data_dir=tmp_path,
        database_url=service_database,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=32,
        summarizer_context=4096,
        workers=2,
        usage=UsageSettings(
            limits={
                "deal-closer": CohortLimit(calls_per_day=1),
                "relationship-builder": CohortLimit(claude_tokens_per_month=1000),
            }
        ),
    )
    async with running_api(settings) as api:
        sessions = api.service.sessions
        for (tenant, email), cohort in ((REP, None), (CLOSER, "deal-closer"),
                                        (BUILDER, "relationship-builder")):  # fmt: skip
            await seed_user(sessions, tenant, email)
            if cohort is not None:
                async with sessions() as session, session.begin():
                    await directory.set_cohort(session, tenant, email, cohort, by="test")
        yield api


def _ready(view: dict[str, Any]) -> bool:
    return view["status"] in ("needs_review", "failed")


async def _post(live: Api, rep: tuple[str, str], call_id: str) -> str:
    status, created = await live.call(
        "POST", "/api/runs", as_user=rep, json_body=upload(call_id, rep[1])
    )
    assert status == 202, created
    return str(created["run_id"])


async def _records(live: Api, run_id: str) -> list[UsageRecord]:
    async with live.service.sessions() as session:
        return list(
            (
                await session.execute(
                    select(UsageRecord).where(UsageRecord.run_id == run_id).order_by(UsageRecord.id)
                )
            ).scalars()
        )


async def test_each_processing_is_metered_and_a_call_counts_once(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    run_id = await _post(live, REP, "call-1")
    status, again = await live.call(
        "POST", "/api/runs", as_user=REP, json_body=upload("call-1", REP[1])
    )
    assert (status, again["run_id"]) == (200, run_id), "the same call posted twice is one run"
    view = await live.wait_for(run_id, REP, _ready)
    assert view["status"] == "needs_review"
    assert view["extractor"]["name"] == "claude"
    # Then the deal coach asks Claude about the call: its tokens go on the same record.
    view = await live.wait_for(run_id, REP, lambda v: v.get("coaching") is not None)
    asked = [r["tool_choice"]["name"] for r in fake_claude.requests]
    assert asked == ["record_tasks", "record_coaching"]

    (first,) = await _records(live, run_id)
    user_id = first.user_id
    assert (first.tenant_id, first.calls, first.extractor, first.limited_by) == (
        TENANT, 1, "claude", None
    )  # fmt: skip
    assert (first.claude_input_tokens, first.claude_output_tokens) == (
        2 * INPUT_TOKENS,
        2 * OUTPUT_TOKENS,
    )
    assert first.audio_seconds == 0.0, "a text transcript is not audio"
    assert first.local_model_seconds > 0, "the summary was written by the local model"
    assert len(fake_claude.extractions) == 1

    # The rep re-runs task creation: Claude again, the summary kept, no new call.
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/retrigger-tasks", as_user=REP,
        json_body={"version": view["version"]},
    )  # fmt: skip
    assert status == 202, view
    # New tasks, new coaching: the coach reads the tasks.
    await live.wait_for(
        run_id, REP, lambda v: v["status"] == "needs_review" and v.get("coaching") is not None
    )
    first_again, rerun = await _records(live, run_id)
    assert first_again.calls == 1
    assert (rerun.calls, rerun.extractor) == (0, "claude")
    assert (rerun.claude_input_tokens, rerun.claude_output_tokens) == (
        2 * INPUT_TOKENS,
        2 * OUTPUT_TOKENS,
    )
    assert rerun.local_model_seconds == 0.0, "nothing was summarized this time"

    # A crash while the tasks were being made: the run is left running, and resumes.
    async with live.service.sessions() as session, session.begin():
        await session.execute(delete(RunTask).where(RunTask.run_id == run_id))
        await session.execute(
            update(Run).where(Run.id == run_id).values(status=RunStatus.RUNNING, extractor=None)
        )
    await live.service.jobs.enqueue(run_id)
    await live.wait_for(run_id, REP, lambda v: v["status"] == "needs_review")
    records = await _records(live, run_id)
    assert [r.calls for r in records] == [1, 0, 0], "a resumed run is not a second call"
    assert records[-1].extractor == "claude"
    assert {r.user_id for r in records} == {user_id}
    assert len(fake_claude.extractions) == 3


async def _limited_audit(live: Api, run_id: str) -> dict[str, Any]:
    async with live.service.sessions() as session:
        (entry,) = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.run_id == run_id, AuditEntry.action == "usage_limited"
                )
            )
        ).scalars()
    return dict(entry.detail)


async def test_past_the_days_calls_a_call_gets_the_local_extractor_and_nothing_is_dropped(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    # Both at once, processed side by side: the limit still lets only one reach Claude.
    first, second = await asyncio.gather(
        _post(live, CLOSER, "close-1"), _post(live, CLOSER, "close-2")
    )
    views = {run_id: await live.wait_for(run_id, CLOSER, _ready) for run_id in (first, second)}
    assert len(fake_claude.extractions) == 1, "exactly one call reached Claude"
    for view in views.values():
        assert view["status"] == "needs_review"
        assert view["tasks"], "a limited call still gets its tasks"
        assert view["summary"]["text"]
    by_claude = [r for r, v in views.items() if v["extractor"]["name"] == "claude"]
    limited = [r for r, v in views.items() if v["extractor"]["name"] == "local"]
    assert len(by_claude) == len(limited) == 1
    reason = "Claude limit for your cohort reached (1 call today): tasks by the local extractor"
    view = views[limited[0]]
    assert view["extractor"]["fallback_reason"] == reason
    # What the card and the review page show is built from this same view.
    assert reason in json.dumps(build_run_card(view))
    (record,) = await _records(live, limited[0])
    assert (record.calls, record.extractor, record.limited_by) == (1, "local", "calls_per_day")
    assert (record.claude_input_tokens, record.claude_output_tokens) == (0, 0)
    assert record.local_model_seconds > 0
    (unlimited,) = await _records(live, by_claude[0])
    assert unlimited.limited_by is None
    detail = await _limited_audit(live, limited[0])
    assert detail == {
        "limit": "calls_per_day",
        "value": 1,
        "cohort": "deal-closer",
        "calls_today": 1,
        "claude_tokens_this_month": detail["claude_tokens_this_month"],
    }
    # Another rep, in no cohort, is not held back by this one's limit.
    other = await _post(live, REP, "call-9")
    assert (await live.wait_for(other, REP, _ready))["extractor"]["name"] == "claude"


async def test_past_the_months_tokens_a_call_gets_the_local_extractor(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    first = await _post(live, BUILDER, "build-1")
    assert (await live.wait_for(first, BUILDER, _ready))["extractor"]["name"] == "claude"
    # 2345 + 678 tokens this month: over the cohort's 1000.
    second = await _post(live, BUILDER, "build-2")
    view = await live.wait_for(second, BUILDER, _ready)
    assert view["status"] == "needs_review"
    assert view["tasks"]
    assert view["extractor"]["name"] == "local"
    assert view["extractor"]["fallback_reason"] == (
        "Claude limit for your cohort reached (1,000 Claude tokens this month): "
        "tasks by the local extractor"
    )
    assert len(fake_claude.extractions) == 1
    (record,) = await _records(live, second)
    assert (record.calls, record.limited_by) == (1, "claude_tokens_per_month")
    detail = await _limited_audit(live, second)
    assert detail["claude_tokens_this_month"] == INPUT_TOKENS + OUTPUT_TOKENS
    assert (detail["limit"], detail["value"]) == ("claude_tokens_per_month", 1000)


async def test_a_recording_is_metered_by_its_length(
    local_model: LocalModel, prompts: Prompts, fake_claude: FakeAnthropic, asr_model_path: str
) -> None:
    fake_claude.default = counted_reply()
    pipeline = make_pipeline(local_model, prompts, claude_extractor(fake_claude, prompts))
    usage = RunUsage()
    _, result = await pipeline.process_file(
        SAMPLE,
        CallContext(started_at=datetime(2026, 11, 17, 16, tzinfo=UTC)),
        lambda: Transcriber(Path(asr_model_path)),
        usage=usage,
    )
    assert result.complete, result.errors
    assert usage.audio_seconds == pytest.approx(42, abs=3)
    assert (usage.claude_input_tokens, usage.claude_output_tokens) == (
        INPUT_TOKENS, OUTPUT_TOKENS
    )  # fmt: skip
    assert usage.local_model_seconds > 0
    assert usage.extractor == "claude"
