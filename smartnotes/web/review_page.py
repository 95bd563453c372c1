"""``GET /review/{run_id}?token=...``: the post-call review page the CRM shows in a modal.

The token (minted by the CRM with the shared review secret, see ``smartnotes.auth``) names one
user and one run; anything else, including an expired token, gets the same plain "not
available" page with no data in it. The page is server-rendered with the run as it stands and
a small same-origin script that follows the run's event stream and calls the review API with
the same token. Only the configured CRM origins may frame it; scripts and styles come from
this origin only (no inline code), and the token never leaves through a referrer.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

from smartnotes import directory
from smartnotes.auth import AuthError, verify_review_token
from smartnotes.runs.review import NotFoundError, Viewer
from smartnotes.service import Service
from smartnotes.web.keys import SERVICE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
HERE = Path(__file__).parent
STATIC = HERE / "static"

STEP_LABELS = {
    "transcribing": "Transcribing",
    "summarizing": "Summarizing",
    "analyzing": "Analyzing",
    "creating_tasks": "Creating tasks",
}


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


# Where Teams' clients (web, desktop, Outlook and the Microsoft 365 app) host a dialog's page.
TEAMS_ORIGINS = (
    "https://teams.microsoft.com",
    "https://*.teams.microsoft.com",
    "https://*.cloud.microsoft",
    "https://*.microsoft365.com",
    "https://*.office.com",
    "https://*.skype.com",
)


def security_headers(frame_ancestors: list[str]) -> dict[str, str]:
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors {ancestors}"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


@routes.get("/review/{run_id}")
async def review_page(request: web.Request) -> web.Response:
    service: Service = request.app[SERVICE]
    ancestors = service.settings.review.ancestors()
    if service.teams is not None:
        ancestors = [*ancestors, *TEAMS_ORIGINS]  # the page opens in a Teams dialog
    headers = security_headers(ancestors)
    run_id = request.match_info["run_id"]
    try:
        viewer = await _viewer(service, request.query.get("token", ""), run_id)
        run = await service.review.get(viewer, run_id)
    except (AuthError, NotFoundError) as exc:
        log.info("review page for %s refused: %s", run_id, exc)
        return _page("unavailable.html", {}, headers, status=404)
    context: dict[str, Any] = {
        "run": run,
        "started": _local_time(run["call_started_at"], run["timezone"]),
        "owner": run["role"] == "owner",
        "step_labels": STEP_LABELS,
        "initial": json.dumps(run, separators=(",", ":")).replace("<", "\\u003c"),
        "origins": " ".join(service.settings.review.ancestors()),
    }
    return _page("review.html", context, headers)


def _local_time(iso: str | None, zone: str) -> str:
    """The call's start in the rep's time zone, as a rep reads it."""
    if iso is None:
        return ""
    try:
        local = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return iso
    return f"{local:%a %d %b %Y, %H:%M} ({zone})"


async def _viewer(service: Service, token: str, run_id: str) -> Viewer:
    identity = verify_review_token(service.review_secret, token)
    if identity.run_id != run_id:
        raise AuthError("the token is for another run")
    async with service.sessions() as session:
        user = await directory.find_user(session, identity.tenant_id, identity.email)
    if user is None:
        raise AuthError("unknown user")
    return Viewer(tenant_id=user.tenant_id, user_id=user.id, email=user.email)


def _page(
    name: str, context: dict[str, Any], headers: dict[str, str], *, status: int = 200
) -> web.Response:
    html = templates().get_template(name).render(**context)
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


@routes.get("/review-static/{name}")
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in {"review.js", "review.css"}:
        raise web.HTTPNotFound(reason="no such file")
    return web.FileResponse(
        STATIC / name,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
