"""Bot Framework authentication, both ways.

Inbound: every activity Teams posts carries a JWT signed by the Bot Connector. It is checked
against the keys the OpenID metadata document names (PyJWT's ``PyJWKClient``: fetched, cached,
refetched when a new key id appears but not more often than once a minute), for our app id as
audience, an accepted issuer, its lifetime, the key's channel
endorsement and the ``serviceurl`` claim (so a token minted for one service URL cannot send us
replies somewhere else).

Outbound: the bot's own token for the Bot Connector, from whichever azure-identity credential
the host gives (client credentials with the app's secret, or a managed identity), which caches
it until shortly before it expires.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ClaimsIdentity,
    Connections,
)

log = logging.getLogger(__name__)

# Bot Framework tokens may be checked with five minutes of clock skew (its documentation).
LEEWAY = 300
# A key id we have not seen triggers a refetch, but not more often than this: a flood of
# tokens with made-up key ids must not turn into a flood of metadata requests.
MIN_REFETCH_SECONDS = 60.0
KEYS_MAX_AGE = 24 * 3600.0


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    endorsements: tuple[str, ...]


class BotAuthError(Exception):
    """An inbound request whose token does not prove it comes from the Bot Connector."""


class ConnectorAuthError(Exception):
    """The bot could not get its own token for the Bot Connector."""


class _EndorsedKeys(jwt.PyJWKClient):
    """PyJWT's JWKS client, keeping what the Bot Framework adds to each key: the channels it may
    sign for (``endorsements``)."""

    def __init__(self, uri: str, *, min_refetch: float) -> None:
        super().__init__(
            uri,
            cache_jwk_set=True,
            lifespan=KEYS_MAX_AGE,
            timeout=10,
            cooldown_duration=min_refetch,
        )
        self.endorsements: dict[str, list[str]] = {}

    def fetch_data(self) -> Any:
        document = super().fetch_data()
        entries = document.get("keys", []) if isinstance(document, dict) else []
        self.endorsements = {
            str(entry["kid"]): [str(e) for e in entry.get("endorsements", [])]
            for entry in entries
            if isinstance(entry, dict) and isinstance(entry.get("kid"), str)
        }
        return document


class ChannelTokenValidator:
    def __init__(
        self,
        *,
        app_id: str,
        openid_metadata_url: str,
        issuers: list[str],
        http: aiohttp.ClientSession,
        min_refetch: float = MIN_REFETCH_SECONDS,
    ) -> None:
        if not app_id:
            raise ValueError("the bot's app id is needed to check tokens")
        self.app_id = app_id
        self.openid_metadata_url = openid_metadata_url
        self.issuers = issuers
        self._http = http
        self.min_refetch = min_refetch
        self._keys: _EndorsedKeys | None = None
        self._lock = asyncio.Lock()

    async def identity(self, authorization: str | None, activity: dict[str, Any]) -> ClaimsIdentity:
        """The verified claims of a request, as the Agents SDK's identity."""
        claims = await self.validate(authorization, activity)
        return ClaimsIdentity(claims, authentication_type="Bearer")

    async def validate(self, authorization: str | None, activity: dict[str, Any]) -> dict[str, Any]:
        verified = await self.verify_token(authorization)
        return self.check_activity(verified, activity)

    async def verify_token(self, authorization: str | None) -> VerifiedToken:
        """The token's signature, audience, issuer and lifetime: everything that can be
        checked before the request's body is read."""
        token = _bearer(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise BotAuthError("the token is not a JWT") from exc
        if header.get("alg") != "RS256":
            raise BotAuthError("the token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise BotAuthError("the token names no signing key")
        key, endorsements = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=self.issuers,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise BotAuthError(f"the token is not valid: {type(exc).__name__}") from exc
        return VerifiedToken(claims, tuple(endorsements))

    def check_activity(self, verified: VerifiedToken, activity: dict[str, Any]) -> dict[str, Any]:
        """What the token says about the activity it came with: its channel and service URL."""
        channel = activity.get("channelId")
        if verified.endorsements and channel not in verified.endorsements:
            raise BotAuthError("the signing key is not endorsed for this channel")
        service_url = activity.get("serviceUrl")
        claimed = verified.claims.get("serviceurl")
        if claimed is not None and not _same_url(str(claimed), str(service_url or "")):
            raise BotAuthError("the token was issued for another service URL")
        return verified.claims

    async def _key(self, kid: str) -> tuple[jwt.PyJWK, list[str]]:
        keys = await self._client()
        try:
            # PyJWKClient fetches with urllib: off the event loop.
            key = await asyncio.to_thread(keys.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise BotAuthError(f"the Bot Framework signing keys are unavailable: {exc}") from exc
        except jwt.PyJWKClientError as exc:
            raise BotAuthError("the token is signed with an unknown key") from exc
        return key, keys.endorsements.get(kid, [])

    async def _client(self) -> _EndorsedKeys:
        """The keys' client, for the ``jwks_uri`` the OpenID metadata names (read once)."""
        if self._keys is not None:
            return self._keys
        async with self._lock:
            if self._keys is None:
                try:
                    metadata = await self._get_json(self.openid_metadata_url)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    raise BotAuthError(
                        f"the Bot Framework's OpenID metadata is unavailable: {exc}"
                    ) from exc
                jwks_uri = metadata.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise BotAuthError("the OpenID metadata names no jwks_uri")
                self._keys = _EndorsedKeys(jwks_uri, min_refetch=self.min_refetch)
            return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return body


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise BotAuthError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise BotAuthError("the Authorization header is not a bearer token")
    return token


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class CredentialTokens(AccessTokenProviderBase):
    """The bot's token for the Bot Connector, from an azure-identity credential (the app's
    secret, or a managed identity), which caches it and renews it before it expires."""

    def __init__(self, credential: AsyncTokenCredential, *, app_id: str, scope: str) -> None:
        self._config = AgentAuthConfiguration(client_id=app_id, tenant_id="botframework.com")
        self.credential = credential
        self.app_id = app_id
        self.scope = scope

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._config

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        # The connector asks for its own scope; the user-token service (OAuth sign-in, which
        # this bot does not use) would ask for another, and gets the same bot identity.
        try:
            token = await self.credential.get_token(self.scope)
        except ClientAuthenticationError as exc:
            raise ConnectorAuthError(
                f"Entra refused the bot's credentials: {exc.message or exc}"
            ) from exc
        except (AzureError, OSError) as exc:
            raise ConnectorAuthError(f"the token endpoint is unavailable: {exc}") from exc
        return token.token

    def get_token_credential(self) -> AsyncTokenCredential:
        return self.credential

    # The flows below (user sign-in, agentic identities) are not used by this bot.

    async def acquire_token_on_behalf_of(self, scopes: list[str], user_assertion: str) -> str:
        raise NotImplementedError("the bot does not act on behalf of users")

    async def get_agentic_application_token(
        self, tenant_id: str, agent_app_instance_id: str
    ) -> str | None:
        raise NotImplementedError("the bot has no agentic identity")

    async def get_agentic_instance_token(
        self, tenant_id: str, agent_app_instance_id: str
    ) -> tuple[str, str]:
        raise NotImplementedError("the bot has no agentic identity")

    async def get_agentic_user_token(
        self,
        tenant_id: str,
        agent_app_instance_id: str,
        agentic_user_id: str,
        scopes: list[str],
    ) -> str | None:
        raise NotImplementedError("the bot has no agentic identity")


class BotConnections(Connections):
    """One connection: the bot's own identity (or none, for a local test client), for every
    service URL."""

    def __init__(self, tokens: AccessTokenProviderBase) -> None:
        self.tokens = tokens

    def get_connection(self, connection_name: str) -> AccessTokenProviderBase:
        return self.tokens

    def get_default_connection(self) -> AccessTokenProviderBase:
        return self.tokens

    def get_token_provider(
        self, claims_identity: ClaimsIdentity, service_url: str
    ) -> AccessTokenProviderBase:
        return self.tokens

    def get_token_provider_from_activity(
        self, claims_identity: ClaimsIdentity, activity: Activity
    ) -> AccessTokenProviderBase:
        return self.tokens

    def get_default_connection_configuration(self) -> AgentAuthConfiguration:
        return self.tokens.configuration
