"""The limit decision, the cohort limits as configured, the month, and the cost arithmetic,
against values worked out by hand."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.usage import BusyClock, RunUsage, model_time
from smartnotes.settings import DEFAULT_LIMIT, CohortLimit, PriceSettings, Settings, UsageSettings
from smartnotes.usage.limits import Limited, Used, day_start, decide, limit_for, month_start
from smartnotes.usage.report import (
    CSV_COLUMNS,
    MonthlyUsage,
    SeatUsage,
    Totals,
    UsageError,
    month_bounds,
)

CALLS_ONE = CohortLimit(calls_per_day=1, claude_tokens_per_month=None)


def test_the_days_calls_limit_is_reached_when_that_many_calls_were_made() -> None:
    assert decide(CALLS_ONE, Used(calls_today=0, claude_tokens_this_month=10**9)) is None
    assert decide(CALLS_ONE, Used(1, 0), "deal-closer") == Limited(
        "calls_per_day", 1, "deal-closer"
    )
    assert decide(CALLS_ONE, Used(7, 0)) == Limited("calls_per_day", 1, None)
    assert decide(CohortLimit(calls_per_day=0), Used(0, 0)) == Limited("calls_per_day", 0, None)


def test_the_months_tokens_limit_counts_input_and_output_together() -> None:
    limit = CohortLimit(calls_per_day=None, claude_tokens_per_month=4_000_000)
    assert decide(limit, Used(500, 3_999_999)) is None
    assert decide(limit, Used(0, 4_000_000)) == Limited("claude_tokens_per_month", 4_000_000, None)


def test_calls_are_checked_before_tokens_and_null_is_unlimited() -> None:
    both = CohortLimit(calls_per_day=2, claude_tokens_per_month=100)
    assert decide(both, Used(2, 100)) == Limited("calls_per_day", 2, None)
    assert decide(both, Used(1, 100)) == Limited("claude_tokens_per_month", 100, None)
    assert decide(CohortLimit(), Used(10**6, 10**12)) is None


def test_the_reason_names_the_limit_and_the_local_extractor() -> None:
    assert Limited("calls_per_day", 40, "deal-closer").reason == (
        "Claude limit for your cohort reached (40 calls today): tasks by the local extractor"
    )
    assert "(1 call today)" in Limited("calls_per_day", 1, None).reason
    assert Limited("claude_tokens_per_month", 4_000_000, None).reason == (
        "Claude limit for your cohort reached (4,000,000 Claude tokens this month): "
        "tasks by the local extractor"
    )


def test_a_cohort_takes_what_it_leaves_out_from_the_default() -> None:
    settings = UsageSettings.model_validate(
        {
            "limits": {
                " Deal-Closer ": {"calls_per_day": 60},
                "all-rounder": {"calls_per_day": None, "claude_tokens_per_month": 10},
                "*": {"claude_tokens_per_month": 2_000_000},
            }
        }
    )
    assert set(settings.limits) == {"deal-closer", "all-rounder", "*"}
    # What "*" leaves out is the built-in default's; what a cohort leaves out is "*"'s.
    assert limit_for(settings, None) == CohortLimit(
        calls_per_day=40, claude_tokens_per_month=2_000_000
    )
    assert limit_for(settings, "deal-closer") == CohortLimit(
        calls_per_day=60, claude_tokens_per_month=2_000_000
    )
    assert limit_for(settings, "all-rounder") == CohortLimit(
        calls_per_day=None, claude_tokens_per_month=10
    )
    assert limit_for(settings, "our own label") == limit_for(settings, None)


def test_the_defaults_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limit_for(UsageSettings(), "deal-closer") == DEFAULT_LIMIT
    assert (DEFAULT_LIMIT.calls_per_day, DEFAULT_LIMIT.claude_tokens_per_month) == (40, 5_000_000)
    monkeypatch.setenv(
        "SMARTNOTES_USAGE__LIMITS",
        '{"deal-closer": {"calls_per_day": 40, "claude_tokens_per_month": 4000000}, '
        '"*": {"calls_per_day": null, "claude_tokens_per_month": null}}',
    )
    monkeypatch.setenv("SMARTNOTES_USAGE__PRICES__CLAUDE_INPUT_PER_MTOK", "2.5")
    monkeypatch.setenv("SMARTNOTES_USAGE__PRICES__CURRENCY", "EUR")
    monkeypatch.setenv("SMARTNOTES_RETENTION__USAGE_DAYS", "3650")
    settings = Settings()
    assert limit_for(settings.usage, "deal-closer") == CohortLimit(
        calls_per_day=40, claude_tokens_per_month=4_000_000
    )
    assert limit_for(settings.usage, None) == CohortLimit()
    assert settings.usage.prices == PriceSettings(claude_input_per_mtok=2.5, currency="EUR")
    assert settings.retention.usage_days == 3650


@pytest.mark.parametrize(
    "limits",
    [
        {"deal-closer": {"calls_per_day": -1}},
        {"deal-closer": {"calls": 5}},  # a misspelt limit is refused, not ignored
        {"  ": {"calls_per_day": 5}},
    ],
)
def test_bad_limits_are_refused(limits: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UsageSettings.model_validate({"limits": limits})


def test_days_and_months_are_utc() -> None:
    late = datetime(2026, 3, 1, 0, 30, tzinfo=UTC).astimezone()  # any local zone
    assert day_start(late) == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_start(datetime(2026, 2, 28, 23, 59, tzinfo=UTC)) == datetime(
        2026, 2, 1, tzinfo=UTC
    )
    assert month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert month_bounds(" 2026-02 ") == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-11", "2026/11", "november", ""])
def test_a_bad_month_says_how_to_write_one(month: str) -> None:
    with pytest.raises(UsageError, match="YYYY-MM"):
        month_bounds(month)


PRICES = PriceSettings(
    claude_input_per_mtok=3.0,
    claude_output_per_mtok=15.0,
    audio_per_minute=0.006,
    local_model_per_hour=0.5,
    currency="USD",
)


def test_the_cost_of_a_month() -> None:
    used = Totals(
        calls=120,
        audio_seconds=600.0,  # 10 minutes
        claude_input_tokens=2_000_000,
        claude_output_tokens=100_000,
        local_model_seconds=1800.0,  # half an hour
        calls_limited=3,
    )
    # 2 * 3.0 + 0.1 * 15.0 + 10 * 0.006 + 0.5 * 0.5 = 6.0 + 1.5 + 0.06 + 0.25
    assert used.cost(PRICES) == pytest.approx(7.81)
    assert used.cost(PriceSettings()) == pytest.approx(7.5), "by default only Claude is priced"
    assert used.to_json(PRICES) == {
        "calls": 120,
        "audio_minutes": 10.0,
        "claude_input_tokens": 2_000_000,
        "claude_output_tokens": 100_000,
        "local_model_seconds": 1800.0,
        "calls_limited": 3,
        "estimated_cost": 7.81,
    }


def test_the_report_adds_up_and_exports_a_row_per_rep() -> None:
    ann = Totals(1, 90.0, 1000, 200, 12.5, 0)
    bob = Totals(2, 0.0, 3000, 800, 30.0, 1)
    report = MonthlyUsage(
        "acme",
        "2026-11",
        PRICES,
        [
            SeatUsage("ann@acme.test", "Ann", "deal-closer", True, ann),
            SeatUsage("bob@acme.test", "Bob, Jr.", None, False, bob),
        ],
    )
    assert report.total == Totals(3, 90.0, 4000, 1000, 42.5, 1)
    document = report.to_json()
    assert document["total"]["estimated_cost"] == pytest.approx(
        round(0.004 * 3 + 0.001 * 15 + 1.5 * 0.006 + 42.5 / 3600 * 0.5, 4)
    )
    assert [s["email"] for s in document["seats"]] == ["ann@acme.test", "bob@acme.test"]
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[2] == [
        "acme", "2026-11", "bob@acme.test", "Bob, Jr.", "", "no", "2", "0.0", "3000", "800",
        "30.0", "1", str(round(0.003 * 3 + 0.0008 * 15 + 30 / 3600 * 0.5, 4)), "USD",
    ]  # fmt: skip
    assert len(rows) == 3, "no total row: the rows sum to the total"


def test_a_models_time_is_counted_for_the_thread_it_worked_for() -> None:
    clock = BusyClock()
    usage = RunUsage()
    seen: list[float] = []

    def work() -> None:
        with model_time(clock, usage), clock.running():
            time.sleep(0.02)
        seen.append(clock.seconds())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen[0] >= 0.02
    assert usage.local_model_seconds == pytest.approx(seen[0])
    assert clock.seconds() == 0.0, "another thread's generation is not this thread's"
