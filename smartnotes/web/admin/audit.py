"""``/admin/audit``: the tenant's audit log, filtered, newest first, a page at a time, and
its CSV export (``/admin/audit.csv``, the same filters, up to ``EXPORT_LIMIT`` entries)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from smartnotes.insights.audit import EXPORT_LIMIT, PAGE_SIZE, AuditFilter, actions, entries
from smartnotes.web.admin.console import (
    admin_file,
    admin_page,
    csv_response,
    page,
    problem,
    service_of,
)

routes = web.RouteTableDef()
_ACTION = re.compile(r"^[a-z0-9_.:-]{1,60}$")
_RUN = re.compile(r"^[0-9a-f]{32}$")
_CURSOR = re.compile(r"^[0-9]{1,18}$")


class FilterError(ValueError):
    """A filter value the audit view does not take; the message names it."""


@dataclass(frozen=True)
class Query:
    filters: AuditFilter
    form: dict[str, str]
    after: int | None


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} must be a date such as 2026-11-30") from None


def parse(query: Any) -> Query:
    form = {key: (query.get(key) or "").strip() for key in ("actor", "action", "run", "from", "to")}
    if len(form["actor"]) > 200:
        raise FilterError("actor: at most 200 characters")
    if form["action"] and not _ACTION.match(form["action"]):
        raise FilterError("action: lower-case letters, digits and _ . : - only")
    if form["run"] and not _RUN.match(form["run"]):
        raise FilterError("run id: 32 hexadecimal characters, as the log shows them")
    since, until = _day(form["from"], "from"), _day(form["to"], "to")
    if since and until and since > until:
        raise FilterError("from must not be after to")
    after = query.get("after", "")
    if after and not _CURSOR.match(after):
        raise FilterError("after: the id of an entry")
    filters = AuditFilter(
        actor=form["actor"] or None,
        action=form["action"] or None,
        run_id=form["run"] or None,
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
    )
    return Query(filters, form, int(after) if after else None)


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    admin = await admin_page(request)
    try:
        asked = parse(request.query)
    except FilterError as exc:
        return problem(400, str(exc), admin)
    async with service_of(request).sessions() as session:
        rows = await entries(
            session, admin.tenant_id, asked.filters, limit=PAGE_SIZE + 1, after=asked.after
        )
        known = await actions(session, admin.tenant_id)
    shown = rows[:PAGE_SIZE]
    filled = {key: value for key, value in asked.form.items() if value}
    more = urlencode({**filled, "after": shown[-1].id}) if len(rows) > PAGE_SIZE else None
    context = {
        "form": asked.form,
        "rows": [(row, _detail(row.detail)) for row in shown],
        "actions": known,
        "paged": asked.after is not None,
        "first": urlencode(filled),
        "more": more,
        "export": urlencode(filled),
    }
    return page("audit.html", context, admin=admin)


@routes.get("/admin/audit.csv")
async def audit_csv(request: web.Request) -> web.Response:
    admin = await admin_file(request)
    try:
        asked = parse(request.query)
    except FilterError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from None
    async with service_of(request).sessions() as session:
        rows = await entries(session, admin.tenant_id, asked.filters, limit=EXPORT_LIMIT)
    return csv_response(
        "smartnotes-audit.csv",
        ("at", "actor", "action", "run_id", "detail"),
        ([r.at.isoformat(), r.actor, r.action, r.run_id, _detail(r.detail)] for r in rows),
    )
