"""Teams meetings in through Microsoft Graph, against a local Graph (tests/fakes/graph.py) with
the real msgraph-sdk and azure-identity pointed at it: the webhook's checks, one download and
one run however often (and in whatever order) a transcript is announced, the catch-up that
finds what no notification announced, the meeting-end poll, the licence check before any
download, subscriptions kept alive, and the errors an admin must see.

API-only services (no models; runs wait in the queue) except where a run must be processed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select, update

from graph.types import MeetingRef
from smartnotes import directory
from smartnotes.meetings.media import MAX_ATTEMPTS
from smartnotes.meetings.runtime import GraphRuntime
from smartnotes.meetings.sync import TENANT_WIDE
from smartnotes.runs.gate import Skip, skipped_calls
from smartnotes.settings import GraphSettings, Settings
from smartnotes.storage.models import (
    AuditEntry,
    GraphInbox,
    GraphSubscription,
    MeetingEnd,
    MeetingMedia,
    Run,
    RunSource,
    User,
)
from tests.api_client import Api, running_api
from tests.fakes.graph import FakeGraph
from tests.seed import TERMS, seed_user

TENANT = "northwind"
CLIENT_STATE = "graph-client-state-" + "k" * 24
MARIA = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
DANIEL = "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b"
OUTSIDER = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
<v Maria Chen>Thanks for joining, Daniel. I will send you the revised quote by Friday.</v>

00:00:06.500 --> 00:00:11.000
<v Daniel Ortiz>Great. Please include annual pricing, we need it for the budget review.</v>
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def graph_settings(fake: FakeGraph, **changes: Any) -> GraphSettings:
    values: dict[str, Any] = {
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "authority_host": fake.authority,
        "disable_instance_discovery": True,
        "ca_file": fake.ca_file,
        "base_url": fake.base_url,
        "tenant": TENANT,
        "client_state": SecretStr(CLIENT_STATE),
        "max_retries": 2,
        "max_retry_delay": 5.0,
        "poll_first_seconds": 0.2,
        "poll_max_seconds": 0.5,
    }
    values.update(changes)
    return GraphSettings(**values)


@dataclass
class Setup:
    fake: FakeGraph
    api: Api
    port: int

    @property
    def graph(self) -> GraphRuntime:
        runtime = self.api.service.graph
        assert runtime is not None
        return runtime

    @property
    def webhook(self) -> str:
        return self.api.url("/webhooks/graph")

    async def rep(self, email: str, name: str, object_id: str | None = None) -> str:
        user_id = await seed_user(self.api.service.sessions, TENANT, email, name)
        if object_id is not None:
            async with self.api.service.sessions() as session:
                await session.execute(
                    update(User).where(User.id == user_id).values(aad_object_id=object_id)
                )
                await session.commit()
        return user_id

    def meeting(self, **kwargs: Any) -> MeetingRef:
        """Maria's call with Daniel from Contoso (a customer, not in our tenant)."""
        kwargs.setdefault("organizer_upn", "maria@northwind.example")
        kwargs.setdefault("organizer_name", "Maria Chen")
        kwargs.setdefault("attendees", [(DANIEL, "daniel@contoso.example", "Daniel Ortiz")])
        return self.fake.add_meeting(kwargs.pop("organizer", MARIA), **kwargs)

    async def runs(self) -> list[Run]:
        async with self.api.service.sessions() as session:
            return list((await session.execute(select(Run).order_by(Run.created_at))).scalars())

    async def media(self) -> list[MeetingMedia]:
        async with self.api.service.sessions() as session:
            rows = await session.execute(select(MeetingMedia).order_by(MeetingMedia.id))
            return list(rows.scalars())


@pytest_asyncio.fixture
async def setup(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Setup]:
    async with FakeGraph() as fake:
        port = free_port()
        settings = Settings(
            data_dir=tmp_path,
            database_url=service_database,
            graph=graph_settings(fake, notification_url=f"http://127.0.0.1:{port}"),
        )
        async with running_api(settings, process=False, port=port) as api:
            yield Setup(fake, api, port)


# The webhook -------------------------------------------------------------------------------


async def test_the_validation_handshake_echoes_the_token_as_plain_text(setup: Setup) -> None:
    for path in ("/webhooks/graph", "/webhooks/graph/lifecycle"):
        async with setup.api.http.post(
            setup.api.url(path), params={"validationToken": "Validation: Testing client 1+2"}
        ) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            assert await response.text() == "Validation: Testing client 1+2"


async def test_subscribe_passes_graphs_own_check_of_both_urls_and_is_stored(
    setup: Setup,
) -> None:
    row = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
    stored = setup.fake.subscriptions[row.id]
    assert stored["resource"] == TENANT_WIDE
    assert stored["notificationUrl"] == setup.webhook
    assert stored["lifecycleNotificationUrl"] == setup.api.url("/webhooks/graph/lifecycle")
    assert stored["clientState"] == CLIENT_STATE
    assert len(setup.fake.validations) == 2  # Graph checked both URLs and got its token back
    assert all(status == 200 for _, status, _ in setup.fake.validations)

    again = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
    assert again.id == row.id, "an active subscription is not created twice"
    assert len(setup.fake.calls("POST", contains="/subscriptions")) == 1


async def test_wrong_or_missing_client_state_is_refused_and_nothing_is_kept(
    setup: Setup,
) -> None:
    ref = setup.meeting()
    transcript = setup.fake.add_transcript(ref, VTT)
    for state in ("not-the-secret-" + "x" * 30, None):
        payload = setup.fake.change_notification(transcript, "sub-1", state)
        status, _ = await setup.fake.send(setup.webhook, payload)
        assert status == 403
    for body in (b"{not json", b'{"value": "nope"}', b"[]"):
        async with setup.api.http.post(
            setup.webhook, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400
    async with setup.api.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(GraphInbox)) == 0
    await setup.graph.work_once()
    assert setup.fake.calls(contains="/onlineMeetings") == []


async def test_a_poison_notification_is_retried_then_parked_and_the_others_flow(
    setup: Setup,
) -> None:
    """Graph answers one meeting with something we cannot read: that transcript is tried
    again with a backoff and parked with its error after the last attempt; another meeting's
    transcript notified at the same time makes its run all the same."""
    await setup.rep("maria@northwind.example", "Maria Chen")
    poison_ref, good_ref = setup.meeting(), setup.meeting(subject="Renewal")
    poison = setup.fake.add_transcript(poison_ref, VTT)
    good = setup.fake.add_transcript(good_ref, VTT)
    setup.fake.garble_next(f"/onlineMeetings/{poison_ref.meeting_id}")
    for transcript in (poison, good):
        payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
        assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()

    runs = await setup.runs()
    assert [run.call_id for run in runs] == [good_ref.meeting_id], "the good one flowed"
    rows = {row.item_id: row for row in await setup.media()}
    parked = rows[poison]
    assert parked.status == "pending"
    assert parked.error is not None
    assert parked.next_attempt_at is not None
    assert parked.next_attempt_at > datetime.now(UTC), "backed off, not hammered"
    async with setup.api.service.sessions() as session:
        inbox = (await session.execute(select(GraphInbox.status))).scalars().all()
    assert sorted(inbox) == ["done", "done"], "the inbox is not held up by it"

    for _ in range(MAX_ATTEMPTS - 1):  # time passes; every later attempt finds it garbled
        setup.fake.garble_next(f"/onlineMeetings/{poison_ref.meeting_id}")
        async with setup.api.service.sessions() as session:
            await session.execute(update(MeetingMedia).values(next_attempt_at=None))
            await session.commit()
        await setup.graph.work_alone()
    rows = {row.item_id: row for row in await setup.media()}
    parked = rows[poison]
    assert parked.status == "failed", "parked after its last attempt"
    assert parked.error is not None
    assert f"gave up after {MAX_ATTEMPTS} attempts" in parked.error
    assert setup.fake.downloads[poison] == 0
    assert setup.fake.downloads[good] == 1


async def test_notifications_twice_and_out_of_order_make_one_download_and_one_run(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    ref = setup.meeting()
    transcript = setup.fake.add_transcript(ref, VTT)
    created = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    updated = setup.fake.change_notification(
        transcript, "sub-1", CLIENT_STATE, change_type="updated"
    )
    # An update overtaking the creation, then the creation delivered twice at once.
    answers = [await setup.fake.send(setup.webhook, updated)]
    answers += await asyncio.gather(
        setup.fake.send(setup.webhook, created), setup.fake.send(setup.webhook, created)
    )
    assert [status for status, _ in answers] == [202, 202, 202]
    assert max(elapsed for _, elapsed in answers) < 3.0, "Graph wants its answer within 3 s"

    await asyncio.gather(setup.graph.work_once(), setup.graph.work_once())
    status, _ = await setup.fake.send(setup.webhook, created)  # Graph retries late, too
    assert status == 202
    await setup.graph.work_once()

    assert setup.fake.downloads[transcript] == 1
    runs = await setup.runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.source == RunSource.TEAMS_MEETING
    assert run.call_id == ref.meeting_id
    assert {p["email"] for p in run.participants} == {
        "maria@northwind.example",
        "daniel@contoso.example",
    }
    assert run.transcript_ref is not None
    assert await asyncio.to_thread(Path(run.transcript_ref).read_text) == VTT
    [row] = await setup.media()
    assert (row.status, row.run_id, row.found_by) == ("submitted", run.id, "notification")
    async with setup.api.service.sessions() as session:
        inbox = list((await session.execute(select(GraphInbox.status))).scalars())
    assert inbox == ["done"] * 4


async def test_a_meeting_without_a_licensed_switched_on_participant_is_not_downloaded(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    async with setup.api.service.sessions() as session:
        await session.execute(
            update(User).where(User.email == "maria@northwind.example").values(enabled=False)
        )
        await session.commit()
    switched_off = setup.fake.add_transcript(setup.meeting(), VTT)
    strangers = setup.fake.add_transcript(
        setup.meeting(organizer=OUTSIDER, organizer_upn="sam@fabrikam.example"), VTT
    )
    for transcript in (switched_off, strangers):
        payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
        assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()

    assert setup.fake.downloads == {}
    assert await setup.runs() == []
    rows = await setup.media()
    assert [(r.status, r.error) for r in rows] == [
        ("skipped", "no licensed, switched-on participant")
    ] * 2


async def test_a_meeting_of_a_tenant_without_consent_is_not_read_at_all(setup: Setup) -> None:
    await seed_user(setup.api.service.sessions, TENANT, "maria@northwind.example", consent=False)
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()

    assert setup.fake.downloads == {}
    assert not [r for r in setup.fake.requests if "onlineMeetings" in r.path], "nor the meeting"
    assert await setup.runs() == []
    why = f"the tenant has not agreed to AI processing (terms {TERMS})"
    assert [(r.status, r.error) for r in await setup.media()] == [("skipped", why)]
    async with setup.api.service.sessions() as session:
        skipped = await skipped_calls(session, TENANT, Skip.NO_CONSENT)
    assert skipped == 1, "the admin's count of calls not processed includes the meeting"


async def test_the_licensed_attendee_owns_the_run_when_the_organizer_is_not_ours(
    setup: Setup,
) -> None:
    maria = await setup.rep("maria@northwind.example", "Maria Chen", MARIA)
    ref = setup.meeting(
        organizer=OUTSIDER,
        organizer_upn="sam@fabrikam.example",
        organizer_name="Sam Lee",
        attendees=[(MARIA, "maria@northwind.example", "Maria Chen")],
    )
    transcript = setup.fake.add_transcript(ref, VTT)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    [run] = await setup.runs()
    assert run.owner_id == maria


@pytest.mark.parametrize(
    ("mailbox", "granted", "expected"),
    [
        ("W. Europe Standard Time", True, "Europe/Berlin"),  # Exchange's Windows name
        ("Asia/Tokyo", True, "Asia/Tokyo"),
        ("Not A Zone", True, "America/Chicago"),  # unreadable: the tenant's default
        (None, True, "America/Chicago"),  # no mailbox (404)
        ("Pacific Standard Time", False, "America/Chicago"),  # no MailboxSettings.Read
    ],
)
async def test_a_meetings_deadlines_are_read_in_the_owners_mailbox_time_zone(
    setup: Setup, mailbox: str | None, granted: bool, expected: str
) -> None:
    maria = await setup.rep("maria@northwind.example", "Maria Chen", MARIA)
    async with setup.api.service.sessions() as session, session.begin():
        await directory.set_timezone(session, TENANT, None, "America/Chicago", by="test")
    if mailbox is not None:
        setup.fake.mailbox_zones[MARIA] = mailbox
    setup.fake.mailbox_settings_granted = granted
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    [run] = await setup.runs()
    assert run.timezone == expected
    async with setup.api.service.sessions() as session:
        user = await session.get(User, maria)
        assert user is not None
        # Learned once and kept; a default is not taken for the rep's own zone.
        assert user.timezone == (expected if expected != "America/Chicago" else None)


async def test_a_lost_notification_is_caught_by_the_delta_catch_up(setup: Setup) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen", MARIA)
    first = setup.fake.add_transcript(setup.meeting(), VTT)

    assert await setup.graph.catch_up() == 1  # one licensed organizer
    assert setup.fake.downloads[first] == 1
    assert len(await setup.runs()) == 1
    [row] = await setup.media()
    assert row.found_by == "catchup"

    await setup.graph.catch_up()  # nothing new: no second download, no second run
    assert setup.fake.downloads[first] == 1
    assert len(await setup.runs()) == 1

    second = setup.fake.add_transcript(setup.meeting(), VTT)
    await setup.graph.catch_up()
    assert setup.fake.downloads == {first: 1, second: 1}
    assert len(await setup.runs()) == 2
    delta_calls = setup.fake.calls("GET", contains="/delta")
    assert delta_calls, "later passes follow the delta link"


async def test_payment_required_is_an_admin_error_that_is_not_retried_and_the_rep_is_told(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    setup.fake.billing_enabled = False
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    await setup.graph.work_once()

    assert len(setup.fake.calls("GET", contains="/content")) == 1
    [row] = await setup.media()
    assert row.status == "failed"
    assert row.error is not None
    assert "402 Payment Required" in row.error
    assert "billing" in row.error
    async with setup.api.service.sessions() as session:
        actions = list((await session.execute(select(AuditEntry.action))).scalars())
    assert "graph_billing_required" in actions
    assert await setup.runs() == []
    status, body = await setup.api.call(
        "GET", "/api/notifications", as_user=(TENANT, "maria@northwind.example")
    )
    assert status == 200
    [told] = body["notifications"]
    assert "could not get the transcript" in told["message"]

    # The admin fixes billing and retries from the record.
    setup.fake.billing_enabled = True
    async with setup.api.service.sessions() as session:
        await session.execute(
            update(MeetingMedia).values(status="pending", attempts=0, next_attempt_at=None)
        )
        await session.commit()
    await setup.graph.work_once()
    assert len(await setup.runs()) == 1


async def test_throttling_is_waited_out_and_the_download_still_happens_once(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    setup.fake.fail_next("/content", 429, retry_after=1)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    assert len(setup.fake.calls("GET", contains="/content")) == 2  # refused once, then served
    assert setup.fake.downloads[transcript] == 1
    assert len(await setup.runs()) == 1


async def test_a_transcript_not_there_yet_is_tried_again_later(setup: Setup) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    # More 503s than the SDK retries (max_retries=2: three tries in all).
    setup.fake.fail_next("/content", 503, times=3)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    [row] = await setup.media()
    assert row.status == "pending"
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > datetime.now(UTC)
    assert row.error is not None

    assert len(setup.fake.calls("GET", contains="/content")) == 3
    async with setup.api.service.sessions() as session:
        await session.execute(update(MeetingMedia).values(next_attempt_at=None))
        await session.commit()
    await setup.graph.work_once()
    assert len(await setup.runs()) == 1


# Meeting end -------------------------------------------------------------------------------


async def _meeting_ended(setup: Setup, ref: MeetingRef, *, ago: timedelta) -> None:
    join_url = setup.fake.join_url(ref)
    async with setup.api.service.sessions() as session:
        session.add(
            MeetingEnd(
                tenant_id=TENANT,
                meeting_id="MCMxOTptZWV0aW5n",
                join_url=join_url,
                title="Customer call",
                ended_at=datetime.now(UTC) - ago,
                conversation_id="19:meeting_chat@thread.v2",
            )
        )
        await session.commit()


async def test_meeting_end_polls_until_the_transcript_appears_and_the_notification_is_a_no_op(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    ref = setup.meeting()
    await _meeting_ended(setup, ref, ago=timedelta(seconds=5))
    await setup.graph.work_once()  # no transcript yet: looked again later
    async with setup.api.service.sessions() as session:
        [ended] = (await session.execute(select(MeetingEnd))).scalars()
        assert (ended.status, ended.polls) == ("pending", 1)
        assert ended.organizer_id == MARIA  # resolved from the join URL
        assert ended.next_poll_at is not None

    transcript = setup.fake.add_transcript(ref, VTT)
    await asyncio.sleep(0.3)
    await setup.graph.work_once()
    assert len(await setup.runs()) == 1
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    assert setup.fake.downloads[transcript] == 1
    assert len(await setup.runs()) == 1
    [row] = await setup.media()
    assert row.found_by == "meeting_end"


async def test_meeting_end_gives_up_after_its_window_and_says_why(tmp_path: Path) -> None:
    async with FakeGraph() as fake:
        settings = Settings(data_dir=tmp_path, graph=graph_settings(fake, poll_window_minutes=1.0))
        async with running_api(settings, process=False) as api:
            setup = Setup(fake, api, 0)
            await setup.rep("maria@northwind.example", "Maria Chen")
            await _meeting_ended(setup, setup.meeting(), ago=timedelta(minutes=2))
            await setup.graph.work_once()
            async with api.service.sessions() as session:
                [ended] = (await session.execute(select(MeetingEnd))).scalars()
            assert ended.status == "none"
            assert ended.error is not None
            assert "no transcript or recording" in ended.error


async def test_meeting_end_stops_looking_when_graph_keeps_refusing_past_its_window(
    tmp_path: Path,
) -> None:
    async with FakeGraph() as fake:
        settings = Settings(data_dir=tmp_path, graph=graph_settings(fake, poll_window_minutes=1.0))
        async with running_api(settings, process=False) as api:
            setup = Setup(fake, api, 0)
            await setup.rep("maria@northwind.example", "Maria Chen")
            await _meeting_ended(setup, setup.meeting(), ago=timedelta(minutes=2))
            fake.fail_next("/onlineMeetings", 403)
            await setup.graph.work_once()
            async with api.service.sessions() as session:
                [ended] = (await session.execute(select(MeetingEnd))).scalars()
            assert ended.status == "failed"
            assert ended.error is not None
            assert "403" in ended.error


# Subscriptions -----------------------------------------------------------------------------


async def test_subscriptions_are_renewed_before_they_expire(setup: Setup) -> None:
    row = await setup.graph.subscriptions.subscribe(TENANT_WIDE)
    assert await setup.graph.subscriptions.renew_due() == 0  # days left: nothing to do
    soon = datetime.now(UTC) + timedelta(hours=2)
    async with setup.api.service.sessions() as session:
        await session.execute(update(GraphSubscription).values(expires_at=soon))
        await session.commit()
    assert await setup.graph.subscriptions.renew_due() == 1
    async with setup.api.service.sessions() as session:
        renewed = await session.get(GraphSubscription, row.id)
    assert renewed is not None
    assert renewed.expires_at > soon + timedelta(days=2)
    assert renewed.renewed_at is not None
    assert setup.fake.calls("PATCH", contains=f"/subscriptions/{row.id}")


async def test_lifecycle_events_reauthorize_recreate_and_catch_up(setup: Setup) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen", MARIA)
    lifecycle = setup.api.url("/webhooks/graph/lifecycle")
    row = await setup.graph.subscriptions.subscribe(TENANT_WIDE)

    payload = setup.fake.lifecycle_notification(row.id, "reauthorizationRequired", CLIENT_STATE)
    assert (await setup.fake.send(lifecycle, payload))[0] == 202
    await setup.graph.work_once()
    assert setup.fake.calls("POST", contains=f"/subscriptions/{row.id}/reauthorize")

    # Graph dropped the subscription; a transcript made meanwhile is found by the catch-up.
    lost = setup.fake.add_transcript(setup.meeting(), VTT)
    payload = setup.fake.lifecycle_notification(row.id, "subscriptionRemoved", CLIENT_STATE)
    assert (await setup.fake.send(lifecycle, payload))[0] == 202
    await setup.graph.work_once()
    async with setup.api.service.sessions() as session:
        rows = list((await session.execute(select(GraphSubscription))).scalars())
    assert sorted(r.status for r in rows) == ["active", "removed"]
    assert len(setup.fake.calls("POST", contains="/subscriptions")) >= 2
    await setup.graph.work_once()
    assert setup.fake.downloads[lost] == 1

    # A change notification on the lifecycle URL (or the reverse) is not taken.
    transcript_note = setup.fake.change_notification(lost, row.id, CLIENT_STATE)
    assert (await setup.fake.send(lifecycle, transcript_note))[0] == 403


async def test_graph_without_a_client_state_does_not_start(tmp_path: Path) -> None:
    async with FakeGraph() as fake:
        settings = Settings(data_dir=tmp_path, graph=graph_settings(fake, client_state=None))
        with pytest.raises(ValueError, match="CLIENT_STATE"):
            async with running_api(settings, process=False):
                pass


async def test_a_confidential_reps_transcript_is_kept_only_in_the_run(
    setup: Setup, tmp_path: Path
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    async with setup.api.service.sessions() as session:
        await session.execute(update(User).values(confidential_default=True))
        await session.commit()
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()

    [run] = await setup.runs()
    assert run.confidential
    [row] = await setup.media()
    assert (row.status, row.file_ref) == ("submitted", None)
    kept = await asyncio.to_thread(lambda: sorted((tmp_path / "graph").rglob("*.*")))
    assert kept == [], "no copy outside the run, whose own is deleted once processed"


async def test_after_a_crash_between_download_and_run_the_kept_copy_is_used(
    setup: Setup,
) -> None:
    await setup.rep("maria@northwind.example", "Maria Chen")
    transcript = setup.fake.add_transcript(setup.meeting(), VTT)
    payload = setup.fake.change_notification(transcript, "sub-1", CLIENT_STATE)
    assert (await setup.fake.send(setup.webhook, payload))[0] == 202
    await setup.graph.work_once()
    [run] = await setup.runs()
    # The state a kill -9 right after the download leaves: the row claimed by a worker that
    # is gone, the content on disk, no run committed. The next Graph job takes it back.
    async with setup.api.service.sessions() as session:
        await session.delete(await session.get(Run, run.id))
        await session.execute(
            update(MeetingMedia).values(
                status="working",
                run_id=None,
                next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        await session.commit()
    await setup.graph.work_once()
    assert [row.status for row in await setup.media()] == ["working"], "another worker's"
    await setup.graph.work_alone()
    assert setup.fake.downloads[transcript] == 1, "billed once: the kept copy was used"
    [again] = await setup.runs()
    [row] = await setup.media()
    assert (row.status, row.run_id) == ("submitted", again.id)


async def test_a_thousand_forged_notifications_are_one_warning(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    ref = setup.meeting()
    transcript = setup.fake.add_transcript(ref, VTT)
    one = setup.fake.change_notification(transcript, "sub-1", "forged-" + "x" * 30)
    forged = {"value": one["value"] * 1000}
    with caplog.at_level("WARNING", logger="smartnotes.web.graph"):
        status, _ = await setup.fake.send(setup.webhook, forged)
    assert status == 403
    lines = [r for r in caplog.records if r.name == "smartnotes.web.graph"]
    assert len(lines) == 1
    assert "1000 of 1000 notification(s)" in lines[0].getMessage()
