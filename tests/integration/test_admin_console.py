"""The admin console (``/admin``) over HTTP, on SQLite and PostgreSQL: who may open it, what a
tenant's admin sees (their tenant and nothing else), the exports, and the audit view.

A history is seeded the way it happens: seats through the directory, runs put ready for review
(``tests/seed.py``), then edits, decisions and feedback through the real review API.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import jwt
import pytest
from pydantic import SecretStr

from pipeline.events import utcnow
from smartnotes import directory
from smartnotes.auth import AdminCookieAuth, issue_admin_token, issue_review_token, issue_token
from smartnotes.privacy import Privacy
from smartnotes.storage.models import AuditEntry
from tests.api_client import Api, running_api
from tests.commands import clean_env, smartnotes
from tests.seed import seed_run

TENANT = "northwind"
OTHER_TENANT = "contoso"
ADMIN = "pat@northwind.test"
MARIA = "maria@northwind.test"
LEE = "lee@northwind.test"
PRIYA = "priya@northwind.test"
OLGA = "olga@contoso.test"
SHARED = "jo@shared.test"  # a user in both tenants


@asynccontextmanager
async def console(
    tmp_path: Path, database: SecretStr | None, **settings: Any
) -> AsyncIterator[Api]:
    from smartnotes.settings import Settings

    config = Settings(data_dir=tmp_path, database_url=database, **settings)
    async with running_api(config, process=False, queues=()) as api:
        yield api


def origin(api: Api) -> str:
    return f"http://{api.server.host}:{api.server.port}"


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies from 127.0.0.1, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(api: Api, http: aiohttp.ClientSession, token: str) -> aiohttp.ClientResponse:
    async with http.post(
        api.url("/admin/sign-in"),
        data={"token": token},
        headers={"Origin": origin(api)},
        allow_redirects=False,
    ) as response:
        await response.read()
        return response


def admin_token(api: Api, tenant: str = TENANT, email: str = ADMIN, ttl: int = 600) -> str:
    return issue_admin_token(api.service.token_secret, tenant, email, ttl=ttl)


async def get(
    api: Api, http: aiohttp.ClientSession, path: str
) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.get(api.url(path), allow_redirects=False) as response:
        return response.status, await response.text(), response


async def seed_history(api: Api) -> dict[str, str]:
    """Seats in two cohorts (and one without), runs, and the reps' review work through the
    API; a second tenant with a rep, a run and a comment of its own."""
    sessions = api.service.sessions
    ids: dict[str, str] = {}
    async with sessions() as session, session.begin():
        for tenant, email, name, cohort in (
            (TENANT, MARIA, "Maria Chen", "deal-closer"),
            (TENANT, LEE, "Lee Park", "deal-closer"),
            (TENANT, PRIYA, "Priya Das", "relationship-builder"),
            (TENANT, SHARED, "Jo North", None),
            (OTHER_TENANT, OLGA, "Olga Berg", "deal-closer"),
            (OTHER_TENANT, SHARED, "Jo South", None),
        ):
            user = await directory.add_seat(
                session, tenant, email, by="cli:ops", display_name=name, cohort=cohort
            )
            ids[f"{tenant}:{email}"] = user.id
    for key, call in (
        (f"{TENANT}:{MARIA}", "m1"),
        (f"{TENANT}:{MARIA}", "m2"),
        (f"{TENANT}:{LEE}", "l1"),
        (f"{TENANT}:{PRIYA}", "p1"),
        (f"{OTHER_TENANT}:{OLGA}", "o1"),
    ):
        tenant = key.split(":", 1)[0]
        ids[call] = await seed_run(sessions, tenant, ids[key], call_id=call)

    async def act(who: tuple[str, str], method: str, path: str, body: Any = None) -> Any:
        status, answer = await api.call(method, path, as_user=who, json_body=body)
        assert status in (200, 201, 202), answer
        return answer

    maria, lee, olga = (TENANT, MARIA), (TENANT, LEE), (OTHER_TENANT, OLGA)
    view = await act(maria, "GET", f"/api/runs/{ids['m1']}")
    await act(
        maria,
        "PATCH",
        f"/api/runs/{ids['m1']}/summary",
        {"text": "Daniel wants annual pricing and a demo.", "version": view["version"]},
    )
    first, second = view["tasks"][0]["id"], view["tasks"][1]["id"]
    await act(maria, "POST", f"/api/runs/{ids['m1']}/tasks/{first}/accept", {})
    await act(maria, "POST", f"/api/runs/{ids['m1']}/tasks/{second}/reject", {})
    await act(
        maria,
        "POST",
        f"/api/runs/{ids['m1']}/feedback",
        {"target": "summary", "rating": "like", "comment": "Spot on summary"},
    )
    view = await act(lee, "GET", f"/api/runs/{ids['l1']}")
    await act(
        lee,
        "POST",
        f"/api/runs/{ids['l1']}/feedback",
        {"target": view["tasks"][0]["id"], "rating": "dislike", "comment": "=Wrong owner"},
    )
    await act(
        olga,
        "POST",
        f"/api/runs/{ids['o1']}/feedback",
        {"target": "summary", "rating": "like", "comment": "Contoso-only remark"},
    )
    return ids


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- Signing in ------------------------------------------------------------------------------


async def test_signing_in_sets_a_strict_cookie_and_signing_out_clears_it(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    async with console(tmp_path, service_database) as api, browser() as http:
        await seed_history(api)
        status, _, response = await get(api, http, "/admin")
        assert (status, response.headers["Location"]) == (303, "/admin/sign-in")
        status, form, response = await get(api, http, "/admin/sign-in")
        assert status == 200
        assert re.search(r'<input id="token" name="token" type="password"', form)
        assert "script-src" not in response.headers["Content-Security-Policy"]

        signed = await sign_in(api, http, admin_token(api, ttl=900))
        assert (signed.status, signed.headers["Location"]) == (303, "/admin")
        cookie = signed.headers["Set-Cookie"]
        assert cookie.startswith(f"{AdminCookieAuth.COOKIE}=")
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin"):
            assert attribute in cookie, cookie
        assert "Secure" not in cookie, "plain http on loopback"
        max_age = int(re.findall(r"Max-Age=(\d+)", cookie)[0])
        assert 800 < max_age <= 900, "the cookie lives as long as the token"

        status, page, response = await get(api, http, "/admin")
        assert status == 200, page
        assert MARIA in page
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"

        async with http.post(
            api.url("/admin/sign-out"), headers={"Origin": origin(api)}, allow_redirects=False
        ) as out:
            assert (out.status, out.headers["Location"]) == (303, "/admin/sign-in")
            assert "Max-Age=0" in out.headers["Set-Cookie"]
        status, _, _ = await get(api, http, "/admin")
        assert status == 303, "signed out"

        status, audit, _ = await get(api, http, "/admin/audit")
        assert status == 303
        await sign_in(api, http, admin_token(api))
        status, audit, _ = await get(api, http, "/admin/audit?action=console_signed_in")
        assert status == 200
        assert audit.count(f"<td>{ADMIN}</td>") == 2, "each sign-in is audited"


async def test_the_cookie_is_secure_behind_an_https_proxy(tmp_path: Path) -> None:
    async with (
        console(tmp_path, None, forwarded_allow_ips="127.0.0.1") as api,
        browser() as http,
        http.post(
            api.url("/admin/sign-in"),
            data={"token": admin_token(api)},
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "notes.northwind.test",
                "Origin": "https://notes.northwind.test",
            },
            allow_redirects=False,
        ) as response,
    ):
        assert response.status == 303
        assert "Secure" in response.headers["Set-Cookie"]


def _expired(api: Api) -> str:
    past = int(time.time()) - 3600
    claims = {
        "iss": "smartnotes",
        "aud": "smartnotes-admin",
        "sub": ADMIN,
        "tid": TENANT,
        "role": "admin",
        "iat": past,
        "nbf": past,
        "exp": past + 600,
    }
    return jwt.encode(claims, api.service.token_secret, algorithm="HS256")


def _not_admin(api: Api) -> str:
    now = int(time.time())
    claims = {
        "iss": "smartnotes",
        "aud": "smartnotes-admin",
        "sub": MARIA,
        "tid": TENANT,
        "role": "rep",
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, api.service.token_secret, algorithm="HS256")


CONSOLE_PAGES = ("/admin", "/admin/audit", "/admin/people", "/admin?period=month")
CONSOLE_FILES = (
    "/admin/charts/active.svg",
    "/admin/metrics.csv?kind=users",
    "/admin/metrics.csv?kind=periods",
    "/admin/audit.csv",
)


async def test_no_other_credential_opens_the_console(tmp_path: Path) -> None:
    async with console(tmp_path, None) as api:
        ids = await seed_history(api)
        secret = api.service.token_secret
        wrong = {
            "none": None,
            "a rep's API token": issue_token(secret, TENANT, MARIA),
            "a review token": issue_review_token(
                api.service.review_secret, TENANT, MARIA, ids["m1"]
            ),
            "an expired admin token": _expired(api),
            "an admin token signed with another key": issue_admin_token(b"k" * 40, TENANT, ADMIN),
            "a console token without the admin role": _not_admin(api),
            "garbage": "not-a-token",
        }
        for case, token in wrong.items():
            async with browser() as http:
                if token is not None:
                    http.cookie_jar.update_cookies(
                        {AdminCookieAuth.COOKIE: token}, response_url=api.server.make_url("/admin")
                    )
                for path in CONSOLE_PAGES:
                    status, _, response = await get(api, http, path)
                    assert (status, response.headers.get("Location")) == (
                        303,
                        "/admin/sign-in",
                    ), (case, path)
                for path in CONSOLE_FILES:
                    status, body, _ = await get(api, http, path)
                    assert status == 401, (case, path)
                    assert MARIA not in body
                for path in ("/admin/people/export", "/admin/people/erase"):
                    async with http.post(
                        api.url(path),
                        data={"email": MARIA, "confirm": MARIA},
                        headers={"Origin": origin(api)},
                        allow_redirects=False,
                    ) as response:
                        assert response.status == 303, (case, path)
                if token is not None:
                    signed = await sign_in(api, http, token)
                    assert signed.status == 401, case
                    assert "Set-Cookie" not in signed.headers, case
        # A bearer header is not how the console is opened either.
        async with browser() as http:
            headers = {"Authorization": f"Bearer {issue_token(secret, TENANT, MARIA)}"}
            async with http.get(api.url("/admin"), headers=headers, allow_redirects=False) as r:
                assert r.status == 303
        # And the admin token opens no API route.
        status, _ = await api.call(
            "GET", "/api/runs", headers={"Authorization": f"Bearer {admin_token(api)}"}
        )
        assert status == 401
        _, remaining = await api.call("GET", f"/api/runs/{ids['m1']}", as_user=(TENANT, MARIA))
        assert remaining["status"] == "needs_review", "nothing was erased or changed"


async def test_a_refused_sign_in_shows_the_form_again(tmp_path: Path) -> None:
    async with console(tmp_path, None) as api, browser() as http:
        for token in ("", "x" * 5000, _expired(api), "a.b.c"):
            async with http.post(
                api.url("/admin/sign-in"),
                data={"token": token},
                headers={"Origin": origin(api)},
                allow_redirects=False,
            ) as response:
                page = await response.text()
                assert response.status == 401
                assert response.content_type == "text/html"
                assert 'role="alert"' in page
                assert 'type="password"' in page
                assert "Set-Cookie" not in response.headers


async def test_posts_from_another_origin_are_refused(tmp_path: Path) -> None:
    async with console(tmp_path, None) as api, browser() as http:
        await seed_history(api)
        for headers in ({}, {"Origin": "https://evil.test"}, {"Origin": "null"}):
            async with http.post(
                api.url("/admin/sign-in"),
                data={"token": admin_token(api)},
                headers=headers,
                allow_redirects=False,
            ) as response:
                assert response.status == 403, headers
                assert "Set-Cookie" not in response.headers
        await sign_in(api, http, admin_token(api))
        for path in ("/admin/sign-out", "/admin/people/erase"):
            async with http.post(
                api.url(path),
                data={"email": MARIA, "confirm": MARIA},
                headers={"Origin": "https://evil.test"},
                allow_redirects=False,
            ) as response:
                assert response.status == 403, path
        status, _, _ = await get(api, http, "/admin")
        assert status == 200, "still signed in: the foreign sign-out did nothing"
        _, view = await api.call("GET", "/api/runs", as_user=(TENANT, MARIA))
        assert len(view["runs"]) == 2, "nothing was erased"


async def test_the_cli_prints_a_console_token(tmp_path: Path) -> None:
    env = clean_env(SMARTNOTES_DATA_DIR=str(tmp_path), COLUMNS="400")
    code, out, err = await smartnotes(env, "admin", "console-token", TENANT, ADMIN, "--ttl", "600")
    assert code == 0, err
    secret = (tmp_path / "api-token.key").read_text().strip().encode()
    from smartnotes.auth import verify_admin_token

    identity, expires = verify_admin_token(secret, out.strip())
    assert (identity.tenant_id, identity.email, identity.role) == (TENANT, ADMIN, "admin")
    assert expires - time.time() <= 600
    code, _, err = await smartnotes(env, "admin", "console-token", TENANT, ADMIN, "--ttl", "99999")
    assert code == 2
    assert "--ttl must be between 1 and 28800 seconds" in err


# --- The overview ----------------------------------------------------------------------------


async def test_the_overview_shows_the_admins_tenant_only(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    async with console(tmp_path, service_database) as api, browser() as http:
        await seed_history(api)
        await sign_in(api, http, admin_token(api))
        status, page, _ = await get(api, http, "/admin")
        assert status == 200, page
        for email in (MARIA, LEE, PRIYA, SHARED):
            assert email in page
        assert "Jo North" in page
        for foreign in (OLGA, "Olga Berg", "Jo South", "Contoso-only remark"):
            assert foreign not in page
        assert "Spot on summary" in page
        assert "=Wrong owner" in page
        for name in ("active", "adoption", "feedback", "edits", "seats"):
            assert f'src="/admin/charts/{name}.svg?period=week"' in page

        # The other tenant's admin sees theirs, and nothing of northwind.
        async with browser() as theirs:
            await sign_in(api, theirs, admin_token(api, OTHER_TENANT, "boss@contoso.test"))
            status, other, _ = await get(api, theirs, "/admin")
            assert status == 200
            assert OLGA in other
            assert "Contoso-only remark" in other
            for foreign in (MARIA, LEE, "Spot on summary", "Jo North"):
                assert foreign not in other
            status, text, _ = await get(api, theirs, "/admin/metrics.csv?kind=users")
            assert {row["email"] for row in rows_of(text)} == {OLGA, SHARED}

        status, page, _ = await get(api, http, "/admin?cohort=deal-closer&period=month")
        assert status == 200
        assert MARIA in page
        assert LEE in page
        assert PRIYA not in page
        assert '<option value="relationship-builder">' in page, "other cohorts stay choosable"


async def test_the_exports(tmp_path: Path, service_database: SecretStr | None) -> None:
    async with console(tmp_path, service_database) as api, browser() as http:
        await seed_history(api)
        await sign_in(api, http, admin_token(api))
        status, text, response = await get(api, http, "/admin/metrics.csv?kind=users")
        assert status == 200
        assert response.content_type == "text/csv"
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="smartnotes-users-week.csv"'
        )
        users = {row["email"]: row for row in rows_of(text)}
        assert set(users) == {MARIA, LEE, PRIYA, SHARED}
        assert text.splitlines()[0] == (
            "email,name,cohort,seat,enabled,active,calls,days_with_calls,review_days,"
            "notes_edited,tasks_generated,tasks_accepted,tasks_rejected,tasks_edited,likes,dislikes"
        )
        maria = users[MARIA]
        assert (maria["cohort"], maria["calls"], maria["notes_edited"]) == ("deal-closer", "2", "1")
        assert (maria["tasks_generated"], maria["tasks_accepted"], maria["tasks_rejected"]) == (
            "4",
            "1",
            "1",
        )
        assert (maria["likes"], users[LEE]["dislikes"]) == ("1", "1")

        status, text, response = await get(
            api, http, "/admin/metrics.csv?kind=periods&period=month&cohort=deal-closer"
        )
        assert status == 200
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="smartnotes-periods-month-deal-closer.csv"'
        )
        periods = rows_of(text)
        assert list(periods[0])[:6] == [
            "start",
            "end",
            "cohort",
            "seats",
            "active_users",
            "adoption_rate",
        ]
        assert "feedback_summary_like" in periods[0]
        assert len(periods) == 6 * 2, "six months, for all reps of the cohort and the cohort"
        current = [row for row in periods if row["cohort"] == "deal-closer"][-1]
        assert (current["seats"], current["calls"], current["feedback_summary_like"]) == (
            "2",
            "3",
            "1",
        )
        assert current["feedback_tasks_dislike"] == "1"

        for name in ("active", "adoption", "feedback", "edits", "seats"):
            status, svg, response = await get(api, http, f"/admin/charts/{name}.svg?period=month")
            assert status == 200, svg
            assert response.content_type == "image/svg+xml"
            policy = response.headers["Content-Security-Policy"]
            assert policy.startswith("default-src 'none'; style-src 'unsafe-inline'")
            root = ElementTree.fromstring(svg.encode())  # noqa: S314 - the service's own SVG
            assert not [e for e in root.iter() if e.tag.endswith("script")]


async def test_a_formula_in_a_comment_is_not_a_formula_in_the_csv(tmp_path: Path) -> None:
    async with console(tmp_path, None) as api, browser() as http:
        await seed_history(api)
        async with api.service.sessions() as session, session.begin():
            await directory.add_seat(
                session, TENANT, "eve@northwind.test", by="test", display_name="=HYPERLINK(1)"
            )
        await sign_in(api, http, admin_token(api))
        _, text, _ = await get(api, http, "/admin/metrics.csv?kind=users")
        names = [row["name"] for row in rows_of(text)]
        assert "'=HYPERLINK(1)" in names


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin?period=year", 400),
        ("/admin?cohort=%3Cscript%3E", 400),
        ("/admin?cohort=nobody-here", 400),
        ("/admin/charts/active.svg?period=day", 400),
        ("/admin/charts/pie.svg", 404),
        ("/admin/metrics.csv", 400),
        ("/admin/metrics.csv?kind=everything", 400),
        ("/admin/metrics.csv?kind=users&cohort=nobody-here", 400),
        ("/admin/audit?run=xyz", 400),
        ("/admin/audit?from=yesterday", 400),
        ("/admin/audit?from=2026-11-30&to=2026-11-01", 400),
        ("/admin/audit?after=abc", 400),
        ("/admin/audit?action=DROP%20TABLE", 400),
        ("/admin/audit.csv?to=never", 400),
    ],
)
async def test_bad_filter_values_are_a_400(tmp_path: Path, path: str, status: int) -> None:
    async with console(tmp_path, None) as api, browser() as http:
        await seed_history(api)
        await sign_in(api, http, admin_token(api))
        got, body, response = await get(api, http, path)
        assert got == status, body
        if response.content_type == "text/html":
            assert 'role="alert"' in body
            assert "<script>" not in body


# --- The audit view --------------------------------------------------------------------------


async def test_the_audit_view_shows_the_tenants_entries_only(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    async with console(tmp_path, service_database) as api, browser() as http:
        ids = await seed_history(api)
        async with api.service.sessions() as session, session.begin():
            session.add_all(
                [
                    # Written before directory entries named their tenant.
                    AuditEntry(actor="cli:old", action="user_off", detail={"user": PRIYA}),
                    AuditEntry(actor="cli:old", action="user_off", detail={"user": SHARED}),
                    AuditEntry(actor="system", action="retention_purge", detail={"runs": 0}),
                    AuditEntry(actor="cli:ops", action="tenant_off", detail={"tenant": TENANT}),
                    AuditEntry(
                        actor="cli:ops", action="tenant_off", detail={"tenant": OTHER_TENANT}
                    ),
                ]
            )
        await sign_in(api, http, admin_token(api))
        status, page, _ = await get(api, http, "/admin/audit")
        assert status == 200
        assert ids["m1"] in page
        assert ids["l1"] in page
        assert ids["o1"] not in page
        assert OLGA not in page
        assert "retention_purge" not in page
        assert page.count("<td>tenant_off</td>") == 1
        assert "contoso" not in page.replace(f"{ADMIN}", "")
        # Entries from before directory entries named their tenant: one about a northwind-only
        # user is northwind's; one about an address with a user in both tenants is no one's.
        assert page.count("<td>cli:old</td>") == 1
        assert "<td>cli:old</td>\n      <td>user_off</td>\n      <td></td>" in page
        assert "summary_edited" in page
        assert "task_rejected" in page

        async with browser() as theirs:
            await sign_in(api, theirs, admin_token(api, OTHER_TENANT, "boss@contoso.test"))
            _, other, _ = await get(api, theirs, "/admin/audit")
            assert ids["o1"] in other
            for foreign in (ids["m1"], ids["l1"], MARIA, PRIYA):
                assert foreign not in other
            _, text, _ = await get(api, theirs, f"/admin/audit.csv?run={ids['m1']}")
            assert rows_of(text) == [], "another tenant's run id finds nothing"


async def test_audit_filters_pages_and_export(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    async with console(tmp_path, service_database) as api, browser() as http:
        ids = await seed_history(api)
        old = utcnow() - timedelta(days=40)
        async with api.service.sessions() as session, session.begin():
            session.add_all(
                AuditEntry(
                    actor="system",
                    run_id=ids["p1"],
                    action="run_ready",
                    at=old + timedelta(minutes=n),
                    detail={"n": n},
                )
                for n in range(60)
            )
        await sign_in(api, http, admin_token(api))

        _, text, _ = await get(api, http, f"/admin/audit.csv?actor={MARIA}")
        rows = rows_of(text)
        assert list(rows[0]) == ["at", "actor", "action", "run_id", "detail"]
        assert {row["actor"] for row in rows} == {MARIA}
        assert sorted(row["action"] for row in rows) == [
            "feedback",
            "summary_edited",
            "task_accepted",
            "task_rejected",
        ]
        assert [row["at"] for row in rows] == sorted((row["at"] for row in rows), reverse=True)

        _, text, _ = await get(api, http, "/admin/audit.csv?action=task_rejected")
        assert [(r["actor"], r["run_id"]) for r in rows_of(text)] == [(MARIA, ids["m1"])]
        detail = json.loads(rows_of(text)[0]["detail"])
        assert isinstance(detail, dict)

        day = old.date()
        _, text, _ = await get(
            api, http, f"/admin/audit.csv?run={ids['p1']}&from={day}&to={day + timedelta(days=1)}"
        )
        assert len(rows_of(text)) == 60
        _, text, _ = await get(api, http, f"/admin/audit.csv?to={day - timedelta(days=1)}")
        assert rows_of(text) == []

        # Paged: 50 a page, newest first, the next page starting where the last one ended.
        _, first, _ = await get(api, http, f"/admin/audit?run={ids['p1']}&action=run_ready")
        assert first.count('"n": ') + first.count("&#34;n&#34;: ") == 50
        older = re.search(r'href="(/admin/audit\?[^"]+)" rel="next"', first)
        assert older is not None
        _, second, _ = await get(api, http, older.group(1).replace("&amp;", "&"))
        shown = re.findall(r"&#34;n&#34;: (\d+)", first)
        rest = re.findall(r"&#34;n&#34;: (\d+)", second)
        assert [int(n) for n in shown + rest] == list(range(59, -1, -1))
        assert 'rel="next"' not in second
        assert "Newest entries" in second

        _, text, response = await get(api, http, "/admin/audit.csv")
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="smartnotes-audit.csv"'
        )
        everything = rows_of(text)
        assert len(everything) > 60
        assert not [r for r in everything if r["run_id"] == ids["o1"]]


# --- People ----------------------------------------------------------------------------------


async def test_export_and_erase_a_person_of_the_tenant(tmp_path: Path) -> None:
    async with console(tmp_path, None) as api, browser() as http:
        ids = await seed_history(api)
        await sign_in(api, http, admin_token(api))
        status, page, _ = await get(api, http, "/admin")
        assert LEE in page

        async def post(path: str, **form: str) -> tuple[int, str, aiohttp.ClientResponse]:
            async with http.post(
                api.url(path), data=form, headers={"Origin": origin(api)}, allow_redirects=False
            ) as response:
                return response.status, await response.text(), response

        status, body, response = await post("/admin/people/export", email=LEE)
        assert status == 200
        assert (
            response.headers["Content-Disposition"]
            == 'attachment; filename="lee_northwind.test.json"'
        )
        document = json.loads(body)
        assert document["email"] == LEE
        assert [run["run_id"] for run in document["runs"]] == [ids["l1"]]

        status, page, _ = await post("/admin/people/export", email=OLGA)
        assert status == 404, "another tenant's person"
        assert "not a user of this tenant" in page
        status, page, _ = await post("/admin/people/erase", email=SHARED, confirm=SHARED)
        assert status == 409, "a person of two tenants is the operator's"
        status, page, _ = await post("/admin/people/erase", email=LEE, confirm="lee@x.test")
        assert status == 400
        assert "Type the person" in page

        status, page, _ = await post("/admin/people/erase", email=LEE, confirm=LEE.upper())
        assert status == 200, page
        assert "Erased as erased-" in page
        assert await Privacy(api.service.sessions).export(LEE) is None, "Lee is gone"
        _, text, _ = await get(api, http, "/admin/audit.csv?action=console_person_erased")
        assert [row["actor"] for row in rows_of(text)] == [ADMIN]
        _, text, _ = await get(api, http, "/admin/metrics.csv?kind=users")
        assert LEE not in text, "the overview computed before the erasure is not reused"
