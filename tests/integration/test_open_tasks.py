"""The customer's open tasks as a call's context, through the running service on SQLite and
PostgreSQL: a task already open is not proposed again, a call that shows one done proposes
completing it, and the completion the rep accepts lands in the CRM and closes the task.

The earlier call is seeded as saved (its tasks in the embedded CRM); the new call goes through
the real pipeline, with Claude as the strict local Messages API or, without a key, the local
extractor on the demo model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select, update

from crm_adapters.contract import TaskWrite
from crm_adapters.embedded import EmbeddedCRM
from smartnotes.briefs.facts import Rep
from smartnotes.runs.open_tasks import open_tasks
from smartnotes.settings import Settings
from smartnotes.storage.models import Run, RunStatus, RunTask, TaskStatus
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.seed import seed_run, seed_user

TENANT = "contoso-tenant"
REP = (TENANT, "maria@northwind.test")
EARLIER = [
    {
        "title": "Send the DPA to Contoso",
        "owner": "Maria Chen",
        "due_date": "2026-11-20",
        "evidence": [{"quote": "I will send you our DPA this week.", "at": 4.0}],
    },
    {
        "title": "Send the pricing sheet",
        "owner": "Maria Chen",
        "evidence": [{"quote": "I will send the pricing sheet.", "at": 9.0}],
    },
]
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>Quick update first: I sent the DPA yesterday, so legal has it.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Thanks. We still need the pricing sheet, please send the pricing sheet.</v>

00:00:13.000 --> 00:00:18.000
<v Maria Chen>Sure. I will also send you the security questionnaire by Friday.</v>
"""
UPLOAD = {
    "call_id": "call-2",
    "transcript": VTT,
    "transcript_name": "call.vtt",
    "started_at": "2026-11-24T10:00:00-06:00",
    "timezone": "America/Chicago",
    "call_url": "https://calls.test/call-2",
    "participants": [
        {"name": "Maria Chen", "email": REP[1]},
        {"name": "Daniel Okafor", "email": "daniel@contoso.test"},
    ],
}


def _task(title: str, quote: str, timestamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": "",
        "owner": "Maria Chen",
        "due_text": "",
        "due_date": "",
        "priority": "medium",
        "priority_reason": "",
        "related_to": "Contoso",
        "quote": quote,
        "timestamp": timestamp,
        "confidence": 0.9,
        **extra,
    }


CLAUDE_TASKS = [
    # Claude names the DPA done (T1) and, against its instructions, repeats the open pricing
    # sheet: the repeat is left out all the same.
    _task("DPA sent", "I sent the DPA yesterday, so legal has it.", "00:00:01", completes="T1"),
    _task("Send the pricing sheet", "please send the pricing sheet.", "00:00:07"),
    _task(
        "Send the security questionnaire",
        "I will also send you the security questionnaire by Friday.",
        "00:00:13",
        due_text="by Friday",
    ),
]


async def _world(
    tmp_path: Path, database: SecretStr | None, claude: FakeAnthropic | None
) -> AsyncIterator[tuple[Api, EmbeddedCRM, list[str]]]:
    remote: dict[str, Any] = (
        {"anthropic_api_key": SecretStr(TEST_KEY), "anthropic_base_url": claude.base_url}
        if claude is not None
        else {}
    )
    settings = Settings(
        data_dir=tmp_path,
        database_url=database,
        summary_max_tokens=32,
        summarizer_context=4096,
        workers=1,
        **remote,
    )
    async with running_api(settings) as api:
        sessions = api.service.sessions
        maria = await seed_user(sessions, *REP, name="Maria Chen")
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        customer = await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
        earlier = await seed_run(
            sessions,
            TENANT,
            maria,
            call_id="call-1",
            status=RunStatus.SAVED,
            customer=(customer.id, customer.name),
            tasks=EARLIER,
        )
        crm_ids = []
        async with sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(RunTask).where(RunTask.run_id == earlier).order_by(RunTask.position)
                )
            ).scalars()
            for row in rows:
                written = await crm.create_task(
                    TaskWrite(
                        title=row.generated["title"],
                        customer_id=customer.id,
                        idempotency_key=f"seed:{row.id}",
                    )
                )
                row.status, row.crm_task_id = TaskStatus.WRITTEN, written.external_id
                crm_ids.append(written.external_id)
        yield api, crm, crm_ids


@pytest_asyncio.fixture
async def with_claude(
    tmp_path: Path, fake_claude: FakeAnthropic, service_database: SecretStr | None
) -> AsyncIterator[tuple[Api, EmbeddedCRM, list[str]]]:
    async for world in _world(tmp_path, service_database, fake_claude):
        yield world


@pytest_asyncio.fixture
async def local_only(
    tmp_path: Path, service_database: SecretStr | None
) -> AsyncIterator[tuple[Api, EmbeddedCRM, list[str]]]:
    async for world in _world(tmp_path, service_database, None):
        yield world


def _ready(view: dict[str, Any]) -> bool:
    return view["status"] in ("needs_review", "failed")


async def test_claude_sees_the_open_tasks_and_a_done_one_is_completed_in_the_crm(
    with_claude: tuple[Api, EmbeddedCRM, list[str]], fake_claude: FakeAnthropic
) -> None:
    api, crm, (dpa_id, pricing_id) = with_claude
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    status, created = await api.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202, created
    run_id = created["run_id"]
    view = await api.wait_for(run_id, REP, _ready)
    assert view["status"] == "needs_review", view.get("error")

    (request,) = fake_claude.extractions
    prompt = request["messages"][0]["content"]
    assert "T1: Send the DPA to Contoso; owner Maria Chen; due 2026-11-20" in prompt
    assert "T2: Send the pricing sheet; owner Maria Chen" in prompt
    schema = request["tools"][0]["input_schema"]["properties"]["tasks"]["items"]
    assert "completes" in schema["properties"]
    assert "completes" not in schema["required"]

    by_title = {task["title"]: task for task in view["tasks"]}
    assert "Send the pricing sheet" not in by_title, "an open task is not proposed again"
    assert "Send the security questionnaire" in by_title
    done = by_title["Mark done: Send the DPA to Contoso"]
    assert (done["group"], done["will_save"]) == ("done", False)
    assert done["completes"]["crm_task_id"] == dpa_id
    (evidence,) = done["evidence"]
    assert evidence["verified"] is True
    assert (evidence["quote"], evidence["at"]) == (
        "I sent the DPA yesterday, so legal has it.",
        1.0,
    )
    assert any("Send the pricing sheet" in note for note in view["extractor"]["notes"])

    # A completion is accepted or rejected, never edited.
    status, refused = await api.call(
        "PATCH",
        f"/api/runs/{run_id}/tasks/{done['id']}",
        as_user=REP,
        json_body={"title": "Something else", "version": done["version"]},
    )
    assert status == 422, refused
    status, view = await api.call(
        "POST",
        f"/api/runs/{run_id}/tasks/{done['id']}/accept",
        as_user=REP,
        json_body={"version": done["version"]},
    )
    assert status == 200, view
    assert view["save_plan"]["label"].endswith("and mark 1 task done")
    status, view = await api.call(
        "POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={"version": view["version"]}
    )
    assert status in (200, 202), view
    view = await api.wait_for(run_id, REP, lambda v: v["status"] == "saved")

    tasks = {row.id: row for row in await crm.tasks()}
    assert tasks[dpa_id].completed_at is not None
    assert tasks[pricing_id].completed_at is None
    done_row = next(t for t in view["tasks"] if t["id"] == done["id"])
    assert (done_row["status"], done_row["crm_task_id"]) == ("written", dpa_id)
    # Nothing new was made of the completion in the CRM: only the questionnaire was added.
    added = [row.title for row in tasks.values() if row.id not in (dpa_id, pricing_id)]
    assert added == ["Send the security questionnaire"]

    # The next call with Contoso sees only the pricing sheet open; a landed completion cannot
    # be rejected from here.
    sessions = api.service.sessions
    async with sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        assert run.customer_id is not None
        rep = Rep(tenant_id=TENANT, user_id=run.owner_id, email=REP[1])
        still_open = await open_tasks(session, rep, run.customer_id)
    assert [task.title for task in still_open] == [
        "Send the security questionnaire",
        "Send the pricing sheet",
    ]
    status, refused = await api.call(
        "POST",
        f"/api/runs/{run_id}/tasks/{done['id']}/reject",
        as_user=REP,
        json_body={"version": done_row["version"]},
    )
    assert status == 422, refused


async def test_without_claude_the_local_check_proposes_the_completion(
    local_only: tuple[Api, EmbeddedCRM, list[str]],
) -> None:
    api, _, (dpa_id, _) = local_only
    status, created = await api.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202, created
    view = await api.wait_for(created["run_id"], REP, _ready)
    assert view["extractor"]["name"] == "local"
    done = [task for task in view["tasks"] if task["completes"]]
    assert [(t["title"], t["completes"]["crm_task_id"]) for t in done] == [
        ("Mark done: Send the DPA to Contoso", dpa_id)
    ]
    assert (
        done[0]["evidence"][0]["quote"]
        == "Quick update first: I sent the DPA yesterday, so legal has it."
    )
    assert done[0]["origin"] == "local"
    # Whatever the small model made of the call, nothing proposed repeats the pricing sheet.
    assert not [t for t in view["tasks"] if "pricing sheet" in t["title"].lower()]


async def test_a_run_whose_customer_has_no_earlier_calls_gets_no_open_tasks(
    with_claude: tuple[Api, EmbeddedCRM, list[str]], fake_claude: FakeAnthropic
) -> None:
    api, _, _ = with_claude
    async with api.service.sessions() as session, session.begin():
        await session.execute(update(Run).values(customer_id="someone-else"))
    fake_claude.default = tasks_reply(CLAUDE_TASKS[2:])
    status, created = await api.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202, created
    view = await api.wait_for(created["run_id"], REP, _ready)
    (request,) = fake_claude.extractions
    assert "<open_tasks>" not in request["messages"][0]["content"]
    schema = request["tools"][0]["input_schema"]["properties"]["tasks"]["items"]
    assert "completes" not in schema["properties"]
    assert not [task for task in view["tasks"] if task["completes"]]
