"""The Graph side of the service, built from settings: the client, the notification checks,
and the work that jobs do (inbox, downloads, meeting-end polls, renewals, catch-up: see
``smartnotes.jobs.tasks.register_graph``). Absent when no Graph app is configured."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graph.client import GraphClient
from graph.credentials import make_credential
from graph.notifications import LifecycleEvent
from graph.validation_tokens import PublicKeys, ValidationTokenChecker
from smartnotes.jobs.engine import Jobs
from smartnotes.meetings.inbox import InboxWorker, InboxWriter
from smartnotes.meetings.media import MediaFetcher
from smartnotes.meetings.sync import CatchUp, MeetingEndPolls, Subscriptions
from smartnotes.runs.gate import SkipNotices
from smartnotes.runs.intake import CallEvent, Submitted
from smartnotes.settings import GraphSettings, Settings

log = logging.getLogger(__name__)

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
    jwks: jwt.PyJWKClient
    keys: PublicKeys = field(default_factory=dict)
    tried_at: float | None = None
    checker: ValidationTokenChecker | None = None

    def may_refetch(self, now: float) -> bool:
        """Whether a token that failed may fetch the keys again: always before the first
        fetch, then once every ``KEY_REFETCH`` seconds, whether the last fetch worked or not."""
        return self.tried_at is None or now - self.tried_at >= KEY_REFETCH

    async def refresh(self) -> None:
        """Fetch the keys; :class:`KeyFetchError` when that fails (the old keys stay)."""
        self.tried_at = time.monotonic()
        try:
            # PyJWKClient fetches with urllib: off the event loop.
            found = await asyncio.to_thread(self.jwks.get_jwk_set, True)
        except jwt.PyJWTError as exc:
            raise KeyFetchError(f"signing keys from {self.jwks.uri}: {exc}") from exc
        keys = {
            key.key_id: key.key
            for key in found.keys
            if key.key_id and isinstance(key.key, rsa.RSAPublicKey)
        }
        if not keys:
            raise KeyFetchError(f"signing keys from {self.jwks.uri}: no RSA signing key")
        self.keys = keys


def _trusting(ca_file: Path | None) -> ssl.SSLContext | None:
    """TLS that trusts ``ca_file`` (a TLS-inspecting proxy's CA); ``None``: the system's."""
    return ssl.create_default_context(cafile=ca_file) if ca_file is not None else None


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
        jwks=jwt.PyJWKClient(
            config.jwks_url,
            # Refetched explicitly (hourly, and when a token names a new key), never implicitly.
            cache_jwk_set=False,
            timeout=10,
            ssl_context=ssl.create_default_context(cafile=config.ca_file)
            if config.ca_file
            else None,
        ),
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
    jobs: Jobs | None = None
    _telling: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def client_state(self) -> str:
        secret = self.config.client_state
        return secret.get_secret_value() if secret else ""

    def notify(self) -> None:
        """Something arrived (notifications, a meeting's end): work it now rather than at the
        next tick. The tick still finds it if this is lost."""
        if self.jobs is None:
            return
        told = asyncio.create_task(self._work_now(self.jobs), name="graph-work-now")
        self._telling.add(told)
        told.add_done_callback(self._telling.discard)

    async def _work_now(self, jobs: Jobs) -> None:
        try:
            await jobs.graph_work_now()
        except Exception:
            log.exception("queueing the Graph work failed; the next tick does it")

    async def work_once(self) -> None:
        """Everything due now: notifications, downloads to retry, meeting-end polls."""
        await self.inbox.drain()
        for row_id in await self.fetcher.due():
            await self.fetcher.work(row_id)
        await self.polls.run_due()

    async def work_alone(self) -> None:
        """The Graph job's work, which runs alone in the cluster: rows a dead worker left
        claimed are taken back first, then everything due is worked."""
        reclaimed = await self.fetcher.reclaim()
        if reclaimed:
            log.warning("%d download(s) left unfinished by a stopped worker: again", reclaimed)
        await self.work_once()

    async def catch_up(self) -> int:
        organizers = await self.catchup.run()
        await self.work_once()
        return organizers

    async def catch_up_alone(self) -> int:
        organizers = await self.catchup.run()
        await self.work_alone()
        return organizers

    async def on_lifecycle(self, subscription_id: str, event: LifecycleEvent) -> None:
        if await self.subscriptions.on_lifecycle(subscription_id, event):
            await self.catchup.run()

    async def refresh_keys(self) -> None:
        if self.rich is not None:
            await self.rich.refresh()


@asynccontextmanager
async def open_graph(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    submit: Callable[[CallEvent], Awaitable[Submitted]],
    *,
    jobs: Jobs | None = None,
    notices: SkipNotices | None = None,
) -> AsyncIterator[GraphRuntime | None]:
    """The Graph runtime; ``jobs`` is where its work is queued (none for a command that works
    it itself); ``notices`` hears of meetings the tenant's missing consent kept unread."""
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
            terms_version=settings.terms_version,
            keep_dir=settings.data_dir / "graph",
            max_recording_bytes=config.max_recording_bytes,
            sealer=settings.sealer(),
            notices=notices,
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
            catchup=CatchUp(sessions, client, config, terms_version=settings.terms_version),
            polls=MeetingEndPolls(sessions, client, fetcher, config),
            rich=rich,
            http=http,
            writer=InboxWriter(sessions),
            jobs=jobs,
        )
        tasks: list[asyncio.Task[None]] = []
        if rich is not None and jobs is not None:
            # Every process that takes notifications checks their tokens with these keys.
            tasks.append(asyncio.create_task(_keys_loop(runtime), name="graph-keys"))
        try:
            yield runtime
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _keys_loop(runtime: GraphRuntime) -> None:
    """Microsoft's keys for the validation tokens of rich notifications, once an hour (and when
    a token names a key not seen yet, in ``smartnotes.web.graph``)."""
    while True:
        try:
            await runtime.refresh_keys()
        except Exception:
            log.exception("fetching Graph's validation token keys failed; trying again later")
        await asyncio.sleep(JWKS_REFRESH)
