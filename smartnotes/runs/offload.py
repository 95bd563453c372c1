"""Blocking work sized by its input: small in place, large in a worker thread.

Parsing a transcript or writing it to disk takes well under a millisecond for a typical call;
handing that to a thread costs more than the work (a wake-up each way, contention for the
interpreter under load). A long one (hours of transcript, an audio file) would hold up every
other request, so it goes to a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

IN_PLACE_BYTES = 256 * 1024


async def sized(size: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    if size <= IN_PLACE_BYTES:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)
