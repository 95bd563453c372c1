"""The rest adapter against a local CRM that is slow, failing, rate-limiting or replaying."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from crm_adapters.contract import AdapterResources, TaskWrite
from crm_adapters.errors import CRMAuthError, CRMRateLimitedError, CRMUnavailableError
from crm_adapters.registry import default_registry
from crm_adapters.rest import RestCRM
from tests.fakes.crm_server import TOKEN, FakeCRM, Misbehave


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeCRM]:
    crm = FakeCRM()
    await crm.start()
    yield crm
    await crm.close()


def _adapter(server: FakeCRM, **options: Any) -> RestCRM:
    settings: dict[str, Any] = {
        "base_url": server.base_url,
        "auth_token": TOKEN,
        "backoff_initial": 0.01,
        "max_attempts": 4,
    }
    settings.update(options)
    adapter = default_registry(plugins=False).create("rest", settings, AdapterResources())
    assert isinstance(adapter, RestCRM)
    return adapter


TASK = TaskWrite(title="Send revised quote", idempotency_key="run-9:task:1")


async def test_server_errors_are_retried_until_the_write_lands(server: FakeCRM) -> None:
    server.trouble.extend([Misbehave(500), Misbehave(503)])
    adapter = _adapter(server)
    result = await adapter.create_task(TASK)
    await adapter.aclose()
    assert result.created
    assert [e.status for e in server.log] == [500, 503, 201]
    assert {e.key for e in server.log} == {"run-9:task:1"}
    assert len(server.tasks) == 1


async def test_an_answer_that_is_not_json_is_retried_and_the_write_lands_once(
    server: FakeCRM,
) -> None:
    server.trouble.append(Misbehave(status=0, garbled=b"<html>Bad gateway</html>"))
    adapter = _adapter(server)
    result = await adapter.create_task(TASK)
    await adapter.aclose()
    assert len(server.tasks) == 1, "the retry carried the key: one task"
    assert result.external_id in server.tasks


async def test_answers_we_cannot_read_are_typed_errors(server: FakeCRM) -> None:
    server.add_customer("Contoso", ["daniel@contoso.test"])
    adapter = _adapter(server, max_attempts=1)
    server.trouble.append(Misbehave(status=0, garbled=b'{"customers": [{"name": "No id"}]}'))
    with pytest.raises(CRMUnavailableError, match="customer that has no id"):
        await adapter.find_customer(["daniel@contoso.test"])
    server.trouble.append(Misbehave(status=0, garbled=b"{not json"))
    with pytest.raises(CRMUnavailableError, match="not JSON"):
        await adapter.create_task(TASK)
    server.trouble.append(Misbehave(status=0, garbled=b'{"no": "id"}'))
    with pytest.raises(CRMUnavailableError, match="without an id"):
        await adapter.create_task(TASK)
    await adapter.aclose()


async def test_retry_after_is_honoured(server: FakeCRM) -> None:
    server.trouble.append(Misbehave(429, retry_after="1"))
    adapter = _adapter(server)
    await adapter.create_task(TASK)
    await adapter.aclose()
    first, second = server.log
    assert first.status == 429
    assert second.at - first.at >= 0.95


async def test_a_timed_out_write_that_landed_is_not_duplicated(server: FakeCRM) -> None:
    # The CRM is slow but does the work; our retry carries the same idempotency key.
    server.trouble.append(Misbehave(status=0, delay=0.6))
    adapter = _adapter(server, timeout=0.2)
    result = await adapter.create_task(TASK)
    await adapter.aclose()
    assert len(server.tasks) == 1
    assert result.external_id in server.tasks
    assert len(server.log) >= 2


async def test_an_outage_ends_in_a_typed_error_after_the_last_attempt(server: FakeCRM) -> None:
    server.trouble.extend([Misbehave(503)] * 3)
    adapter = _adapter(server, max_attempts=3)
    with pytest.raises(CRMUnavailableError, match="answered 503"):
        await adapter.create_task(TASK)
    await adapter.aclose()
    assert len(server.log) == 3
    assert server.tasks == {}


async def test_rate_limit_that_never_lifts(server: FakeCRM) -> None:
    server.trouble.extend([Misbehave(429, retry_after="0")] * 2)
    adapter = _adapter(server, max_attempts=2)
    with pytest.raises(CRMRateLimitedError) as raised:
        await adapter.create_task(TASK)
    await adapter.aclose()
    assert raised.value.retry_after == 0.0


async def test_rejected_credentials_are_not_retried(server: FakeCRM) -> None:
    adapter = _adapter(server, auth_token="wrong")  # noqa: S106 - a deliberately bad token
    with pytest.raises(CRMAuthError, match="401"):
        await adapter.create_task(TASK)
    await adapter.aclose()
    assert len(server.log) == 1


async def test_unreachable_crm_is_unavailable() -> None:
    crm = FakeCRM()
    await crm.start()
    base_url = crm.base_url
    await crm.close()  # nothing listens there any more
    adapter = default_registry(plugins=False).create(
        "rest",
        {"base_url": base_url, "max_attempts": 2, "backoff_initial": 0.01},
        AdapterResources(),
    )
    with pytest.raises(CRMUnavailableError, match="ClientConnectorError"):
        await adapter.create_task(TASK)
    await adapter.aclose()
