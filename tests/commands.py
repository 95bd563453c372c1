"""Running ``smartnotes`` as an operator does: a real subprocess with its own environment."""

from __future__ import annotations

import asyncio
import os
import sys


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``SMARTNOTES_*`` setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
    env.update(settings)
    return env


async def smartnotes(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``python -m smartnotes ARGS``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartnotes",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
