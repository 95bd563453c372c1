"""Logging for both roles: plain lines for a terminal, or one JSON object per line for a log
pipeline (``SMARTNOTES_LOG_FORMAT=json``; the container image sets it).

Every record carries the run it is about and the request it came from, when there is one:
both live in context variables, set where a request enters (``request_id_middleware``) and
where a job works on a run (``about_run``), so a line logged anywhere below inherits them
without each call passing them along. What a call said never goes into a log: messages name
runs, steps and errors, not transcript or summary text (a test greps the logs of a processed
call for it).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from aiohttp import web
from opentelemetry import trace

LogFormat = Literal["text", "json"]
REQUEST_ID_HEADER = "X-Request-Id"
RUN_ID_ATTRIBUTE = "smartnotes.run_id"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

run_id_var: ContextVar[str | None] = ContextVar("smartnotes_run_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("smartnotes_request_id", default=None)

# A request id from the ingress is kept when it looks like one; anything else is replaced, so
# a client cannot write arbitrary text into every log line of its request.
_USABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Attributes every LogRecord has; anything else was passed in ``extra`` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "run_id",
    "request_id",
}


class _Context(logging.Filter):
    """Stamps each record with the run and request of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = run_id_var.get()
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, run and
    request ids, the exception's traceback, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "request_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(
    log_format: LogFormat = "text", level: str = "INFO", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) in ``log_format``; replaces
    handlers an earlier call installed, so calling it twice does not log twice."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(_Context())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_smartnotes", False)]:
        root.removeHandler(old)
    handler._smartnotes = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


@contextmanager
def about_run(run_id: str) -> Iterator[None]:
    """Lines logged inside name ``run_id`` (a job working on one run)."""
    token = run_id_var.set(run_id)
    try:
        yield
    finally:
        run_id_var.reset(token)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


REQUEST_ID = web.RequestKey("smartnotes_request_id", str)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request gets an id (the ingress's ``X-Request-Id`` when usable), logged with every
    line it causes and returned in the answer so a rep's report can be found in the logs."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _USABLE_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    run = request.match_info.get("run_id")
    run_token = None
    if run and _USABLE_ID.match(run):
        run_token = run_id_var.set(run)
        # The request's span (when tracing is on) names the run too.
        trace.get_current_span().set_attribute(RUN_ID_ATTRIBUTE, run)
    try:
        return await handler(request)
    finally:
        if run_token is not None:
            run_id_var.reset(run_token)
        request_id_var.reset(token)


async def answer_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, event streams and errors included, says its id."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
