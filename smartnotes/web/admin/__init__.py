"""The admin console (``/admin``): a tenant admin's server-rendered pages, charts and exports."""

from __future__ import annotations

from aiohttp import web

from smartnotes.web.admin import audit, console, overview, people, signin


def install(app: web.Application) -> None:
    """Add the console's routes; its session check is built once the service runs."""
    app.on_startup.append(console.start)
    app[overview.MEMO] = overview.MetricsMemo()
    for module in (signin, overview, audit, people):
        app.router.add_routes(module.routes)
