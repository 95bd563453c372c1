"""Deadline resolution: what a rep means, counted from the call in the rep's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.deadlines import resolve_deadline

# Tuesday 17 November 2026, 10:00 in Chicago (16:00 UTC).
CALL = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)
ZONE = "America/Chicago"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("by Friday", date(2026, 11, 20)),
        ("Friday", date(2026, 11, 20)),
        ("by Fri", date(2026, 11, 20)),
        ("by Tuesday", date(2026, 11, 24)),  # the call is on a Tuesday: the next one
        ("this Friday", date(2026, 11, 20)),
        ("this Tuesday", date(2026, 11, 17)),
        ("next Friday", date(2026, 11, 27)),
        ("next Monday", date(2026, 11, 23)),
        ("today", date(2026, 11, 17)),
        ("EOD", date(2026, 11, 17)),
        ("this afternoon", date(2026, 11, 17)),
        ("tomorrow", date(2026, 11, 18)),
        ("tomorrow EOD", date(2026, 11, 18)),
        ("by end of day tomorrow", date(2026, 11, 18)),
        ("by tomorrow end of day", date(2026, 11, 18)),
        ("the day after tomorrow", date(2026, 11, 19)),
        ("next week", date(2026, 11, 27)),
        ("by the end of next week", date(2026, 11, 27)),
        ("early next week", date(2026, 11, 23)),
        ("end of the week", date(2026, 11, 20)),
        ("this week", date(2026, 11, 20)),
        ("end of month", date(2026, 11, 30)),
        ("before the end of the month", date(2026, 11, 30)),
        ("next month", date(2026, 12, 31)),
        ("end of quarter", date(2026, 12, 31)),
        ("next quarter", date(2027, 3, 31)),
        ("end of year", date(2026, 12, 31)),
        ("in two weeks", date(2026, 12, 1)),
        ("two weeks from now", date(2026, 12, 1)),
        ("within a week", date(2026, 11, 24)),
        ("in 3 days", date(2026, 11, 20)),
        ("in a couple of days", date(2026, 11, 19)),
        ("within 48 hours", date(2026, 11, 19)),
        ("in 5 business days", date(2026, 11, 24)),
        ("in a month", date(2026, 12, 17)),
        ("by December 3rd", date(2026, 12, 3)),
        ("by Dec 3", date(2026, 12, 3)),
        ("by March 3", date(2027, 3, 3)),
        ("on the 25th", date(2026, 11, 25)),
        ("by 2026-12-15", date(2026, 12, 15)),
    ],
)
def test_resolves_what_was_said(said: str, expected: date) -> None:
    assert resolve_deadline(said, CALL, ZONE) == expected


@pytest.mark.parametrize(
    "said",
    [
        "",
        "   ",
        "soon",
        "ASAP",
        "as soon as possible",
        "at some point",
        "later",
        "before the board meeting",
        "whenever you can",
        "by 2025-01-01",
    ],
)
def test_vague_unsaid_or_past_deadlines_stay_empty(said: str) -> None:
    assert resolve_deadline(said, CALL, ZONE) is None


def test_relative_days_count_in_the_reps_time_zone() -> None:
    late_utc = datetime(2026, 11, 17, 23, 30, tzinfo=UTC)  # already Wednesday in Tokyo
    assert resolve_deadline("tomorrow", late_utc, "Asia/Tokyo") == date(2026, 11, 19)
    assert resolve_deadline("tomorrow", late_utc, ZoneInfo("America/Chicago")) == date(2026, 11, 18)


def test_naive_call_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_deadline("tomorrow", datetime(2026, 11, 17, 10, 0), ZONE)  # noqa: DTZ001


# A Tuesday call in Chicago, 17 November 2026: phrases reps say that were misread or not read.
REP_PHRASES = [
    ("Thursday afternoon next week", "2026-11-26"),
    ("Thursday next week", "2026-11-26"),
    ("next week Thursday", "2026-11-26"),
    ("right after this call", "2026-11-17"),
    ("second week of January", "2027-01-08"),
    ("before Christmas", "2026-12-24"),
    ("end of January", "2027-01-31"),
    ("before the fifteenth of December", "2026-12-14"),
    ("the 15th", "2026-12-15"),
    ("by the 30th", "2026-11-30"),
    ("by the 3rd", "2026-12-03"),
    ("before the 20th", "2026-11-19"),
    ("mid-December", "2026-12-15"),
    ("early next month", "2026-12-05"),
    ("late December", "2026-12-25"),
    ("before the holidays", "2026-12-23"),
    ("by New Year's Eve", "2026-12-31"),
    ("first week of December", "2026-12-04"),
]


@pytest.mark.parametrize(("phrase", "expected"), REP_PHRASES)
def test_phrases_reps_say(phrase: str, expected: str) -> None:
    start = datetime(2026, 11, 17, 16, tzinfo=UTC)
    assert resolve_deadline(phrase, start, "America/Chicago") == date.fromisoformat(expected)
