"""When the periodic jobs run: cron lines read back through croniter, as procrastinate does."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import croniter
import pytest

from smartnotes.jobs.tasks import GRAPH_WORK_CRON, catch_up_cron

START = datetime(2026, 11, 29, 9, 0, 1, tzinfo=UTC)


def _next(cron: str, count: int) -> list[datetime]:
    found = croniter.croniter(cron, START)
    return [found.get_next(datetime) for _ in range(count)]


def test_graph_work_runs_every_five_seconds() -> None:
    times = _next(GRAPH_WORK_CRON, 4)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [5.0] * 3


@pytest.mark.parametrize(
    ("minutes", "every_seconds"),
    [(30, 1800), (1, 60), (7, 600), (45, 3600), (90, 7200), (240, 14400), (3000, 86400)],
)
def test_catch_up_runs_about_as_often_as_configured(minutes: float, every_seconds: int) -> None:
    times = _next(catch_up_cron(minutes), 3)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {every_seconds}
