"""``smartnotes graph`` as an admin runs it, beside a running service: subscribing (Graph checks
the service's notification URL while the subscription is created), listing, status and retry."""

from __future__ import annotations

import os
from pathlib import Path

from smartnotes.settings import Settings
from tests.api_client import running_api
from tests.commands import smartnotes
from tests.fakes.graph import FakeGraph
from tests.integration.test_graph_meetings import (
    CLIENT_STATE,
    MARIA,
    TENANT,
    VTT,
    Setup,
    free_port,
    graph_settings,
)


def graph_env(fake: FakeGraph, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
    env.update(
        {
            "SMARTNOTES_DATA_DIR": str(data_dir),
            "COLUMNS": "200",
            "SMARTNOTES_GRAPH__TENANT_ID": fake.tenant_id,
            "SMARTNOTES_GRAPH__CLIENT_ID": fake.client_id,
            "SMARTNOTES_GRAPH__CLIENT_SECRET": fake.client_secret,
            "SMARTNOTES_GRAPH__AUTHORITY_HOST": fake.authority,
            "SMARTNOTES_GRAPH__DISABLE_INSTANCE_DISCOVERY": "true",
            "SMARTNOTES_GRAPH__CA_FILE": str(fake.ca_file),
            "SMARTNOTES_GRAPH__BASE_URL": fake.base_url,
            "SMARTNOTES_GRAPH__TENANT": TENANT,
            "SMARTNOTES_GRAPH__CLIENT_STATE": CLIENT_STATE,
            "SMARTNOTES_GRAPH__NOTIFICATION_URL": f"http://127.0.0.1:{port}",
        }
    )
    return env


async def test_subscribe_list_status_and_retry(tmp_path: Path) -> None:
    port = free_port()
    async with FakeGraph() as fake:
        settings = Settings(
            data_dir=tmp_path,
            graph=graph_settings(fake, notification_url=f"http://127.0.0.1:{port}"),
        )
        async with running_api(settings, process=False, port=port) as api:
            env = graph_env(fake, tmp_path, port)
            setup = Setup(fake, api, port)
            await setup.rep("maria@northwind.example", "Maria Chen", MARIA)

            code, out, err = await smartnotes(env, "graph", "subscribe")
            assert code == 0, err
            [subscription_id] = fake.subscriptions
            assert subscription_id in out
            assert fake.validations, "Graph checked the running service's URL"

            code, out, err = await smartnotes(env, "graph", "subscribe", "--user", "nobody@x.test")
            assert code == 2
            assert "nobody@x.test" in err
            code, out, err = await smartnotes(
                env, "graph", "subscribe", "--user", "maria@northwind.example"
            )
            assert code == 0, err
            assert f"users/{MARIA}/onlineMeetings/getAllTranscripts" in out

            code, out, _ = await smartnotes(env, "graph", "subscriptions")
            assert code == 0
            assert subscription_id in out
            assert "communications/onlineMeetings/getAllTranscripts" in out

            # A download refused for billing shows in status, and retry queues it again.
            transcript = fake.add_transcript(setup.meeting(), VTT)
            fake.billing_enabled = False
            payload = fake.change_notification(transcript, subscription_id, CLIENT_STATE)
            assert (await fake.send(setup.webhook, payload))[0] == 202
            await setup.graph.work_once()
            code, out, _ = await smartnotes(env, "graph", "status")
            assert code == 0
            assert "failed" in out
            assert "402 Payment Required" in out

            fake.billing_enabled = True
            code, out, _ = await smartnotes(env, "graph", "retry")
            assert (code, out.strip()) == (
                0,
                "1 download(s) queued again; the running service picks them up.",
            )
            await setup.graph.work_once()
            assert len(await setup.runs()) == 1

            code, out, _ = await smartnotes(env, "graph", "catch-up")
            assert code == 0
            assert "1 licensed organizer" in out
            assert fake.downloads[transcript] == 1


async def test_without_graph_settings_the_commands_say_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTNOTES_")}
    env["SMARTNOTES_DATA_DIR"] = str(tmp_path)
    code, _, err = await smartnotes(env, "graph", "subscriptions")
    assert code == 3
    assert "SMARTNOTES_GRAPH__CLIENT_ID" in err
    env["SMARTNOTES_GRAPH__CLIENT_ID"] = "5d6c1f3e-8a2b-4c7d-9e0f-1a2b3c4d5e6f"
    env["SMARTNOTES_GRAPH__CLIENT_STATE"] = "short"
    code, _, err = await smartnotes(env, "graph", "subscribe")
    assert code == 3
    assert "SMARTNOTES_GRAPH__CLIENT_STATE" in err
