"""Forged Graph notifications cannot flood the log: one warning per request with counts, and
across requests at most one a minute, the ones held back counted into the next."""

from __future__ import annotations

import pytest

from smartnotes.web.graph import DropWarnings
from tests.integration.test_graph_meetings import VTT, Setup, setup

__all__ = ["setup"]


def test_warnings_held_back_are_counted_into_the_next() -> None:
    warnings = DropWarnings(every=60.0)
    assert warnings.due(0.0, 1000) == (0, 0)
    assert warnings.due(1.0, 1000) is None
    assert warnings.due(59.0, 5) is None
    assert warnings.due(60.0, 1) == (2, 1005)
    assert warnings.due(61.0, 1) is None


async def test_forged_posts_in_a_row_are_one_warning(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    ref = setup.meeting()
    transcript = setup.fake.add_transcript(ref, VTT)
    one = setup.fake.change_notification(transcript, "sub-1", "forged-" + "x" * 30)
    forged = {"value": one["value"] * 1000}
    with caplog.at_level("WARNING", logger="smartnotes.web.graph"):
        for _ in range(3):
            status, _ = await setup.fake.send(setup.webhook, forged)
            assert status == 403
    lines = [r for r in caplog.records if r.name == "smartnotes.web.graph"]
    assert len(lines) == 1
    assert "1000 of 1000 notification(s)" in lines[0].getMessage()
