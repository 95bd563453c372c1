"""A Teams meeting from its end to the rep's card, with the models running: the bot hears the
meeting end, the transcript is looked for, Graph announces it twice and out of order, it is
downloaded once, one run is processed and its card appears in the rep's chat. And a meeting
that only has a recording, transcribed with faster-whisper.

Local Graph and Bot Framework (tests/fakes), the real msgraph-sdk, azure-identity and Agents
SDK, and the real demo models.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import av
from pydantic import SecretStr
from sqlalchemy import select

from smartnotes.settings import BotSettings, Settings
from smartnotes.storage.models import MeetingEnd, MeetingMedia, Run, RunCard
from tests.api_client import Api, running_api
from tests.fakes.bot_framework import FakeBotFramework, TeamsUser
from tests.fakes.graph import FakeGraph
from tests.integration.test_graph_meetings import CLIENT_STATE, TENANT, free_port, graph_settings
from tests.seed import seed_user

SAMPLES = Path(__file__).parents[2] / "smartnotes" / "samples"


def settings_for(
    tmp_path: Path,
    bf: FakeBotFramework,
    graph: FakeGraph,
    database: SecretStr | None,
    **changes: Any,
) -> Settings:
    port = changes.pop("port")
    return Settings(
        data_dir=tmp_path,
        database_url=database,
        bot=BotSettings(
            app_id=bf.app_id,
            app_password=SecretStr(bf.app_password),
            openid_metadata_url=bf.openid_url,
            issuers=bf.issuer,
            authority_host=bf.authority,
            disable_instance_discovery=True,
            ca_file=bf.ca_file,
            tenant=TENANT,
            card_update_interval=0.05,
        ),
        graph=graph_settings(graph, notification_url=f"http://127.0.0.1:{port}", **changes),
    )


async def installed_rep(bf: FakeBotFramework, api: Api) -> TeamsUser:
    user = bf.add_user("Maria Chen", tenant_id=bf.tenant_id)
    await seed_user(api.service.sessions, TENANT, user.email, "Maria Chen")
    status, _ = await bf.deliver(api.url("/api/messages"), bf.installation_add(user))
    assert status in (200, 201, 202)
    return user


async def until(check: Any, seconds: float = 480.0) -> Any:
    async def poll() -> Any:
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), timeout=seconds)


async def test_a_meeting_ends_and_its_card_appears_once(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    port = free_port()
    async with FakeBotFramework() as bf, FakeGraph() as graph:
        settings = settings_for(tmp_path, bf, graph, service_database, port=port)
        async with running_api(settings, port=port) as api:
            user = await installed_rep(bf, api)
            ref = graph.add_meeting(
                user.aad_object_id,
                organizer_upn=user.email,
                organizer_name=user.name,
                attendees=[
                    ("4c1d2e3f-0a1b-4c2d-8e3f-5a6b7c8d9e0f", "daniel@contoso.example", None)
                ],
            )
            join_url = graph.join_url(ref)
            ended = bf.meeting_end(user, "MCMxOTptZWV0aW5nX2VuZA", join_url)
            status, _ = await bf.deliver(api.url("/api/messages"), ended)
            assert status in (200, 201, 202)

            async def polled() -> bool:
                async with api.service.sessions() as session:
                    row = (await session.execute(select(MeetingEnd))).scalar_one()
                return row.polls >= 1  # looked, found nothing yet (transcripts lag)

            await until(polled, 30)
            transcript = graph.add_transcript(ref, (SAMPLES / "sales_call.vtt").read_text())
            webhook = api.url("/webhooks/graph")
            created = graph.change_notification(transcript, "sub-1", CLIENT_STATE)
            updated = graph.change_notification(
                transcript, "sub-1", CLIENT_STATE, change_type="updated"
            )
            answers = [await graph.send(webhook, updated)]
            answers += await asyncio.gather(
                graph.send(webhook, created), graph.send(webhook, created)
            )
            assert [status for status, _ in answers] == [202, 202, 202]

            async def run_ready() -> Run | None:
                async with api.service.sessions() as session:
                    runs = list((await session.execute(select(Run))).scalars())
                assert len(runs) <= 1, "one run per transcript"
                return runs[0] if runs and runs[0].status == "needs_review" else None

            run = await until(run_ready)
            teams = api.service.teams
            assert teams is not None
            await teams.cards.idle()
            assert graph.downloads[transcript] == 1
            async with api.service.sessions() as session:
                shown = await session.get(RunCard, run.id)
            assert shown is not None, "the run's card was posted"
            [card] = [
                a["attachments"][0]["content"]
                for a in bf.messages(user.conversation_id)
                if a["id"] == shown.activity_id
            ]
            assert "quote" in str(card).lower()  # the review, with the call's tasks
            async with api.service.sessions() as session:
                media = list((await session.execute(select(MeetingMedia))).scalars())
                [meeting_end] = (await session.execute(select(MeetingEnd))).scalars()
            assert [(m.status, m.run_id) for m in media] == [("submitted", run.id)]
            # The poll found the transcript too, or the notification beat it: one run anyway.
            assert meeting_end.status in ("pending", "found")


def recording_mp4() -> bytes:
    """The sample call as a Teams recording would carry it: AAC audio in an mp4."""
    target = io.BytesIO()
    with (
        av.open(str(SAMPLES / "sales_call_excerpt.wav")) as source,
        av.open(target, "w", format="mp4") as output,
    ):
        stream = output.add_stream("aac", rate=16000, layout="mono")
        assert isinstance(stream, av.AudioStream)
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return target.getvalue()


async def test_a_meeting_with_only_a_recording_is_transcribed(
    tmp_path: Path, service_database: SecretStr | None
) -> None:
    port = free_port()
    async with FakeBotFramework() as bf, FakeGraph() as graph:
        settings = settings_for(
            tmp_path, bf, graph, service_database, port=port, recording_after_minutes=0
        )
        async with running_api(settings, port=port) as api:
            user = await installed_rep(bf, api)
            ref = graph.add_meeting(
                user.aad_object_id, organizer_upn=user.email, organizer_name=user.name
            )
            recording = graph.add_recording(ref, await asyncio.to_thread(recording_mp4))
            join_url = graph.join_url(ref)
            ended = bf.meeting_end(user, "MCMxOTptZWV0aW5nX3JlYw", join_url)
            status, _ = await bf.deliver(api.url("/api/messages"), ended)
            assert status in (200, 201, 202)

            async def run_done() -> Run | None:
                async with api.service.sessions() as session:
                    runs = list((await session.execute(select(Run))).scalars())
                return runs[0] if runs and runs[0].status in ("needs_review", "failed") else None

            run = await until(run_done)
            assert run.status == "needs_review", run.error
            assert graph.downloads[recording] == 1
            status, view = await api.call(
                "GET", f"/api/runs/{run.id}", as_user=(TENANT, user.email)
            )
            assert status == 200
            steps = {step["step"]: step["status"] for step in view["steps"]}
            assert steps.get("transcribing") == "done", steps
