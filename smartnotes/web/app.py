"""The aiohttp application factory: ``create_app(settings)``.

The service (database, CRM, models, worker pool, outbox) lives in ``cleanup_ctx``: it opens
when the server starts and closes, gracefully, when it stops. Nothing is built at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from smartnotes import tracing
from smartnotes.logs import answer_request_id, request_id_middleware
from smartnotes.service import Service
from smartnotes.settings import Settings
from smartnotes.web import admin, api, ask, bot, calls, graph, metrics, review_page, search, site
from smartnotes.web.errors import errors_middleware
from smartnotes.web.keys import SERVICE
from smartnotes.web.metrics import timing_middleware
from smartnotes.web.openapi import openapi_document
from smartnotes.web.proxy import TrustedProxies, forwarded_middleware

log = logging.getLogger(__name__)

# Transcripts arrive in bodies; 8 MiB covers a long call's text with room to spare.
MAX_BODY = 8 * 1024 * 1024


def create_app(
    settings: Settings, *, process: bool = True, queues: Sequence[str] | None = None
) -> web.Application:
    """The whole service. ``process=False`` is the web role: it serves the API and queues
    work for workers elsewhere; ``queues`` names the job queues it works itself instead."""
    tracing.install(settings, role="web" if not process else "all")
    app = web.Application(
        middlewares=[
            # First: everything after it sees the client's address, scheme and host.
            forwarded_middleware(TrustedProxies.parse(settings.forwarded_allow_ips)),
            request_id_middleware,
            timing_middleware,
            errors_middleware,
        ],
        client_max_size=MAX_BODY,
    )
    app.on_response_prepare.append(answer_request_id)

    async def service(app: web.Application) -> AsyncIterator[None]:
        async with Service.running(settings, process=process, queues=queues) as running:
            app[SERVICE] = running
            log.info("Smart Notes is ready")
            yield

    async def closing(app: web.Application) -> None:
        # Shutdown starts: readiness turns false and event streams end so the server can stop.
        running = app.get(SERVICE)
        if running is not None:
            running.stopping = True
            running.live.close()

    app.cleanup_ctx.append(service)
    app.on_shutdown.append(closing)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_routes(api.routes)
    app.router.add_routes(search.routes)
    app.router.add_routes(ask.routes)
    app.router.add_routes(calls.routes)
    app.router.add_routes(review_page.routes)
    app.router.add_routes(bot.routes)
    app.router.add_routes(graph.routes)
    app.router.add_routes(site.routes)
    app.router.add_routes(metrics.routes)
    admin.install(app)
    return app


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """The process can do its work: the database answers and it is not shutting down."""
    running = request.app.get(SERVICE)
    if running is None or not await running.ready():
        return web.json_response({"status": "not ready"}, status=503)
    return web.json_response({"status": "ready"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
