"""The bot's own token for the Bot Connector: azure-identity's client-credentials flow against
the local Bot Framework's HTTPS token endpoint, as ``smartnotes.teams.runtime`` builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.auth import ConnectorAuthError, CredentialTokens
from graph.credentials import make_credential
from tests.fakes.bot_framework import CONNECTOR_SCOPE, FakeBotFramework


@pytest_asyncio.fixture
async def bf() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework() as fake:
        yield fake


def _tokens(bf: FakeBotFramework, password: str) -> CredentialTokens:
    credential = make_credential(
        "secret",
        "botframework.com",
        bf.app_id,
        secret=password,
        authority=bf.authority,
        disable_instance_discovery=True,
        ca_file=bf.ca_file,
    )
    return CredentialTokens(credential, app_id=bf.app_id, scope=CONNECTOR_SCOPE)


async def test_the_token_is_fetched_once_and_reused(bf: FakeBotFramework) -> None:
    tokens = _tokens(bf, bf.app_password)
    try:
        first = await tokens.get_access_token(bf.service_url, [CONNECTOR_SCOPE])
        again = await tokens.get_access_token(bf.service_url, [CONNECTOR_SCOPE])
    finally:
        await tokens.credential.close()
    assert first == again
    assert bf.tokens_issued == 1, "cached until shortly before it expires"


async def test_a_refused_password_is_a_clear_error(bf: FakeBotFramework) -> None:
    tokens = _tokens(bf, "not-the-password")
    try:
        with pytest.raises(ConnectorAuthError, match="refused the bot's credentials"):
            await tokens.get_access_token(bf.service_url, [CONNECTOR_SCOPE])
    finally:
        await tokens.credential.close()
    assert bf.tokens_issued == 0
