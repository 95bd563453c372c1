"""The rep's review loop through the API, on SQLite and PostgreSQL: what Save writes, a new
prospect's customer, accepting all, the transcript, and "don't process this call"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import update

from crm_adapters.embedded import EmbeddedCRM
from smartnotes import directory
from smartnotes.auth import ReviewTokenAuth, issue_review_token
from smartnotes.runs.autosave import AutoSaver
from smartnotes.settings import Settings
from smartnotes.storage.models import Run
from tests.api_client import Api, running_api
from tests.conftest import postgres_database
from tests.seed import seed_run, seed_user

TENANT = "contoso-tenant"
REP = (TENANT, "maria@northwind.test")
OTHER_REP = (TENANT, "john@northwind.test")
PARTICIPANTS = [
    {"name": "Maria Chen", "email": "maria@northwind.test"},
    {"name": "Daniel Ortiz", "email": "daniel@contoso.test"},
]


def _task(title: str, owner: str, origin: str = "claude", at: float = 1.0) -> dict[str, Any]:
    return {
        "title": title,
        "description": "",
        "owner": owner,
        "due_date": "2026-11-20",
        "due_text": "by Friday",
        "priority": "medium",
        "evidence": [{"quote": f"about {title.lower()}", "at": at, "verified": True}],
        "confidence": 0.8,
        "origin": origin,
    }


MINE = _task("Send the revised quote", "Maria Chen")
ALSO_MINE = _task("Book the pilot kickoff", "we", at=20.0)
THEIRS = _task("Send the security questionnaire", "Daniel", at=40.0)
CHECK = _task("Check: can you loop in legal?", "", origin="recall_check", at=60.0)


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    # A web-only process queues the CRM writes and nobody sends them.
    queues = () if request.node.get_closest_marker("web_role") else None
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path)
        async with running_api(settings, process=False, queues=queues) as running:
            yield running
        return
    async with postgres_database() as url:
        settings = Settings(data_dir=tmp_path, database_url=SecretStr(url))
        async with running_api(settings, process=False, queues=queues) as running:
            yield running


def _crm(api: Api) -> EmbeddedCRM:
    crm = api.service.outbox.crm
    assert isinstance(crm, EmbeddedCRM)
    return crm


async def _run(
    api: Api, tasks: list[dict[str, Any]], customer: tuple[str, str] | None = None
) -> str:
    sessions = api.service.sessions
    owner = await seed_user(sessions, *REP, name="Maria Chen")
    run_id = await seed_run(
        sessions, TENANT, owner, call_id=uuid.uuid4().hex, customer=customer, tasks=tasks
    )
    async with sessions() as session, session.begin():
        await session.execute(update(Run).where(Run.id == run_id).values(participants=PARTICIPANTS))
    return run_id


def _by_title(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in view["tasks"]}


async def test_save_writes_the_reps_tasks_and_only_what_they_kept_of_the_rest(api: Api) -> None:
    customer = await _crm(api).add_customer("Contoso", ["daniel@contoso.test"])
    run_id = await _run(api, [MINE, ALSO_MINE, THEIRS, CHECK], (customer.id, customer.name))

    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=REP)
    tasks = _by_title(view)
    assert [tasks[t["title"]]["group"] for t in (MINE, ALSO_MINE, THEIRS, CHECK)] == [
        "mine",
        "mine",
        "customer",
        "check",
    ]
    assert tasks[THEIRS["title"]]["side"] == "customer"
    assert all(t["decision"] == "suggested" for t in view["tasks"])
    assert view["save_plan"]["label"] == "Save note and 2 tasks"

    # The rep keeps the customer's promise as a follow-up, and rejects one of their own.
    theirs, also_mine = tasks[THEIRS["title"]], tasks[ALSO_MINE["title"]]
    path = f"/api/runs/{run_id}/tasks"
    status, view = await api.call(
        "POST", f"{path}/{theirs['id']}/accept", as_user=REP, json_body={}
    )
    assert status == 200, view
    status, view = await api.call(
        "POST", f"{path}/{also_mine['id']}/reject", as_user=REP, json_body={}
    )
    assert status == 200, view
    assert view["save_plan"]["label"] == "Save note and 2 tasks"
    assert _by_title(view)[ALSO_MINE["title"]]["decision"] == "rejected"

    status, view = await api.call(
        "POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={"version": view["version"]}
    )
    assert status == 202, view
    saved = await api.wait_for(run_id, REP, lambda v: v["status"] == "saved", seconds=60)
    assert saved["save_plan"]["label"] == "Saved the note and 2 tasks to the CRM"
    written = {t.title: t for t in await _crm(api).tasks()}
    assert set(written) == {MINE["title"], f"Follow up: {THEIRS['title']}"}
    follow_up = written[f"Follow up: {THEIRS['title']}"]
    assert follow_up.owner == "Maria Chen"
    assert follow_up.description.startswith("Waiting on Daniel (customer).")
    # The finding nobody kept stays as it was, unwritten.
    assert _by_title(saved)[CHECK["title"]]["status"] == "proposed"


async def test_a_new_prospect_is_chosen_or_created_and_saved(api: Api) -> None:
    crm = _crm(api)
    shared = await crm.add_customer("Contoso Logistics", ["ops@contoso.test"])
    johns = await crm.add_customer("Contoso Pharma", ["ana@pharma.test"], owner_email=OTHER_REP[1])
    run_id = await _run(api, [MINE])
    await seed_user(api.service.sessions, *OTHER_REP)

    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=REP)
    assert view["needs_customer"] is True
    status, body = await api.call("POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={})
    assert status == 422
    assert body["error"]["field"] == "customer_id"

    status, found = await api.call("GET", f"/api/customers?q=contoso&run_id={run_id}", as_user=REP)
    assert status == 200, found
    assert [c["id"] for c in found["customers"]] == [shared.id]
    assert found["can_create"] is True

    # Another rep's customer is refused, and the refusal says so.
    status, body = await api.call(
        "PUT", f"/api/runs/{run_id}/customer", as_user=REP, json_body={"customer_id": johns.id}
    )
    assert status == 403
    assert "does not let you write" in body["error"]["message"]
    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=REP)
    assert view["customer_id"] is None

    status, created = await api.call(
        "POST",
        "/api/customers",
        as_user=REP,
        json_body={"run_id": run_id, "name": "Umbrella Corp", "email": "alice@umbrella.test"},
    )
    assert status == 201, created
    assert created["name"] == "Umbrella Corp"
    assert created["run"]["customer_id"] == created["id"]
    assert created["run"]["needs_customer"] is False

    status, view = await api.call("POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={})
    assert status == 202, view
    await api.wait_for(run_id, REP, lambda v: v["status"] == "saved", seconds=60)
    [note] = await crm.notes(created["id"])
    assert note.ai_generated
    assert note.title.startswith("Call with Umbrella Corp on ")


async def test_the_review_pages_token_searches_customers_for_its_own_run_only(api: Api) -> None:
    run_id = await _run(api, [MINE])
    other = await _run(api, [MINE])
    token = issue_review_token(api.service.review_secret, TENANT, REP[1], run_id)
    headers = {ReviewTokenAuth.HEADER: token}
    status, _ = await api.call("GET", f"/api/customers?q=x&run_id={run_id}", headers=headers)
    assert status == 200
    status, _ = await api.call("GET", f"/api/customers?q=x&run_id={other}", headers=headers)
    assert status == 404
    status, _ = await api.call("GET", "/api/customers?q=x", headers=headers)
    assert status == 400


async def test_accept_all_takes_the_reps_own_suggestions_only(api: Api) -> None:
    run_id = await _run(api, [MINE, ALSO_MINE, THEIRS, CHECK])
    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=REP)
    status, view = await api.call(
        "POST",
        f"/api/runs/{run_id}/tasks/accept-all",
        as_user=REP,
        json_body={"version": view["version"]},
    )
    assert status == 200, view
    decisions = {t["title"]: t["decision"] for t in view["tasks"]}
    assert decisions == {
        MINE["title"]: "accepted",
        ALSO_MINE["title"]: "accepted",
        THEIRS["title"]: "suggested",
        CHECK["title"]: "suggested",
    }


async def test_dont_process_this_call_leaves_nothing_the_models_made(api: Api) -> None:
    run_id = await _run(api, [MINE, THEIRS])
    status, view = await api.call("POST", f"/api/runs/{run_id}/stop", as_user=REP, json_body={})
    assert status == 200, view
    assert view["status"] == "cancelled"
    assert view["summary"]["text"] is None
    assert view["tasks"] == []
    _, transcript = await api.call("GET", f"/api/runs/{run_id}/transcript", as_user=REP)
    assert transcript["segments"] == []
    assert transcript["kept"] is False


async def test_the_transcript_is_served_line_by_line(api: Api) -> None:
    await seed_user(api.service.sessions, *REP)
    lines = "[00:00:05] Maria Chen: I'll send the quote.\n[00:00:09] Daniel Ortiz: Great.\n"
    status, submitted = await api.call(
        "POST",
        "/api/runs",
        as_user=REP,
        json_body={"call_id": "t-1", "transcript": lines, "transcript_name": "call.txt"},
    )
    assert status == 202, submitted
    status, found = await api.call(
        "GET", f"/api/runs/{submitted['run_id']}/transcript", as_user=REP
    )
    assert status == 200, found
    assert [(s["speaker"], s["start"], s["text"]) for s in found["segments"]] == [
        ("Maria Chen", 5.0, "I'll send the quote."),
        ("Daniel Ortiz", 9.0, "Great."),
    ]


async def test_unreviewed_notes_are_auto_saved_where_the_tenant_chose_it(api: Api) -> None:
    sessions = api.service.sessions
    customer = await _crm(api).add_customer("Contoso", ["daniel@contoso.test"])
    due = await _run(api, [MINE, CHECK], (customer.id, customer.name))
    no_customer = await _run(api, [MINE])
    too_recent = await _run(api, [MINE], (customer.id, customer.name))
    john = await seed_user(sessions, *OTHER_REP)
    johns = await seed_run(sessions, TENANT, john, call_id="j", customer=(customer.id, "Contoso"))
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await directory.set_tenant_save_mode(session, TENANT, "auto", 24, by="test")
        await directory.set_user_save_mode(session, TENANT, OTHER_REP[1], "review", by="test")
        for run_id in (due, no_customer, johns):
            await session.execute(
                update(Run).where(Run.id == run_id).values(ready_at=now - timedelta(hours=25))
            )
        await session.execute(
            update(Run).where(Run.id == too_recent).values(ready_at=now - timedelta(hours=2))
        )

    saver = AutoSaver(sessions, api.service.review, api.service.settings.review)
    assert await saver.save_due() == [due]
    assert await saver.save_due() == []  # told once, saved once

    saved = await api.wait_for(due, REP, lambda v: v["status"] == "saved", seconds=60)
    assert saved["auto_saved_at"] is not None
    assert [t.title for t in await _crm(api).tasks()] == [MINE["title"]]
    [note] = await _crm(api).notes(customer.id)
    assert note.provenance["saved"].startswith("auto-saved 24 h after")
    assert note.provenance["reviewed_by"] is None

    for run_id, status in ((no_customer, "needs_review"), (too_recent, "needs_review")):
        _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=REP)
        assert view["status"] == status
    _, view = await api.call("GET", f"/api/runs/{johns}", as_user=OTHER_REP)
    assert view["status"] == "needs_review"
    _, told = await api.call("GET", "/api/notifications", as_user=REP)
    kinds = sorted((n["run_id"], n["kind"]) for n in told["notifications"])
    assert kinds == sorted([(due, "run_auto_saved"), (no_customer, "run_auto_save_blocked")])


async def test_changes_after_saving_reach_the_crm(api: Api) -> None:
    crm = _crm(api)
    customer = await crm.add_customer("Contoso", ["daniel@contoso.test"])
    run_id = await _run(api, [MINE, ALSO_MINE, CHECK], (customer.id, customer.name))
    await api.call("POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={})
    view = await api.wait_for(run_id, REP, lambda v: v["status"] == "saved", seconds=60)
    tasks = _by_title(view)
    mine, also_mine, check = (tasks[t["title"]] for t in (MINE, ALSO_MINE, CHECK))
    assert mine["status"] == "written"
    assert mine["crm_task_id"] is not None

    async def change(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, changed = await api.call(method, path, as_user=REP, json_body=body)
        assert status == 200, changed
        return await api.wait_for(run_id, REP, lambda v: v["status"] == "saved", seconds=60)

    base = f"/api/runs/{run_id}"
    await change(
        "PATCH",
        f"{base}/tasks/{mine['id']}",
        {"title": "Send the quote v2", "version": mine["version"]},
    )
    await change("POST", f"{base}/tasks/{also_mine['id']}/reject", {})
    view = await change("POST", f"{base}/tasks/{check['id']}/accept", {})
    await change(
        "PATCH", f"{base}/summary", {"text": "Corrected by Maria.", "version": view["version"]}
    )

    titles = sorted(t.title for t in await crm.tasks())
    assert titles == sorted(["Send the quote v2", CHECK["title"]])
    [note] = await crm.notes(customer.id)
    assert note.body == "Corrected by Maria."
    assert note.provenance["saved"] == "changed by the rep after saving"
    assert note.provenance["summary"] == "edited by the rep"
    _, view = await api.call("GET", base, as_user=REP)
    assert {t["title"]: t["status"] for t in view["tasks"]} == {
        "Send the quote v2": "written",
        ALSO_MINE["title"]: "rejected",
        CHECK["title"]: "written",
    }


@pytest.mark.web_role  # the save stays on its way
async def test_saved_notes_cannot_change_while_the_save_is_on_its_way(api: Api) -> None:
    customer = await _crm(api).add_customer("Contoso", ["daniel@contoso.test"])
    run_id = await _run(api, [MINE], (customer.id, customer.name))
    status, view = await api.call("POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={})
    assert status == 202
    task = view["tasks"][0]
    status, body = await api.call(
        "PATCH",
        f"/api/runs/{run_id}/tasks/{task['id']}",
        as_user=REP,
        json_body={"title": "Too soon", "version": task["version"]},
    )
    assert status == 409
    assert "being saved" in body["error"]["message"]
