"""The usage report per seat and month on both databases: the function the admin console
calls, ``smartnotes admin usage`` in its three formats, the export and erasure of a person's
usage, and the retention of usage records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select

from pipeline.events import utcnow
from smartnotes import directory
from smartnotes.privacy import Privacy
from smartnotes.runs.retention import Retention
from smartnotes.settings import PriceSettings, RetentionSettings, Settings
from smartnotes.storage.models import UsageRecord
from smartnotes.usage.report import SeatUsage, Totals, UsageError, monthly
from tests.api_client import Api, running_api
from tests.commands import clean_env, smartnotes
from tests.seed import seed_user

TENANT, OTHER_TENANT = "acme", "globex"
ANN, BOB, CID = "ann@acme.test", "bob@acme.test", "cid@acme.test"
PRICES = PriceSettings(audio_per_minute=0.01, local_model_per_hour=1.0)
PRICE_ENV = {
    "SMARTNOTES_USAGE__PRICES__AUDIO_PER_MINUTE": "0.01",
    "SMARTNOTES_USAGE__PRICES__LOCAL_MODEL_PER_HOUR": "1.0",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    api: Api
    env: dict[str, str]
    users: dict[str, str]


@pytest_asyncio.fixture
async def world(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path, database_url=service_database)
    env = clean_env(SMARTNOTES_DATA_DIR=str(tmp_path), **PRICE_ENV)
    if service_database is not None:
        env["SMARTNOTES_DATABASE_URL"] = service_database.get_secret_value()
    async with running_api(settings, process=False) as api:
        sessions = api.service.sessions
        users = {
            ANN: await seed_user(sessions, TENANT, ANN, "Ann Lee"),
            BOB: await seed_user(sessions, TENANT, BOB, "Bob Ray"),
            CID: await seed_user(sessions, TENANT, CID, "Cid Moe"),
            "other": await seed_user(sessions, OTHER_TENANT, "zed@globex.test"),
        }
        async with sessions() as session, session.begin():
            await directory.set_cohort(session, TENANT, ANN, "deal-closer", by="test")
            # Cid's seat went mid-month: what he used stays on the bill.
            await directory.remove_seat(session, TENANT, CID, by="test")
            for tenant, user, run, when, calls, audio, tokens_in, tokens_out, local, limited in (
                (TENANT, ANN, "run-1", "2026-11-03T10:00", 1, 120.0, 10_000, 2_000, 30.0, None),
                (TENANT, ANN, "run-1", "2026-11-03T11:00", 0, 0.0, 5_000, 1_000, 0.0, None),
                (TENANT, ANN, "run-3", "2026-11-30T23:59:59", 1, 0.0, 0, 0, 45.0, "calls_per_day"),
                (TENANT, ANN, "run-4", "2026-12-01T00:00", 1, 0.0, 99_999, 0, 0.0, None),
                (TENANT, ANN, "run-5", "2026-10-31T23:59:59", 1, 0.0, 99_999, 0, 0.0, None),
                (TENANT, CID, "run-6", "2026-11-15T12:00", 1, 0.0, 1_000_000, 0, 0.0, None),
                (OTHER_TENANT, "other", "run-7", "2026-11-10T09:00", 1, 0.0, 777, 0, 0.0, None),
            ):
                session.add(
                    UsageRecord(
                        tenant_id=tenant,
                        user_id=users[user],
                        run_id=run,
                        at=at(when),
                        calls=calls,
                        audio_seconds=audio,
                        claude_input_tokens=tokens_in,
                        claude_output_tokens=tokens_out,
                        local_model_seconds=local,
                        extractor="local" if limited else "claude",
                        limited_by=limited,
                    )
                )
        yield World(api, env, users)


# Worked out by hand from the records above, at 3 and 15 per million tokens, 0.01 per minute
# of audio and 1.0 per hour of the local model.
ANN_NOVEMBER = Totals(
    calls=2,
    audio_seconds=120.0,
    claude_input_tokens=15_000,
    claude_output_tokens=3_000,
    local_model_seconds=75.0,
    calls_limited=1,
)
ANN_COST = 0.045 + 0.045 + 0.02 + 75 / 3600  # 0.1308333...
CID_NOVEMBER = Totals(calls=1, claude_input_tokens=1_000_000)


async def test_the_month_per_seat_with_zeros_and_the_tenants_total(world: World) -> None:
    async with world.api.service.sessions() as session:
        report = await monthly(session, TENANT, "2026-11", PRICES)
        with pytest.raises(UsageError, match="no tenant"):
            await monthly(session, "initech", "2026-11", PRICES)
        with pytest.raises(UsageError, match="YYYY-MM"):
            await monthly(session, TENANT, "2026-13", PRICES)
        december = await monthly(session, TENANT, "2026-12", PRICES)
    assert report.seats == [
        SeatUsage(ANN, "Ann Lee", "deal-closer", True, ANN_NOVEMBER),
        SeatUsage(BOB, "Bob Ray", None, True, Totals()),
        SeatUsage(CID, "Cid Moe", None, False, CID_NOVEMBER),
    ]
    assert report.total == ANN_NOVEMBER + CID_NOVEMBER
    assert report.seats[0].usage.cost(PRICES) == pytest.approx(ANN_COST)
    assert report.total.cost(PRICES) == pytest.approx(3.0 + ANN_COST)
    # Cid used nothing in December and has no seat: he is not listed then.
    assert [(s.email, s.usage.calls) for s in december.seats] == [(ANN, 1), (BOB, 0)]


async def test_admin_usage_as_a_table_csv_and_json(world: World, tmp_path: Path) -> None:
    # A terminal as wide as the table (rich reads COLUMNS when the output is not one).
    wide = {**world.env, "COLUMNS": "160"}
    code, out, err = await smartnotes(wide, "admin", "usage", TENANT, "--month", "2026-11")
    assert code == 0, err
    assert "Usage of acme in 2026-11" in out
    for line, figures in (
        (ANN, ["2", "2.0", "15,000", "3,000", "75.0", "1", "0.13"]),
        (BOB, ["0", "0.0", "0", "0", "0.0", "0", "0.00"]),
        ("total", ["3", "2.0", "1,015,000", "3,000", "75.0", "1", "3.13"]),
    ):
        row = next(r for r in out.splitlines() if line in r)
        assert [cell.strip() for cell in row.strip("│ ").split("│")][-7:] == figures

    code, out, err = await smartnotes(
        world.env, "admin", "usage", TENANT, "--month", "2026-11", "--format", "csv"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["email"] for r in rows] == [ANN, BOB, CID]
    assert rows[0] == {
        "tenant": TENANT,
        "month": "2026-11",
        "email": ANN,
        "name": "Ann Lee",
        "cohort": "deal-closer",
        "seated": "yes",
        "calls": "2",
        "audio_minutes": "2.0",
        "claude_input_tokens": "15000",
        "claude_output_tokens": "3000",
        "local_model_seconds": "75.0",
        "calls_limited": "1",
        "estimated_cost": str(round(ANN_COST, 4)),
        "currency": "USD",
    }
    assert rows[2]["seated"] == "no"

    target = tmp_path / "november.json"
    code, _, err = await smartnotes(
        world.env, "admin", "usage", TENANT, "--month", "2026-11", "--format", "json",
        "--output", str(target),
    )  # fmt: skip
    assert code == 0, err
    assert str(target) in err
    document: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    assert document["total"] == {
        "calls": 3,
        "audio_minutes": 2.0,
        "claude_input_tokens": 1_015_000,
        "claude_output_tokens": 3_000,
        "local_model_seconds": 75.0,
        "calls_limited": 1,
        "estimated_cost": round(3.0 + ANN_COST, 4),
    }
    assert document["prices"]["audio_per_minute"] == 0.01
    assert [s["calls"] for s in document["seats"]] == [2, 0, 1]


async def test_admin_usage_defaults_to_this_month_and_refuses_bad_input(world: World) -> None:
    before = f"{utcnow():%Y-%m}"
    code, out, err = await smartnotes(world.env, "admin", "usage", TENANT, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["month"] in (before, f"{utcnow():%Y-%m}")
    for args, message in (
        (("--month", "2026-13"), "--month: month '2026-13': write it as YYYY-MM"),
        (("--month", "11/2026"), "write it as YYYY-MM"),
        (("--format", "xml"), "--format must be one of table, csv, json"),
    ):
        code, out, err = await smartnotes(world.env, "admin", "usage", TENANT, *args)
        assert (code, out) == (2, ""), err
        assert message in " ".join(err.split())
    code, _, err = await smartnotes(world.env, "admin", "usage", "initech")
    assert code == 2
    assert "no tenant initech" in err


async def _usage_rows(world: World, user_id: str) -> int:
    async with world.api.service.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(UsageRecord).where(UsageRecord.user_id == user_id)
            )
            or 0
        )


async def test_a_persons_usage_is_exported_and_erased_with_them(world: World) -> None:
    privacy = Privacy(world.api.service.sessions)
    document = await privacy.export(ANN)
    assert document is not None
    usage = document["usage"]
    assert [u["run_id"] for u in usage] == ["run-5", "run-1", "run-1", "run-3", "run-4"]
    assert usage[0]["tenant"] == TENANT
    assert usage[3]["limited_by"] == "calls_per_day"
    assert usage[1]["claude_input_tokens"] == 10_000

    assert await privacy.erase(ANN, actor="cli:dpo") is not None
    assert await _usage_rows(world, world.users[ANN]) == 0
    assert await _usage_rows(world, world.users[CID]) == 1, "others' usage stays"


async def test_usage_records_are_kept_for_their_own_retention(world: World) -> None:
    retention = Retention(world.api.service.sessions, RetentionSettings(usage_days=30))
    purged = await retention.purge(now=at("2026-12-15T00:00"))
    # Older than 2026-11-15: October's, Ann's two of the 3rd and the other tenant's.
    assert purged.usage_records == 4
    async with world.api.service.sessions() as session:
        left = set((await session.execute(select(UsageRecord.run_id))).scalars())
    assert left == {"run-3", "run-4", "run-6"}
