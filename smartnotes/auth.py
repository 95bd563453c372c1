"""Who is calling: pluggable authenticators that turn a request into an identity.

Each authenticator looks at a request and answers an identity, ``None`` (not its kind of
credential), or raises ``AuthError`` (its kind, but invalid). The service tries them in order.
The built-in one verifies Smart Notes API tokens: HS256 JWTs with issuer, audience, expiry
and a bounded lifetime, signed with the service's secret (``SMARTNOTES_API_TOKEN_SECRET``, or
a key generated in the data directory on first start). Teams SSO and the CRM's signed tokens
plug in the same way. The admin console's token (``issue_admin_token``) is signed with the
same secret for another audience and carries the admin role. There is no bypass: tests sign
real tokens.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import jwt
from aiohttp import web

ISSUER = "smartnotes"
AUDIENCE = "smartnotes-api"
MAX_LIFETIME = 24 * 3600
LEEWAY = 30


class AuthError(Exception):
    """A credential was presented and is not valid."""


REVIEW_AUDIENCE = "smartnotes-review"
REVIEW_MAX_LIFETIME = 4 * 3600


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    email: str
    method: str
    # Set for credentials good for one run only (the review page's token).
    run_id: str | None = None
    # Set for the admin console's credentials: the role the sign-in proved ("admin").
    role: str | None = None


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Identity | None: ...


def load_secret(configured: str | None, data_dir: Path, name: str = "api-token.key") -> bytes:
    """The configured secret, or one generated once into the data directory (mode 0600)."""
    if configured:
        if len(configured) < 32:
            raise ValueError("a token secret must be at least 32 characters")
        return configured.encode()
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def issue_token(secret: bytes, tenant_id: str, email: str, *, ttl: int = 3600) -> str:
    if not 0 < ttl <= MAX_LIFETIME:
        raise ValueError(f"token lifetime must be between 1 and {MAX_LIFETIME} seconds")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": email.strip().lower(),
        "tid": tenant_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _claims(
    secret: bytes,
    token: str,
    *,
    audience: str,
    max_lifetime: int,
    issuer: str | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, str]:
    """A token's claims after every check both kinds of token share; raises ``AuthError``."""
    required = ["exp", "iat", "sub", "aud"] + (["iss"] if issuer else [])
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": required},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    if int(claims["exp"]) - int(claims["iat"]) > max_lifetime:
        raise AuthError("invalid token: lifetime too long")
    wanted = {name: claims.get(name) for name in ("tid", "sub", *extra)}
    if not all(isinstance(value, str) and value for value in wanted.values()):
        raise AuthError(f"invalid token: {', '.join(wanted)} must all be given")
    return {"exp": str(int(claims["exp"])), **{name: str(v) for name, v in wanted.items()}}


def _verify_token(secret: bytes, token: str) -> tuple[Identity, float]:
    claims = _claims(secret, token, audience=AUDIENCE, max_lifetime=MAX_LIFETIME, issuer=ISSUER)
    identity = Identity(tenant_id=claims["tid"], email=claims["sub"], method="api-token")
    return identity, float(claims["exp"])


class VerifiedTokens:
    """Tokens whose signature and claims were checked, until they expire.

    A client sends the same token with every request until it expires; checking the signature
    once is enough, the exact string cannot be made without the secret. Bounded: when full it
    starts over, and a miss costs one check."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[float, Identity]] = {}

    def get(self, token: str) -> Identity | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] <= time.time():
            del self._entries[token]
            return None
        return entry[1]

    def check(self, token: str, verify: Callable[[str], tuple[Identity, float]]) -> Identity:
        """The token's identity, from memory or from ``verify`` (which raises if it fails)."""
        identity = self.get(token)
        if identity is None:
            identity, expires = verify(token)
            self.put(token, identity, expires)
        return identity

    def put(self, token: str, identity: Identity, expires: float) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        # Good as long as the check itself would pass: until expiry, with the same leeway.
        self._entries[token] = (expires + LEEWAY, identity)


class ApiTokenAuth:
    """``Authorization: Bearer <token>``; for a run's event stream only (a browser's
    EventSource cannot set headers) also ``?access_token=``. A token in a URL ends up in
    proxies' and browsers' histories, so no other route takes one."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.verified = VerifiedTokens()

    async def authenticate(self, request: web.Request) -> Identity | None:
        header = request.headers.get("Authorization", "")
        token: str | None = None
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError("expected 'Authorization: Bearer <token>'")
            token = value.strip()
        elif "access_token" in request.query and _is_event_stream(request):
            token = request.query["access_token"]
        if token is None:
            return None
        return self.verified.check(token, partial(_verify_token, self.secret))


EVENT_STREAM = "/api/runs/{run_id}/events"


def _is_event_stream(request: web.Request) -> bool:
    route = request.match_info.route
    resource = route.resource
    return request.method == "GET" and resource is not None and resource.canonical == EVENT_STREAM


def issue_review_token(
    secret: bytes, tenant_id: str, email: str, run_id: str, *, ttl: int = 900
) -> str:
    """The review page's token: one user, one run, short-lived. The CRM mints the same."""
    if not 0 < ttl <= REVIEW_MAX_LIFETIME:
        raise ValueError(f"token lifetime must be between 1 and {REVIEW_MAX_LIFETIME} seconds")
    now = int(time.time())
    claims = {
        "aud": REVIEW_AUDIENCE,
        "sub": email.strip().lower(),
        "tid": tenant_id,
        "run": run_id,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_review_token(secret: bytes, token: str) -> Identity:
    return _verify_review_token(secret, token)[0]


def _verify_review_token(secret: bytes, token: str) -> tuple[Identity, float]:
    claims = _claims(
        secret,
        token,
        audience=REVIEW_AUDIENCE,
        max_lifetime=REVIEW_MAX_LIFETIME,
        extra=("run",),
    )
    identity = Identity(
        tenant_id=claims["tid"], email=claims["sub"], method="review-token", run_id=claims["run"]
    )
    return identity, float(claims["exp"])


class ReviewTokenAuth:
    """The review page's calls: ``X-Review-Token: <token>``, good for that run only."""

    HEADER = "X-Review-Token"

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.verified = VerifiedTokens()

    async def authenticate(self, request: web.Request) -> Identity | None:
        token = request.headers.get(self.HEADER)
        if token is None:
            return None
        return self.verified.check(token.strip(), partial(_verify_review_token, self.secret))


# The admin console's token: same key as API tokens, its own audience, so neither kind of
# token opens the other's door. An Entra ID app role signs in the same way once Teams SSO
# comes: whatever proves the role, the console keeps this token in its cookie.
ADMIN_AUDIENCE = "smartnotes-admin"
ADMIN_MAX_LIFETIME = 8 * 3600
ADMIN_ROLE = "admin"


def issue_admin_token(secret: bytes, tenant_id: str, email: str, *, ttl: int = 3600) -> str:
    """A tenant admin's console token: one tenant, the admin's e-mail, at most 8 hours."""
    if not 0 < ttl <= ADMIN_MAX_LIFETIME:
        raise ValueError(f"token lifetime must be between 1 and {ADMIN_MAX_LIFETIME} seconds")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ADMIN_AUDIENCE,
        "sub": email.strip().lower(),
        "tid": tenant_id,
        "role": ADMIN_ROLE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_admin_token(secret: bytes, token: str) -> tuple[Identity, float]:
    """The admin behind a console token and when it expires; raises ``AuthError``."""
    claims = _claims(
        secret,
        token,
        audience=ADMIN_AUDIENCE,
        max_lifetime=ADMIN_MAX_LIFETIME,
        issuer=ISSUER,
        extra=("role",),
    )
    if claims["role"] != ADMIN_ROLE:
        raise AuthError("invalid token: not an admin")
    identity = Identity(
        tenant_id=claims["tid"], email=claims["sub"], method="admin-token", role=ADMIN_ROLE
    )
    return identity, float(claims["exp"])


class AdminCookieAuth:
    """The admin console's session: the admin token in an HttpOnly cookie scoped to
    ``/admin``, set by the console's sign-in. Not one of the API's authenticators."""

    COOKIE = "smartnotes_admin"

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.verified = VerifiedTokens()

    async def authenticate(self, request: web.Request) -> Identity | None:
        token = request.cookies.get(self.COOKIE)
        if not token:
            return None
        return self.verified.check(token, partial(verify_admin_token, self.secret))
