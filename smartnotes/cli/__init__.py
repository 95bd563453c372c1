"""The ``smartnotes`` command, one module per command group."""

from smartnotes.cli.main import app, main

__all__ = ["app", "main"]
