"""The local Graph's own contract, checked with a plain HTTP client and with our notification
parsers: what a request without a token gets, what the token endpoint refuses, the forms
of getAllTranscripts it accepts, Graph's subscription rules, and notifications (rich ones too:
encrypted to the subscription's certificate, vouched for by tokens its JWKS verifies) that
parse the way Microsoft documents them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization

from graph.ids import parse_media_resource
from graph.notifications import ChangeType, LifecycleEvent, NotificationError, parse_collection
from graph.rich_notifications import decrypt_content
from graph.validation_tokens import ValidationTokenChecker, keys_from_jwks
from tests.fakes.graph import GRAPH_SCOPE, FakeGraph, WebhookEndpoint
from tests.fakes.graph_support import notification_certificate

ORGANIZER = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Rep>Hello.</v>\n"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as graph:
        yield graph


async def _request(
    method: str, url: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, **kwargs) as response,
    ):
        raw = await response.read()
        try:
            return response.status, await response.json(content_type=None)
        except ValueError:
            return response.status, raw


def _grant(fake: FakeGraph, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "scope": GRAPH_SCOPE,
    }
    form.update(changes)
    return form


async def _token(fake: FakeGraph) -> str:
    status, body = await _request("POST", fake.token_url, data=_grant(fake))
    assert status == 200, body
    return str(body["access_token"])


async def test_graph_calls_need_a_token_the_fake_issued(fake: FakeGraph) -> None:
    url = f"{fake.base_url}/subscriptions"

    missing = await _request("GET", url)
    forged = await _request("GET", url, token="not-issued-here")  # noqa: S106
    granted = await _request("GET", url, token=await _token(fake))

    for status, body in (missing, forged):
        assert status == 401
        assert body["error"]["code"] == "InvalidAuthenticationToken"
        assert set(body["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert missing[1]["error"]["message"] == "Access token is empty."
    assert granted[0] == 200
    assert granted[1]["value"] == []


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"client_secret": "wrong"}, 401, 7000215),
        ({"client_id": "someone-else"}, 400, 700016),
        ({"scope": "https://graph.microsoft.com/User.Read"}, 400, 70011),
        ({"grant_type": "password"}, 400, 70003),
    ],
)
async def test_the_token_endpoint_refuses_with_entra_errors(
    fake: FakeGraph, changes: dict[str, str], status: int, code: int
) -> None:
    answer = await _request("POST", fake.token_url, data=_grant(fake, **changes))

    assert answer[0] == status
    assert answer[1]["error_codes"] == [code]
    assert answer[1]["error_description"].startswith(f"AADSTS{code}:")


async def test_an_unknown_tenant_gets_no_token(fake: FakeGraph) -> None:
    url = fake.token_url.replace(fake.tenant_id, "00000000-0000-0000-0000-000000000000")
    status, body = await _request("POST", url, data=_grant(fake))
    assert (status, body["error"]) == (400, "invalid_tenant")


async def test_get_all_transcripts_takes_arguments_inline_or_as_aliases(fake: FakeGraph) -> None:
    ref = fake.add_meeting(ORGANIZER)
    transcript_id = fake.add_transcript(ref, VTT)
    token = await _token(fake)
    base = f"{fake.base_url}/users/{ORGANIZER}/onlineMeetings"

    inline = await _request(
        "GET", f"{base}/getAllTranscripts(meetingOrganizerUserId='{ORGANIZER}')", token=token
    )
    # The form msgraph-sdk's generated builder sends: parameter aliases in the query.
    aliased = await _request(
        "GET",
        f"{base}/getAllTranscripts(meetingOrganizerUserId='@meetingOrganizerUserId',"
        "startDateTime=@startDateTime,endDateTime=@endDateTime)",
        params={
            "meetingOrganizerUserId": f"'{ORGANIZER}'",
            "startDateTime": "2020-01-01T00:00:00Z",
        },
        token=token,
    )
    without = await _request("GET", f"{base}/getAllTranscripts()", token=token)

    for status, body in (inline, aliased):
        assert status == 200
        assert [t["id"] for t in body["value"]] == [transcript_id]
        assert body["value"][0]["meetingOrganizer"]["user"]["id"] == ORGANIZER
    assert without[0] == 400


async def test_transcript_content_is_vtt_only(fake: FakeGraph) -> None:
    ref = fake.add_meeting(ORGANIZER)
    transcript_id = fake.add_transcript(ref, VTT)
    url = (
        f"{fake.base_url}/users/{ORGANIZER}/onlineMeetings/{ref.meeting_id}"
        f"/transcripts/{transcript_id}/content"
    )
    token = await _token(fake)

    vtt = await _request("GET", url, params={"$format": "text/vtt"}, token=token)
    docx = await _request("GET", url, params={"$format": "application/docx"}, token=token)

    assert vtt == (200, VTT.encode())
    assert docx[0] == 400
    assert fake.downloads[transcript_id] == 1


def _subscription(url: str, minutes: int, **changes: Any) -> dict[str, Any]:
    body = {
        "changeType": "created",
        "notificationUrl": url,
        "resource": "communications/onlineMeetings/getAllTranscripts",
        "expirationDateTime": (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(),
        "clientState": "state",
    }
    body.update(changes)
    return body


async def test_a_subscription_beyond_an_hour_needs_a_lifecycle_url(fake: FakeGraph) -> None:
    token = await _token(fake)
    url = f"{fake.base_url}/subscriptions"
    async with WebhookEndpoint() as endpoint:
        long = await _request("POST", url, json=_subscription(endpoint.url, 120), token=token)
        short = await _request("POST", url, json=_subscription(endpoint.url, 50), token=token)

    assert long[0] == 400
    assert "lifecycleNotificationUrl is required" in long[1]["error"]["message"]
    assert short[0] == 201
    assert short[1]["clientState"] == "state"
    # The validation token is URL-encoded text with spaces, and the endpoint saw it decoded.
    assert endpoint.tokens[0].startswith("Validation: ")


async def test_https_is_required_for_notification_urls_off_this_machine(fake: FakeGraph) -> None:
    body = _subscription("http://webhook.example/notify", 30)
    status, answer = await _request(
        "POST", f"{fake.base_url}/subscriptions", json=body, token=await _token(fake)
    )
    assert status == 400
    assert "https" in answer["error"]["message"]


async def test_a_slow_validation_answer_fails_the_subscription() -> None:
    async with (
        FakeGraph(validation_timeout=0.3) as fake,
        WebhookEndpoint(delay=1.0) as endpoint,
    ):
        status, answer = await _request(
            "POST",
            f"{fake.base_url}/subscriptions",
            json=_subscription(endpoint.url, 30),
            token=await _token(fake),
        )
    assert status == 400
    assert answer["error"]["code"] == "ValidationError"
    assert fake.subscriptions == {}


async def test_notifications_parse_as_documented_and_reach_the_endpoint(fake: FakeGraph) -> None:
    ref = fake.add_meeting(ORGANIZER)
    transcript_id = fake.add_transcript(ref, VTT)
    change = fake.change_notification(transcript_id, "sub-1", "state")
    lifecycle = fake.lifecycle_notification("sub-1", "reauthorizationRequired", "state")

    (created,) = parse_collection(change).value
    (challenge,) = parse_collection(lifecycle).value

    assert created.change_type is ChangeType.CREATED
    assert created.resource_data["@odata.type"] == "#Microsoft.Graph.callTranscript"
    assert created.resource is not None
    media = parse_media_resource(created.resource)
    assert media is not None
    assert (media.kind, media.item_id, media.meeting_id) == (
        "transcript",
        transcript_id,
        ref.meeting_id,
    )
    # The fake's meeting ids carry the organizer the way Teams' do.
    assert media.organizer_id == ORGANIZER
    assert challenge.lifecycle_event is LifecycleEvent.REAUTHORIZATION_REQUIRED

    async with WebhookEndpoint() as endpoint:
        status, elapsed = await fake.send(endpoint.url, change)
    assert status == 202
    assert elapsed < 3
    assert endpoint.received == [change]


async def test_rich_notifications_decrypt_and_verify_with_the_published_keys(
    fake: FakeGraph,
) -> None:
    key, certificate = notification_certificate()
    der = certificate.public_bytes(serialization.Encoding.DER)
    transcript_id = fake.add_transcript(fake.add_meeting(ORGANIZER), VTT)
    async with WebhookEndpoint() as endpoint:
        status, subscription = await _request(
            "POST",
            f"{fake.base_url}/subscriptions",
            json=_subscription(
                endpoint.url,
                30,
                includeResourceData=True,
                encryptionCertificate=base64.b64encode(der).decode(),
                encryptionCertificateId="cert-1",
            ),
            token=await _token(fake),
        )
    assert status == 201
    jwks_status, jwks = await _request("GET", fake.jwks_url)
    assert jwks_status == 200
    checker = ValidationTokenChecker([fake.client_id], [fake.tenant_id], keys_from_jwks(jwks))

    genuine = parse_collection(
        fake.rich_change_notification(transcript_id, subscription["id"], "state")
    )
    [validated] = checker.check_collection(genuine)
    [note] = genuine.value
    assert note.encrypted_content is not None
    resource = decrypt_content(note.encrypted_content, key, expected_certificate_id="cert-1")

    assert validated.tenant_id == fake.tenant_id
    assert resource["id"] == transcript_id
    assert resource["meetingOrganizer"]["user"]["id"] == ORGANIZER
    tampered = parse_collection(
        fake.rich_change_notification(transcript_id, subscription["id"], "state", tamper="data")
    )
    assert tampered.value[0].encrypted_content is not None
    with pytest.raises(NotificationError, match="dataSignature"):
        decrypt_content(tampered.value[0].encrypted_content, key, expected_certificate_id=None)
    for forged in (
        {"token_audience": "someone-else"},
        {"token_key": notification_certificate()[0]},
    ):
        collection = fake.rich_change_notification(
            transcript_id, subscription["id"], "state", **forged
        )
        with pytest.raises(NotificationError):
            checker.check_collection(parse_collection(collection))
