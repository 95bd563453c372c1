"""``smartnotes admin`` and ``smartnotes crm`` as an admin runs them, on the embedded database."""

from __future__ import annotations

import json
from pathlib import Path

from smartnotes import directory
from smartnotes.storage.database import database_url, sessions
from smartnotes.storage.models import Run, RunStatus, Tenant
from smartnotes.storage.open import open_database
from tests.commands import clean_env, smartnotes
from tests.seed import SUMMARY, TASKS, seed_run, seed_user


async def _run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = clean_env(SMARTNOTES_DATA_DIR=str(data_dir), COLUMNS="200")
    return await smartnotes(env, *args)


async def test_seats_switches_and_the_embedded_crm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = await _run(
        data, "admin", "seat", "add", "contoso", "Maria@Northwind.test", "--name", "Maria Chen"
    )
    assert code == 0, err
    assert await _run(
        data, "admin", "user", "confidential", "contoso", "maria@northwind.test", "on"
    ) == (0, "", "Confidential by default is on for maria@northwind.test.\n")
    code, out, _ = await _run(data, "admin", "seat", "list", "contoso")
    assert "maria@northwind.test" in out
    assert "Maria Chen" in out
    assert "│ on " in out
    assert "│ yes " in out

    code, _, err = await _run(data, "admin", "user", "switch", "contoso", "who@x.test", "off")
    assert (code, err.strip()) == (2, "error: no user who@x.test in tenant contoso")
    code, _, err = await _run(data, "admin", "tenant", "switch", "contoso", "maybe")
    assert code == 2
    assert "say 'on' or 'off'" in err

    code, out, _ = await _run(
        data,
        "crm",
        "add-customer",
        "Contoso",
        "--email",
        "daniel@contoso.test",
        "--email",
        "priya@contoso.test",
    )
    assert code == 0
    customer_id = out.strip()
    code, out, _ = await _run(data, "crm", "customers")
    assert customer_id in out
    assert "daniel@contoso.test, priya@contoso.test" in out
    code, _, err = await _run(
        data, "crm", "add-customer", "Other", "--email", "daniel@contoso.test"
    )
    assert code == 2
    assert "already belongs to another customer" in err


async def test_admin_finds_runs_by_rep_and_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = database_url(None, data)
    async with open_database(url) as engine:
        factory = sessions(engine)
        maria = await seed_user(factory, "contoso", "maria@northwind.test")
        john = await seed_user(factory, "contoso", "john@northwind.test")
        ready = await seed_run(factory, "contoso", maria, call_id="a", customer=("c1", "Contoso"))
        failed = await seed_run(factory, "contoso", john, call_id="b", status=RunStatus.FAILED)
        async with factory() as session, session.begin():
            run = await session.get(Run, failed)
            assert run is not None
            run.failed_step, run.error = "analyzing", "the extractor gave up"

    code, out, err = await _run(data, "admin", "runs", "--json")
    assert code == 0, err
    listed = {row["id"]: row for row in json.loads(out)}
    assert set(listed) == {ready, failed}
    assert listed[ready]["owner"] == "maria@northwind.test"
    assert (listed[ready]["customer"], listed[ready]["tasks"]) == ("Contoso", len(TASKS))
    assert listed[failed]["problem"] == "analyzing: the extractor gave up"

    code, out, _ = await _run(data, "admin", "runs", "--state", "failed", "--json")
    assert [row["id"] for row in json.loads(out)] == [failed]
    code, out, _ = await _run(data, "admin", "runs", "--user", "Maria@Northwind.test")
    assert code == 0
    assert ready in out
    assert failed not in out
    # What the rep wrote stays out of an admin's listing.
    assert SUMMARY not in out

    code, _, err = await _run(data, "admin", "runs", "--state", "lost")
    assert code == 2
    assert "--state must be one of" in err


async def test_save_modes_for_a_tenant_and_a_rep(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = await _run(data, "admin", "seat", "add", "contoso", "maria@northwind.test")
    assert code == 0, err
    code, _, err = await _run(
        data, "admin", "tenant", "save-mode", "contoso", "auto", "--after-hours", "8"
    )
    assert (code, err.strip()) == (0, "Save mode for tenant contoso: auto.")
    code, _, err = await _run(
        data, "admin", "user", "save-mode", "contoso", "maria@northwind.test", "review"
    )
    assert code == 0, err
    async with open_database(database_url(None, data)) as engine, sessions(engine)() as session:
        tenant = await session.get(Tenant, "contoso")
        user = await directory.find_user(session, "contoso", "maria@northwind.test")
        assert tenant is not None
        assert user is not None
        assert (tenant.save_mode, tenant.auto_save_after_hours, user.save_mode) == (
            "auto",
            8.0,
            "review",
        )

    code, _, err = await _run(data, "admin", "tenant", "save-mode", "contoso", "sometimes")
    assert code == 2
    assert "say 'review', 'auto' or 'default'" in err
    code, _, err = await _run(
        data, "admin", "tenant", "save-mode", "contoso", "auto", "--after-hours", "0"
    )
    assert (code, err.strip()) == (2, "error: auto-save hours must be more than 0 and at most 720")


async def test_time_zones_for_a_tenant_and_a_rep(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = await _run(data, "admin", "seat", "add", "contoso", "maria@northwind.test")
    assert code == 0, err
    code, _, err = await _run(data, "admin", "tenant", "timezone", "contoso", "Europe/Berlin")
    assert (code, err.strip()) == (0, "Time zone for tenant contoso: Europe/Berlin.")
    code, _, err = await _run(
        data, "admin", "user", "timezone", "contoso", "maria@northwind.test", "Asia/Tokyo"
    )
    assert code == 0, err
    async with open_database(database_url(None, data)) as engine, sessions(engine)() as session:
        tenant = await session.get(Tenant, "contoso")
        user = await directory.find_user(session, "contoso", "maria@northwind.test")
        assert tenant is not None
        assert user is not None
        assert (tenant.default_timezone, user.timezone) == ("Europe/Berlin", "Asia/Tokyo")

    code, _, err = await _run(data, "admin", "tenant", "timezone", "contoso", "Central Time")
    assert code == 2
    assert "unknown time zone 'Central Time'" in err
    code, _, err = await _run(
        data, "admin", "user", "timezone", "contoso", "maria@northwind.test", "auto"
    )
    assert code == 0, err
    async with open_database(database_url(None, data)) as engine, sessions(engine)() as session:
        user = await directory.find_user(session, "contoso", "maria@northwind.test")
        assert user is not None
        assert user.timezone is None


async def test_seats_get_cohorts_one_by_one_or_from_a_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = await _run(
        data, "admin", "seat", "add", "contoso", "john@northwind.test", "--cohort", "Deal-Closer"
    )
    assert code == 0, err
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Email,Name,Cohort\n"
        "laura@northwind.test,Laura Ortiz,relationship-builder\n"
        "iris@northwind.test,Iris Berg,all-rounder\n"
        "sam@northwind.test,Sam Lee,\n",
        encoding="utf-8",
    )
    code, _, err = await _run(data, "admin", "seat", "import", "contoso", str(roster))
    assert code == 0, err
    assert "3 seat(s)" in err
    code, out, _ = await _run(data, "admin", "seat", "list", "contoso")
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "@" in line}
    assert "deal-closer" in lines["john@northwind.test"]
    assert "relationship-builder" in lines["laura@northwind.test"]
    assert "Iris Berg" in lines["iris@northwind.test"]
    assert "all-rounder" in lines["iris@northwind.test"]

    code, _, err = await _run(
        data, "admin", "seat", "cohort", "contoso", "sam@northwind.test", "all-rounder"
    )
    assert code == 0, err
    code, _, err = await _run(data, "admin", "seat", "cohort", "contoso", "who@x.test", "x")
    assert (code, err.strip()) == (2, "error: no seat for who@x.test in tenant contoso")

    # A bad line names itself, and nothing of the file is written.
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,name,cohort\nnew@northwind.test,New Rep,deal-closer\nnobody,No Mail,x\n",
        encoding="utf-8",
    )
    code, _, err = await _run(data, "admin", "seat", "import", "contoso", str(bad))
    assert code == 2
    assert "line 3: no e-mail address" in err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "email,name,cohort\nnew@northwind.test,New Rep,deal-closer\nx@northwind.test,X,!!\n",
        encoding="utf-8",
    )
    code, _, err = await _run(data, "admin", "seat", "import", "contoso", str(wrong))
    assert code == 2
    assert "line 3: cohort '!!'" in err
    code, out, _ = await _run(data, "admin", "seat", "list", "contoso")
    assert "new@northwind.test" not in out
