"""A call through the running service: upload, watch it stream, review it, save it to the CRM.

The real app on a loopback port with the real demo model, Claude replaced by a local Messages
API server, the embedded CRM, and real signed tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select

from crm_adapters.embedded import EmbeddedCRM
from smartnotes import directory
from smartnotes.settings import Settings
from smartnotes.storage.models import Run, RunStatus
from tests.api_client import Api, read_events, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.seed import seed_user
from tests.waits import until

TENANT = "contoso-tenant"
REP = (TENANT, "maria@northwind.test")
ATTENDEE = (TENANT, "lee@northwind.test")
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>I will send you a revised quote with the annual pricing by Friday.</v>

00:00:07.000 --> 00:00:12.000
<v Daniel Okafor>Great. Can you also book a demo for our finance team next week?</v>

00:00:13.000 --> 00:00:15.000
<v Maria Chen>Yes, I will set that up.</v>
"""
CLAUDE_TASKS: list[dict[str, Any]] = [
    {
        "title": "Send revised quote with annual pricing",
        "description": "Annual pricing as requested by Daniel",
        "owner": "Maria Chen",
        "due_text": "by Friday",
        "due_date": "2026-11-20",
        "priority": "high",
        "quote": "I will send you a revised quote with the annual pricing by Friday.",
        "timestamp": "00:00:01",
        "confidence": 0.95,
    },
    {
        "title": "Book a demo for the finance team",
        "description": "Demo for Contoso's finance team",
        "owner": "Maria Chen",
        "due_text": "next week",
        "due_date": "",
        "priority": "medium",
        "quote": "Can you also book a demo for our finance team next week?",
        "timestamp": "00:00:07",
        "confidence": 0.9,
    },
]
UPLOAD = {
    "call_id": "call-42",
    "transcript": VTT,
    "transcript_name": "call.vtt",
    "started_at": "2026-11-17T10:00:00-06:00",
    "timezone": "America/Chicago",
    "call_url": "https://calls.test/call-42",
    "participants": [
        {"name": "Maria Chen", "email": REP[1]},
        {"name": "Lee", "email": ATTENDEE[1]},
        {"name": "Daniel Okafor", "email": "daniel@contoso.test"},
    ],
}


@pytest_asyncio.fixture
async def live(
    tmp_path: Path, fake_claude: FakeAnthropic, service_database: SecretStr | None
) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=service_database,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=32,
        summarizer_context=4096,
        workers=1,
        metrics_token=SecretStr(METRICS_TOKEN),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, *REP, name="Maria Chen")
        await seed_user(api.service.sessions, *ATTENDEE)
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
        yield api


METRICS_TOKEN = "prometheus-" + "x" * 32


async def _scrape(live: Api, token: str | None = METRICS_TOKEN) -> tuple[int, dict[str, float]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with live.http.get(live.url("/metrics"), headers=headers) as response:
        if response.status != 200:
            return response.status, {}
        body = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return 200, samples


async def test_metrics_show_the_runs_steps_extractor_requests_and_the_outbox(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    assert (await _scrape(live, token=None))[0] == 401
    assert (await _scrape(live, token=METRICS_TOKEN[::-1]))[0] == 401
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    status, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202
    run_id = created["run_id"]
    await live.wait_for(run_id, REP, _ready)
    # The deal coach asks Claude too, once the notes are ready: wait for it, so the counts
    # below hold whichever finishes first.
    await live.wait_for(run_id, REP, lambda view: view.get("coaching") is not None)
    status, samples = await _scrape(live)
    assert status == 200
    assert samples["smartnotes_runs{status=needs_review}"] == 1
    assert samples["smartnotes_run_step_seconds_count{status=done,step=summarizing}"] == 1
    assert samples["smartnotes_extractions_total{extractor=claude,fallback=no}"] == 1
    # Tokens as the Messages API counted them in its answers (the local server's usage block):
    # the extraction's and the coach's.
    assert [r["tool_choice"]["name"] for r in fake_claude.requests] == [
        "record_tasks",
        "record_coaching",
    ]
    assert samples["smartnotes_claude_tokens_total{kind=input}"] == 2 * 1200
    assert samples["smartnotes_claude_tokens_total{kind=output}"] == 2 * 300
    assert (
        samples["smartnotes_http_request_seconds_count{method=POST,route=/api/runs,status=2xx}"]
        == 1
    )
    assert samples["smartnotes_crm_writes_pending{}"] == 0
    assert samples["smartnotes_graph_notifications_failed{}"] == 0


def _ready(view: dict[str, Any]) -> bool:
    return view["status"] in ("needs_review", "failed")


async def test_a_call_is_reviewed_and_saved_through_the_api(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=0.5)
    status, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202
    assert created["created"] is True
    run_id = created["run_id"]
    status, again = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert (status, again["run_id"], again["created"]) == (200, run_id, False)

    async with live.http.get(
        live.url(f"/api/runs/{run_id}/events"), headers=live.headers(*REP)
    ) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(
            stream, lambda name, data: name == "run" and data["status"] == "needs_review"
        )
    assert events[0][0] == "run", "a watcher starts from the run as it stands"
    steps = [(d["step"], d["status"]) for n, d in events if n == "step"]
    for step in ("summarizing", "analyzing", "creating_tasks"):
        assert (step, "running") in steps
        assert (step, "done") in steps
    assert steps.index(("summarizing", "running")) < steps.index(("summarizing", "done"))
    assert "".join(d["text"] for n, d in events if n == "token").strip(), "summary streamed"

    view = events[-1][1]
    assert view["customer_name"] == "Contoso Logistics"
    assert view["extractor"]["name"] == "claude"
    assert view["extractor"]["repairs"] == []
    assert view["ai_generated"] is True
    assert view["summary"]["text"]
    assert not view["summary"]["edited"]
    titles = [t["title"] for t in view["tasks"]]
    assert titles[:2] == [t["title"] for t in CLAUDE_TASKS]
    quote, demo = view["tasks"][0], view["tasks"][1]
    assert quote["evidence"][0]["quote"].startswith("I will send you a revised quote")
    assert quote["due_date"] == "2026-11-20"

    status, view = await live.call(
        "PATCH", f"/api/runs/{run_id}/summary", as_user=REP,
        json_body={"text": "Contoso wants annual pricing and a finance demo.",
                   "version": view["version"]},
    )  # fmt: skip
    assert status == 200
    status, view = await live.call(
        "PATCH", f"/api/runs/{run_id}/tasks/{quote['id']}", as_user=REP,
        json_body={"due_date": "2026-11-19", "version": quote["version"]},
    )  # fmt: skip
    assert status == 200
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/tasks/{demo['id']}/reject", as_user=REP, json_body={}
    )
    assert status == 200
    for target, rating in (("summary", "like"), (demo["id"], "dislike")):
        status, view = await live.call(
            "POST", f"/api/runs/{run_id}/feedback", as_user=REP,
            json_body={"target": target, "rating": rating, "comment": "checked"},
        )  # fmt: skip
        assert status == 201
    assert view["feedback"]["summary"] == {"rating": "like", "comment": "checked"}
    # Other proposed tasks (the recall check's, if any) are declined so only one is saved.
    for task in view["tasks"][2:]:
        await live.call(
            "POST", f"/api/runs/{run_id}/tasks/{task['id']}/reject", as_user=REP, json_body={}
        )
    _, view = await live.call("GET", f"/api/runs/{run_id}", as_user=REP)
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={"version": view["version"]}
    )
    assert status == 202
    assert view["status"] == "saving"
    view = await live.wait_for(run_id, REP, lambda v: v["status"] == "saved", seconds=30)

    crm = live.service.crm
    assert isinstance(crm, EmbeddedCRM)
    (note,) = await crm.notes()
    assert note.body == "Contoso wants annual pricing and a finance demo."
    assert (note.section, note.ai_generated) == ("Smart Notes", True)
    assert note.call_url == "https://calls.test/call-42"
    assert note.provenance["reviewed_by"] == REP[1]
    assert note.provenance["summary"] == "edited by the rep"
    (task,) = await crm.tasks()
    assert task.title == CLAUDE_TASKS[0]["title"]
    assert task.due_date is not None
    assert task.due_date.isoformat() == "2026-11-19"
    assert view["tasks"][0]["status"] == "written"
    assert view["tasks"][0]["crm_task_id"] == task.id
    assert view["tasks"][1]["status"] == "rejected"


async def test_what_was_repaired_in_claudes_answer_stays_on_the_run(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    broken = [{**CLAUDE_TASKS[0], "due_date": None}, {**CLAUDE_TASKS[1], "priority": "asap!"}]
    fake_claude.default = tasks_reply(broken)
    _, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    view = await live.wait_for(created["run_id"], REP, _ready)
    assert view["extractor"]["name"] == "claude"  # the rest of the answer stands
    assert [t["title"] for t in view["tasks"][:2]] == [t["title"] for t in CLAUDE_TASKS]
    repairs = view["extractor"]["repairs"]
    assert len(repairs) == 2
    assert repairs[0].startswith("Claude: task 1: due_date")
    assert repairs[1].startswith("Claude: task 2: priority")


async def test_retrigger_keeps_the_summary_edit_and_later_notifies(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS[:1], delay=1.0)
    _, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    run_id = created["run_id"]
    status, _ = await live.call("POST", f"/api/runs/{run_id}/later", as_user=REP)
    assert status == 200
    view = await live.wait_for(run_id, REP, _ready)
    assert view["status"] == "needs_review"
    assert view["notify_when_done"]
    _, body = await live.call("GET", "/api/notifications", as_user=REP)
    assert [n["kind"] for n in body["notifications"]] == ["run_ready"]
    assert body["notifications"][0]["run_id"] == run_id
    _, other = await live.call("GET", "/api/notifications", as_user=ATTENDEE)
    assert other["notifications"] == []
    status, _ = await live.call(
        "POST", f"/api/notifications/{body['notifications'][0]['id']}/read", as_user=ATTENDEE
    )
    assert status == 404, "nobody marks another user's notifications"

    generated = view["summary"]["text"]
    status, view = await live.call(
        "PATCH", f"/api/runs/{run_id}/summary", as_user=REP,
        json_body={"text": "My own words.", "version": view["version"]},
    )  # fmt: skip
    assert status == 200
    summaries_before = sum(1 for s in view["steps"] if s["step"] == "summarizing")
    fake_claude.default = tasks_reply(CLAUDE_TASKS[1:], delay=0.2)
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/retrigger-tasks", as_user=REP,
        json_body={"version": view["version"]},
    )  # fmt: skip
    assert status == 202
    assert view["status"] == "queued"
    assert view["tasks"] == []
    view = await live.wait_for(run_id, REP, _ready)
    assert view["status"] == "needs_review"
    assert view["summary"]["text"] == "My own words."
    assert view["summary"]["generated"] == generated
    assert view["tasks"][0]["title"] == CLAUDE_TASKS[1]["title"]
    assert sum(1 for s in view["steps"] if s["step"] == "summarizing") == summaries_before
    extractions = [r for r in fake_claude.requests if r["tool_choice"]["name"] == "record_tasks"]
    assert len(extractions) == 2


async def test_dont_process_this_call_stops_it_in_flight(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS, delay=180)
    _, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    run_id = created["run_id"]
    await live.wait_for(
        run_id, REP, lambda v: any(s["step"] == "analyzing" for s in v["steps"]), seconds=120
    )
    status, view = await live.call("POST", f"/api/runs/{run_id}/stop", as_user=REP)
    assert status == 200
    assert view["status"] == "cancelled"
    assert view["transcript_kept"] is False
    jobs = live.service.jobs

    async def stopped() -> bool:
        return not await jobs.running(run_id)

    # Long before Claude's answer (180 s) could have ended the job: it was stopped, not left
    # to run; the room in between is for a loaded machine to unwind the step.
    await until(stopped, seconds=60)
    _, view = await live.call("GET", f"/api/runs/{run_id}", as_user=REP)
    assert view["status"] == "cancelled"
    assert view["tasks"] == []
    assert not list((live.service.settings.data_dir / "transcripts").glob(f"{run_id}*"))


async def test_the_gate_over_the_api(live: Api, fake_claude: FakeAnthropic) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    status, body = await live.call(
        "POST", "/api/runs", as_user=REP, json_body={**UPLOAD, "call_id": "x1", "opt_out": True}
    )
    assert status == 200
    assert body == {
        "run_id": None,
        "created": False,
        "skipped": "the call was opted out",
    }
    async with live.service.sessions() as session, session.begin():
        await directory.set_user_enabled(session, TENANT, REP[1], False, by="test")
    status, body = await live.call(
        "POST", "/api/runs", as_user=REP, json_body={**UPLOAD, "call_id": "x2"}
    )
    assert body["skipped"] == "the rep switched Smart Notes off"
    async with live.service.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Run))).scalar_one()
    assert count == 0, "a skipped call leaves no run"
    assert not (live.service.settings.data_dir / "transcripts").exists() or not list(
        (live.service.settings.data_dir / "transcripts").iterdir()
    )
    async with live.service.sessions() as session, session.begin():
        await directory.set_user_enabled(session, TENANT, REP[1], True, by="test")

    status, body = await live.call(
        "POST", "/api/runs", as_user=REP,
        json_body={**UPLOAD, "call_id": "x3", "confidential": True},
    )  # fmt: skip
    assert status == 202
    view = await live.wait_for(body["run_id"], REP, _ready)
    assert view["status"] == "needs_review"
    assert view["confidential"]
    assert view["extractor"]["name"] == "local"
    assert fake_claude.requests == [], "nothing of a confidential call goes to Claude"
    assert view["transcript_kept"] is False
    status, _ = await live.call("GET", f"/api/runs/{body['run_id']}", as_user=ATTENDEE)
    assert status == 404, "a confidential run is its owner's only"
    async with live.service.sessions() as session:
        run = await session.get(Run, body["run_id"])
    assert run is not None
    assert run.status == RunStatus.NEEDS_REVIEW


async def test_recreating_tasks_keeps_what_the_rep_did(
    live: Api, fake_claude: FakeAnthropic
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    _, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    run_id = created["run_id"]
    view = await live.wait_for(run_id, REP, _ready)
    by_title = {t["title"]: t for t in view["tasks"]}
    quote, demo = by_title[CLAUDE_TASKS[0]["title"]], by_title[CLAUDE_TASKS[1]["title"]]
    status, view = await live.call(
        "PATCH", f"/api/runs/{run_id}/tasks/{quote['id']}", as_user=REP,
        json_body={"title": "Quote with annual pricing, v2", "version": quote["version"]},
    )  # fmt: skip
    assert status == 200, view
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/tasks/{demo['id']}/reject", as_user=REP, json_body={}
    )
    assert status == 200, view

    # The same two commitments found again, worded differently, and one new.
    again = [
        {**CLAUDE_TASKS[0], "title": "Send the revised quote"},
        {**CLAUDE_TASKS[1], "title": "Set up the finance demo", "timestamp": "00:00:07"},
        {
            **CLAUDE_TASKS[1],
            "title": "Send the case study",
            "quote": "Yes, I will set that up.",
            "timestamp": "00:00:13",
        },
    ]
    fake_claude.default = tasks_reply(again)
    status, view = await live.call(
        "POST", f"/api/runs/{run_id}/retrigger-tasks", as_user=REP,
        json_body={"version": view["version"]},
    )  # fmt: skip
    assert status == 202, view
    assert {t["id"] for t in view["tasks"]} == {quote["id"], demo["id"]}
    view = await live.wait_for(run_id, REP, _ready)
    tasks = {t["id"]: t for t in view["tasks"]}
    assert tasks[quote["id"]]["title"] == "Quote with annual pricing, v2"
    assert tasks[demo["id"]]["decision"] == "rejected"
    titles = [t["title"] for t in view["tasks"]]
    assert "Send the case study" in titles
    assert "Send the revised quote" not in titles, "the rep's edited task is not doubled"
    assert "Set up the finance demo" not in titles, "a rejected task does not come back"
