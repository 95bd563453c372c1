"""The Teams bot against a local Bot Framework (connector, OpenID keys, token endpoint) with
the real Agents SDK in between: token checks, installation, the card kept in place as a run
moves, card presses, commands, blocked users and meeting-end events.

API-only service (no models) except the processed-call test, which runs the real pipeline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func, select
from yarl import URL

from cards import Verb
from cards.verbs import CUSTOMER_INPUT, RUN_ID, VERSION
from crm_adapters.embedded import EmbeddedCRM
from smartnotes.consent import withdraw_consent
from smartnotes.runs.intake import CallEvent
from smartnotes.settings import BotSettings, Settings
from smartnotes.storage.models import (
    MeetingEnd,
    Run,
    RunCard,
    RunSource,
    RunStatus,
    RunTask,
    TeamsConversation,
    User,
)
from tests.api_client import Api, running_api
from tests.fakes.bot_framework import TEAMS_MAX_ACTIVITY_BYTES, FakeBotFramework, TeamsUser
from tests.seed import seed_run, seed_user

TENANT = "northwind"
CARD = "application/vnd.microsoft.card.adaptive"


@dataclass
class Setup:
    bf: FakeBotFramework
    api: Api

    @property
    def bot_url(self) -> str:
        return self.api.url("/api/messages")

    async def deliver(self, activity: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
        return await self.bf.deliver(self.bot_url, activity, **kwargs)

    async def rep(self, name: str = "Maria Chen") -> tuple[TeamsUser, str]:
        """A rep with a seat, in Teams, who installed the bot."""
        user = self.bf.add_user(name, tenant_id=self.bf.tenant_id)
        user_id = await seed_user(self.api.service.sessions, TENANT, user.email, name)
        status, _ = await self.deliver(self.bf.installation_add(user))
        assert status in (200, 201, 202)
        return user, user_id

    def cards(self, user: TeamsUser) -> list[dict[str, Any]]:
        return [
            a["attachments"][0]["content"]
            for a in self.bf.messages(user.conversation_id)
            if a.get("attachments") and a["attachments"][0]["contentType"] == CARD
        ]

    async def run_card(self, run_id: str) -> RunCard:
        await self.api.service.live.changed(run_id)
        teams = self.api.service.teams
        assert teams is not None
        await teams.cards.idle()
        async with self.api.service.sessions() as session:
            row = await session.get(RunCard, run_id)
        assert row is not None, "the run's card was not posted"
        return row


def bot_settings(tmp_path: Path, bf: FakeBotFramework, **changes: Any) -> Settings:
    bot = BotSettings(
        app_id=bf.app_id,
        app_password=SecretStr(bf.app_password),
        openid_metadata_url=bf.openid_url,
        issuers=bf.issuer,
        authority_host=bf.authority,
        disable_instance_discovery=True,
        ca_file=bf.ca_file,
        tenant=TENANT,
        card_update_interval=0.05,
    )
    return Settings(data_dir=tmp_path, bot=bot, **changes)


@pytest_asyncio.fixture
async def setup(tmp_path: Path, service_database: SecretStr | None) -> AsyncIterator[Setup]:
    async with FakeBotFramework() as bf:
        settings = bot_settings(tmp_path, bf, database_url=service_database)
        async with running_api(settings, process=False) as api:
            yield Setup(bf, api)


def text_of(card: dict[str, Any]) -> str:
    """Every piece of text a card shows, for asserting on what the rep reads."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value", "placeholder", "label"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str):  # a RichTextBlock's plain inlines
                    found.append(item)
                walk(item)

    walk(card)
    return "\n".join(found)


def find_action(card: dict[str, Any], verb: str, **data: Any) -> dict[str, Any]:
    """The card's Action.Execute with this verb (and data), as the client would send it."""
    matches = actions(card, verb, **data)
    assert matches, f"no {verb} action with {data} on the card"
    return matches[0]


def actions(card: dict[str, Any], verb: str, **data: Any) -> list[dict[str, Any]]:
    matches: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "Action.Execute"
                and node.get("verb") == verb
                and all(node.get("data", {}).get(k) == v for k, v in data.items())
            ):
                matches.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return matches


def invoke_card(body: Any) -> dict[str, Any]:
    assert body["statusCode"] == 200, body
    assert body["type"] == CARD
    card: dict[str, Any] = body["value"]
    return card


# Tokens -----------------------------------------------------------------------------------


async def test_every_activity_needs_a_valid_bot_framework_token(setup: Setup) -> None:
    bf = setup.bf
    user = bf.add_user("Maria Chen")
    await seed_user(setup.api.service.sessions, TENANT, user.email, "Maria Chen")
    activity = bf.installation_add(user)
    refused = {
        "no token": None,
        "forged key": bf.channel_token(signing_key=bf.stranger_key),
        "published kid, other key": bf.channel_token(
            signing_key=bf.stranger_key, kid=bf.signing_key.kid
        ),
        "other audience": bf.channel_token(audience="another-bot"),
        "other issuer": bf.channel_token(issuer="https://evil.example"),
        "expired": bf.channel_token(expires_in=-900),
        "other service url": bf.channel_token(service_url="https://elsewhere.example/amer/"),
        "not a jwt": "not-a-token",
    }
    for why, token in refused.items():
        status, body = await setup.deliver(activity, token=token)
        assert status == 401, why
        assert "Maria" not in str(body)
    async with setup.api.service.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(TeamsConversation))
    assert stored == 0, "a refused activity reached the bot"
    assert bf.messages(user.conversation_id) == []

    status, _ = await setup.deliver(activity)
    assert status in (200, 201, 202)
    async with setup.api.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TeamsConversation)) == 1


async def test_unauthenticated_requests_only_in_the_dangerous_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeBotFramework() as bf:
        settings = bot_settings(tmp_path, bf, dangerously_allow_unauthenticated=True)
        with caplog.at_level("WARNING"):
            async with running_api(settings, process=False) as api:
                user = bf.add_user("Maria Chen")
                await seed_user(api.service.sessions, TENANT, user.email)
                status, _ = await bf.deliver(
                    api.url("/api/messages"), bf.installation_add(user), token=None
                )
                assert status in (200, 201, 202)
                # A token that is there is still checked.
                status, _ = await bf.deliver(
                    api.url("/api/messages"),
                    bf.message(user, "help"),
                    token=bf.channel_token(signing_key=bf.stranger_key),
                )
                assert status == 401
        assert "DANGEROUSLY_ALLOW_UNAUTHENTICATED" in caplog.text


# Installation and commands ----------------------------------------------------------------


async def test_installation_stores_the_reference_and_greets_once(setup: Setup) -> None:
    bf, sessions = setup.bf, setup.api.service.sessions
    user, user_id = await setup.rep()
    async with sessions() as session:
        conversation = await session.get(TeamsConversation, user_id)
        owner = await session.get(User, user_id)
    assert conversation is not None
    assert owner is not None
    assert conversation.conversation_id == user.conversation_id
    assert conversation.reference["serviceUrl"] == bf.service_url
    assert owner.aad_object_id == user.aad_object_id
    welcome = setup.cards(user)
    assert len(welcome) == 1
    assert "off" in text_of(welcome[0])

    # Teams sends a conversationUpdate too, and may repeat itself: still one greeting.
    await setup.deliver(bf.members_added(user))
    await setup.deliver(bf.installation_add(user))
    assert len(setup.cards(user)) == 1

    await setup.deliver(bf.installation_remove(user))
    async with sessions() as session:
        assert await session.get(TeamsConversation, user_id) is None


async def test_installation_activities_at_once_greet_once(setup: Setup) -> None:
    """Teams (and the Agents Playground) send installationUpdate and conversationUpdate at the
    same moment: both are handled at once, and the rep still gets one welcome."""
    bf = setup.bf
    user = bf.add_user("Maria Chen", tenant_id=bf.tenant_id)
    user_id = await seed_user(setup.api.service.sessions, TENANT, user.email, "Maria Chen")
    answers = await asyncio.gather(
        *(
            setup.deliver(activity)
            for activity in (bf.installation_add(user), bf.members_added(user)) * 2
        )
    )
    assert [status for status, _ in answers] == [202] * 4
    assert len(setup.cards(user)) == 1
    async with setup.api.service.sessions() as session:
        conversation = await session.get(TeamsConversation, user_id)
    assert conversation is not None
    assert conversation.greeted_at is not None


async def test_a_stranger_is_told_to_ask_for_a_seat(setup: Setup) -> None:
    bf = setup.bf
    stranger = bf.add_user("Sam Stranger")
    await setup.deliver(bf.installation_add(stranger))
    messages = bf.messages(stranger.conversation_id)
    assert len(messages) == 1
    assert "seat" in messages[0]["text"]
    async with setup.api.service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TeamsConversation)) == 0


async def test_commands_switch_the_rep_off_and_on_and_confidential(setup: Setup) -> None:
    bf, sessions = setup.bf, setup.api.service.sessions
    user, user_id = await setup.rep()
    run_id = await seed_run(sessions, TENANT, user_id, call_id="call-status")

    async def say(text: str) -> dict[str, Any]:
        before = len(bf.messages(user.conversation_id))
        status, _ = await setup.deliver(bf.message(user, text))
        assert status in (200, 201, 202)
        messages = bf.messages(user.conversation_id)
        assert len(messages) == before + 1, f"no answer to {text!r}"
        return messages[-1]

    async def owner() -> User:
        async with sessions() as session:
            found = await session.get(User, user_id)
        assert found is not None
        return found

    assert "status" in text_of((await say("help"))["attachments"][0]["content"])
    status_card = (await say("status"))["attachments"][0]["content"]
    # The rep's run is listed, with a link to its review page, after where they stand.
    assert f"/review/{run_id}?token=" in json.dumps(status_card)
    shown = text_of(status_card).splitlines()
    assert any(line.startswith("**On**") for line in shown), shown
    assert "Confidential mode: **off**. Type **confidential on** to change it." in shown
    off_card = (await say("OFF"))["attachments"][0]["content"]
    assert find_action(off_card, Verb.USER_ON)
    assert (await owner()).enabled is False
    assert any(
        line.startswith("**Off** for you")
        for line in text_of((await say("status"))["attachments"][0]["content"]).splitlines()
    )
    await say("on")
    assert (await owner()).enabled is True
    await say("confidential on")
    assert (await owner()).confidential_default is True
    assert any(
        line.startswith("Confidential mode: **on**")
        for line in text_of((await say("status"))["attachments"][0]["content"]).splitlines()
    )
    await say("confidential off")
    assert (await owner()).confidential_default is False
    assert "confidential on" in (await say("confidential"))["text"]
    # Anything else is a question; nothing in the rep's calls answers this one.
    unknown = (await say("please summarise everything"))["attachments"][0]["content"]
    assert "I don't know" in text_of(unknown)
    # The organisation's consent withdrawn: the rep is told nothing is processed, and why.
    async with sessions() as session, session.begin():
        await withdraw_consent(session, TENANT, by="Ada Admin <ada@northwind.test>")
    assert any(
        line.startswith("**Off** for your whole organisation until an admin agrees")
        for line in text_of((await say("status"))["attachments"][0]["content"]).splitlines()
    )


# The card ----------------------------------------------------------------------------------


async def test_card_presses_reject_edit_and_save_into_the_crm(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    crm = api.service.crm
    assert isinstance(crm, EmbeddedCRM)
    customer = await crm.add_customer("Contoso", ["daniel@contoso.test"])
    run_id = await seed_run(
        api.service.sessions,
        TENANT,
        user_id,
        call_id="call-card",
        customer=(customer.id, customer.name),
    )
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    assert "Send revised quote" in text_of(card)
    async with api.service.sessions() as session:
        tasks = (
            (await session.execute(select(RunTask).where(RunTask.run_id == run_id))).scalars().all()
        )
    first, second = sorted(tasks, key=lambda t: t.position)

    reject = find_action(card, Verb.TASK_REJECT, task_id=second.id)
    status, body = await setup.deliver(
        bf.card_action(user, Verb.TASK_REJECT, reject["data"], reply_to_id=shown.activity_id)
    )
    assert status == 200
    card = invoke_card(body)
    # The answer replaced the pressed card in place; the card sync does not send it again.
    teams = api.service.teams
    assert teams is not None
    await teams.cards.idle()
    assert bf.updates(shown.activity_id) == 0

    # Save with what the rep typed into the card: a new summary and a later due date.
    save = find_action(card, Verb.SAVE)
    data = {
        **save["data"],
        "summary": "Daniel wants annual pricing. Quote by Monday.",
        f"task:{first.id}:due_date": "2026-11-23",
    }
    status, body = await setup.deliver(
        bf.card_action(user, Verb.SAVE, data, reply_to_id=shown.activity_id)
    )
    assert status == 200
    card = invoke_card(body)
    view = await api.wait_for(run_id, (TENANT, user.email), lambda v: v["status"] == "saved")
    assert view["summary"]["text"] == "Daniel wants annual pricing. Quote by Monday."
    statuses = {t["id"]: (t["status"], t["due_date"]) for t in view["tasks"]}
    assert statuses[first.id] == ("written", "2026-11-23")
    assert statuses[second.id][0] == "rejected"
    notes = await crm.notes(customer.id)
    assert [n.body for n in notes] == ["Daniel wants annual pricing. Quote by Monday."]
    assert notes[0].ai_generated
    crm_tasks = await crm.tasks()
    assert [(t.title, str(t.due_date)) for t in crm_tasks] == [
        ("Send revised quote with annual pricing", "2026-11-23")
    ]


async def test_a_stale_card_is_refreshed_not_applied_and_only_the_owner_acts(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    other, _ = await setup.rep("Olga Other")
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-stale")
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    old_save = find_action(card, Verb.SAVE)

    # The run moves on elsewhere (the review page): the card's version is now old.
    status, _ = await api.call(
        "PATCH",
        f"/api/runs/{run_id}/summary",
        as_user=(TENANT, user.email),
        json_body={"text": "Edited on the page.", "version": old_save["data"]["version"]},
    )
    assert status == 200
    status, body = await setup.deliver(
        bf.card_action(user, Verb.SAVE, old_save["data"], reply_to_id=shown.activity_id)
    )
    refreshed = invoke_card(body)
    assert "out of date" in text_of(refreshed)
    assert "Edited on the page." in text_of(refreshed)
    async with api.service.sessions() as session:
        run = await session.get(Run, run_id)
    assert run is not None
    assert run.status == RunStatus.NEEDS_REVIEW

    # Someone else pressing the owner's card (a forwarded card) gets an error card.
    status, body = await setup.deliver(
        bf.card_action(other, Verb.SAVE, old_save["data"], reply_to_id=shown.activity_id)
    )
    answer = text_of(invoke_card(body))
    assert "Edited on the page." not in answer
    async with api.service.sessions() as session:
        run = await session.get(Run, run_id)
    assert run is not None
    assert run.status == RunStatus.NEEDS_REVIEW


async def test_a_press_on_an_unrecorded_card_message_adopts_it(setup: Setup) -> None:
    # The card was posted, then the service stopped before recording the message's id. A
    # press on it answers in place; that message becomes the run's card, and no second card
    # is posted.
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-unrecorded")
    shown = await setup.run_card(run_id)
    async with api.service.sessions() as session, session.begin():
        await session.delete(await session.get(RunCard, run_id))
    posted = len(bf.messages(user.conversation_id))
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    like = find_action(card, Verb.FEEDBACK_LIKE, target="summary")
    status, body = await setup.deliver(
        bf.card_action(user, Verb.FEEDBACK_LIKE, like["data"], reply_to_id=shown.activity_id)
    )
    assert status == 200
    answered = invoke_card(body)
    teams = api.service.teams
    assert teams is not None
    await teams.cards.idle()
    assert len(bf.messages(user.conversation_id)) == posted
    assert bf.updates(shown.activity_id) == 0
    async with api.service.sessions() as session:
        adopted = await session.get(RunCard, run_id)
    assert adopted is not None
    assert adopted.activity_id == shown.activity_id
    version = find_action(answered, Verb.SAVE)["data"]["version"]
    assert adopted.shown_version == version

    # A change made elsewhere (the review page) updates that message in place.
    status, _ = await api.call(
        "PATCH",
        f"/api/runs/{run_id}/summary",
        as_user=(TENANT, user.email),
        json_body={"text": "Edited on the review page.", "version": version},
    )
    assert status == 200
    await setup.run_card(run_id)
    assert len(bf.messages(user.conversation_id)) == posted
    assert bf.updates(shown.activity_id) == 1
    assert "Edited on the review page." in text_of(bf.activity(shown.activity_id))


async def test_submit_fallback_updates_the_pressed_message(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-submit")
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    like = find_action(card, Verb.FEEDBACK_LIKE, target="summary")
    status, _ = await setup.deliver(
        bf.card_submit(
            user, {**like["data"], "verb": Verb.FEEDBACK_LIKE}, reply_to_id=shown.activity_id
        )
    )
    assert status in (200, 201, 202)
    assert bf.updates(shown.activity_id) >= 1
    view = await api.wait_for(run_id, (TENANT, user.email), lambda v: bool(v["feedback"]))
    assert view["feedback"]["summary"]["rating"] == "like"


async def test_a_rep_who_blocked_the_bot_is_recorded_not_retried(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    bf.block(user.conversation_id)
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-blocked")
    await api.service.live.changed(run_id)
    teams = api.service.teams
    assert teams is not None
    await asyncio.wait_for(teams.cards.idle(), 10)
    async with api.service.sessions() as session:
        conversation = await session.get(TeamsConversation, user_id)
    assert conversation is not None
    assert conversation.blocked_at is not None
    attempts = len(bf.calls("POST", contains=user.conversation_id))
    await api.service.live.changed(run_id)
    await teams.cards.idle()
    assert len(bf.calls("POST", contains=user.conversation_id)) == attempts


async def test_a_failed_run_updates_its_card_and_tells_the_rep_once(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    run_id = await seed_run(
        api.service.sessions, TENANT, user_id, call_id="call-failed", status=RunStatus.FAILED
    )
    async with api.service.sessions() as session, session.begin():
        run = await session.get(Run, run_id)
        assert run is not None
        run.error, run.failed_step = "the CRM refused the note: no such customer", "saving"
        run.version += 1
    shown = await setup.run_card(run_id)
    card_text = text_of(bf.activity(shown.activity_id)["attachments"][0]["content"])
    assert "the CRM refused the note" in card_text
    # An updated card does not notify in Teams: the failure also gets a message of its own.
    failure_messages = [c for c in setup.cards(user) if "could not finish" in text_of(c)]
    assert len(failure_messages) == 1
    assert "the CRM refused the note" in text_of(failure_messages[0])
    await setup.run_card(run_id)
    assert len([c for c in setup.cards(user) if "could not finish" in text_of(c)]) == 1


async def test_meeting_end_is_recorded_once(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, _ = await setup.rep()
    event = bf.meeting_end(user, "MCMxOTptZWV0aW5n", "https://teams.microsoft.com/l/meetup-join/x")
    for _ in range(2):
        status, _ = await setup.deliver(event)
        assert status in (200, 201, 202)
    async with api.service.sessions() as session:
        rows = (await session.execute(select(MeetingEnd))).scalars().all()
    assert [(r.meeting_id, r.status, r.title) for r in rows] == [
        ("MCMxOTptZWV0aW5n", "pending", "Customer call")
    ]


# A processed call ---------------------------------------------------------------------------


async def test_a_processed_call_shows_one_card_updated_in_place(tmp_path: Path) -> None:
    async with FakeBotFramework() as bf, running_api(bot_settings(tmp_path, bf)) as api:
        setup = Setup(bf, api)
        user, _ = await setup.rep()
        vtt = (Path(__file__).parents[2] / "smartnotes" / "samples" / "sales_call.vtt").read_text()
        status, created = await api.call(
            "POST",
            "/api/runs",
            as_user=(TENANT, user.email),
            json_body={"call_id": "teams-processed", "transcript": vtt},
        )
        assert status in (201, 202), created
        run_id = created["run_id"] if "run_id" in created else created["id"]
        await api.wait_for(run_id, (TENANT, user.email), lambda v: v["status"] == "needs_review")
        teams = api.service.teams
        assert teams is not None
        await teams.cards.idle()
        cards = setup.cards(user)
        # The welcome card and one run card, updated as the run moved.
        assert len(cards) == 2
        async with api.service.sessions() as session:
            shown = await session.get(RunCard, run_id)
        assert shown is not None
        versions = bf.versions(shown.activity_id)
        assert len(versions) >= 2
        first, last = (v["attachments"][0]["content"] for v in (versions[0], versions[-1]))
        # First shown while processing (no save yet), then the same message became the review.
        assert actions(first, Verb.SAVE) == []
        assert any(step in text_of(first) for step in ("Transcribing", "Summarizing", "Analyzing"))
        assert find_action(last, Verb.SAVE)
        assert bf.messages(user.conversation_id)[-1]["id"] == shown.activity_id


async def test_a_two_hour_call_with_forty_tasks_fits_in_one_teams_message(setup: Setup) -> None:
    bf = setup.bf
    user, user_id = await setup.rep()
    long_quote = "and I will make sure the revised figures reach your finance team " * 4
    tasks = [
        {
            "title": f"Follow-up number {n}: send the revised pricing breakdown for region {n}",
            "description": "Include the annual and monthly options, the volume discount tiers "
            "and the onboarding fee waiver discussed in the call. " * 2,
            "owner": "Maria Chen",
            "due_date": "2026-11-20",
            "due_text": "by Friday",
            "priority": "high",
            "priority_reason": "The customer's budget meeting is next Monday and needs it.",
            "evidence": [{"quote": long_quote, "at": 60.0 * n, "verified": True}],
            "confidence": 0.9,
            "origin": "claude",
        }
        for n in range(40)
    ]
    run_id = await seed_run(
        setup.api.service.sessions,
        TENANT,
        user_id,
        call_id="two-hours",
        customer=("c1", "Contoso"),
        tasks=tasks,
    )
    row = await setup.run_card(run_id)
    [posted] = [a for a in bf.messages(user.conversation_id) if a["id"] == row.activity_id]
    # The local Bot Framework refuses anything over Teams' limit, as Teams does; the card was
    # accepted, and the whole activity is within it.
    assert len(json.dumps(posted).encode()) <= TEAMS_MAX_ACTIVITY_BYTES
    shown = text_of(posted["attachments"][0]["content"])
    # Whatever the card leaves out is counted, never dropped silently.
    assert "Follow-up number 0" in shown
    assert "40" in shown


# Time zones -------------------------------------------------------------------------------


async def test_the_zone_teams_reports_is_where_the_reps_deadlines_are_read(
    setup: Setup,
) -> None:
    bf = setup.bf
    user = bf.add_user("Maria Chen", timezone="Europe/Berlin")
    user_id = await seed_user(setup.api.service.sessions, TENANT, user.email, "Maria Chen")
    status, _ = await setup.deliver(bf.installation_add(user))
    assert status in (200, 201, 202)

    async def stored_zone() -> str | None:
        async with setup.api.service.sessions() as session:
            found = await session.get(User, user_id)
            assert found is not None
            return found.timezone

    assert await stored_zone() == "Europe/Berlin"
    # Travelling: the client reports another zone, and the next calls follow it.
    travelling = replace(user, timezone="America/New_York")
    await setup.deliver(bf.message(travelling, "status"))
    assert await stored_zone() == "America/New_York"
    # A zone nobody knows is not taken.
    unknown = bf.message(user, "status")
    unknown["localTimezone"] = unknown["entities"][0]["timezone"] = "Mars/Olympus_Mons"
    await setup.deliver(unknown)
    assert await stored_zone() == "America/New_York"

    submitted = await setup.api.service.submit(
        CallEvent(
            tenant_id=TENANT,
            owner_email=user.email,
            source=RunSource.UPLOAD,
            call_id="call-tz",
            transcript=b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Maria Chen>Hello.</v>\n",
        )
    )
    assert submitted.run_id is not None
    async with setup.api.service.sessions() as session:
        run = await session.get(Run, submitted.run_id)
        assert run is not None
        assert run.timezone == "America/New_York"


async def test_a_card_shown_again_is_rendered_again_with_a_fresh_review_link(
    setup: Setup,
) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-refresh")
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    refresh = card["refresh"]["action"]
    assert (refresh["type"], refresh["verb"]) == ("Action.Execute", Verb.REFRESH)

    # What Teams sends when the rep opens the chat again (trigger: automatic).
    status, body = await setup.deliver(
        bf.card_action(user, Verb.REFRESH, refresh["data"], reply_to_id=shown.activity_id)
    )
    assert status == 200
    again = invoke_card(body)
    assert again["refresh"]["action"]["verb"] == Verb.REFRESH
    link = URL(_review_link(again))  # the configured public URL; the test serves elsewhere
    async with api.http.get(api.url(f"{link.path}?{link.query_string}")) as page:
        assert page.status == 200


def _review_link(card: dict[str, Any]) -> str:
    [link] = [
        str(a["url"])
        for a in _all_of_type(card, "Action.OpenUrl")
        if a.get("title") == "Open the review page"
    ]
    return link


async def test_edit_in_smart_notes_opens_the_review_page_in_a_dialog(setup: Setup) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    stranger, _ = await setup.rep("Olga Other")
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-dialog")
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    [edit] = [
        a
        for a in _all_of_type(card, "Action.Submit")
        if a["data"].get("msteams") == {"type": "task/fetch"}
    ]
    assert edit["title"] == "Edit in Smart Notes"

    status, body = await setup.deliver(
        bf.dialog_fetch(user, edit["data"], reply_to_id=shown.activity_id)
    )
    assert status == 200
    task = body["task"]
    assert task["type"] == "continue"
    assert (task["value"]["height"], task["value"]["width"]) == ("large", "large")
    link = URL(task["value"]["url"])
    async with api.http.get(api.url(f"{link.path}?{link.query_string}")) as page:
        assert page.status == 200
        policy = page.headers["Content-Security-Policy"]
    assert "https://teams.microsoft.com" in policy.partition("frame-ancestors")[2]

    # Someone the run is not shared with gets a message, not the page.
    status, body = await setup.deliver(
        bf.dialog_fetch(stranger, edit["data"], reply_to_id=shown.activity_id)
    )
    assert body["task"] == {"type": "message", "value": "These notes are not available to you."}


def _all_of_type(node: Any, kind: str) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == kind else []
        return found + [x for value in node.values() for x in _all_of_type(value, kind)]
    if isinstance(node, list):
        return [x for item in node for x in _all_of_type(item, kind)]
    return []


async def test_a_new_prospects_customer_is_chosen_on_the_card_with_a_typeahead(
    setup: Setup,
) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep()
    stranger, _ = await setup.rep("Olga Other")
    crm = api.service.crm
    assert isinstance(crm, EmbeddedCRM)
    shared = await crm.add_customer("Initech", ["bill@initech.test"])
    johns = await crm.add_customer("Initrode", ["ann@initrode.test"], owner_email="john@x.test")
    await crm.add_customer("Globex", ["hank@globex.test"])
    run_id = await seed_run(api.service.sessions, TENANT, user_id, call_id="call-prospect")
    shown = await setup.run_card(run_id)
    card = bf.activity(shown.activity_id)["attachments"][0]["content"]
    [picker] = [c for c in _all_of_type(card, "Input.ChoiceSet") if c["id"] == CUSTOMER_INPUT]
    query = picker["choices.data"]
    assert query["type"] == "Data.Query"
    assert picker["style"] == "filtered"

    async def search(who: TeamsUser, typed: str, dataset: str = query["dataset"]) -> Any:
        status, body = await setup.deliver(bf.typeahead_search(who, dataset, typed))
        assert status == 200
        return body

    # What the rep types is searched in the CRM as the CRM lets her see it: not John's.
    found = await search(user, "init")
    assert found["type"] == "application/vnd.microsoft.search.searchResponse"
    assert found["value"]["results"] == [{"title": "Initech", "value": shared.id}]
    assert (await search(user, "  "))["value"]["results"] == []
    # Another rep cannot search through her card, nor can anyone through a made-up dataset.
    refused = await search(stranger, "init")
    assert refused["type"] == "application/vnd.microsoft.error"
    assert refused["value"]["message"] == "This call's notes are not available to you."
    assert (await search(user, "init", "npm"))["type"] == "application/vnd.microsoft.error"

    [use] = [a for a in _all_of_type(card, "Action.Execute") if a["verb"] == Verb.CUSTOMER_CHOOSE]
    # A customer the CRM keeps for another rep: the refusal is on the card, nothing changed.
    status, body = await setup.deliver(
        bf.card_action(
            user,
            Verb.CUSTOMER_CHOOSE,
            {**use["data"], CUSTOMER_INPUT: johns.id},
            reply_to_id=shown.activity_id,
        )
    )
    assert status == 200
    refused_card = invoke_card(body)
    assert "does not let you write to this customer" in text_of(refused_card)
    assert _all_of_type(refused_card, "Input.ChoiceSet")
    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=(TENANT, user.email))
    assert view["customer_id"] is None

    # Nothing picked: said so.
    status, body = await setup.deliver(
        bf.card_action(user, Verb.CUSTOMER_CHOOSE, use["data"], reply_to_id=shown.activity_id)
    )
    assert "pick one first" in text_of(invoke_card(body))

    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=(TENANT, user.email))
    status, body = await setup.deliver(
        bf.card_action(
            user,
            Verb.CUSTOMER_CHOOSE,
            {RUN_ID: run_id, VERSION: view["version"], CUSTOMER_INPUT: shared.id},
            reply_to_id=shown.activity_id,
        )
    )
    chosen = invoke_card(body)
    assert "Initech" in text_of(chosen)
    assert not [c for c in _all_of_type(chosen, "Input.ChoiceSet") if c["id"] == CUSTOMER_INPUT]
    _, view = await api.call("GET", f"/api/runs/{run_id}", as_user=(TENANT, user.email))
    assert (view["customer_id"], view["customer_name"]) == (shared.id, "Initech")
