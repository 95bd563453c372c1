"""Reading a request's JSON safely: every inbound route goes through here.

A body that is not UTF-8, nests deeper than any real message, or carries text no database can
store (a NUL character, half of a surrogate pair) is refused with a 400 naming the problem, at
the door, before anything is written: PostgreSQL refuses NUL in text, a file name with NUL
cannot be opened, and a recursion error is not an answer.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

from aiohttp import web

from smartnotes.web.signing import BodySignature

# Deeper than any activity, notification or call we accept; far below Python's recursion limit.
MAX_DEPTH = 64


@asynccontextmanager
async def signed_body(
    request: web.Request, limit: int, signature: BodySignature
) -> AsyncIterator[IO[bytes]]:
    """The body once its signature matches, as a file to read from the start. Past the first
    MiB it waits on disk, so posts, forged or signed, however many and however large, cost
    the service no memory; the file is gone when the block ends."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        size = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
            signature.update(chunk)
            spool.write(chunk)
        signature.check()
        spool.seek(0)
        yield spool


def parse_json(raw: bytes, *, what: str = "the body") -> Any:
    """The JSON document in ``raw``, or ``HTTPBadRequest`` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(reason=f"{what} is not UTF-8 text") from None
    try:
        # Invalid JSON raises json.JSONDecodeError: the error middleware answers it (bad_json).
        data = json.loads(text)
    except RecursionError:  # the decoder's own guard, far past MAX_DEPTH
        raise web.HTTPBadRequest(reason=f"{what} nests deeper than {MAX_DEPTH} levels") from None
    if _depth(data) > MAX_DEPTH:
        raise web.HTTPBadRequest(reason=f"{what} nests deeper than {MAX_DEPTH} levels")
    where = unstorable(data)
    if where is not None:
        raise web.HTTPBadRequest(
            reason=f"{what}: {where} holds a NUL character or broken Unicode, which cannot be kept"
        )
    return data


def unstorable(data: Any) -> str | None:
    """The path of the first string (or key) in ``data`` that cannot be stored as text."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not storable(value):
                return path or "a value"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not storable(key):
                    return path or "a key"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape
        return False
    return True


def _depth(data: Any) -> int:
    """How deep a parsed document's containers go, measured without recursion."""
    deepest = 0
    stack: list[tuple[int, Any]] = [(0, data)]
    while stack:
        level, value = stack.pop()
        if isinstance(value, dict | list):
            level += 1
            deepest = max(deepest, level)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((level, item) for item in items)
    return deepest
