"""Signing in and out of the console, and its stylesheet.

The admin pastes a console token (``smartnotes admin console-token``) into a password field;
the token travels in the form's body, never in a URL, and is kept in the session cookie for
as long as it is valid.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from aiohttp import web

from smartnotes.auth import AdminCookieAuth, AuthError, verify_admin_token
from smartnotes.storage.models import AuditEntry
from smartnotes.web.admin.console import (
    SIGN_IN,
    page,
    refused_origin,
    same_origin,
    service_of,
    session_of,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
STATIC = Path(__file__).parents[1] / "static"
MAX_TOKEN = 4096


@routes.get(SIGN_IN)
async def sign_in_form(request: web.Request) -> web.Response:
    return page("sign_in.html", {"error": None}, admin=await session_of(request))


@routes.post(SIGN_IN)
async def sign_in(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refused_origin()
    form = await request.post()
    token = form.get("token")
    service = service_of(request)
    try:
        if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
            raise AuthError("no token given")
        identity, expires = verify_admin_token(service.token_secret, token.strip())
    except AuthError as exc:
        log.info("console sign-in refused: %s", exc)
        error = "That token is not a valid admin token, or it has expired."
        return page("sign_in.html", {"error": error}, status=401)
    async with service.sessions() as session, session.begin():
        session.add(
            AuditEntry(
                actor=identity.email,
                action="console_signed_in",
                detail={"tenant": identity.tenant_id},
            )
        )
    response = web.Response(status=303, headers={"Location": "/admin"})
    response.set_cookie(
        AdminCookieAuth.COOKIE,
        token.strip(),
        max_age=max(1, int(expires - time.time())),
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
    )
    return response


@routes.post("/admin/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    if not same_origin(request):
        return refused_origin()
    response = web.Response(status=303, headers={"Location": SIGN_IN})
    response.del_cookie(
        AdminCookieAuth.COOKIE,
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
    )
    return response


@routes.get("/admin/static/{name}")
async def static(request: web.Request) -> web.StreamResponse:
    if request.match_info["name"] != "admin.css":
        raise web.HTTPNotFound(reason="no such file")
    return web.FileResponse(
        STATIC / "admin.css",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
