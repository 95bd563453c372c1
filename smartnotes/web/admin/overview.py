"""``/admin``: the tenant's success metrics, its charts (one SVG each) and CSV exports.

A page shows its charts as ``<img>`` of ``/admin/charts/{name}.svg``: pygal's SVG carries its
own inline styles, which the page's policy forbids, so each chart is a response of its own
with a policy that allows inline styles and nothing else. The page and its charts ask for
the same metrics at once, so one computation answers them all for a few seconds.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from smartnotes.auth import Identity
from smartnotes.insights import charts
from smartnotes.insights.history import UnknownTenantError
from smartnotes.insights.metrics import ALL, Definition, MetricsError, compute
from smartnotes.service import Service
from smartnotes.web.admin.console import (
    FILE_HEADERS,
    admin_file,
    admin_page,
    csv_response,
    page,
    problem,
    service_of,
)

routes = web.RouteTableDef()
PERIODS = {"week": 8, "month": 6}
_COHORT = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,59}$")
FRESH_SECONDS = 10.0


class FilterError(ValueError):
    """A filter value the console does not take; the message names it."""


@dataclass(frozen=True)
class Filters:
    period: str
    cohort: str | None

    @classmethod
    def parse(cls, query: Any) -> Filters:
        period = query.get("period", "week") or "week"
        if period not in PERIODS:
            raise FilterError(f"period must be week or month, not {period[:40]!r}")
        cohort = (query.get("cohort") or "").strip() or None
        if cohort is not None and not _COHORT.match(cohort):
            raise FilterError(f"{cohort[:60]!r} is not a cohort name")
        return cls(period, cohort)

    def query(self) -> dict[str, str]:
        return {"period": self.period, **({"cohort": self.cohort} if self.cohort else {})}


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


class MetricsMemo:
    """Metrics computed in the last few seconds, and those being computed, shared."""

    def __init__(self, seconds: float = FRESH_SECONDS, size: int = 256) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[tuple[str, Filters], tuple[float, asyncio.Task[dict[str, Any]]]] = {}

    async def get(self, service: Service, tenant_id: str, filters: Filters) -> dict[str, Any]:
        key = (tenant_id, filters)
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if len(self._entries) >= self.size:
                self._entries.clear()
            task = asyncio.ensure_future(_compute(service, tenant_id, filters))
            entry = (time.monotonic() + self.seconds, task)
            self._entries[key] = entry
        try:
            return await asyncio.shield(entry[1])
        except Exception:
            # A failure is not remembered: the next request asks again.
            if self._entries.get(key) is entry:
                del self._entries[key]
            raise

    def forget(self, tenant_id: str) -> None:
        """The tenant's data changed here (an erasure): its next page computes afresh."""
        for key in [key for key in self._entries if key[0] == tenant_id]:
            del self._entries[key]


MEMO = web.AppKey("admin_metrics", MetricsMemo)


async def _compute(service: Service, tenant_id: str, filters: Filters) -> dict[str, Any]:
    async with service.sessions() as session:
        return await compute(
            session,
            tenant_id,
            period="month" if filters.period == "month" else "week",
            periods=PERIODS[filters.period],
            cohort=filters.cohort,
            definition=Definition.from_settings(service.settings.success),
        )


async def metrics_for(request: web.Request, admin: Identity, filters: Filters) -> dict[str, Any]:
    return await request.app[MEMO].get(service_of(request), admin.tenant_id, filters)


@routes.get("/admin")
async def overview(request: web.Request) -> web.Response:
    admin = await admin_page(request)
    try:
        filters = Filters.parse(request.query)
        metrics = await metrics_for(request, admin, filters)
    except (FilterError, MetricsError) as exc:
        return problem(400, str(exc), admin)
    except UnknownTenantError:
        message = f"Smart Notes knows no tenant {admin.tenant_id} yet: give someone a seat first."
        return problem(404, message, admin)
    context = {
        "filters": filters,
        "query": urlencode(filters.query()),
        "percent": percent,
        "metrics": metrics,
        "charts": [charts.chart_data(name, metrics) for name in charts.NAMES],
        "cohort_label": charts.cohort_label,
        "focus": metrics["cohort"] or ALL,
    }
    return page("overview.html", context, admin=admin)


@routes.get("/admin/charts/{name}.svg")
async def chart(request: web.Request) -> web.Response:
    admin = await admin_file(request)
    name = request.match_info["name"]
    if name not in charts.NAMES:
        raise web.HTTPNotFound(reason=f"no chart named {name[:40]!r}")
    try:
        metrics = await metrics_for(request, admin, Filters.parse(request.query))
    except (FilterError, MetricsError) as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from None
    except UnknownTenantError:
        raise web.HTTPNotFound(reason=f"no tenant {admin.tenant_id}") from None
    body = await asyncio.to_thread(charts.svg, name, metrics)
    return web.Response(
        body=body,
        content_type="image/svg+xml",
        headers={
            **FILE_HEADERS,
            # pygal's styles are inline in the SVG: allowed here, and nothing else is.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'",
        },
    )


USER_COLUMNS = (
    "email",
    "name",
    "cohort",
    "seat",
    "enabled",
    "active",
    "calls",
    "days_with_calls",
    "review_days",
    "notes_edited",
    "tasks_generated",
    "tasks_accepted",
    "tasks_rejected",
    "tasks_edited",
    "likes",
    "dislikes",
)
PERIOD_COLUMNS = (
    "seats",
    "active_users",
    "adoption_rate",
    "calls",
    "calls_opted_out",
    "notes_ready",
    "notes_edited",
    "edit_distance",
    "tasks_generated",
    "tasks_accepted",
    "tasks_rejected",
    "tasks_edited",
)
FEEDBACK_COLUMNS = tuple(
    (kind, rating)
    for kind in ("summary", "tasks", "coach", "claude", "local")
    for rating in ("like", "dislike")
)


def period_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for row in metrics["periods"]:
        for cohort, values in row["cohorts"].items():
            rows.append(
                [
                    row["start"],
                    row["end"],
                    cohort,
                    *(values[column] for column in PERIOD_COLUMNS),
                    *(values["feedback"][kind][rating] for kind, rating in FEEDBACK_COLUMNS),
                ]
            )
    return rows


@routes.get("/admin/metrics.csv")
async def metrics_csv(request: web.Request) -> web.Response:
    admin = await admin_file(request)
    kind = request.query.get("kind", "")
    if kind not in ("users", "periods"):
        raise web.HTTPBadRequest(reason="kind must be users or periods")
    try:
        filters = Filters.parse(request.query)
        metrics = await metrics_for(request, admin, filters)
    except (FilterError, MetricsError) as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from None
    except UnknownTenantError:
        raise web.HTTPNotFound(reason=f"no tenant {admin.tenant_id}") from None
    stem = f"smartnotes-{kind}-{filters.period}" + (f"-{filters.cohort}" if filters.cohort else "")
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", stem) + ".csv"
    if kind == "users":
        rows = [[user[column] for column in USER_COLUMNS] for user in metrics["users"]]
        return csv_response(filename, USER_COLUMNS, rows)
    header = [
        "start",
        "end",
        "cohort",
        *PERIOD_COLUMNS,
        *(f"feedback_{kind}_{rating}" for kind, rating in FEEDBACK_COLUMNS),
    ]
    return csv_response(filename, header, period_rows(metrics))
