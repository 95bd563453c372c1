"""OpenTelemetry traces, off by default (``SMARTNOTES_TRACING=otlp`` turns them on).

On, a process records a span for every request it serves (aiohttp server middleware), every
HTTP call it makes (aiohttp and httpx clients: Claude, Graph, the Bot Connector, CRM adapters,
a model server), every SQL statement, and every job; a job's span, and the request span of a
path naming a run, carry ``smartnotes.run_id``. Spans go to the OTLP/HTTP exporter, configured
the standard way (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``...).

Off, nothing is instrumented: the span calls in our code go to OpenTelemetry's no-op tracer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from smartnotes.logs import RUN_ID_ATTRIBUTE
from smartnotes.settings import Settings

log = logging.getLogger(__name__)

RUN_ID = RUN_ID_ATTRIBUTE
tracer = trace.get_tracer("smartnotes")


def enabled(settings: Settings) -> bool:
    return settings.tracing != "off"


def install(settings: Settings, role: str) -> None:
    """Make spans real for this process: an SDK provider exporting over OTLP (unless one is
    installed already, e.g. by a test with its own exporter), and the HTTP clients and
    SQLAlchemy instrumented. Idempotent."""
    if not enabled(settings):
        return
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME", "smartnotes"),
                "service.namespace": "smartnotes",
                "smartnotes.role": role,
            }
        )
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        log.info("traces are exported over OTLP (role %s)", role)
    # Applications made from now on are traced: install before the web app is made.
    for instrumentor in _instrumentors():
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def uninstall() -> None:
    """Undo the libraries' instrumentation (tests; a process keeps it until it exits)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    for instrumentor in [*_instrumentors(), SQLAlchemyInstrumentor()]:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    # The server's instrumentor adds its middleware to every aiohttp Application made after it.
    return [AioHttpServerInstrumentor(), AioHttpClientInstrumentor(), HTTPXClientInstrumentor()]


def trace_engine(settings: Settings, engine: AsyncEngine) -> None:
    """Spans for the statements of ``engine``, the process's database (instrumenting again
    replaces the earlier engine's: one database per process)."""
    if not enabled(settings):
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The instrumentation declares SQLAlchemy < 2.1; the engine events it uses are the same in
    # 2.1 (tests/integration/test_tracing.py checks the statements' spans).
    instrumentor.instrument(engine=engine.sync_engine, skip_dep_check=True)


@contextmanager
def job_span(name: str, run_id: str | None = None) -> Iterator[None]:
    """A job's span; with the run it works on as an attribute."""
    attributes = {RUN_ID: run_id} if run_id else {}
    with tracer.start_as_current_span(f"job {name}", attributes=attributes):
        yield
