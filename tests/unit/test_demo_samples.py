"""``smartnotes demo`` (the README's first command) finds the sample call it ships with."""

from __future__ import annotations

from smartnotes.cli.main import SAMPLES


def test_the_demo_samples_are_where_the_command_looks() -> None:
    assert (SAMPLES / "sales_call.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert (SAMPLES / "sales_call_excerpt.wav").read_bytes()[:4] == b"RIFF"
