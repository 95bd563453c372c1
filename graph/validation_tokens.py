"""Checking the ``validationTokens`` JWTs that come with rich change notifications.

Graph adds one token per (app, tenant) pair in the collection. Per "Set up change notifications
that include resource data" (https://learn.microsoft.com/graph/change-notifications-with-resource-data,
"How to validate"), each must be unexpired, signed by the Microsoft identity platform, issued for
our app (``aud``), and issued to Microsoft Graph's change-notification publisher, app id
``0bf30f3b-4a52-48df-9a82-234910c4a086``: the ``appid`` claim of a v1.0 token, ``azp`` of a v2.0
one. If any token fails, the whole collection is suspect.

Keys: the checker holds a mapping kid → RSA public key (``keys_from_jwks`` builds it from the
JWKS at ``https://login.microsoftonline.com/common/discovery/v2.0/keys``; tests build it from keys
they make). Fetching is the caller's business: pass ``refresh``, a cheap synchronous callable
returning the latest mapping (say, from a cache a background task keeps fresh), and the checker
calls it when it meets an unknown ``kid``, at most once per ``min_refresh_interval``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from graph.notifications import NotificationCollection, NotificationError, _show

__all__ = [
    "GRAPH_CHANGE_TRACKING_APP_ID",
    "MICROSOFT_JWKS_URL",
    "ValidatedToken",
    "ValidationTokenChecker",
    "keys_from_jwks",
]

GRAPH_CHANGE_TRACKING_APP_ID = "0bf30f3b-4a52-48df-9a82-234910c4a086"
MICROSOFT_JWKS_URL = "https://login.microsoftonline.com/common/discovery/v2.0/keys"

_ALGORITHM = "RS256"
_MAX_TOKEN_LENGTH = 16 * 1024
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# v1.0 tokens are issued by sts.windows.net, v2.0 tokens by login.microsoftonline.com.
_ISSUERS = (
    re.compile(rf"https://sts\.windows\.net/(?P<tenant>{_GUID})/"),
    re.compile(rf"https://login\.microsoftonline\.com/(?P<tenant>{_GUID})/v2\.0"),
)
_FIELD = "validationTokens"

PublicKeys = Mapping[str, rsa.RSAPublicKey]


@dataclass(frozen=True, slots=True)
class ValidatedToken:
    """What a validation token that passed every check vouches for."""

    app_id: str
    tenant_id: str
    claims: Mapping[str, Any] = field(repr=False)


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, rsa.RSAPublicKey]:
    """kid → RSA public key from a JWKS document (``{"keys": [...]}``).

    Entries that are not RSA signing keys, or that don't parse, are skipped: one odd key in
    Microsoft's set must not take the others down with it.
    """
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise NotificationError("JWKS document has no 'keys' list", field="keys")
    keys: dict[str, rsa.RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        is_rsa_signing_key = entry.get("kty") == "RSA" and entry.get("use", "sig") == "sig"
        if not isinstance(kid, str) or not is_rsa_signing_key:
            continue
        try:
            key = jwt.PyJWK(dict(entry), algorithm=_ALGORITHM).key
        except jwt.PyJWTError:
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys[kid] = key
    return keys


class ValidationTokenChecker:
    """Validates Graph's ``validationTokens`` for our app(s) and, optionally, tenants.

    ``app_ids``: our app registration ids (the tokens' ``aud``). ``tenant_ids``: the tenants we
    accept notifications from, or None for any tenant (a multi-tenant app). ``keys``: kid → RSA
    public key. ``refresh``: see the module docstring.
    """

    def __init__(
        self,
        app_ids: Collection[str],
        tenant_ids: Collection[str] | None,
        keys: PublicKeys,
        *,
        refresh: Callable[[], PublicKeys] | None = None,
        min_refresh_interval: timedelta = timedelta(minutes=5),
        leeway: timedelta = timedelta(minutes=1),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(app_ids, str) or not app_ids:
            raise ValueError("app_ids must be a non-empty collection of app ids")
        if tenant_ids is not None and (isinstance(tenant_ids, str) or not tenant_ids):
            raise ValueError("tenant_ids must be None (any tenant) or a non-empty collection")
        self._app_ids = frozenset(app_ids)
        self._tenant_ids = None if tenant_ids is None else frozenset(t.lower() for t in tenant_ids)
        self._keys = dict(keys)
        self._refresh = refresh
        self._min_refresh_interval = min_refresh_interval.total_seconds()
        self._leeway = leeway
        self._clock = clock
        self._last_refresh: float | None = None

    def check(self, token: str) -> ValidatedToken:
        """Validate one token; raise :class:`NotificationError` saying which check failed."""
        if len(token) > _MAX_TOKEN_LENGTH:
            raise NotificationError(
                f"validation token is {len(token)} characters long; at most "
                f"{_MAX_TOKEN_LENGTH} are accepted",
                field=_FIELD,
            )
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotificationError(
                "validation token is not a well-formed JWT", field=_FIELD
            ) from None
        algorithm = header.get("alg")
        if algorithm != _ALGORITHM:
            raise NotificationError(
                f"validation token is signed with {_show(str(algorithm))}, not {_ALGORITHM}",
                field=_FIELD,
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise NotificationError("validation token names no signing key (kid)", field=_FIELD)
        key = self._key(kid)

        claims = self._decode(token, key)
        app_id = self._check_publisher(claims)
        tenant = self._check_issuer(claims)
        return ValidatedToken(app_id=app_id, tenant_id=tenant, claims=claims)

    def check_collection(self, collection: NotificationCollection) -> list[ValidatedToken]:
        """Validate every token of a collection, and that they cover its rich notifications.

        Basic notifications come without tokens (their clientState is their check), so a
        collection with no rich notification and no tokens passes.
        """
        rich = [n for n in collection.value if n.is_rich]
        if rich and not collection.validation_tokens:
            raise NotificationError(
                "rich notifications arrived without validationTokens", field=_FIELD
            )
        validated = [self.check(token) for token in collection.validation_tokens]
        tenants = {token.tenant_id for token in validated}
        for notification in rich:
            tenant = notification.tenant_id
            if tenant is not None and tenant.lower() not in tenants:
                raise NotificationError(
                    f"no validation token covers tenant {_show(tenant)} of the notification "
                    f"for subscription {notification.subscription_id}",
                    field=_FIELD,
                )
        return validated

    def _key(self, kid: str) -> rsa.RSAPublicKey:
        key = self._keys.get(kid)
        if key is None and self._refresh is not None and self._may_refresh():
            self._last_refresh = self._clock()
            self._keys = dict(self._refresh())
            key = self._keys.get(kid)
        if key is None:
            raise NotificationError(
                f"validation token is signed with an unknown signing key (kid {_show(kid)})",
                field=_FIELD,
            )
        return key

    def _may_refresh(self) -> bool:
        # Unknown kids are free for anyone to send; don't let them drive refreshes.
        return (
            self._last_refresh is None
            or self._clock() - self._last_refresh >= self._min_refresh_interval
        )

    def _decode(self, token: str, key: rsa.RSAPublicKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=sorted(self._app_ids),
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotificationError("validation token has expired", field=_FIELD) from None
        except jwt.ImmatureSignatureError:
            raise NotificationError("validation token is not valid yet", field=_FIELD) from None
        except jwt.InvalidAudienceError:
            raise NotificationError(
                "validation token's audience (aud) is not one of our app ids", field=_FIELD
            ) from None
        except jwt.InvalidSignatureError:
            raise NotificationError(
                "validation token's signature does not verify with its signing key",
                field=_FIELD,
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise NotificationError(
                f"validation token lacks the {exc.claim!r} claim", field=_FIELD
            ) from None
        except jwt.PyJWTError as exc:
            raise NotificationError(f"validation token is invalid ({exc})", field=_FIELD) from None
        return claims

    def _check_publisher(self, claims: Mapping[str, Any]) -> str:
        # v1.0 tokens name the calling app in appid, v2.0 tokens in azp; whichever is there
        # must be Graph's change-notification publisher.
        present = {name: claims[name] for name in ("azp", "appid") if name in claims}
        if not present:
            raise NotificationError(
                "validation token names no issuing app (neither azp nor appid)", field=_FIELD
            )
        for name, value in present.items():
            if value != GRAPH_CHANGE_TRACKING_APP_ID:
                raise NotificationError(
                    f"validation token was not issued to Microsoft Graph's change-notification "
                    f"publisher ({name} is {_show(str(value))})",
                    field=_FIELD,
                )
        aud = claims["aud"]
        return aud if isinstance(aud, str) else next(a for a in aud if a in self._app_ids)

    def _check_issuer(self, claims: Mapping[str, Any]) -> str:
        issuer = claims["iss"]
        tenant = None
        if isinstance(issuer, str):
            for pattern in _ISSUERS:
                match = pattern.fullmatch(issuer)
                if match:
                    tenant = match["tenant"].lower()
        if tenant is None:
            raise NotificationError(
                f"validation token's issuer {_show(str(issuer))} is not the Microsoft identity "
                "platform",
                field=_FIELD,
            )
        tid = claims.get("tid")
        if tid is not None and (not isinstance(tid, str) or tid.lower() != tenant):
            raise NotificationError(
                "validation token's tenant (tid) differs from its issuer's tenant", field=_FIELD
            )
        if self._tenant_ids is not None and tenant not in self._tenant_ids:
            raise NotificationError(
                f"validation token was issued by tenant {tenant}, which is not one of ours",
                field=_FIELD,
            )
        return tenant
