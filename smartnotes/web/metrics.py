"""``GET /metrics`` for Prometheus, and the timing of every request.

The endpoint is off until ``SMARTNOTES_METRICS_TOKEN`` is set; then it wants that token as a
bearer, as Prometheus' ``authorization`` setting sends it. Figures name their route by its
template (``/api/runs/{run_id}``), never by a run's id, so their number stays bounded.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from smartnotes.metrics import CONTENT_TYPE
from smartnotes.service import Service
from smartnotes.web.keys import SERVICE

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    service: Service = request.app[SERVICE]
    token = service.settings.metrics_token
    if token is None or service.metrics is None:
        raise web.HTTPNotFound()
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await service.metrics.scrape()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        service: Service | None = request.app.get(SERVICE)
        if service is not None and service.metrics is not None:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            service.metrics.requests.labels(route, request.method, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
