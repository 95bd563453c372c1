"""What the command groups share: exit codes, the one-line error, the settings."""

from __future__ import annotations

from enum import IntEnum

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from smartnotes.settings import Settings


class Exit(IntEnum):
    OK = 0
    INCOMPLETE = 1
    BAD_INPUT = 2
    BAD_SETUP = 3


def fail(err: Console, message: str, code: Exit) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


def load_settings(err: Console) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "SMARTNOTES_" + "__".join(str(p) for p in problem["loc"]).upper()
        raise fail(err, f"configuration: {name}: {problem['msg']}", Exit.BAD_SETUP) from None
    except SettingsError as exc:
        # A variable that must hold JSON (SMARTNOTES_USAGE__LIMITS, SMARTNOTES_CRM) does not.
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise fail(err, f"configuration: {exc}{cause}", Exit.BAD_SETUP) from None
