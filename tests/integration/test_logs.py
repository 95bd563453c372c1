"""The service's logs as an operator's pipeline reads them: one JSON object per line, each
naming its run and request, and never what was said in a call or a credential.

A whole call goes through the running service (the demo summarizer, Claude replaced by a
local Messages API server), is saved to the embedded CRM, and a refused webhook is sent with
an ingress request id; everything the root logger received meanwhile is then read back.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from crm_adapters.embedded import EmbeddedCRM
from smartnotes import logs
from smartnotes.settings import CallsSettings, Settings
from tests.api_client import Api, running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, tasks_reply
from tests.integration.test_api_review import CLAUDE_TASKS, REP, UPLOAD
from tests.seed import seed_user

pytestmark = pytest.mark.models

WEBHOOK_SECRET = "calls-webhook-secret-" + "s" * 24


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("json", "INFO", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest_asyncio.fixture
async def live(
    tmp_path: Path, fake_claude: FakeAnthropic, captured: io.StringIO
) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path,
        anthropic_api_key=SecretStr(TEST_KEY),
        anthropic_base_url=fake_claude.base_url,
        summary_max_tokens=32,
        summarizer_context=4096,
        workers=1,
        calls=CallsSettings(secrets=SecretStr(WEBHOOK_SECRET)),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, *REP, name="Maria Chen")
        crm = api.service.crm
        assert isinstance(crm, EmbeddedCRM)
        await crm.add_customer("Contoso Logistics", ["daniel@contoso.test"])
        yield api


async def test_json_logs_name_run_and_request_and_never_what_was_said(
    live: Api, fake_claude: FakeAnthropic, captured: io.StringIO
) -> None:
    fake_claude.default = tasks_reply(CLAUDE_TASKS)
    status, created = await live.call("POST", "/api/runs", as_user=REP, json_body=UPLOAD)
    assert status == 202, created
    run_id = created["run_id"]
    ready = await live.wait_for(run_id, REP, lambda v: v["status"] == "needs_review")
    status, _ = await live.call("POST", f"/api/runs/{run_id}/save", as_user=REP, json_body={})
    assert status == 202
    await live.wait_for(run_id, REP, lambda v: v["status"] == "saved")

    # A request the service refuses, and logs, carrying the ingress's request id.
    async with live.http.post(
        live.url("/webhooks/calls"), json={"call_id": "x"}, headers={"X-Request-Id": "probe-7"}
    ) as refused:
        assert refused.status == 401
        assert refused.headers["X-Request-Id"] == "probe-7"
    # A request id that is not one is replaced, not written into the logs.
    async with live.http.get(
        live.url("/healthz"), headers={"X-Request-Id": "a b; forged=1"}
    ) as health:
        assert health.status == 200
        assert len(health.headers["X-Request-Id"]) == 32

    text = captured.getvalue()
    entries: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    assert entries, "nothing was logged"
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    [outcome] = [e for e in entries if e.get("run_id") == run_id and "processed" in e["message"]]
    assert outcome["tasks"] == len(CLAUDE_TASKS)
    assert outcome["extractor"] == "claude"
    assert any(
        e.get("request_id") == "probe-7" and "webhook refused" in e["message"] for e in entries
    )

    # What the call said, what the models wrote, and every credential stay out of the logs.
    lines = str(UPLOAD["transcript"]).splitlines()
    forbidden = [line.split(">", 1)[1].split("<", 1)[0] for line in lines if line.startswith("<v")]
    assert len(forbidden) == 3
    forbidden += [ready["summary"]["text"][:40], *(t["title"] for t in CLAUDE_TASKS)]
    forbidden += [TEST_KEY, WEBHOOK_SECRET, live.headers(*REP)["Authorization"][7:], "eyJ"]
    leaked = [secret for secret in forbidden if secret and secret in text]
    assert not leaked, leaked
