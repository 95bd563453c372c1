"""Waiting on a state instead of a clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T]], seconds: float = 60.0) -> T:
    """The first truthy answer of ``check``, asked every 50 ms; a timeout after ``seconds``
    (a ceiling for a machine under load, not an expectation)."""

    async def poll() -> T:
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout=seconds)
