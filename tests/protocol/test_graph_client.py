"""GraphClient against the local Graph: the real msgraph-sdk (its request builders, its
middleware, its retry handler) and a real azure-identity credential that gets its token from
the fake's https token endpoint.

What is asserted about retries comes from the fake's request log (what reached the server,
and when), not from timing the client.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from azure.core.credentials_async import AsyncTokenCredential

from graph.client import GraphClient
from graph.credentials import make_credential
from graph.types import (
    GraphAuthError,
    GraphError,
    GraphNotFoundError,
    GraphPaymentRequiredError,
    GraphThrottledError,
    MeetingRef,
    NewSubscription,
    Person,
)
from tests.fakes.graph import FakeGraph, WebhookEndpoint

ORGANIZER = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
OTHER_ORGANIZER = "0d3bb2a4-52c1-4f0c-9a1e-8f0b7c6d5e4a"
ATTENDEE = ("3c9e7a51-1f2b-4d6e-8a0c-5b4d3e2f1a09", "ana.ruiz@contoso.test", "Ana Ruiz")
VTT = (
    "WEBVTT\n\n"
    "00:00:01.000 --> 00:00:04.000\n<v Rep Person>Thanks for joining.</v>\n\n"
    "00:00:05.000 --> 00:00:09.000\n<v Ana Ruiz>Send me the quote by Friday.</v>\n"
)
CLIENT_STATE = "a-client-state-of-at-least-thirty-two-characters"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    async with FakeGraph(page_size=2) as graph:
        yield graph


def _credential(fake: FakeGraph, *, secret: str | None = None) -> AsyncTokenCredential:
    # The real azure-identity ClientSecretCredential, over https to the fake's token endpoint.
    return make_credential(
        "secret",
        fake.tenant_id,
        fake.client_id,
        secret=secret or fake.client_secret,
        authority=fake.authority,
        disable_instance_discovery=True,
        ca_file=fake.ca_file,
    )


def _client(fake: FakeGraph, **options: object) -> GraphClient:
    settings: dict[str, object] = {"max_retries": 2, "max_retry_delay": 5.0, **options}
    return GraphClient(_credential(fake), base_url=fake.base_url, **settings)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def graph(fake: FakeGraph) -> AsyncIterator[GraphClient]:
    async with _client(fake) as client:
        yield client


def _meeting(fake: FakeGraph, organizer: str = ORGANIZER) -> MeetingRef:
    return fake.add_meeting(
        organizer,
        attendees=[ATTENDEE],
        organizer_upn="rep.person@contoso.test",
        organizer_name="Rep Person",
        subject="Contoso renewal",
    )


# -- meetings --------------------------------------------------------------------------------


async def test_get_meeting_returns_the_organizer_and_attendees(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)

    meeting = await graph.get_meeting(ref)

    assert meeting.ref == ref
    assert meeting.organizer == Person(ORGANIZER, "rep.person@contoso.test", "Rep Person")
    assert meeting.attendees == (Person(*ATTENDEE),)
    assert meeting.subject == "Contoso renewal"
    assert meeting.start is not None
    assert meeting.start.tzinfo is not None
    assert meeting.end is not None
    assert meeting.start < meeting.end
    assert meeting.join_url is not None
    assert meeting.join_url.startswith("https://teams.")
    (call,) = fake.calls("GET", contains="/onlineMeetings/")
    assert call.path == f"/v1.0/users/{ORGANIZER}/onlineMeetings/{ref.meeting_id}"
    assert call.authorization is not None
    assert call.authorization.startswith("Bearer ")


async def test_find_meeting_by_join_url_filters_on_join_web_url(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    _meeting(fake)
    join_url = (await graph.get_meeting(ref)).join_url
    assert join_url is not None

    found = await graph.find_meeting_by_join_url(ORGANIZER, join_url)
    missing = await graph.find_meeting_by_join_url(ORGANIZER, join_url + "x")

    assert found is not None
    assert found.ref == ref
    assert missing is None
    query = fake.calls("GET", contains="/onlineMeetings")[-1].query
    assert query["$filter"] == f"JoinWebUrl eq '{join_url}x'"


async def test_a_missing_meeting_is_not_found(fake: FakeGraph, graph: GraphClient) -> None:
    with pytest.raises(GraphNotFoundError) as caught:
        await graph.get_meeting(MeetingRef(ORGANIZER, "no-such-meeting"))
    assert caught.value.status == 404
    assert caught.value.code == "NotFound"


# -- transcripts and recordings --------------------------------------------------------------


async def test_transcripts_are_listed_over_pages_and_downloaded_as_vtt(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    ids = [fake.add_transcript(ref, VTT) for _ in range(3)]

    transcripts = await graph.list_transcripts(ref)
    content = await graph.transcript_content(ref, ids[0])
    metadata = await graph.transcript_metadata(ref, ids[0])

    assert [t.id for t in transcripts] == ids
    assert all(t.ref == ref and t.created is not None and t.call_id for t in transcripts)
    # Three transcripts at two a page: two requests, the second from the nextLink.
    assert len(fake.calls("GET", contains="/transcripts")) == 2 + 2
    assert content.decode() == VTT
    assert fake.calls("GET", contains="/content")[0].accept == "text/vtt"
    assert fake.downloads[ids[0]] == 1
    assert b'"speakerName": "Ana Ruiz"' in metadata


async def test_a_missing_transcript_is_not_found(fake: FakeGraph, graph: GraphClient) -> None:
    ref = _meeting(fake)
    with pytest.raises(GraphNotFoundError):
        await graph.transcript_content(ref, "no-such-transcript")


async def test_recordings_are_listed_and_downloaded(fake: FakeGraph, graph: GraphClient) -> None:
    ref = _meeting(fake)
    mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    recording_id = fake.add_recording(ref, mp4)

    recordings = await graph.list_recordings(ref)
    content = await graph.recording_content(ref, recording_id, max_bytes=len(mp4))

    assert [(r.id, r.ref) for r in recordings] == [(recording_id, ref)]
    assert content == mp4
    assert fake.downloads[recording_id] == 1


async def test_a_recording_over_max_bytes_is_refused(fake: FakeGraph, graph: GraphClient) -> None:
    ref = _meeting(fake)
    recording_id = fake.add_recording(ref, b"\x00" * 5000)

    with pytest.raises(GraphError) as caught:
        await graph.recording_content(ref, recording_id, max_bytes=1000)

    assert caught.value.code == "contentTooLarge"
    assert "5000 bytes" in caught.value.message
    assert "1000" in caught.value.message


# -- errors and retries ----------------------------------------------------------------------


async def test_402_names_the_billing_setup_and_is_not_retried(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    transcript_id = fake.add_transcript(ref, VTT)
    fake.billing_enabled = False

    with pytest.raises(GraphPaymentRequiredError) as caught:
        await graph.transcript_content(ref, transcript_id)

    assert caught.value.status == 402
    assert caught.value.code == "PaymentRequired"
    assert "link an Azure subscription to the app registration" in caught.value.message
    assert len(fake.calls(contains="/content")) == 1
    assert fake.downloads[transcript_id] == 0


async def test_a_402_on_a_recording_is_not_retried_either(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    recording_id = fake.add_recording(ref, b"mp4")
    fake.fail_next("/content", 402, times=5)

    with pytest.raises(GraphPaymentRequiredError):
        await graph.recording_content(ref, recording_id, max_bytes=1024)

    assert len(fake.calls(contains="/content")) == 1


async def test_429_waits_for_retry_after_then_retries(fake: FakeGraph, graph: GraphClient) -> None:
    ref = _meeting(fake)
    transcript_id = fake.add_transcript(ref, VTT)
    fake.fail_next("/transcripts", 429, retry_after=1)

    transcripts = await graph.list_transcripts(ref)

    assert [t.id for t in transcripts] == [transcript_id]
    first, second = fake.calls("GET", contains="/transcripts")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95


async def test_503_beyond_max_retries_is_throttled_with_retry_after(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    fake.fail_next(f"/onlineMeetings/{ref.meeting_id}", 503, retry_after=1, times=10)

    with pytest.raises(GraphThrottledError) as caught:
        await graph.get_meeting(ref)

    assert caught.value.status == 503
    assert caught.value.retry_after == 1.0
    # The first attempt and max_retries=2 more, each after the second Graph asked for.
    calls = fake.calls("GET", contains=ref.meeting_id)
    assert [c.status for c in calls] == [503, 503, 503]
    assert calls[2].at - calls[0].at >= 1.9


async def test_a_retry_after_beyond_the_ceiling_is_not_waited_for(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    fake.fail_next(f"/onlineMeetings/{ref.meeting_id}", 429, retry_after=120)

    with pytest.raises(GraphThrottledError) as caught:
        await graph.get_meeting(ref)

    assert caught.value.retry_after == 120.0
    assert len(fake.calls("GET", contains=ref.meeting_id)) == 1


async def test_a_refused_token_is_an_auth_error_before_any_graph_call(fake: FakeGraph) -> None:
    ref = _meeting(fake)
    wrong = _credential(fake, secret="wrong")  # noqa: S106 - refused on purpose
    client = GraphClient(wrong, base_url=fake.base_url)
    async with client:
        with pytest.raises(GraphAuthError) as caught:
            await client.get_meeting(ref)

    assert caught.value.code == "tokenRefused"
    assert "AADSTS7000215" in caught.value.message
    assert fake.calls() == []


async def test_an_expired_token_is_an_auth_error(fake: FakeGraph, graph: GraphClient) -> None:
    ref = _meeting(fake)
    await graph.get_meeting(ref)
    fake.expire_tokens()

    with pytest.raises(GraphAuthError) as caught:
        await graph.get_meeting(ref)

    assert (caught.value.status, caught.value.code) == (401, "InvalidAuthenticationToken")


async def test_a_missing_access_policy_is_an_auth_error(
    fake: FakeGraph, graph: GraphClient
) -> None:
    ref = _meeting(fake)
    fake.fail_next("/onlineMeetings", 403)

    with pytest.raises(GraphAuthError) as caught:
        await graph.get_meeting(ref)

    assert caught.value.status == 403
    assert "application access policy" in caught.value.message


async def test_an_unreachable_graph_is_status_0(fake: FakeGraph) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there once the probe is closed.
    client = GraphClient(_credential(fake), base_url=f"http://127.0.0.1:{port}/v1.0")
    async with client:
        with pytest.raises(GraphError) as caught:
            await client.get_meeting(MeetingRef(ORGANIZER, "m"))

    assert (caught.value.status, caught.value.code) == (0, "unreachable")


# -- getAllTranscripts and its delta ---------------------------------------------------------


async def test_all_transcripts_follows_every_page_then_delta_returns_only_new_ones(
    fake: FakeGraph, graph: GraphClient
) -> None:
    first, second = _meeting(fake), _meeting(fake)
    other = _meeting(fake, OTHER_ORGANIZER)
    old = fake.add_transcript(first, VTT, created=datetime.now(UTC) - timedelta(days=5))
    initial = [fake.add_transcript(ref, VTT) for ref in (first, second, first, second, first)]
    fake.add_transcript(other, VTT)

    full = await graph.all_transcripts(ORGANIZER, start=datetime.now(UTC) - timedelta(days=1))

    assert [t.id for t in full.transcripts] == initial
    assert old not in [t.id for t in full.transcripts]
    assert {t.ref for t in full.transcripts} == {first, second}
    assert full.delta_link is not None
    # Five transcripts at two a page: three requests, each after the first from a nextLink.
    pages = fake.calls("GET", contains="getAllTranscripts")
    assert len(pages) == 3
    assert "meetingOrganizerUserId='" + ORGANIZER + "'" in pages[0].path
    assert pages[0].path.endswith("/delta")
    assert all("$skiptoken" in p.query for p in pages[1:])

    added = [fake.add_transcript(second, VTT), fake.add_transcript(first, VTT)]
    fake.add_transcript(other, VTT)
    later = await graph.all_transcripts(ORGANIZER, delta_link=full.delta_link)

    assert [t.id for t in later.transcripts] == added
    assert later.delta_link is not None
    assert later.delta_link != full.delta_link
    nothing_new = await graph.all_transcripts(ORGANIZER, delta_link=later.delta_link)
    assert nothing_new.transcripts == ()


# -- subscriptions ---------------------------------------------------------------------------


def _new_subscription(endpoint: WebhookEndpoint, **changes: object) -> NewSubscription:
    fields: dict[str, object] = {
        "resource": f"users/{ORGANIZER}/onlineMeetings/getAllTranscripts",
        "notification_url": endpoint.url,
        "lifecycle_url": endpoint.url,
        "expiration": datetime.now(UTC) + timedelta(minutes=4200),
        "client_state": CLIENT_STATE,
        **changes,
    }
    return NewSubscription(**fields)  # type: ignore[arg-type]


async def test_a_subscription_is_created_renewed_reauthorized_listed_and_deleted(
    fake: FakeGraph, graph: GraphClient
) -> None:
    async with WebhookEndpoint() as endpoint:
        created = await graph.create_subscription(_new_subscription(endpoint))

        # Graph validated both URLs before answering.
        assert len(endpoint.tokens) == 2
        assert created.resource == f"users/{ORGANIZER}/onlineMeetings/getAllTranscripts"
        assert created.change_type == "created"
        assert created.notification_url == endpoint.url
        assert created.lifecycle_url == endpoint.url
        assert fake.subscriptions[created.id]["clientState"] == CLIENT_STATE

        later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=4300)
        renewed = await graph.renew_subscription(created.id, later)
        assert renewed.id == created.id
        assert renewed.expiration == later

        await graph.reauthorize_subscription(created.id)
        assert fake.subscriptions[created.id]["reauthorized"] == 1

        assert [s.id for s in await graph.list_subscriptions()] == [created.id]
        await graph.delete_subscription(created.id)
        assert await graph.list_subscriptions() == []
        with pytest.raises(GraphNotFoundError):
            await graph.delete_subscription(created.id)


async def test_subscription_fails_when_the_endpoint_does_not_echo_the_token(
    fake: FakeGraph, graph: GraphClient
) -> None:
    async with WebhookEndpoint(validation="wrong") as endpoint:
        with pytest.raises(GraphError) as caught:
            await graph.create_subscription(_new_subscription(endpoint))

    assert caught.value.status == 400
    assert caught.value.code == "ValidationError"
    assert "validationToken" in caught.value.message
    assert fake.subscriptions == {}
    # A failed creation is an answer, not a throttle: not retried.
    assert len(fake.calls("POST", contains="/subscriptions")) == 1


async def test_subscription_expiration_beyond_three_days_is_refused(
    fake: FakeGraph, graph: GraphClient
) -> None:
    async with WebhookEndpoint() as endpoint:
        too_long = _new_subscription(endpoint, expiration=datetime.now(UTC) + timedelta(days=4))
        with pytest.raises(GraphError) as caught:
            await graph.create_subscription(too_long)

    assert caught.value.status == 400
    assert "4320 minutes" in caught.value.message
    assert endpoint.tokens == []


# -- credentials and transport options -------------------------------------------------------


async def test_a_certificate_credential_gets_a_token_with_a_signed_assertion(
    fake: FakeGraph,
) -> None:
    ref = _meeting(fake)
    credential = make_credential(
        "certificate",
        fake.tenant_id,
        fake.client_id,
        certificate_path=fake.client_certificate_path,
        authority=fake.authority,
        disable_instance_discovery=True,
        ca_file=fake.ca_file,
    )
    async with GraphClient(credential, base_url=fake.base_url) as client:
        meeting = await client.get_meeting(ref)

    assert meeting.ref == ref
    (grant,) = [r for r in fake.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert grant.body["client_assertion_type"].endswith(":jwt-bearer")
    assert "client_secret" not in grant.body


async def test_graph_over_https_trusts_the_given_ca_file(fake: FakeGraph) -> None:
    ref = _meeting(fake)
    client = GraphClient(_credential(fake), base_url=fake.https_base_url, ca_file=fake.ca_file)
    async with client:
        assert (await client.get_meeting(ref)).ref == ref


def test_plain_http_is_refused_for_anything_but_a_loopback_host() -> None:
    with pytest.raises(ValueError, match="must be https"):
        GraphClient(
            make_credential("managed_identity", "", ""), base_url="http://graph.example/v1.0"
        )
