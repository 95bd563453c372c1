"""The review API's guard rails: who may see what, bad input, stale edits, the document."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
from openapi_spec_validator import validate
from pydantic import SecretStr

from crm_adapters.embedded import EmbeddedCRM
from smartnotes.settings import Settings
from smartnotes.storage.models import RunStatus
from smartnotes.web.openapi import OPERATIONS, openapi_document
from tests.api_client import Api, running_api
from tests.seed import SUMMARY, TASKS, seed_run, seed_user

TENANT, OTHER_TENANT = "contoso-tenant", "fabrikam-tenant"
OWNER = (TENANT, "maria@northwind.test")
ATTENDEE = (TENANT, "lee@northwind.test")
STRANGER = (TENANT, "sam@northwind.test")
# The same address in another tenant is another user.
ELSEWHERE = (OTHER_TENANT, "maria@northwind.test")


@pytest_asyncio.fixture
async def api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    async with running_api(settings, process=False) as running:
        yield running


@pytest_asyncio.fixture
async def runs(api: Api) -> dict[str, str]:
    sessions = api.service.sessions
    owner = await seed_user(sessions, *OWNER)
    await seed_user(sessions, *ATTENDEE)
    await seed_user(sessions, *STRANGER)
    await seed_user(sessions, *ELSEWHERE)
    return {
        "open": await seed_run(
            sessions, TENANT, owner, call_id="c-open", attendees=(ATTENDEE[1],),
            customer=("cust-1", "Contoso"),
        ),
        "confidential": await seed_run(
            sessions, TENANT, owner, call_id="c-conf", attendees=(ATTENDEE[1],),
            confidential=True,
        ),
    }  # fmt: skip


def _concrete(path: str, run_id: str, task_id: str) -> str:
    return (
        path.replace("{run_id}", run_id)
        .replace("{task_id}", task_id)
        .replace("{notification_id}", "1")
    )


def _body_for(operation_id: str, version: int, task_version: int) -> dict[str, Any] | None:
    bodies: dict[str, dict[str, Any]] = {
        "uploadRun": {"call_id": "x", "transcript": "Maria: hello"},
        "editSummary": {"text": "stolen edit", "version": version},
        "editTask": {"title": "stolen", "version": task_version},
        "giveFeedback": {"target": "summary", "rating": "dislike"},
    }
    return bodies.get(operation_id)


RUN_OPERATIONS = [op for op in OPERATIONS if "{run_id}" in op[1]]


@pytest.mark.parametrize("who", [STRANGER, ELSEWHERE], ids=["same-tenant", "other-tenant"])
@pytest.mark.parametrize("operation", RUN_OPERATIONS, ids=[op[2] for op in RUN_OPERATIONS])
async def test_another_users_run_is_not_found_on_every_endpoint(
    api: Api, runs: dict[str, str], who: tuple[str, str], operation: tuple[Any, ...]
) -> None:
    method, path, operation_id = operation[0], operation[1], operation[2]
    _, before = await api.call("GET", f"/api/runs/{runs['open']}", as_user=OWNER)
    task = before["tasks"][0]
    status, body = await api.call(
        method.upper(),
        _concrete(path, runs["open"], task["id"]),
        as_user=who,
        json_body=_body_for(operation_id, before["version"], task["version"]),
    )
    assert status == 404, body
    leaked = json.dumps(body)
    for secret in (SUMMARY, TASKS[0]["title"], "Contoso", runs["open"], task["id"]):
        assert secret not in leaked
    # And nothing changed.
    _, after = await api.call("GET", f"/api/runs/{runs['open']}", as_user=OWNER)
    assert after == before


async def test_lists_hold_only_what_the_caller_may_see(api: Api, runs: dict[str, str]) -> None:
    listed = {}
    for who in (OWNER, ATTENDEE, STRANGER, ELSEWHERE):
        status, body = await api.call("GET", "/api/runs", as_user=who)
        assert status == 200
        listed[who] = {r["id"]: r["role"] for r in body["runs"]}
    assert listed[OWNER] == {runs["open"]: "owner", runs["confidential"]: "owner"}
    # Attendees see the call's notes, but never a confidential run.
    assert listed[ATTENDEE] == {runs["open"]: "attendee"}
    assert listed[STRANGER] == {}
    assert listed[ELSEWHERE] == {}
    status, _ = await api.call("GET", f"/api/runs/{runs['confidential']}", as_user=ATTENDEE)
    assert status == 404


async def test_attendee_reviews_but_only_the_owner_stops(api: Api, runs: dict[str, str]) -> None:
    status, view = await api.call("GET", f"/api/runs/{runs['open']}", as_user=ATTENDEE)
    assert status == 200
    assert view["role"] == "attendee"
    status, _ = await api.call(
        "POST",
        f"/api/runs/{runs['open']}/feedback",
        as_user=ATTENDEE,
        json_body={"target": "summary", "rating": "like"},
    )
    assert status == 201
    status, body = await api.call("POST", f"/api/runs/{runs['open']}/stop", as_user=ATTENDEE)
    assert status == 403
    assert body["error"]["code"] == "forbidden"


async def test_credentials_are_checked(api: Api, runs: dict[str, str]) -> None:
    path = f"/api/runs/{runs['open']}"
    status, body = await api.call("GET", path)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    expired = jwt.encode(
        {"iss": "smartnotes", "aud": "smartnotes-api", "sub": OWNER[1], "tid": TENANT,
         "iat": 1_700_000_000, "exp": 1_700_000_600},
        api.service.token_secret, algorithm="HS256",
    )  # fmt: skip
    forged = api.token(*OWNER)[:-4] + "AAAA"
    wrong_key = jwt.encode(
        jwt.decode(api.token(*OWNER), options={"verify_signature": False}),
        b"another-key-that-is-long-enough-to-be-used-here",
        algorithm="HS256",
    )
    unknown = api.token(TENANT, "nobody@northwind.test")
    for token in (expired, forged, wrong_key, unknown, "not-a-jwt"):
        status, body = await api.call("GET", path, headers={"Authorization": f"Bearer {token}"})
        assert status == 401, token
        assert SUMMARY not in json.dumps(body)
    status, _ = await api.call("GET", path, headers={"Authorization": "Basic bWFyaWE6cHc="})
    assert status == 401


async def test_bad_bodies_name_the_field(api: Api, runs: dict[str, str]) -> None:
    run = runs["open"]
    _, view = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    task = view["tasks"][0]
    task_path = f"/api/runs/{run}/tasks/{task['id']}"

    async with api.http.patch(
        api.url(f"/api/runs/{run}/summary"),
        data=b"{not json",
        headers={**api.headers(*OWNER), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert "JSON" in (await response.json())["error"]["message"]

    cases: list[tuple[str, str, Any, str]] = [
        ("PATCH", f"/api/runs/{run}/summary", {"text": "new"}, "version"),
        ("PATCH", f"/api/runs/{run}/summary", {"text": "", "version": 1}, "text"),
        ("PATCH", f"/api/runs/{run}/summary", {"txt": "x", "text": "x", "version": 1}, "txt"),
        ("PATCH", task_path, {"version": 1, "priority": "urgent"}, "priority"),
        ("PATCH", task_path, {"version": 1, "due_date": "next friday"}, "due_date"),
        ("PATCH", task_path, {"version": 1, "title": None}, "title"),
        ("PATCH", task_path, {"version": 1}, "body"),
        ("POST", f"/api/runs/{run}/feedback", {"target": "summary", "rating": "meh"}, "rating"),
        ("POST", f"/api/runs/{run}/feedback", {"target": "nope", "rating": "like"}, "target"),
        ("POST", "/api/runs", {"call_id": "x", "transcript": "just some prose"}, "transcript"),
        ("POST", "/api/runs", {"call_id": "x", "transcript": "x", "timezone": "Mars/Base"},
         "timezone"),
        ("POST", "/api/runs", {"call_id": "x", "transcript": "x",
                               "started_at": "2026-11-17T10:00:00"}, "started_at"),
    ]  # fmt: skip
    for method, path, payload, field in cases:
        status, body = await api.call(method, path, as_user=OWNER, json_body=payload)
        assert status == 422, (path, payload, body)
        assert body["error"]["field"] == field, (payload, body)
        assert field in body["error"]["message"]

    status, body = await api.call("GET", "/api/runs/0123456789abcdef", as_user=OWNER)
    assert status == 404
    status, body = await api.call(
        "POST", f"/api/runs/{run}/tasks/nope/accept", as_user=OWNER, json_body={}
    )
    assert status == 404
    status, _ = await api.call("GET", "/api/runs?limit=5000", as_user=OWNER)
    assert status == 400
    _, after = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    assert after["version"] == view["version"], "nothing changed on bad input"


async def test_stale_edits_are_conflicts(api: Api, runs: dict[str, str]) -> None:
    run = runs["open"]
    _, view = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    loaded = view["version"]
    status, edited = await api.call(
        "PATCH", f"/api/runs/{run}/summary", as_user=OWNER,
        json_body={"text": "First edit", "version": loaded},
    )  # fmt: skip
    assert status == 200
    assert edited["summary"]["text"] == "First edit"
    assert edited["summary"]["edited"]
    assert edited["summary"]["generated"] == SUMMARY
    status, body = await api.call(
        "PATCH", f"/api/runs/{run}/summary", as_user=ATTENDEE,
        json_body={"text": "Second edit from a stale page", "version": loaded},
    )  # fmt: skip
    assert status == 409
    assert body["error"]["current_version"] == edited["version"]

    task = edited["tasks"][0]
    path = f"/api/runs/{run}/tasks/{task['id']}"
    status, changed = await api.call(
        "PATCH", path, as_user=OWNER, json_body={"due_date": "2026-11-27", "version": 1}
    )
    assert status == 200
    assert changed["tasks"][0]["due_date"] == "2026-11-27"
    assert changed["tasks"][0]["edited"]
    assert changed["tasks"][0]["generated"]["due_date"]
    status, body = await api.call(
        "PATCH", path, as_user=OWNER, json_body={"owner": "Lee", "version": 1}
    )
    assert status == 409
    assert body["error"]["current_version"] == 2
    status, _ = await api.call(
        "POST", f"/api/runs/{run}/save", as_user=OWNER, json_body={"version": loaded}
    )
    assert status == 409, "a save must reflect what the rep last saw"
    _, final = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    assert final["summary"]["text"] == "First edit"
    assert final["tasks"][0]["owner"] == TASKS[0]["owner"]


async def test_edits_made_at_the_same_moment_from_one_version_keep_one(
    api: Api, runs: dict[str, str]
) -> None:
    # Twelve pages loaded at the same version all save at once: exactly one edit lands and
    # every other one is told the run moved on; no edit overwrites another silently.
    run = runs["open"]
    _, view = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    results = await asyncio.gather(
        *(
            api.call(
                "PATCH",
                f"/api/runs/{run}/summary",
                as_user=OWNER,
                json_body={"text": f"Edit {n}", "version": view["version"]},
            )
            for n in range(12)
        )
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 11
    winner = next(body for status, body in results if status == 200)
    _, final = await api.call("GET", f"/api/runs/{run}", as_user=OWNER)
    assert final["summary"]["text"] == winner["summary"]["text"]
    assert final["version"] == view["version"] + 1


async def test_save_needs_a_customer(api: Api) -> None:
    owner = await seed_user(api.service.sessions, *OWNER)
    run = await seed_run(api.service.sessions, TENANT, owner, call_id="no-customer")
    status, body = await api.call("POST", f"/api/runs/{run}/save", as_user=OWNER, json_body={})
    assert status == 422
    assert body["error"]["field"] == "customer_id"
    # A customer the CRM does not know is refused like one the rep may not write to.
    status, body = await api.call(
        "POST", f"/api/runs/{run}/save", as_user=OWNER, json_body={"customer_id": "cust-9"}
    )
    assert status == 403, body
    crm = api.service.outbox.crm
    assert isinstance(crm, EmbeddedCRM)
    customer = await crm.add_customer("Contoso", ["daniel@contoso.test"])
    status, view = await api.call(
        "POST", f"/api/runs/{run}/save", as_user=OWNER, json_body={"customer_id": customer.id}
    )
    assert status == 202
    assert view["status"] == RunStatus.SAVING
    assert (view["customer_id"], view["customer_name"]) == (customer.id, "Contoso")
    assert {t["status"] for t in view["tasks"]} == {"accepted"}


async def test_openapi_document_is_valid_and_matches_the_routes(api: Api) -> None:
    status, document = await api.call("GET", "/api/openapi.json")
    assert status == 200
    assert document == json.loads(json.dumps(openapi_document()))
    validate(document)
    described = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routed = {
        (route.method, route.resource.canonical)
        for route in api.server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
        and route.resource.canonical != "/api/openapi.json"
        # The Bot Framework's messaging endpoint: Microsoft's protocol, not the review API.
        and route.resource.canonical != "/api/messages"
    }
    assert described == routed


async def test_health_and_readiness(api: Api) -> None:
    assert await api.call("GET", "/healthz") == (200, {"status": "ok"})
    assert await api.call("GET", "/readyz") == (200, {"status": "ready"})
