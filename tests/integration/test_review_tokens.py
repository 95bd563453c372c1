"""The review page's token: one user, one run, nothing else, on the page and on the API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from smartnotes.auth import issue_review_token
from smartnotes.settings import Settings
from tests.api_client import Api, running_api
from tests.seed import SUMMARY, seed_run, seed_user

TENANT = "northwind"
REP = "maria@northwind.test"
STRANGER = "sam@northwind.test"


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(Settings(data_dir=tmp_path), process=False) as running:
        yield running


async def seeded(api: Api) -> tuple[str, str]:
    sessions = api.service.sessions
    rep = await seed_user(sessions, TENANT, REP)
    await seed_user(sessions, TENANT, STRANGER)
    first = await seed_run(sessions, TENANT, rep, call_id="a", customer=("c1", "Contoso"))
    second = await seed_run(sessions, TENANT, rep, call_id="b", customer=("c1", "Contoso"))
    return first, second


async def test_a_review_token_opens_its_run_and_nothing_else(api: Api) -> None:
    first, second = await seeded(api)
    token = issue_review_token(api.service.review_secret, TENANT, REP, first)
    header = {"X-Review-Token": token}

    status, view = await api.call("GET", f"/api/runs/{first}", headers=header)
    assert status == 200
    assert view["summary"]["text"] == SUMMARY
    status, view = await api.call(
        "POST", f"/api/runs/{first}/feedback", headers=header,
        json_body={"target": "summary", "rating": "like"},
    )  # fmt: skip
    assert status == 201

    for method, path in [
        ("GET", f"/api/runs/{second}"),
        ("POST", f"/api/runs/{second}/save"),
        ("GET", "/api/runs"),
        ("GET", "/api/notifications"),
        ("POST", "/api/runs"),
    ]:
        status, body = await api.call(method, path, headers=header, json_body={})
        assert status == 404, (method, path, body)
        assert SUMMARY not in str(body)

    # A review token is not an API bearer token, and the other way round.
    status, _ = await api.call(
        "GET", f"/api/runs/{first}", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 401
    api_token = api.token(TENANT, REP)
    async with api.http.get(api.url(f"/review/{first}?token={api_token}")) as response:
        assert response.status == 404
        assert SUMMARY not in await response.text()


async def test_another_users_review_token_sees_nothing(api: Api) -> None:
    first, _ = await seeded(api)
    token = issue_review_token(api.service.review_secret, TENANT, STRANGER, first)
    status, body = await api.call("GET", f"/api/runs/{first}", headers={"X-Review-Token": token})
    assert status == 404
    assert SUMMARY not in str(body)
    async with api.http.get(api.url(f"/review/{first}?token={token}")) as response:
        assert response.status == 404
        page = await response.text()
    assert "Not available" in page
    assert SUMMARY not in page
    assert first not in page


async def test_the_page_is_locked_down(api: Api) -> None:
    first, _ = await seeded(api)
    token = issue_review_token(api.service.review_secret, TENANT, REP, first)
    async with api.http.get(api.url(f"/review/{first}?token={token}")) as response:
        assert response.status == 200
        page = await response.text()
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp  # no CRM origin configured: nobody may frame it
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page, "no inline scripts"
    assert SUMMARY in page


async def test_admin_review_link_opens_the_page(api: Api) -> None:
    first, _ = await seeded(api)
    data_dir = api.service.settings.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
    env.update({"SMARTNOTES_DATA_DIR": str(data_dir), "COLUMNS": "400"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartnotes", "admin", "review-link", first,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    link = out.decode().strip()
    assert link.startswith(f"http://127.0.0.1:8080/review/{first}?token=")
    path = link.split("8080", 1)[1]
    async with api.http.get(api.url(path)) as response:
        assert response.status == 200
        assert SUMMARY in await response.text()

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartnotes", "admin", "review-link", "no-such-run",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    assert "no run no-such-run" in err.decode()
