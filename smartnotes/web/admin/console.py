"""What every console page shares: who the admin is, the same-origin check, the headers, the
templates and CSV answers.

The session is the admin token in an HttpOnly, SameSite=Strict cookie scoped to ``/admin``;
the authenticators that read it are a list, so an Entra ID app role can sign in beside the
tenant admin token. A page without a valid session redirects to the sign-in; a chart or an
export answers 401. Every POST also checks ``Origin``: SameSite alone leaves out older
browsers and same-site subdomains.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from smartnotes.auth import ADMIN_ROLE, AdminCookieAuth, Authenticator, AuthError, Identity
from smartnotes.service import Service
from smartnotes.web.keys import SERVICE
from smartnotes.web.review_page import templates

ADMIN_AUTH = web.AppKey("admin_authenticators", list[Authenticator])
SIGN_IN = "/admin/sign-in"

PAGE_HEADERS = {
    # No script at all; images (the charts) and the stylesheet from this origin only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    # Not no-referrer: with it a browser sends "Origin: null" on form posts, and the origin
    # check below needs the real one; a same-origin referrer holds no secret here.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
FILE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def start(app: web.Application) -> None:
    authenticators: list[Authenticator] = [AdminCookieAuth(app[SERVICE].token_secret)]
    app[ADMIN_AUTH] = authenticators


def service_of(request: web.Request) -> Service:
    return request.app[SERVICE]


async def session_of(request: web.Request) -> Identity | None:
    """The signed-in admin, or None (no cookie, or one that no longer holds)."""
    for authenticator in request.app[ADMIN_AUTH]:
        try:
            identity = await authenticator.authenticate(request)
        except AuthError:
            return None
        if identity is not None and identity.role == ADMIN_ROLE:
            return identity
    return None


async def admin_page(request: web.Request) -> Identity:
    """The admin, for a page: without a session the browser goes to the sign-in."""
    identity = await session_of(request)
    if identity is None:
        raise web.HTTPSeeOther(SIGN_IN)
    return identity


async def admin_file(request: web.Request) -> Identity:
    """The admin, for a chart or an export: a 401 without a session."""
    identity = await session_of(request)
    if identity is None:
        raise web.HTTPUnauthorized(reason="sign in to the admin console first")
    return identity


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin", "")
    return origin.lower() == f"{request.scheme}://{request.host}".lower()


def page(
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    admin: Identity | None = None,
) -> web.Response:
    html = templates().get_template(f"admin/{name}").render(admin=admin, **context)
    return web.Response(text=html, content_type="text/html", status=status, headers=PAGE_HEADERS)


def problem(status: int, message: str, admin: Identity | None = None) -> web.Response:
    """A page that says what was wrong with the request."""
    titles = {400: "That request cannot be answered", 403: "Refused", 404: "Not found"}
    context = {"title": titles.get(status, "Error"), "message": message}
    return page("problem.html", context, status=status, admin=admin)


def refused_origin(admin: Identity | None = None) -> web.Response:
    message = "The form was not sent from this console; open the page and try again."
    return problem(403, message, admin)


def _cell(value: Any) -> Any:
    if not isinstance(value, str):
        return "" if value is None else value
    # A spreadsheet runs a cell that starts like a formula; names and comments are free text.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={**FILE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
