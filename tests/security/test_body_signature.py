"""The webhook's signature is checked as the body streams in: chunk by chunk it agrees with
the signature over the whole body, and anything else is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smartnotes.web.signing import BodySignature, SignatureError, sign_headers

SECRET = "calling-tool-secret-0123456789abcdef"  # noqa: S105 - a test-only key
OLD = "calling-tool-secret-previous-987654321"
BODY = b'{"call_id": "c-1"}' * 10_000


def _streamed(secrets: list[str], headers: dict[str, str], body: bytes) -> None:
    check = BodySignature(secrets, headers)
    for start in range(0, len(body), 4096):
        check.update(body[start : start + 4096])
    check.check()


def test_a_body_signed_by_either_secret_passes_in_chunks() -> None:
    _streamed([SECRET, OLD], sign_headers(SECRET, BODY), BODY)
    _streamed([SECRET, OLD], sign_headers(OLD, BODY), BODY)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: {**h, "X-SmartNotes-Signature": "v1=" + "0" * 64},
        lambda h: {**h, "X-SmartNotes-Timestamp": str(int(h["X-SmartNotes-Timestamp"]) + 1)},
        lambda h: {k: v for k, v in h.items() if k != "X-SmartNotes-Signature"},
    ],
    ids=["forged", "other-timestamp", "unsigned"],
)
def test_a_changed_or_missing_signature_is_refused(
    change: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        _streamed([SECRET], change(sign_headers(SECRET, BODY)), BODY)


def test_a_changed_body_is_refused() -> None:
    headers = sign_headers(SECRET, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        _streamed([SECRET], headers, BODY + b" ")
