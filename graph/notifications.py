"""Microsoft Graph change notifications: the webhook handshake, the payload, the clientState check.

Pure functions over plain data; the web route does the I/O. What a notification endpoint does,
in Microsoft's order ("Receive change notifications through webhooks",
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks):

1. ``validation_response_token(request.query)``: when it returns a token, answer
   ``200 text/plain`` with exactly that token within 10 seconds, and stop.
2. Otherwise ``parse_collection(body)``; persist it and answer ``202`` at once (Graph retries
   anything slower than 3 seconds, and a rejected sender should not learn why).
3. ``check_client_state(notification, secret)`` for every notification.
4. For rich notifications (with ``encrypted_content``): validate the collection's
   ``validationTokens`` (:mod:`graph.validation_tokens`), then decrypt
   (:mod:`graph.rich_notifications`).

Lifecycle notifications (``lifecycle_event`` set) concern the subscription, not a resource:
they carry no ``changeType`` or ``resource``.

Every malformed input raises :class:`NotificationError`, whose message names the field.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

__all__ = [
    "MAX_VALIDATION_TOKEN_LENGTH",
    "ChangeNotification",
    "ChangeType",
    "EncryptedContent",
    "LifecycleEvent",
    "NotificationCollection",
    "NotificationError",
    "check_client_state",
    "parse_collection",
    "validation_response_token",
]

_E = TypeVar("_E", bound=StrEnum)

# Graph's handshake tokens are about 150 characters; anything far longer is not Graph.
MAX_VALIDATION_TOKEN_LENGTH = 1024


class NotificationError(ValueError):
    """A change notification (or handshake, or validation token) is malformed or not genuine.

    ``field`` names the offending field as a path (``value[0].subscriptionId``) when there is
    one. Messages never contain key material or the clientState secret.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ChangeType(StrEnum):
    """``changeType`` of a resource change notification."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class LifecycleEvent(StrEnum):
    """``lifecycleEvent`` of a lifecycle notification ("Reduce missing subscriptions and change
    notifications", https://learn.microsoft.com/graph/change-notifications-lifecycle-events)."""

    REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
    SUBSCRIPTION_REMOVED = "subscriptionRemoved"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class EncryptedContent:
    """``encryptedContent`` of a rich notification; every value still base64 and encrypted."""

    data: str
    data_key: str
    data_signature: str
    encryption_certificate_id: str
    encryption_certificate_thumbprint: str | None = None

    def __repr__(self) -> str:
        # The ciphertext is useless in logs and only bloats them.
        return (
            f"EncryptedContent(encryption_certificate_id={self.encryption_certificate_id!r}, "
            f"data=<{len(self.data)} chars>)"
        )


@dataclass(frozen=True, slots=True)
class ChangeNotification:
    """One item of a notification collection's ``value``."""

    subscription_id: str
    subscription_expiration: datetime
    client_state: str | None = field(default=None, repr=False)
    change_type: ChangeType | None = None
    resource: str | None = None
    resource_data: dict[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None
    lifecycle_event: LifecycleEvent | None = None
    encrypted_content: EncryptedContent | None = None
    id: str | None = None

    @property
    def is_lifecycle(self) -> bool:
        return self.lifecycle_event is not None

    @property
    def is_rich(self) -> bool:
        """Carries encrypted resource data, so its collection must carry validation tokens."""
        return self.encrypted_content is not None


@dataclass(frozen=True, slots=True)
class NotificationCollection:
    """A parsed ``changeNotificationCollection``."""

    value: tuple[ChangeNotification, ...]
    validation_tokens: tuple[str, ...] = ()


def validation_response_token(query: Mapping[str, str]) -> str | None:
    """The token to echo for Graph's endpoint-validation handshake, or None if this isn't one.

    ``query`` is the request's query as the web framework decoded it (aiohttp's
    ``request.query``), so the value is already URL-decoded, which is what Graph wants back. Echo
    it as ``200 text/plain``. A token that is empty, too long, or holds characters Graph never
    sends (control characters, ``<``, ``>``) raises :class:`NotificationError`; answer 400.
    """
    token = query.get("validationToken")
    if token is None:
        return None
    if not token:
        raise NotificationError("validationToken is empty", field="validationToken")
    if len(token) > MAX_VALIDATION_TOKEN_LENGTH:
        raise NotificationError(
            f"validationToken is {len(token)} characters long; at most "
            f"{MAX_VALIDATION_TOKEN_LENGTH} are accepted",
            field="validationToken",
        )
    # Printable ASCII only, and never markup: the token is reflected back to the caller.
    if any(not (" " <= ch <= "~") or ch in "<>" for ch in token):
        raise NotificationError(
            "validationToken holds characters Microsoft Graph never sends "
            "(only printable ASCII without '<' or '>' is accepted)",
            field="validationToken",
        )
    return token


def check_client_state(notification: ChangeNotification, expected: str) -> None:
    """Raise :class:`NotificationError` unless the notification's clientState is ``expected``.

    The comparison takes the same time wherever the values differ, so the secret can't be
    guessed byte by byte.
    """
    if not expected:
        raise ValueError("the expected clientState must not be empty")
    received = notification.client_state
    if received is None:
        raise NotificationError(
            f"notification for subscription {notification.subscription_id} has no clientState",
            field="clientState",
        )
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise NotificationError(
            f"clientState of the notification for subscription {notification.subscription_id} "
            "does not match ours",
            field="clientState",
        )


def parse_collection(body: bytes | Mapping[str, Any]) -> NotificationCollection:
    """Parse a ``changeNotificationCollection`` (raw request body or decoded JSON).

    Unknown properties (``@odata.type`` and friends) are ignored; missing or mistyped ones raise
    :class:`NotificationError` naming the field.
    """
    document: Any
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            document = json.loads(bytes(body).decode("utf-8"))
        except UnicodeDecodeError:
            raise NotificationError("notification body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise NotificationError(f"notification body is not JSON ({exc.msg})") from None
    else:
        document = body
    if not isinstance(document, Mapping):
        raise NotificationError("notification body is not a JSON object")

    items = document.get("value")
    if items is None:
        raise NotificationError("notification body has no 'value'", field="value")
    if not isinstance(items, list):
        raise NotificationError("'value' is not a list", field="value")
    notifications = tuple(_parse_notification(item, f"value[{i}]") for i, item in enumerate(items))

    tokens = document.get("validationTokens")
    if tokens is None:
        tokens = []
    if not isinstance(tokens, list):
        raise NotificationError("'validationTokens' is not a list", field="validationTokens")
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise NotificationError(
                f"validationTokens[{i}] is not a non-empty string", field=f"validationTokens[{i}]"
            )
    return NotificationCollection(value=notifications, validation_tokens=tuple(tokens))


def _parse_notification(item: Any, path: str) -> ChangeNotification:
    if not isinstance(item, Mapping):
        raise NotificationError(f"{path} is not a JSON object", field=path)
    fields = _Fields(item, path)
    subscription_id = fields.required_str("subscriptionId")
    expiration = fields.required_datetime("subscriptionExpirationDateTime")

    lifecycle_raw = fields.optional_str("lifecycleEvent")
    lifecycle = None
    if lifecycle_raw is not None:
        lifecycle = _enum(LifecycleEvent, lifecycle_raw, f"{path}.lifecycleEvent")

    # Lifecycle notifications are about the subscription and name no resource or change.
    if lifecycle is None:
        change_raw: str | None = fields.required_str("changeType")
        resource: str | None = fields.required_str("resource")
    else:
        change_raw = fields.optional_str("changeType")
        resource = fields.optional_str("resource")
    change_type = (
        None if change_raw is None else _enum(ChangeType, change_raw, f"{path}.changeType")
    )

    resource_data = fields.optional_object("resourceData")
    encrypted = fields.optional_object("encryptedContent")
    return ChangeNotification(
        subscription_id=subscription_id,
        subscription_expiration=expiration,
        client_state=fields.optional_str("clientState"),
        change_type=change_type,
        resource=resource,
        resource_data=dict(resource_data) if resource_data is not None else {},
        tenant_id=fields.optional_str("tenantId"),
        lifecycle_event=lifecycle,
        encrypted_content=(
            None if encrypted is None else _parse_encrypted(encrypted, f"{path}.encryptedContent")
        ),
        id=fields.optional_str("id"),
    )


def _parse_encrypted(item: Mapping[str, Any], path: str) -> EncryptedContent:
    fields = _Fields(item, path)
    return EncryptedContent(
        data=fields.required_str("data"),
        data_key=fields.required_str("dataKey"),
        data_signature=fields.required_str("dataSignature"),
        encryption_certificate_id=fields.required_str("encryptionCertificateId"),
        encryption_certificate_thumbprint=fields.optional_str("encryptionCertificateThumbprint"),
    )


def _enum(kind: type[_E], raw: str, path: str) -> _E:
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise NotificationError(
            f"{path} is {_show(raw)}; expected one of {allowed}", field=path
        ) from None


class _Fields:
    """Typed access to one JSON object's properties; errors carry the property's path."""

    def __init__(self, item: Mapping[str, Any], path: str) -> None:
        self._item = item
        self._path = path

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}"

    def optional_str(self, key: str) -> str | None:
        value = self._item.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise NotificationError(f"{self._name(key)} is not a string", field=self._name(key))
        return value

    def required_str(self, key: str) -> str:
        value = self.optional_str(key)
        if value is None:
            raise NotificationError(f"{self._name(key)} is missing", field=self._name(key))
        if not value:
            raise NotificationError(f"{self._name(key)} is empty", field=self._name(key))
        return value

    def optional_object(self, key: str) -> Mapping[str, Any] | None:
        value = self._item.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise NotificationError(
                f"{self._name(key)} is not a JSON object", field=self._name(key)
            )
        return value

    def required_datetime(self, key: str) -> datetime:
        raw = self.required_str(key)
        try:
            # Graph writes seven fractional digits; fromisoformat keeps six and drops the rest.
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise NotificationError(
                f"{self._name(key)} is {_show(raw)}, not an ISO 8601 timestamp",
                field=self._name(key),
            ) from None
        if value.tzinfo is None:
            raise NotificationError(
                f"{self._name(key)} is {_show(raw)}, which has no UTC offset",
                field=self._name(key),
            )
        return value


def _show(value: str, limit: int = 80) -> str:
    """``value`` for an error message: quoted, and cut short if a sender made it long."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value)} characters)"
