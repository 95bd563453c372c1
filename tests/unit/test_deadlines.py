"""Deadline resolution: what a rep means, counted from the call in the rep's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
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


# The calls of the phrase table: when each started, where the rep was.
TABLE_CALLS = {
    "A": (datetime(2026, 11, 17, 16, 0, tzinfo=UTC), "America/Chicago"),
    "B": (datetime(2026, 12, 18, 9, 0, tzinfo=UTC), "Europe/Berlin"),
    "C": (datetime(2027, 1, 7, 23, 30, tzinfo=UTC), "Australia/Sydney"),
    "D": (datetime(2026, 6, 1, 14, 0, tzinfo=UTC), "Europe/London"),
    "E": (datetime(2026, 11, 21, 1, 30, tzinfo=UTC), "America/Los_Angeles"),
}


def _phrase_table() -> list[tuple[str, str, date | None]]:
    rows = []
    table = Path(__file__).parent / "data" / "deadline_phrases.tsv"
    for line in table.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            call, phrase, expected = line.split("\t")
            rows.append((call, phrase, None if expected == "-" else date.fromisoformat(expected)))
    return rows


PHRASES = _phrase_table()


def test_the_table_covers_what_reps_say() -> None:
    assert len(PHRASES) >= 150
    assert len({(call, phrase) for call, phrase, _ in PHRASES}) == len(PHRASES)


@pytest.mark.parametrize(("call", "phrase", "expected"), PHRASES)
def test_phrase_table(call: str, phrase: str, expected: date | None) -> None:
    start, zone = TABLE_CALLS[call]
    assert resolve_deadline(phrase, start, zone) == expected
