"""A local Bot Framework: the Bot Connector, its OpenID metadata and keys, and the bot's token
endpoint, in one aiohttp server on 127.0.0.1.

What it speaks, and where Microsoft documents it:

- ``GET /v1/.well-known/openidconfiguration`` and ``GET /v1/.well-known/keys``: the OpenID
  metadata the Bot Connector publishes for the tokens it sends to bots (keys carry
  ``endorsements``, the channels each key may sign for). ``channel_token()`` mints such a token:
  RS256, ``iss`` https://api.botframework.com, ``aud`` the bot's app id, a ``serviceurl`` claim.
- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant a bot uses to get its own
  token for the connector (scope ``https://api.botframework.com/.default``), with Entra's error
  shape (``{"error": "invalid_client", "error_description": ...}``); also on an HTTPS listener
  (``authority``, its CA in ``ca_file``), which is all Entra and azure-identity speak.
- ``{service_url}v3/conversations/...``: the connector's conversation API as the Agents SDK's
  ``ConnectorClient``/``TeamsConnectorClient`` calls it. Every call needs a bearer token this
  fake issued. Errors use the connector's ``ErrorResponse`` (``{"error": {"code", "message"}}``)
  with the codes Teams documents (``ConversationBlockedByUser``, ``ConversationNotFound``,
  ``ActivityNotFoundInConversation``, ``Throttled`` with ``Retry-After``).

Activity builders make the JSON a Teams client sends through the channel for a user in personal
scope (install, uninstall, members added, message, ``Action.Execute`` invoke, ``Action.Submit``)
and the meeting-end event in a meeting chat; ``deliver()`` posts one to the bot with a token.
Every request is recorded, and each conversation keeps the bot's messages in their latest
version so a test can ask what the user sees now.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import json
import secrets
import ssl
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import aiohttp
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.graph_support import Keys, make_keys

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
CONNECTOR_SCOPE = "https://api.botframework.com/.default"
MEETING_END = "application/vnd.microsoft.meetingEnd"
ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
DEFAULT_ENDORSEMENTS = ("msteams", "webchat", "skype", "directline")
# The tenant the Bot Framework's multi-tenant bots get their connector tokens from.
BOT_FRAMEWORK_TENANT = "botframework.com"

_DENIED = {"message": "Authorization has been denied for this request."}


class _Fresh(enum.Enum):
    TOKEN = enum.auto()


FRESH_TOKEN = _Fresh.TOKEN
"""``deliver()``'s default: sign a fresh, valid channel token for the activity's service URL."""


@dataclass(frozen=True)
class SigningKey:
    """An RSA key the fake signs channel tokens with, and the key id it puts in their header."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, subject: str = "fake.login.botframework.test") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(kid=secrets.token_urlsafe(20), private_key=key, certificate=certificate)

    def jwk(self, endorsements: tuple[str, ...]) -> dict[str, Any]:
        """The public half as the keys document lists it (with ``x5t``/``x5c`` and endorsements)."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        public: dict[str, Any] = dict(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        )
        # x5t is the certificate's SHA-1 thumbprint by definition (RFC 7517).
        digest = hashlib.sha1(der).digest()  # noqa: S324
        thumbprint = base64.urlsafe_b64encode(digest).rstrip(b"=")
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": thumbprint.decode(),
            "n": public["n"],
            "e": public["e"],
            "x5c": [base64.b64encode(der).decode()],
            "endorsements": list(endorsements),
        }


@dataclass(frozen=True)
class TeamsUser:
    """A person in the fake tenant, with the personal chat Teams keeps between them and the bot."""

    id: str
    aad_object_id: str
    name: str
    email: str
    tenant_id: str
    conversation_id: str
    given_name: str = ""
    surname: str = ""
    timezone: str = "UTC"
    locale: str = "en-US"

    def account(self) -> dict[str, Any]:
        """The member as ``GET .../members/{id}`` returns it (a Teams channel account)."""
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.email,
            "givenName": self.given_name,
            "surname": self.surname,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }


@dataclass
class Recorded:
    """One request the fake answered. ``at`` is ``time.monotonic()`` on arrival."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    status: int = 0


@dataclass
class _Conversation:
    id: str
    conversation_type: str
    tenant_id: str
    members: list[TeamsUser]
    # Activity ids in the order the bot created them; ``versions`` holds their bodies.
    order: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    blocked: tuple[str, str] | None = None


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The connector's ``ErrorResponse``."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        if "client_secret" in form:
            form["client_secret"] = "***"  # noqa: S105 - masking, not a credential
        return form
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw.decode(errors="replace")


# Teams refuses a message over about 28 KB, the whole activity counted ("Format your bot
# messages": the message size limit is 28 KB), with 413 MessageSizeTooBig.
TEAMS_MAX_ACTIVITY_BYTES = 28 * 1024


class FakeBotFramework:
    """The Bot Connector, its OpenID metadata/keys and the bot token endpoint, on 127.0.0.1:0.

    Use ``async with FakeBotFramework(app_id=..., app_password=...) as bf:``. ``region`` puts the
    connector under a path the way Teams service URLs have one (``.../amer/``); without it the
    service URL is the server's root, still with its trailing slash.
    """

    def __init__(
        self,
        *,
        app_id: str = "6b0e4ab6-0a6a-4d4e-9a5b-6f1b1d2a7c11",
        app_password: str = "fake-bot-password",  # noqa: S107 - the fake's own test credential
        tenant_id: str | None = None,
        bot_name: str = "Smart Notes",
        region: str | None = None,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        endorsements: tuple[str, ...] = DEFAULT_ENDORSEMENTS,
        token_lifetime: int = 3600,
        max_activity_bytes: int | None = TEAMS_MAX_ACTIVITY_BYTES,
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.bot_name = bot_name
        self.region = region.strip("/") if region else ""
        self.endorsements = endorsements
        self.token_lifetime = token_lifetime
        self.max_activity_bytes = max_activity_bytes
        self._issuer = issuer
        self._keys: list[SigningKey] = [SigningKey.generate()]
        # Signs tokens whose key the JWKS does not publish: a forger's key.
        self.stranger_key = SigningKey.generate("stranger.test")
        self.requests: list[Recorded] = []
        self.delivered: list[tuple[dict[str, Any], int, Any]] = []
        self._access_tokens: dict[str, float] = {}
        self._tokens_issued = 0
        self._throttled: deque[int] = deque()
        self._users: dict[str, TeamsUser] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._versions: dict[str, list[dict[str, Any]]] = {}
        self._meeting_chats: dict[str, str] = {}
        self._last_message_ms = 0
        self._runner: web.AppRunner | None = None
        self._tls: Keys | None = None
        self.authority = ""
        self._http: aiohttp.ClientSession | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotFramework:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> str:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/v1/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/v1/.well-known/keys", self._jwks)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        v3 = f"/{self.region}/v3" if self.region else "/v3"
        app.router.add_post(f"{v3}/conversations", self._create_conversation)
        app.router.add_post(f"{v3}/conversations/{{cid}}/activities", self._send)
        app.router.add_post(f"{v3}/conversations/{{cid}}/activities/{{aid}}", self._reply)
        app.router.add_put(f"{v3}/conversations/{{cid}}/activities/{{aid}}", self._update)
        app.router.add_delete(f"{v3}/conversations/{{cid}}/activities/{{aid}}", self._delete)
        app.router.add_get(f"{v3}/conversations/{{cid}}/members", self._members)
        app.router.add_get(f"{v3}/conversations/{{cid}}/members/{{mid}}", self._member)
        # ConnectorClient spells it ``pagedmembers``, TeamsConnectorClient ``pagedMembers``.
        app.router.add_get(f"{v3}/conversations/{{cid}}/pagedmembers", self._paged_members)
        app.router.add_get(f"{v3}/conversations/{{cid}}/pagedMembers", self._paged_members)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        # Entra's token endpoint speaks only HTTPS, and azure-identity refuses anything else.
        self._tls = await asyncio.to_thread(make_keys)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self._tls.ca_file, self._tls.server_key)
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls).start()
        self.authority = f"https://127.0.0.1:{self._runner.addresses[1][1]}"
        self._http = aiohttp.ClientSession()
        return self.base_url

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- addresses -------------------------------------------------------------------------

    def _started(self) -> str:
        if not self.base_url:
            raise RuntimeError("FakeBotFramework is not started; use `async with`")
        return self.base_url

    @property
    def service_url(self) -> str:
        """The connector's base URL, with the trailing slash Teams service URLs have."""
        base = self._started()
        return f"{base}/{self.region}/" if self.region else f"{base}/"

    @property
    def openid_url(self) -> str:
        return f"{self._started()}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self._started()}/v1/.well-known/keys"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the HTTPS listener's certificate (the token endpoint's)."""
        if self._tls is None:
            raise RuntimeError("FakeBotFramework is not started; use `async with`")
        return self._tls.ca_file

    @property
    def token_url(self) -> str:
        """The multi-tenant bot's token endpoint (tenant ``botframework.com``)."""
        return self.token_url_for(BOT_FRAMEWORK_TENANT)

    def token_url_for(self, tenant: str) -> str:
        """The token endpoint of a single-tenant bot (``tenant`` = the fake's ``tenant_id``)."""
        return f"{self._started()}/{tenant}/oauth2/v2.0/token"

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def bot_id(self) -> str:
        """The bot's id in Teams activities: ``28:`` and its app id."""
        return f"28:{self.app_id}"

    @property
    def tokens_issued(self) -> int:
        return self._tokens_issued

    # -- keys and channel tokens -----------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The key channel tokens are signed with now (the newest one published)."""
        return self._keys[-1]

    def rotate_signing_key(self) -> SigningKey:
        """Publish a new key and sign with it from now on; older keys stay in the JWKS."""
        key = SigningKey.generate()
        self._keys.append(key)
        return key

    def channel_token(
        self,
        *,
        service_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 3600,
        signing_key: SigningKey | None = None,
        kid: str | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token as the Bot Connector puts in ``Authorization`` when it posts to the bot.

        Defaults make a valid one. Bad ones for tests: another ``audience`` or ``issuer``,
        ``expires_in`` below zero (below -300 to beat the five minutes of allowed clock skew),
        ``signing_key=bf.stranger_key`` (a key the JWKS does not publish), or ``kid`` to claim
        a published key id while signing with another key. A claim set to ``None`` in
        ``extra_claims`` is left out.
        """
        now = int(time.time())
        expires = now + expires_in
        issued = now if expires > now else expires - 3600
        claims: dict[str, Any] = {
            "serviceurl": service_url if service_url is not None else self.service_url,
            "nbf": issued,
            "exp": expires,
            "iat": issued,
            "iss": issuer if issuer is not None else self._issuer,
            "aud": audience if audience is not None else self.app_id,
        }
        for name, value in (extra_claims or {}).items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = signing_key or self.signing_key
        return jwt.encode(
            claims, key.private_key, algorithm="RS256", headers={"kid": kid or key.kid}
        )

    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self._issuer,
                "authorization_endpoint": f"{self.base_url}/invalid",
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [k.jwk(self.endorsements) for k in self._keys]})

    # -- the bot's token endpoint ----------------------------------------------------------

    def _aad_error(self, status: int, error: str, code: int, description: str) -> web.Response:
        return web.json_response(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}",
                "error_codes": [code],
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
            status=status,
        )

    async def _token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant not in (BOT_FRAMEWORK_TENANT, self.tenant_id):
            return self._aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if request.content_type != "application/x-www-form-urlencoded":
            return self._aad_error(
                400, "invalid_request", 900144, "The request body must be form-encoded."
            )
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(
                400, "unsupported_grant_type", 70003, "The grant type is not supported."
            )
        if form.get("client_id") != self.app_id:
            return self._aad_error(
                401,
                "invalid_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found.",
            )
        if form.get("client_secret") != self.app_password:
            return self._aad_error(
                401, "invalid_client", 7000215, "Invalid client secret provided."
            )
        if form.get("scope") != CONNECTOR_SCOPE:
            return self._aad_error(
                400,
                "invalid_scope",
                70011,
                f"The provided scope '{form.get('scope')}' is not valid.",
            )
        token = secrets.token_urlsafe(48)
        self._access_tokens[token] = time.monotonic() + self.token_lifetime
        self._tokens_issued += 1
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    def expire_tokens(self) -> None:
        """Make every connector token issued so far expired: the next call with one gets 401."""
        for token in self._access_tokens:
            self._access_tokens[token] = 0.0

    # -- recording, auth and failure switches ----------------------------------------------

    def block(
        self,
        conversation_id: str,
        *,
        code: str = "ConversationBlockedByUser",
        message: str = "User blocked the conversation with the bot.",
    ) -> None:
        """Writes to this conversation answer 403 with this error until ``unblock``."""
        self._conversation(conversation_id).blocked = (code, message)

    def unblock(self, conversation_id: str) -> None:
        self._conversation(conversation_id).blocked = None

    def throttle(self, n: int, retry_after: int = 1) -> None:
        """The next ``n`` connector requests get 429 ``Throttled`` with ``Retry-After``."""
        self._throttled.extend([retry_after] * n)

    def calls(self, method: str | None = None, *, contains: str = "") -> list[Recorded]:
        """Recorded connector requests (``/v3/...``), optionally by method and path part."""
        return [
            r
            for r in self.requests
            if "/v3/" in r.path
            and (method is None or r.method == method.upper())
            and contains in r.path
        ]

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        entry = Recorded(
            at=time.monotonic(),
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=_parse_body(request.content_type, raw),
            authorization=request.headers.get("Authorization"),
        )
        self.requests.append(entry)
        response: web.StreamResponse
        try:
            if "/v3/" not in request.path:
                response = await handler(request)
            elif not self._authorized(entry.authorization):
                response = web.json_response(_DENIED, status=401)
            elif self._throttled:
                retry_after = str(self._throttled.popleft())
                response = _error(
                    429, "Throttled", "Too many requests.", {"Retry-After": retry_after}
                )
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            entry.status = exc.status
            raise
        entry.status = response.status
        return response

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        expires = self._access_tokens.get(token)
        return expires is not None and expires > time.monotonic()

    # -- people and conversations ----------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        tenant_id: str | None = None,
        timezone: str = "UTC",
        locale: str = "en-US",
    ) -> TeamsUser:
        """A person in the tenant who has the bot installed (their personal chat exists)."""
        given, _, surname = name.partition(" ")
        user = TeamsUser(
            id=f"29:1{secrets.token_urlsafe(32)}",
            aad_object_id=str(uuid.uuid4()),
            name=name,
            email=email or f"{name.lower().replace(' ', '.')}@contoso.test",
            tenant_id=tenant_id or self.tenant_id,
            conversation_id=f"a:1{secrets.token_urlsafe(96)}",
            given_name=given,
            surname=surname,
            timezone=timezone,
            locale=locale,
        )
        self._users[user.id] = user
        self._conversations[user.conversation_id] = _Conversation(
            user.conversation_id, "personal", user.tenant_id, [user]
        )
        return user

    def meeting_chat(self, meeting_id: str, *members: TeamsUser) -> str:
        """The group chat of a meeting (created on first use, members added as given)."""
        conversation_id = self._meeting_chats.get(meeting_id)
        if conversation_id is None:
            conversation_id = f"19:meeting_{secrets.token_urlsafe(32)}@thread.v2"
            self._meeting_chats[meeting_id] = conversation_id
            self._conversations[conversation_id] = _Conversation(
                conversation_id, "groupChat", self.tenant_id, []
            )
        chat = self._conversations[conversation_id]
        chat.members.extend(m for m in members if m not in chat.members)
        return conversation_id

    def _conversation(self, conversation_id: str) -> _Conversation:
        try:
            return self._conversations[conversation_id]
        except KeyError:
            raise KeyError(f"no conversation {conversation_id!r} in the fake") from None

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """What the user sees now: the bot's activities in order, latest versions, not deleted."""
        chat = self._conversation(conversation_id)
        return [self._versions[a][-1] for a in chat.order if a not in chat.deleted]

    def activity(self, activity_id: str) -> dict[str, Any]:
        """The latest version of an activity the bot sent (deleted ones included)."""
        return self._versions[activity_id][-1]

    def versions(self, activity_id: str) -> list[dict[str, Any]]:
        """Every version of an activity: as sent, then after each update."""
        return list(self._versions.get(activity_id, []))

    def updates(self, activity_id: str) -> int:
        return max(0, len(self._versions.get(activity_id, [])) - 1)

    def is_deleted(self, activity_id: str) -> bool:
        return any(activity_id in c.deleted for c in self._conversations.values())

    # -- the connector ---------------------------------------------------------------------

    def _message_id(self) -> str:
        # Teams message ids in chats are epoch milliseconds; unique here even within one ms.
        self._last_message_ms = max(int(time.time() * 1000), self._last_message_ms + 1)
        return str(self._last_message_ms)

    async def _activity_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if self.max_activity_bytes is not None and len(raw) > self.max_activity_bytes:
            return _error(413, "MessageSizeTooBig", "Message size too big.")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "BadArgument", "The request body is not JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _error(400, "BadArgument", "Activity type is required.")
        return body

    def _writable(self, conversation_id: str) -> _Conversation | web.Response:
        chat = self._conversations.get(conversation_id)
        if chat is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if chat.blocked is not None:
            return _error(403, *chat.blocked)
        return chat

    def _store(self, chat: _Conversation, body: dict[str, Any], reply_to: str | None = None) -> str:
        activity_id = self._message_id()
        stored = {**body, "id": activity_id}
        if reply_to is not None:
            stored.setdefault("replyToId", reply_to)
        chat.order.append(activity_id)
        self._versions[activity_id] = [stored]
        return activity_id

    async def _create_conversation(self, request: web.Request) -> web.Response:
        try:
            params = await request.json()
        except json.JSONDecodeError:
            return _error(400, "BadArgument", "The request body is not JSON.")
        members = params.get("members") or []
        channel_data = params.get("channelData") or {}
        tenant = params.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        if not tenant:
            return _error(400, "BadArgument", "A tenant id is required to create a conversation.")
        if params.get("isGroup") or len(members) != 1:
            return _error(400, "BadArgument", "Only one-on-one conversations can be created.")
        user = self._find_user(str(members[0].get("id", "")))
        if user is None or user.tenant_id != tenant:
            return _error(404, "MemberNotFoundInConversation", "The member was not found.")
        chat = self._conversations[user.conversation_id]
        answer: dict[str, Any] = {"id": chat.id, "serviceUrl": self.service_url}
        if isinstance(params.get("activity"), dict):
            if chat.blocked is not None:
                return _error(403, *chat.blocked)
            answer["activityId"] = self._store(chat, params["activity"])
        return web.json_response(answer, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        chat = self._writable(request.match_info["cid"])
        if isinstance(chat, web.Response):
            return chat
        body = await self._activity_body(request)
        if isinstance(body, web.Response):
            return body
        return web.json_response({"id": self._store(chat, body)}, status=201)

    async def _reply(self, request: web.Request) -> web.Response:
        chat = self._writable(request.match_info["cid"])
        if isinstance(chat, web.Response):
            return chat
        body = await self._activity_body(request)
        if isinstance(body, web.Response):
            return body
        activity_id = self._store(chat, body, reply_to=request.match_info["aid"])
        return web.json_response({"id": activity_id}, status=201)

    def _existing(self, chat: _Conversation, activity_id: str) -> web.Response | None:
        if activity_id not in chat.order or activity_id in chat.deleted:
            return _error(404, "ActivityNotFoundInConversation", "Conversation not found.")
        return None

    async def _update(self, request: web.Request) -> web.Response:
        chat = self._writable(request.match_info["cid"])
        if isinstance(chat, web.Response):
            return chat
        activity_id = request.match_info["aid"]
        if (missing := self._existing(chat, activity_id)) is not None:
            return missing
        body = await self._activity_body(request)
        if isinstance(body, web.Response):
            return body
        self._versions[activity_id].append({**body, "id": activity_id})
        return web.json_response({"id": activity_id})

    async def _delete(self, request: web.Request) -> web.Response:
        chat = self._writable(request.match_info["cid"])
        if isinstance(chat, web.Response):
            return chat
        activity_id = request.match_info["aid"]
        if (missing := self._existing(chat, activity_id)) is not None:
            return missing
        chat.deleted.add(activity_id)
        return web.Response(status=200)

    def _find_user(self, member_id: str) -> TeamsUser | None:
        # Teams looks members up by their 29: id, their Entra object id or their UPN.
        wanted = member_id.lower()
        for user in self._users.values():
            if wanted in (user.id.lower(), user.aad_object_id.lower(), user.email.lower()):
                return user
        return None

    async def _members(self, request: web.Request) -> web.Response:
        chat = self._conversations.get(request.match_info["cid"])
        if chat is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        return web.json_response([m.account() for m in chat.members])

    async def _paged_members(self, request: web.Request) -> web.Response:
        chat = self._conversations.get(request.match_info["cid"])
        if chat is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        return web.json_response({"members": [m.account() for m in chat.members]})

    async def _member(self, request: web.Request) -> web.Response:
        chat = self._conversations.get(request.match_info["cid"])
        if chat is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        user = self._find_user(request.match_info["mid"])
        if user is None or user not in chat.members:
            return _error(
                404, "MemberNotFoundInConversation", "The member was not found in the conversation."
            )
        return web.json_response(user.account())

    # -- activities a Teams client sends through the channel -------------------------------

    def _activity(
        self,
        user: TeamsUser,
        kind: str,
        *,
        conversation: dict[str, Any] | None = None,
        activity_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        activity: dict[str, Any] = {
            "type": kind,
            "id": activity_id or f"f:{uuid.uuid4()}",
            "timestamp": _iso(now),
            "localTimestamp": now.astimezone(ZoneInfo(user.timezone)).isoformat(
                timespec="milliseconds"
            ),
            "localTimezone": user.timezone,
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": user.id, "name": user.name, "aadObjectId": user.aad_object_id},
            "conversation": conversation
            or {
                "conversationType": "personal",
                "tenantId": user.tenant_id,
                "id": user.conversation_id,
            },
            "recipient": {"id": self.bot_id, "name": self.bot_name},
            "entities": [
                {
                    "locale": user.locale,
                    "country": user.locale.rpartition("-")[2],
                    "platform": "Web",
                    "timezone": user.timezone,
                    "type": "clientInfo",
                }
            ],
            "channelData": {"tenant": {"id": user.tenant_id}},
            "locale": user.locale,
        }
        activity.update(fields)
        return activity

    def installation_add(self, user: TeamsUser) -> dict[str, Any]:
        """The user installed the app in personal scope."""
        return self._activity(user, "installationUpdate", action="add")

    def installation_remove(self, user: TeamsUser) -> dict[str, Any]:
        """The user uninstalled the app from personal scope."""
        return self._activity(user, "installationUpdate", action="remove")

    def members_added(self, user: TeamsUser, *, include_user: bool = False) -> dict[str, Any]:
        """``conversationUpdate`` for the bot joining the user's personal chat (on install).

        Teams lists the bot as the added member; ``include_user`` adds the user as well, the
        way other channels (the Emulator, the Playground) announce both.
        """
        added: list[dict[str, Any]] = [{"id": self.bot_id}]
        if include_user:
            added.append({"id": user.id, "aadObjectId": user.aad_object_id})
        return self._activity(user, "conversationUpdate", membersAdded=added)

    def message(self, user: TeamsUser, text: str) -> dict[str, Any]:
        """A text message the user typed in the personal chat."""
        return self._activity(
            user, "message", activity_id=self._message_id(), text=text, textFormat="plain"
        )

    def card_action(
        self, user: TeamsUser, verb: str, data: Mapping[str, Any], *, reply_to_id: str
    ) -> dict[str, Any]:
        """The user pressed an ``Action.Execute`` button on the card in activity ``reply_to_id``.

        The bot's answer is the invoke response: ``{"statusCode": 200, "type":
        "application/vnd.microsoft.card.adaptive", "value": <the card that replaces it>}``.
        """
        return self._activity(
            user,
            "invoke",
            name=ADAPTIVE_CARD_ACTION,
            replyToId=reply_to_id,
            value={
                "action": {
                    "type": "Action.Execute",
                    "id": str(uuid.uuid4()),
                    "verb": verb,
                    "data": dict(data),
                },
                "trigger": "manual",
            },
        )

    def dialog_fetch(
        self, user: TeamsUser, data: Mapping[str, Any], *, reply_to_id: str
    ) -> dict[str, Any]:
        """The user pressed an ``Action.Submit`` whose data says ``msteams.type:
        task/fetch``: Teams asks the bot what to show in a dialog. The card's data arrives
        as ``value.data`` with the ``msteams`` part; the answer is ``{"task": {"type":
        "continue", "value": {"url", "title", "height", "width"}}}`` or a ``message``."""
        return self._activity(
            user,
            "invoke",
            name="task/fetch",
            replyToId=reply_to_id,
            value={"data": dict(data), "context": {"theme": "default"}},
        )

    def typeahead_search(
        self, user: TeamsUser, dataset: str, query: str, *, skip: int = 0, top: int = 15
    ) -> dict[str, Any]:
        """The user typed ``query`` into an ``Input.ChoiceSet`` whose ``choices.data`` is a
        ``Data.Query`` on ``dataset``: an ``application/search`` invoke. The answer is
        ``{"type": "application/vnd.microsoft.search.searchResponse", "value": {"results":
        [{"title", "value"}]}}``, or an ``application/vnd.microsoft.error``."""
        return self._activity(
            user,
            "invoke",
            name="application/search",
            value={
                "queryText": query,
                "queryOptions": {"skip": skip, "top": top},
                "dataset": dataset,
            },
        )

    def card_submit(
        self, user: TeamsUser, data: Mapping[str, Any], *, reply_to_id: str
    ) -> dict[str, Any]:
        """The user pressed an ``Action.Submit`` button: a message with ``value`` and no text."""
        activity = self._activity(
            user, "message", activity_id=self._message_id(), replyToId=reply_to_id, value=dict(data)
        )
        activity["channelData"] = {**activity["channelData"], "postBack": True}
        return activity

    def meeting_end(
        self,
        user: TeamsUser,
        meeting_id: str,
        join_url: str,
        *,
        title: str = "Customer call",
        end_time: datetime | None = None,
        meeting_type: str = "Scheduled",
    ) -> dict[str, Any]:
        """The meeting-end event Teams posts into the meeting's group chat.

        The chat is registered with the fake (``meeting_chat``) so the bot can post to it.
        The ``value`` keys are PascalCase, as Teams sends them.
        """
        conversation_id = self.meeting_chat(meeting_id, user)
        ended = end_time or datetime.now(UTC)
        return self._activity(
            user,
            "event",
            name=MEETING_END,
            conversation={
                "isGroup": True,
                "conversationType": "groupChat",
                "tenantId": user.tenant_id,
                "id": conversation_id,
            },
            channelData={
                "tenant": {"id": user.tenant_id},
                "source": None,
                "meeting": {"id": meeting_id},
            },
            value={
                "Id": meeting_id,
                "MeetingType": meeting_type,
                "JoinUrl": join_url,
                "Title": title,
                "EndTime": _iso(ended.astimezone(UTC)),
            },
        )

    # -- the channel posting to the bot ----------------------------------------------------

    async def deliver(
        self,
        bot_url: str,
        activity: Mapping[str, Any],
        *,
        token: str | Literal[_Fresh.TOKEN] | None = FRESH_TOKEN,
    ) -> tuple[int, Any]:
        """POST an activity to the bot's messaging endpoint, as the channel does.

        ``token`` defaults to a fresh valid channel token for the activity's service URL;
        ``None`` sends no ``Authorization`` header. Returns the status and the body (parsed
        JSON, else text, ``None`` when empty).
        """
        if self._http is None:
            raise RuntimeError("FakeBotFramework is not started; use `async with`")
        if token is FRESH_TOKEN:
            token = self.channel_token(service_url=activity.get("serviceUrl") or self.service_url)
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self._http.post(bot_url, json=dict(activity), headers=headers) as response:
            raw = await response.read()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    body = raw.decode(errors="replace")
            self.delivered.append((dict(activity), response.status, body))
            return response.status, body
