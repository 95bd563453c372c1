"""Traces of a processed call, as an OpenTelemetry collector would receive them: captured with
the SDK's in-memory exporter in place of OTLP. The request, the job that processed the run,
its Claude call (over httpx, to the local Messages API server) and the SQL all have spans; the
job and the requests about the run name it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from smartnotes import tracing
from smartnotes.settings import Settings
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.integration.test_api_review import CLAUDE_TASKS, REP, UPLOAD
from tests.seed import seed_user
from tests.waits import until

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.uninstall()
        # The provider stays for the process (OpenTelemetry sets it once); nothing more is kept.
        exporter.shutdown()


@pytest_asyncio.fixture
async def live(
    tmp_path: Path, fake_claude: FakeAnthropic, spans: InMemorySpanExporter
) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=32,
        summarizer_context=4096,
        workers=1,
        tracing="otlp",
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, *REP, name="Maria Chen")
        yield api


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_a_processed_call_is_traced_from_request_to_claude(
    live: Api, fake_claude: FakeAnthropic, spans: InMemorySpanExporter
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    spans.clear()
    status, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202, created
    run_id = created["run_id"]
    await live.wait_for(run_id, REP, lambda v: v["status"] == "needs_review")

    async def job_ended() -> bool:
        # The job's span ends just after the run is ready, when the job returns.
        return bool(_named(spans.get_finished_spans(), "job process_run"))

    await until(job_ended)
    finished = spans.get_finished_spans()

    servers = [s for s in finished if s.kind is SpanKind.SERVER]
    assert any(s.attributes and s.attributes.get("http.route") == "/api/runs" for s in servers)
    about_run = [s for s in servers if (s.attributes or {}).get(tracing.RUN_ID) == run_id]
    assert about_run, "a request for /api/runs/{run_id} names the run"

    [job] = _named(finished, "job process_run")
    assert (job.attributes or {}).get(tracing.RUN_ID) == run_id
    in_job = [s for s in finished if s.context.trace_id == job.context.trace_id]
    # The Anthropic SDK's own span (gen_ai conventions), or an HTTP client span to its API.
    claude = [
        s
        for s in in_job
        if s.name == "anthropic.messages.create"
        or "/v1/messages" in str((s.attributes or {}).get("http.url", ""))
    ]
    assert claude, "the Claude call is a span of the job's trace"
    sql = [s for s in in_job if (s.attributes or {}).get("db.system") == "sqlite"]
    assert sql, "the job's SQL statements are spans of its trace"
    # Statements go with their placeholders, prompts are not captured: no call text in a span.
    said = "revised quote with the annual pricing"
    recorded = " ".join(f"{s.name} {dict(s.attributes or {})}" for s in finished)
    assert said not in recorded
    assert "Daniel" not in recorded
