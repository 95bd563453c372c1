"""The pages a Teams admin (and the app package) links to: what this service is, its privacy
statement and terms. Each is the company's own page (a redirect), a text file the company
provides, or a plain default that says what the service does with call data."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from smartnotes import __version__
from smartnotes.service import Service
from smartnotes.web.keys import SERVICE
from smartnotes.web.review_page import security_headers, templates

routes = web.RouteTableDef()

DEFAULT_PRIVACY = (
    "Smart Notes processes the transcripts and recordings of the calls of the people your "
    "organization switched it on for: it writes a summary and proposes tasks, which the rep "
    "reviews before anything reaches the CRM. Transcripts are kept in this service's own "
    "storage until the call is processed (and deleted at once for confidential calls or when "
    "the rep says not to process a call); summaries, tasks and feedback stay in its database. "
    "Task extraction may use Anthropic's Claude API unless the call is confidential or no key "
    "is configured; summaries are written by a model running in this service. "
    "Ask {operator} for how long data is kept and how to have it erased."
)
DEFAULT_TERMS = (
    "Smart Notes is provided to you by {operator} for your work. Its summaries and tasks are "
    "suggestions written by AI models and can be wrong: you decide what is saved to the CRM. "
    "Use it only for calls you are allowed to record and process."
)


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    service: Service = request.app[SERVICE]
    page = (
        templates()
        .get_template("site.html")
        .render(
            title="Smart Notes",
            operator=service.settings.site.operator,
            version=__version__,
            paragraphs=[],
            home=True,
        )
    )
    return _html(page)


@routes.get("/privacy")
async def privacy(request: web.Request) -> web.StreamResponse:
    site = request.app[SERVICE].settings.site
    return await _legal("Privacy", site.privacy_url, site.privacy_file, DEFAULT_PRIVACY, request)


@routes.get("/terms")
async def terms(request: web.Request) -> web.StreamResponse:
    settings = request.app[SERVICE].settings
    site = settings.site
    # The version tenants agree to (``smartnotes admin tenant on --accept-terms``).
    return await _legal(
        "Terms of use",
        site.terms_url,
        site.terms_file,
        DEFAULT_TERMS,
        request,
        version=settings.terms_version,
    )


async def _legal(
    title: str,
    url: str | None,
    path: Path | None,
    default: str,
    request: web.Request,
    *,
    version: str | None = None,
) -> web.StreamResponse:
    if url:
        raise web.HTTPFound(url)
    service: Service = request.app[SERVICE]
    operator = service.settings.site.operator
    if path is not None:
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except OSError as exc:
            raise web.HTTPServiceUnavailable(reason=f"the {title.lower()} text is missing") from exc
    else:
        text = default.format(operator=operator)
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    page = (
        templates()
        .get_template("site.html")
        .render(
            title=title,
            operator=operator,
            version=__version__,
            paragraphs=paragraphs,
            home=False,
            terms_version=version,
        )
    )
    return _html(page)


def _html(page: str) -> web.Response:
    return web.Response(
        text=page, content_type="text/html", headers=security_headers(frame_ancestors=[])
    )
