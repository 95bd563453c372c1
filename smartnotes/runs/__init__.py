"""Runs: intake and the gate, processing, review, views, live events, notifications."""
