"""A tenant's consent to AI processing: recorded by the admin who switches the add-on on,
enforced by the gate for every call (on SQLite and PostgreSQL), shown and withdrawn by the
admin, and named on the terms page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select

from smartnotes.settings import Settings
from smartnotes.storage.database import database_url, sessions
from smartnotes.storage.models import AuditEntry, Consent, Run, Tenant
from smartnotes.storage.open import open_database
from tests.api_client import Api, running_api
from tests.commands import clean_env, smartnotes
from tests.integration.test_calls_webhook import TENANT, call_body, encode, post, settings
from tests.seed import TERMS, seed_consent, seed_user

REP = "maria@northwind.test"
ADA = "Ada Lovelace <Ada@Northwind.test>"
NOT_AGREED = f"the tenant has not agreed to AI processing (terms {TERMS})"


@pytest_asyncio.fixture
async def api(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Api]:
    configured = settings(tmp_path).model_copy(update={"database_url": service_database})
    async with running_api(configured, process=False) as started:
        yield started


def _env(api: Api) -> dict[str, str]:
    """The admin's command line, on the service's own database."""
    settings = api.service.settings
    env = clean_env(SMARTNOTES_DATA_DIR=str(settings.data_dir), COLUMNS="200")
    if settings.database_url is not None:
        env["SMARTNOTES_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


async def _runs(api: Api) -> int:
    async with api.service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Run)) or 0)


def _kept_files(api: Api) -> list[Path]:
    folder = api.service.settings.data_dir / "transcripts"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


async def test_without_consent_to_the_terms_in_force_no_call_is_processed(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_user(api.service.sessions, TENANT, REP, "Maria Chen", consent=False)
    # Agreement to terms that are no longer in force does not count.
    await seed_consent(api.service.sessions, TENANT, by=ADA, terms_version="2025-06-01")
    env = _env(api)

    with caplog.at_level(logging.WARNING, logger="smartnotes.runs.gate"):
        status, answer = await post(api, encode(call_body("call-1")))
        assert (status, answer) == (200, {"run_id": None, "created": False, "skipped": NOT_AGREED})
        status, answer = await post(api, encode(call_body("call-2")))
        assert (status, answer["skipped"]) == (200, NOT_AGREED)
    assert await _runs(api) == 0
    assert await asyncio.to_thread(_kept_files, api) == [], "no transcript is kept"
    async with api.service.sessions() as session:
        skipped = list(
            (
                await session.execute(select(AuditEntry).where(AuditEntry.action == "call_skipped"))
            ).scalars()
        )
    assert [(e.detail["reason"], e.detail["skip"], e.run_id) for e in skipped] == [
        (NOT_AGREED, "no_consent", None)
    ] * 2
    # The admin is told: a warning naming the fix, once for the tenant, not once per call.
    warnings = [r.getMessage() for r in caplog.records if r.name == "smartnotes.runs.gate"]
    assert len(warnings) == 1, warnings
    assert f"smartnotes admin tenant on {TENANT} --accept-terms" in warnings[0]
    assert TERMS in warnings[0]
    registry = api.service.metrics.registry if api.service.metrics else None
    assert registry is not None
    assert registry.get_sample_value(
        "smartnotes_calls_skipped_total", {"reason": "no_consent"}
    ) == (2.0)

    code, out, err = await smartnotes(env, "admin", "tenant", "consent", TENANT)
    assert code == 0, err
    assert "consent: terms 2025-06-01, given by Ada Lovelace <ada@northwind.test>" in out
    assert "covers the terms in force: no" in out

    code, _, err = await smartnotes(
        env, "admin", "tenant", "on", TENANT, "--accept-terms", "--by", ADA
    )
    assert code == 0, err
    status, answer = await post(api, encode(call_body("call-1")))
    assert status == 202, answer
    assert answer["created"] is True
    assert await _runs(api) == 1
    assert len(await asyncio.to_thread(_kept_files, api)) == 1

    code, _, err = await smartnotes(
        env, "admin", "tenant", "consent", TENANT, "--withdraw", "--by", ADA
    )
    assert code == 0, err
    status, answer = await post(api, encode(call_body("call-3")))
    assert (status, answer["skipped"]) == (200, NOT_AGREED)
    assert await _runs(api) == 1

    code, out, err = await smartnotes(env, "admin", "tenant", "consent", TENANT)
    assert code == 0, err
    assert f"consent: terms {TERMS}, given by Ada Lovelace <ada@northwind.test>" in out
    assert "withdrawn by Ada Lovelace <ada@northwind.test>" in out
    assert "covers the terms in force: no" in out
    # call-2 came before the consent, call-3 after it.
    assert out.rstrip().endswith(": 1"), out


async def _admin(data: Path, *args: str) -> tuple[int, str, str]:
    return await smartnotes(clean_env(SMARTNOTES_DATA_DIR=str(data), COLUMNS="200"), *args)


async def _consents(data: Path) -> list[tuple[str, str, str, bool]]:
    async with open_database(database_url(None, data)) as engine, sessions(engine)() as session:
        rows = (await session.execute(select(Consent).order_by(Consent.id))).scalars()
        return [(c.tenant_id, c.terms_version, c.accepted_by, c.withdrawn_at is None) for c in rows]


async def test_switching_a_tenant_on_records_who_agreed_to_which_terms(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = await _admin(data, "admin", "seat", "add", "contoso", REP)
    assert code == 0, err
    # Seats may come first: the admin is told, in one line, what the tenant still needs.
    [added, hint] = err.strip().splitlines()
    assert added == f"Seat added for {REP} in contoso."
    assert "has not agreed to AI processing" in hint
    assert "smartnotes admin tenant on contoso --accept-terms" in hint

    for refused in (["on", "contoso"], ["switch", "contoso", "on"]):
        code, _, err = await _admin(data, "admin", "tenant", *refused)
        assert code == 2, refused
        assert TERMS in err
        assert "/terms" in err
        assert "--accept-terms" in err
    code, _, err = await _admin(data, "admin", "tenant", "on", "contoso", "--accept-terms")
    assert (code, "--by" in err) == (2, True)
    code, _, err = await _admin(
        data, "admin", "tenant", "on", "contoso", "--accept-terms", "--by", "Ada Lovelace"
    )
    assert (code, "Name <email>" in err) == (2, True)
    assert await _consents(data) == [], "nothing is recorded by a refused command"

    code, _, err = await _admin(
        data, "admin", "tenant", "on", "contoso", "--accept-terms", "--by", ADA
    )
    assert code == 0, err
    assert "Consent recorded: Ada Lovelace <ada@northwind.test> agreed for tenant contoso" in err
    assert TERMS in err
    assert "Smart Notes is on for tenant contoso." in err
    # Again, by someone else: the first agreement stays the record.
    code, _, err = await _admin(
        data, "admin", "tenant", "on", "contoso", "--accept-terms", "--by", "bob@northwind.test"
    )
    assert code == 0, err
    assert "Consent on record: Ada Lovelace <ada@northwind.test>" in err
    code, _, err = await _admin(data, "admin", "tenant", "on", "contoso")
    assert code == 0, err
    assert await _consents(data) == [("contoso", TERMS, "Ada Lovelace <ada@northwind.test>", True)]

    code, out, err = await _admin(data, "admin", "tenant", "consent", "contoso")
    assert code == 0, err
    assert f"consent: terms {TERMS}, given by Ada Lovelace <ada@northwind.test> on 20" in out
    assert "covers the terms in force: yes" in out
    assert "calls not processed for want of consent since 20" in out
    code, _, err = await _admin(data, "admin", "seat", "add", "contoso", "john@northwind.test")
    assert (code, err.strip()) == (0, "Seat added for john@northwind.test in contoso.")

    async with open_database(database_url(None, data)) as engine, sessions(engine)() as session:
        given = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "consent_given"))
        ).scalar_one()
        tenant = await session.get(Tenant, "contoso")
    assert given.detail == {
        "tenant": "contoso",
        "by": "Ada Lovelace <ada@northwind.test>",
        "terms_version": TERMS,
    }
    assert given.actor.startswith("cli")
    assert tenant is not None
    assert tenant.enabled

    code, _, err = await _admin(data, "admin", "tenant", "consent", "contoso", "--withdraw")
    assert code == 2
    code, _, err = await _admin(
        data, "admin", "tenant", "consent", "contoso", "--withdraw", "--by", ADA
    )
    assert code == 0, err
    assert "withdrawn for tenant contoso" in err
    assert await _consents(data) == [("contoso", TERMS, "Ada Lovelace <ada@northwind.test>", False)]
    code, _, err = await _admin(
        data, "admin", "tenant", "consent", "contoso", "--withdraw", "--by", ADA
    )
    assert (code, "no consent to withdraw" in err) == (2, True)
    code, _, err = await _admin(data, "admin", "tenant", "on", "contoso")
    assert code == 2, "a withdrawn consent no longer switches the tenant on"


async def test_the_terms_page_names_the_version_in_force(tmp_path: Path) -> None:
    configured = Settings(data_dir=tmp_path, terms_version="2027-01-15")
    async with (
        running_api(configured, process=False, queues=()) as api,
        api.http.get(api.url("/terms")) as response,
    ):
        assert response.status == 200
        page = await response.text()
    assert "Version 2027-01-15" in page
