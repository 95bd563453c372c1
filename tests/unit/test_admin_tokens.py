"""The admin console's token: its own audience and role, at most 8 hours, and no other kind
of token passes for it (nor it for them)."""

from __future__ import annotations

import time

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request

from smartnotes.auth import (
    ADMIN_MAX_LIFETIME,
    AdminCookieAuth,
    ApiTokenAuth,
    AuthError,
    issue_admin_token,
    issue_review_token,
    issue_token,
    verify_admin_token,
    verify_review_token,
)

SECRET = b"unit-test-secret-0123456789-abcdefghij"


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "smartnotes",
        "aud": "smartnotes-admin",
        "sub": "pat@northwind.test",
        "tid": "northwind",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_an_admin_token_names_the_tenant_the_admin_and_the_role() -> None:
    token = issue_admin_token(SECRET, "northwind", "Pat@Northwind.test", ttl=ADMIN_MAX_LIFETIME)
    identity, expires = verify_admin_token(SECRET, token)
    assert (identity.tenant_id, identity.email, identity.role, identity.method) == (
        "northwind",
        "pat@northwind.test",
        "admin",
        "admin-token",
    )
    assert expires - time.time() <= ADMIN_MAX_LIFETIME
    with pytest.raises(ValueError, match="between 1 and 28800"):
        issue_admin_token(SECRET, "northwind", "pat@northwind.test", ttl=ADMIN_MAX_LIFETIME + 1)


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("rep role", _claims(role="rep")),
        ("no role", _claims(role=None)),
        ("no tenant", _claims(tid=None)),
        ("API audience", _claims(aud="smartnotes-api")),
        ("other issuer", _claims(iss="someone")),
        ("nine hours", _claims(exp=int(time.time()) + 9 * 3600)),
        ("expired", _claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
    ],
)
def test_a_token_that_is_not_an_admins_is_refused(case: str, claims: dict[str, object]) -> None:
    with pytest.raises(AuthError):
        verify_admin_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_other_kinds_of_token_do_not_pass_for_each_other() -> None:
    api = issue_token(SECRET, "northwind", "maria@northwind.test")
    review = issue_review_token(SECRET, "northwind", "maria@northwind.test", "r" * 32)
    admin = issue_admin_token(SECRET, "northwind", "pat@northwind.test")
    for token in (api, review):
        with pytest.raises(AuthError):
            verify_admin_token(SECRET, token)
    with pytest.raises(AuthError):
        verify_review_token(SECRET, admin)


async def test_the_console_reads_its_cookie_and_the_api_ignores_it() -> None:
    admin = issue_admin_token(SECRET, "northwind", "pat@northwind.test")
    cookie = {"Cookie": f"{AdminCookieAuth.COOKIE}={admin}"}
    identity = await AdminCookieAuth(SECRET).authenticate(
        make_mocked_request("GET", "/admin", headers=cookie)
    )
    assert identity is not None
    assert identity.role == "admin"
    assert (
        await ApiTokenAuth(SECRET).authenticate(
            make_mocked_request("GET", "/api/runs", headers=cookie)
        )
        is None
    )
    with pytest.raises(AuthError):
        await ApiTokenAuth(SECRET).authenticate(
            make_mocked_request("GET", "/api/runs", headers={"Authorization": f"Bearer {admin}"})
        )
