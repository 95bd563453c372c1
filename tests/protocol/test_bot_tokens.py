"""Bot Framework authentication both ways against the local Bot Framework: the bot's own token
for the Bot Connector (azure-identity's client-credentials flow on its HTTPS token endpoint, as
``smartnotes.teams.runtime`` builds it), and the Bot Connector's tokens checked against its
published keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.auth import BotAuthError, ChannelTokenValidator, ConnectorAuthError, CredentialTokens
from graph.credentials import make_credential
from tests.fakes.bot_framework import CONNECTOR_SCOPE, FakeBotFramework
from tests.waits import until


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


# --- Inbound: the Bot Connector's tokens, checked against its published keys ------------------


def _validator(bf: FakeBotFramework, http: aiohttp.ClientSession, **options: Any) -> Any:
    return ChannelTokenValidator(
        app_id=bf.app_id,
        openid_metadata_url=bf.openid_url,
        issuers=[bf.issuer],
        http=http,
        **options,
    )


def _key_fetches(bf: FakeBotFramework) -> int:
    return sum(1 for r in bf.requests if r.path == "/v1/.well-known/keys")


async def test_a_rotated_key_is_fetched_and_a_flood_of_unknown_keys_is_not(
    bf: FakeBotFramework,
) -> None:
    async with aiohttp.ClientSession() as http:
        validator = _validator(bf, http, min_refetch=0.5)
        await validator.verify_token(f"Bearer {bf.channel_token()}")
        assert _key_fetches(bf) == 1
        # Made-up key ids, many at once: at most one more fetch, each one refused.
        forged = [
            f"Bearer {bf.channel_token(signing_key=bf.stranger_key, kid=f'made-up-{n}')}"
            for n in range(20)
        ]
        for token in forged:
            with pytest.raises(BotAuthError, match="unknown key"):
                await validator.verify_token(token)
        assert _key_fetches(bf) <= 2, "unknown key ids do not each cost a fetch"

        # Microsoft rotates its key: once the cooldown has passed, the new one is fetched.
        bf.rotate_signing_key()
        fresh = f"Bearer {bf.channel_token()}"

        async def accepted() -> bool:
            try:
                await validator.verify_token(fresh)
            except BotAuthError:
                return False
            return True

        assert await until(accepted, seconds=30)
