"""Calls the gate turns away: every one counted by reason, the ones an admin must fix (no
consent) logged once per tenant per hour, not once per call."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from smartnotes.metrics import Metrics
from smartnotes.runs.gate import Skip, SkipNotices


def test_a_tenant_without_consent_is_logged_once_an_hour_and_every_skip_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics(async_sessionmaker(create_async_engine("sqlite+aiosqlite://")))
    now = [0.0]
    notices = SkipNotices(metrics, interval=3600.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="smartnotes.runs.gate"):
        for _ in range(3):
            notices.skipped("contoso", Skip.NO_CONSENT, "2026-11-01")
        notices.skipped("fabrikam", Skip.NO_CONSENT, "2026-11-01")
        notices.skipped("contoso", Skip.USER_OFF, "2026-11-01")
        now[0] = 3599.0
        notices.skipped("contoso", Skip.NO_CONSENT, "2026-11-01")
        now[0] = 3600.0
        notices.skipped("contoso", Skip.NO_CONSENT, "2026-11-01")

    told = [r.getMessage() for r in caplog.records if r.name == "smartnotes.runs.gate"]
    assert [("tenant contoso" in m, "tenant fabrikam" in m) for m in told] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    assert all("(2026-11-01, shown at /terms)" in m for m in told)

    def counted(reason: str) -> float | None:
        return metrics.registry.get_sample_value(
            "smartnotes_calls_skipped_total", {"reason": reason}
        )

    assert (counted("no_consent"), counted("user_off")) == (6.0, 1.0)
