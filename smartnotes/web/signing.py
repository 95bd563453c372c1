"""Signed webhook bodies: HMAC-SHA256 over ``"{timestamp}.{body}"`` with a shared secret.

The sender puts the Unix time in ``X-SmartNotes-Timestamp`` and ``v1=<hex digest>`` in
``X-SmartNotes-Signature`` (several, comma-separated, while it holds two secrets). We accept
the request when any signature matches any of our secrets (two are valid during a rotation)
and the timestamp is within the tolerance, so a captured request cannot be replayed later;
inside the window a replay is the same call id, which the caller sees as a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

TIMESTAMP_HEADER = "X-SmartNotes-Timestamp"
SIGNATURE_HEADER = "X-SmartNotes-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300


class SignatureError(Exception):
    """The request is not signed by the calling tool, or not recently."""


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers a sender adds; used by our tests, benchmarks and the documented example."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def check_headers(
    headers: Mapping[str, str], *, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None
) -> None:
    """What can be checked before the body is read: a fresh timestamp and a signature of our
    scheme. An unsigned or stale request is refused without reading a byte of its body."""
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not raw_timestamp.isdigit():
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER}")
    current = time.time() if now is None else now
    if abs(current - int(raw_timestamp)) > tolerance:
        raise SignatureError("timestamp outside the allowed window")
    if not _offered(headers):
        raise SignatureError(f"missing {SIGNATURE_HEADER}")


def _offered(headers: Mapping[str, str]) -> list[str]:
    return [
        value.strip()
        for scheme, _, value in (
            part.strip().partition("=") for part in headers.get(SIGNATURE_HEADER, "").split(",")
        )
        if scheme == SCHEME and value.strip()
    ]


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    if not secrets:
        raise SignatureError("webhook secrets are not configured")
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not raw_timestamp.isdigit():
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER}")
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the allowed window")
    offered = _offered(headers)
    if not offered:
        raise SignatureError(f"missing {SIGNATURE_HEADER}")
    expected = [signature(secret, raw_timestamp, body) for secret in secrets]
    # Compare every pair in constant time; no early exit that would time which one matched.
    matched = False
    for candidate in offered:
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise SignatureError("signature does not match")


class BodySignature:
    """The signature of a body checked as it streams in, so a body is never held whole before
    it is known to be the calling tool's. Build it after ``check_headers``."""

    def __init__(self, secrets: Sequence[str], headers: Mapping[str, str]) -> None:
        if not secrets:
            raise SignatureError("webhook secrets are not configured")
        prefix = headers.get(TIMESTAMP_HEADER, "").strip().encode() + b"."
        self._offered = _offered(headers)
        self._macs = [hmac.new(secret.encode(), prefix, hashlib.sha256) for secret in secrets]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def check(self) -> None:
        matched = False
        for candidate in self._offered:
            for mac in self._macs:
                matched |= hmac.compare_digest(candidate, mac.hexdigest())
        if not matched:
            raise SignatureError("signature does not match")
