"""The Graph side of the service, built from settings: the client, the notification checks,
and the background work (inbox, downloads, meeting-end polls, renewals, catch-up). Absent
when no Graph app is configured."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graph.client import GraphClient
from graph.credentials import make_credential
from graph.notifications import LifecycleEvent
from graph.validation_tokens import PublicKeys, ValidationTokenChecker, keys_from_jwks
from smartnotes.graph_inbox import InboxWorker, InboxWriter
from smartnotes.graph_sync import CatchUp, MeetingEndPolls, Subscriptions
from smartnotes.meeting_media import MediaFetcher
from smartnotes.runs import CallEvent, Submitted
from smartnotes.settings import GraphSettings, Settings

log = logging.getLogger(__name__)

# How often the background loop looks for due work when nothing wakes it.
TICK = 5.0
JWKS_REFRESH = 3600.0
# The least time between two fetches of the signing keys that a refused token asks for.
KEY_REFETCH = 300.0


class GraphSetupError(ValueError):
    """The Graph settings are incomplete or point at files that do not hold what they should."""


class KeyFetchError(Exception):
    """Microsoft's token-signing keys could not be fetched, or what came is not a JWKS."""


@dataclass
class RichKeys:
    """Rich notifications: our certificate's private key (to decrypt), the certificate Graph
    encrypts to, and the checker for the validation tokens that come with them."""

    private_key: rsa.RSAPrivateKey
    certificate_id: str
    certificate_b64: str
    jwks_url: str
    keys: PublicKeys = field(default_factory=dict)
    tried_at: float | None = None
    checker: ValidationTokenChecker | None = None

    def may_refetch(self, now: float) -> bool:
        """Whether a token that failed may fetch the keys again: always before the first
        fetch, then once every ``KEY_REFETCH`` seconds, whether the last fetch worked or not."""
        return self.tried_at is None or now - self.tried_at >= KEY_REFETCH

    async def refresh(self, http: aiohttp.ClientSession) -> None:
        """Fetch the keys; :class:`KeyFetchError` when that fails (the old keys stay)."""
        self.tried_at = time.monotonic()
        try:
            async with http.get(self.jwks_url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                response.raise_for_status()
                document: Any = await response.json(content_type=None)
            if not isinstance(document, dict):
                raise ValueError("the answer is not a JWKS document")
            keys = keys_from_jwks(document)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise KeyFetchError(f"signing keys from {self.jwks_url}: {exc}") from exc
        self.keys = keys


def build_client(config: GraphSettings) -> GraphClient:
    if not config.tenant_id and config.auth != "managed_identity":
        raise GraphSetupError("set SMARTNOTES_GRAPH__TENANT_ID (the Entra tenant of the app)")
    try:
        credential = make_credential(
            config.auth,
            config.tenant_id,
            config.client_id,
            secret=config.client_secret.get_secret_value() if config.client_secret else None,
            certificate_path=config.certificate_path,
            certificate_password=(
                config.certificate_password.get_secret_value()
                if config.certificate_password
                else None
            ),
            authority=config.authority_host,
            disable_instance_discovery=config.disable_instance_discovery,
            ca_file=config.ca_file,
        )
    except ValueError as exc:
        raise GraphSetupError(str(exc)) from None
    return GraphClient(
        credential,
        base_url=config.base_url,
        max_retries=config.max_retries,
        max_retry_delay=config.max_retry_delay,
        ca_file=config.ca_file,
    )


def load_rich_keys(config: GraphSettings) -> RichKeys | None:
    if config.encryption_certificate_path is None:
        return None
    if not config.encryption_certificate_id:
        raise GraphSetupError("set SMARTNOTES_GRAPH__ENCRYPTION_CERTIFICATE_ID with the PEM")
    try:
        pem = config.encryption_certificate_path.read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        certificate = x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError) as exc:
        raise GraphSetupError(
            f"{config.encryption_certificate_path}: needs the certificate and its unencrypted "
            f"private key in PEM ({exc})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GraphSetupError("the encryption certificate's key must be RSA")
    rich = RichKeys(
        private_key=key,
        certificate_id=config.encryption_certificate_id,
        certificate_b64=base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode(),
        jwks_url=config.jwks_url,
    )
    rich.checker = ValidationTokenChecker(
        [config.client_id],
        [config.tenant_id] if config.tenant_id else None,
        {},
        # Only reads what the background task fetched: free, so no need to rate-limit it.
        refresh=lambda: rich.keys,
        min_refresh_interval=timedelta(0),
    )
    return rich


@dataclass
class GraphRuntime:
    config: GraphSettings
    client: GraphClient
    fetcher: MediaFetcher
    inbox: InboxWorker
    subscriptions: Subscriptions
    catchup: CatchUp
    polls: MeetingEndPolls
    rich: RichKeys | None
    http: aiohttp.ClientSession
    writer: InboxWriter
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def client_state(self) -> str:
        secret = self.config.client_state
        return secret.get_secret_value() if secret else ""

    def notify(self) -> None:
        self.wake.set()

    async def work_once(self) -> None:
        """Everything due now: notifications, downloads to retry, meeting-end polls."""
        await self.inbox.drain()
        for row_id in await self.fetcher.due():
            await self.fetcher.work(row_id)
        await self.polls.run_due()

    async def catch_up(self) -> int:
        organizers = await self.catchup.run()
        await self.work_once()
        return organizers

    async def on_lifecycle(self, subscription_id: str, event: LifecycleEvent) -> None:
        if await self.subscriptions.on_lifecycle(subscription_id, event):
            await self.catchup.run()

    async def refresh_keys(self) -> None:
        if self.rich is not None:
            await self.rich.refresh(self.http)


@asynccontextmanager
async def open_graph(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    submit: Callable[[CallEvent], Awaitable[Submitted]],
    *,
    background: bool,
) -> AsyncIterator[GraphRuntime | None]:
    config = settings.graph
    if not config.enabled:
        yield None
        return
    if config.client_state is None:
        raise GraphSetupError("set SMARTNOTES_GRAPH__CLIENT_STATE (32 to 128 random characters)")
    rich = load_rich_keys(config)
    client = build_client(config)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(client.aclose)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        fetcher = MediaFetcher(
            sessions,
            client,
            submit,
            tenant_id=config.tenant,
            keep_dir=settings.data_dir / "graph",
            max_recording_bytes=config.max_recording_bytes,
        )
        runtime: GraphRuntime
        subscriptions = Subscriptions(
            sessions,
            client,
            config,
            base_url=config.notification_url or settings.public_url(),
            encryption_certificate=rich.certificate_b64 if rich else None,
        )

        async def lifecycle(subscription_id: str, event: LifecycleEvent) -> None:
            await runtime.on_lifecycle(subscription_id, event)

        runtime = GraphRuntime(
            config=config,
            client=client,
            fetcher=fetcher,
            inbox=InboxWorker(sessions, fetcher, lifecycle, tenant_id=config.tenant),
            subscriptions=subscriptions,
            catchup=CatchUp(sessions, client, config),
            polls=MeetingEndPolls(sessions, client, fetcher, config),
            rich=rich,
            http=http,
            writer=InboxWriter(sessions),
        )
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks.append(asyncio.create_task(_work_loop(runtime), name="graph-work"))
            tasks.append(asyncio.create_task(_upkeep_loop(runtime), name="graph-upkeep"))
        try:
            yield runtime
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _work_loop(runtime: GraphRuntime) -> None:
    tick = min(TICK, runtime.config.poll_first_seconds)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.wake.wait(), timeout=tick)
        runtime.wake.clear()
        try:
            await runtime.work_once()
        except Exception:
            # The loop is the only thing working the inbox: it must outlive any one failure.
            log.exception("Graph background work failed; trying again shortly")


async def _upkeep_loop(runtime: GraphRuntime) -> None:
    """Renewals every minute, validation keys every hour, a catch-up pass every
    ``catchup_minutes``, the first right after start (notifications sent while the service
    was down are lost)."""
    next_catchup = 0.0
    next_keys = 0.0
    while True:
        now = time.monotonic()
        try:
            if runtime.rich is not None and now >= next_keys:
                await runtime.refresh_keys()
                next_keys = now + JWKS_REFRESH
            await runtime.subscriptions.renew_due()
            if now >= next_catchup:
                await runtime.catch_up()
                next_catchup = now + runtime.config.catchup_minutes * 60
        except Exception:
            log.exception("Graph upkeep failed; trying again in a minute")
        await asyncio.sleep(60.0)
