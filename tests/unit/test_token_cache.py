"""Verified API tokens are remembered until they expire, and only the exact token."""

from __future__ import annotations

import time

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from smartnotes.auth import LEEWAY, ApiTokenAuth, AuthError, Identity, VerifiedTokens, issue_token

SECRET = b"unit-test-secret-0123456789-abcdefghij"


def _request(token: str) -> web.Request:
    return make_mocked_request("GET", "/api/runs", headers={"Authorization": f"Bearer {token}"})


async def test_a_verified_token_is_remembered_and_a_changed_one_is_checked() -> None:
    auth = ApiTokenAuth(SECRET)
    token = issue_token(SECRET, "t1", "Rep@Example.test")
    first = await auth.authenticate(_request(token))
    assert first == Identity(tenant_id="t1", email="rep@example.test", method="api-token")
    assert auth.verified.get(token) == first
    assert await auth.authenticate(_request(token)) == first

    # One character of the signature changed: not the remembered string, so checked, refused.
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(AuthError):
        await auth.authenticate(_request(forged))


async def test_a_token_from_another_secret_is_refused_even_with_the_same_claims() -> None:
    auth = ApiTokenAuth(SECRET)
    await auth.authenticate(_request(issue_token(SECRET, "t1", "rep@example.test")))
    other = issue_token(b"another-secret-0123456789-abcdefghijkl", "t1", "rep@example.test")
    with pytest.raises(AuthError):
        await auth.authenticate(_request(other))


def test_a_remembered_token_goes_when_it_expires() -> None:
    cache = VerifiedTokens()
    identity = Identity(tenant_id="t1", email="rep@example.test", method="api-token")
    cache.put("still-good", identity, expires=time.time() - LEEWAY + 5)
    cache.put("expired", identity, expires=time.time() - LEEWAY - 1)
    assert cache.get("still-good") == identity
    assert cache.get("expired") is None


def test_the_cache_is_bounded() -> None:
    cache = VerifiedTokens(size=3)
    identity = Identity(tenant_id="t1", email="rep@example.test", method="api-token")
    for n in range(10):
        cache.put(f"token-{n}", identity, expires=time.time() + 60)
    assert sum(cache.get(f"token-{n}") is not None for n in range(10)) <= 3
    assert cache.get("token-9") == identity
