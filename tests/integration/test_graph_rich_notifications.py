"""Rich change notifications (resource data included) through ``POST /webhooks/graph``, against
the local Graph (tests/fakes/graph.py): subscriptions that ask for the resource encrypted to our
certificate, a genuine notification decrypted, kept and worked into one run, and every forgery
(tampered content, a token for another app or signed by a key Microsoft does not publish, no
tokens at all) refused before anything is kept or Graph is called.

The services run without their background loops (``process=False``), so the webhook fetches
Microsoft's signing keys (the fake's JWKS) itself, when the first notification needs them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from graph.types import NewSubscription
from smartnotes.meetings.sync import TENANT_WIDE
from smartnotes.settings import Settings
from smartnotes.storage.models import GraphInbox, GraphSubscription
from tests.api_client import running_api
from tests.fakes.graph import FakeGraph
from tests.fakes.graph_support import notification_certificate, pem_with_key
from tests.integration.test_graph_meetings import (
    CLIENT_STATE,
    MARIA,
    VTT,
    Setup,
    free_port,
    graph_settings,
)

CERTIFICATE_ID = "smartnotes-notifications/2026-11"
OTHER_APP = "11111111-2222-4333-8444-555555555555"


@pytest.fixture(scope="module")
def certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return notification_certificate()


@pytest.fixture(scope="module")
def forger_key() -> rsa.RSAPrivateKey:
    """Signs validation tokens with a key the identity platform's JWKS does not publish."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def certificate_pem(
    tmp_path: Path, certificate: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> Path:
    path = tmp_path / "notifications.pem"
    path.write_bytes(pem_with_key(*certificate))
    return path


@asynccontextmanager
async def serving(fake: FakeGraph, data_dir: Path, **graph: Any) -> AsyncIterator[Setup]:
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        graph=graph_settings(fake, notification_url=f"http://127.0.0.1:{port}", **graph),
    )
    async with running_api(settings, process=False, port=port) as api:
        yield Setup(fake, api, port)


@pytest_asyncio.fixture
async def setup(tmp_path: Path, certificate_pem: Path) -> AsyncIterator[Setup]:
    async with (
        FakeGraph() as fake,
        serving(
            fake,
            tmp_path / "data",
            encryption_certificate_path=certificate_pem,
            encryption_certificate_id=CERTIFICATE_ID,
            jwks_url=fake.jwks_url,
        ) as setup,
    ):
        yield setup


async def _inbox(setup: Setup) -> list[GraphInbox]:
    async with setup.api.service.sessions() as session:
        return list((await session.execute(select(GraphInbox).order_by(GraphInbox.id))).scalars())


def _key_fetches(fake: FakeGraph) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/discovery/v2.0/keys"))


async def test_subscribe_asks_for_resource_data_encrypted_to_our_certificate(
    setup: Setup, certificate: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    row = await setup.graph.subscriptions.subscribe(TENANT_WIDE)

    stored = setup.fake.subscriptions[row.id]
    assert stored["includeResourceData"] is True
    assert stored["encryptionCertificateId"] == CERTIFICATE_ID
    sent = base64.b64decode(stored["encryptionCertificate"], validate=True)
    assert sent == certificate[1].public_bytes(serialization.Encoding.DER)
    async with setup.api.service.sessions() as session:
        kept = await session.get(GraphSubscription, row.id)
    assert kept is not None
    assert kept.include_resource_data


async def test_a_rich_notification_is_decrypted_kept_and_makes_one_run(setup: Setup) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    subscription = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
    ref = setup.meeting()
    transcript = setup.fake.add_transcript(ref, VTT)
    payload = setup.fake.rich_change_notification(transcript, subscription.id, CLIENT_STATE)

    status, elapsed = await setup.fake.send(setup.webhook, payload)
    assert status == 202
    assert elapsed < 3.0, "Graph wants its answer within 3 s, key fetch included"
    assert _key_fetches(setup.fake) == 1, "the first notification fetched the signing keys"
    await setup.graph.work_once()

    assert setup.fake.downloads[transcript] == 1
    [run] = await setup.runs()
    assert run.call_id == ref.meeting_id
    [row] = await _inbox(setup)
    assert row.status == "done"
    assert row.subscription_id == subscription.id
    # What Graph encrypted, decrypted: the callTranscript itself, not only the resource path.
    assert row.data["id"] == transcript
    assert row.data["meetingId"] == ref.meeting_id
    assert row.data["meetingOrganizer"]["user"]["id"] == MARIA
    assert row.data["transcriptContentUrl"].endswith(f"/transcripts/{transcript}/content")

    again = setup.fake.rich_change_notification(transcript, subscription.id, CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, again))[0] == 202
    await setup.graph.work_once()
    assert _key_fetches(setup.fake) == 1, "known keys are not fetched again"
    assert setup.fake.downloads[transcript] == 1
    assert len(await setup.runs()) == 1


Forgery = Callable[[rsa.RSAPrivateKey], dict[str, Any]]
FORGERIES: dict[str, tuple[Forgery, str]] = {
    "tampered data": (lambda _: {"tamper": "data"}, "dataSignature does not match"),
    "tampered signature": (lambda _: {"tamper": "dataSignature"}, "dataSignature does not match"),
    "token for another app": (
        lambda _: {"token_audience": OTHER_APP},
        "audience (aud) is not one of our app ids",
    ),
    "token signed by a key not in the JWKS": (
        lambda key: {"token_key": key},
        "signature does not verify",
    ),
    "no validation tokens": (
        lambda _: {"with_tokens": False},
        "rich notifications arrived without validationTokens",
    ),
}


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_forged_rich_notifications_are_refused_and_nothing_is_kept(
    setup: Setup, forgery: str, forger_key: rsa.RSAPrivateKey
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    subscription = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    graph_calls = len(setup.fake.calls())
    make, reason = FORGERIES[forgery]
    payload = setup.fake.rich_change_notification(
        transcript, subscription.id, CLIENT_STATE, **make(forger_key)
    )

    async with setup.api.http.post(setup.webhook, json=payload) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert reason in error["message"]
    await setup.graph.work_once()

    assert await _inbox(setup) == []
    assert setup.fake.calls()[graph_calls:] == [], "no Graph call for a forgery"
    assert setup.fake.downloads == {}
    assert await setup.runs() == []


async def test_without_an_encryption_certificate_rich_notifications_are_refused(
    tmp_path: Path, certificate: tuple[rsa.RSAPrivateKey, x509.Certificate]
) -> None:
    async with FakeGraph() as fake, serving(fake, tmp_path, jwks_url=fake.jwks_url) as setup:
        assert setup.graph.rich is None
        # A subscription with resource data that this service did not ask for (say, made by
        # hand with another certificate): what it brings cannot be checked here.
        created = await setup.graph.client.create_subscription(
            NewSubscription(
                resource=TENANT_WIDE,
                notification_url=setup.webhook,
                expiration=datetime.now(UTC) + timedelta(minutes=50),
                client_state=CLIENT_STATE,
                include_resource_data=True,
                encryption_certificate=base64.b64encode(
                    certificate[1].public_bytes(serialization.Encoding.DER)
                ).decode(),
                encryption_certificate_id=CERTIFICATE_ID,
            )
        )
        transcript = fake.add_transcript(setup.meeting(), VTT)
        payload = fake.rich_change_notification(transcript, created.id, CLIENT_STATE)

        async with setup.api.http.post(setup.webhook, json=payload) as response:
            assert response.status == 400
            error = (await response.json())["error"]
        assert "no encryption certificate is configured" in error["message"]
        async with setup.api.service.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(GraphInbox)) == 0
        assert _key_fetches(fake) == 0


async def test_unreachable_signing_keys_answer_503_so_graph_retries(
    tmp_path: Path, certificate_pem: Path
) -> None:
    async with (
        FakeGraph() as fake,
        serving(
            fake,
            tmp_path / "data",
            encryption_certificate_path=certificate_pem,
            encryption_certificate_id=CERTIFICATE_ID,
            jwks_url=f"http://127.0.0.1:{free_port()}/common/discovery/v2.0/keys",
        ) as setup,
    ):
        subscription = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
        transcript = fake.add_transcript(setup.meeting(), VTT)
        payload = fake.rich_change_notification(transcript, subscription.id, CLIENT_STATE)

        for _ in range(2):  # the second within the refetch interval: still not judged
            async with setup.api.http.post(setup.webhook, json=payload) as response:
                assert response.status == 503
                error = (await response.json())["error"]
            assert "signing keys" in error["message"]
        assert await _inbox(setup) == []
