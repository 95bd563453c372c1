"""A question typed to the bot, through the local Bot Framework with the real Agents SDK:
answered from the rep's calls on an Adaptive Card (Claude through the local Messages API),
each source opening its call's review page in a dialog; commands still work, and a Teams
user without a seat gets the same answer as for any command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import update
from yarl import URL

from bot.agent import NOT_SET_UP
from cards import MAX_BYTES, card_size
from smartnotes.storage.models import Run
from tests.api_client import running_api
from tests.conftest import TEST_KEY
from tests.fakes.anthropic_server import FakeAnthropic, Reply, tool_call
from tests.fakes.bot_framework import FakeBotFramework
from tests.integration.test_ask import (
    QUESTION,
    VTT,
    AskingClaude,
    answer_call,
    indexed,
    source_saying,
)
from tests.integration.test_bot import CARD, TENANT, Setup, bot_settings, text_of
from tests.seed import seed_run
from tests.unit.test_cards import of_type, schema_errors
from tests.waits import until


@pytest.fixture
def claude(fake_claude: FakeAnthropic) -> AskingClaude:
    return AskingClaude(fake_claude)


@pytest_asyncio.fixture
async def setup(
    tmp_path: Path, service_database: SecretStr | None, claude: AskingClaude
) -> AsyncIterator[Setup]:
    async with FakeBotFramework() as bf:
        settings = bot_settings(
            tmp_path,
            bf,
            database_url=service_database,
            anthropic_api_key=SecretStr(TEST_KEY),
            anthropic_base_url=claude.base_url,
            extractor_max_retries=0,
        )
        async with running_api(settings, process=False) as api:
            yield Setup(bf, api)


async def test_a_question_gets_an_answer_card_with_its_sources(
    setup: Setup, tmp_path: Path, claude: AskingClaude
) -> None:
    bf, api = setup.bf, setup.api
    user, user_id = await setup.rep("Ana Lima")
    run_id = await seed_run(
        api.service.sessions, TENANT, user_id, call_id="call-ask", customer=("c-1", "Contoso")
    )
    transcript = tmp_path / "call-ask.vtt"
    transcript.write_text(VTT, encoding="utf-8")
    async with api.service.sessions() as session, session.begin():
        await session.execute(
            update(Run).where(Run.id == run_id).values(transcript_ref=str(transcript))
        )
    await indexed(api.service, run_id)

    # The reindex brings the deal coach to the ready run; once it has changed the run, no later
    # change posts to the chat in the middle of the conversation below.
    async def coached() -> bool:
        async with api.service.sessions() as session:
            run = await session.get(Run, run_id)
            return run is not None and run.coaching is not None

    await until(coached)

    def answer(body: dict[str, Any]) -> Reply:
        send = source_saying(body, "I will send the signed DPA by Friday.")
        return answer_call(
            f"Ana promised the signed DPA by Friday [{send}].",
            [{"source": send, "quote": "send the signed DPA by Friday"}],
        )

    claude.then(tool_call("search_calls", {"query": "Contoso DPA"}), answer)

    async def say(who: Any, words: str) -> dict[str, Any]:
        before = len(bf.messages(who.conversation_id))
        status, _ = await setup.deliver(bf.message(who, words))
        assert status in (200, 201, 202)
        messages = bf.messages(who.conversation_id)
        assert len(messages) == before + 1, f"no answer to {words!r}"
        return messages[-1]

    reply = await say(user, f"  {QUESTION}  ")
    [attachment] = reply["attachments"]
    assert attachment["contentType"] == CARD
    card = attachment["content"]
    assert schema_errors(card) == []
    assert card_size(card) <= MAX_BYTES
    shown = text_of(card)
    assert QUESTION in shown
    assert "Ana promised the signed DPA by Friday [1]." in shown
    assert "\u201csend the signed DPA by Friday\u201d" in shown
    assert " \u00b7 Ana Lima at 0:05" in shown
    assert "Answered by Claude (claude-sonnet-4-6)." in shown
    # The question went to Claude as typed, the rep's own words and case.
    assert claude.requests[0]["messages"][0]["content"].endswith(f"Question: {QUESTION}")

    [source] = [a for a in of_type(card, "Action.Submit") if a["data"].get("msteams")]
    status, body = await setup.deliver(
        bf.dialog_fetch(user, source["data"], reply_to_id=reply["id"])
    )
    assert status == 200
    link = URL(body["task"]["value"]["url"])
    assert link.path == f"/review/{run_id}"
    async with api.http.get(api.url(f"{link.path}?{link.query_string}")) as page:
        assert page.status == 200

    # Commands are still commands.
    status_card = (await say(user, "status"))["attachments"][0]["content"]
    assert f"/review/{run_id}?token=" in json.dumps(status_card)
    assert len(claude.requests) == 2

    # A Teams user without a seat is told so, and nothing is searched or asked.
    stranger = bf.add_user("Sam Stranger", tenant_id=bf.tenant_id)
    assert (await say(stranger, QUESTION))["text"] == NOT_SET_UP
    assert len(claude.requests) == 2
