"""The Teams side of the service, built from settings: the bot, its SDK adapter, the token
checks both ways, and the card kept in step with each run. Absent when no bot is configured."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from azure.core.credentials_async import AsyncTokenCredential
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import RestChannelServiceClientFactory, TurnContext
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AnonymousTokenProvider,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.agent import SmartNotesBot
from bot.auth import BotConnections, ChannelTokenValidator, CredentialTokens
from bot.publisher import CardPublisher
from graph.credentials import CredentialError, make_credential
from smartnotes.ask.asker import Asker
from smartnotes.auth import REVIEW_MAX_LIFETIME, issue_review_token
from smartnotes.runs.live import LiveEvents
from smartnotes.runs.review import Review, Viewer
from smartnotes.settings import BotSettings, Settings
from smartnotes.teams.backend import TeamsBackendImpl
from smartnotes.teams.cards import CardSync

log = logging.getLogger(__name__)


@dataclass
class Teams:
    bot: SmartNotesBot
    adapter: CloudAdapter
    # None: the dangerous unauthenticated mode without an app id to check tokens against.
    validator: ChannelTokenValidator | None
    allow_unauthenticated: bool
    cards: CardSync


def review_links(settings: Settings, secret: bytes) -> Callable[[Viewer, str], str | None]:
    """Links to the review page for a card: a fresh token for the card's owner each render."""

    def link(viewer: Viewer, run_id: str) -> str | None:
        token = issue_review_token(
            secret, viewer.tenant_id, viewer.email, run_id, ttl=REVIEW_MAX_LIFETIME
        )
        return f"{settings.public_url()}/review/{run_id}?token={token}"

    return link


@asynccontextmanager
async def open_teams(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    review: Review,
    live: LiveEvents,
    *,
    cancel: Callable[[str], Awaitable[bool]],
    review_secret: bytes,
    meeting_ended: Callable[[], None] | None = None,
    asker: Asker | None = None,
) -> AsyncIterator[Teams | None]:
    config = settings.bot
    dangerous = settings.dangerously_allow_unauthenticated
    if not config.enabled and not dangerous:
        yield None
        return
    if dangerous:
        log.warning(
            "SMARTNOTES_DANGEROUSLY_ALLOW_UNAUTHENTICATED is on: /api/messages accepts requests "
            "without a Bot Framework token; anyone who reaches it can act as any Teams user"
        )
    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as closing:
        tokens: AccessTokenProviderBase
        if config.app_id and (config.app_password or config.auth == "managed_identity"):
            credential = _bot_credential(config)
            closing.push_async_callback(credential.close)
            tokens = CredentialTokens(credential, app_id=config.app_id, scope=config.token_scope)
        else:
            tokens = AnonymousTokenProvider()
        adapter = CloudAdapter(
            channel_service_client_factory=RestChannelServiceClientFactory(BotConnections(tokens))
        )
        adapter.on_turn_error = _on_turn_error
        validator = (
            ChannelTokenValidator(
                app_id=config.app_id,
                openid_metadata_url=config.openid_metadata_url,
                issuers=config.issuer_list(),
                http=http,
            )
            if config.app_id
            else None
        )
        links = review_links(settings, review_secret)
        cards = CardSync(
            sessions,
            review,
            CardPublisher(adapter, config.app_id),
            interval=config.card_update_interval,
            review_url_for=links,
        )
        backend = TeamsBackendImpl(
            sessions,
            review,
            tenant_id=config.tenant,
            cancel=cancel,
            review_url_for=links,
            meeting_ended_hook=meeting_ended,
            answering=cards.answering,
            asker=asker,
            terms_version=settings.terms_version,
        )
        live.listeners.append(cards.touch)
        try:
            yield Teams(
                bot=SmartNotesBot(backend, aad_tenant_id=config.aad_tenant_id),
                adapter=adapter,
                validator=validator,
                allow_unauthenticated=dangerous,
                cards=cards,
            )
        finally:
            live.listeners.remove(cards.touch)
            await cards.close()


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    # The SDK's default prints the error and sends its text into the rep's chat. Raised
    # instead: an inbound activity becomes a logged 500, a proactive send's caller retries
    # or records it.
    raise error


class BotSetupError(ValueError):
    """The bot's credential settings are incomplete or wrong."""


def _bot_credential(config: BotSettings) -> AsyncTokenCredential:
    try:
        return make_credential(
            config.auth,
            config.token_tenant,
            config.app_id,
            secret=config.app_password.get_secret_value() if config.app_password else None,
            authority=config.authority_host,
            disable_instance_discovery=config.disable_instance_discovery,
            ca_file=config.ca_file,
        )
    except CredentialError as exc:
        raise BotSetupError(f"the bot's credentials (SMARTNOTES_BOT__*): {exc}") from None
