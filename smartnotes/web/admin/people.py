"""``/admin/people``: export a person's data (a subject access request) or erase them, with the
same functions as ``smartnotes admin export`` and ``erase``.

Those work on an e-mail address in every tenant. The console acts only for a person who is a
user of the admin's tenant and of no other; anyone else is the operator's to handle with the
command line. An erasure asks for the address typed again.
"""

from __future__ import annotations

import json
import re

from aiohttp import web
from sqlalchemy import func, select

from smartnotes.auth import Identity
from smartnotes.privacy import Privacy, pseudonym
from smartnotes.service import Service
from smartnotes.storage.models import AuditEntry, User
from smartnotes.web.admin.console import (
    FILE_HEADERS,
    admin_page,
    page,
    problem,
    refused_origin,
    same_origin,
    service_of,
)
from smartnotes.web.admin.overview import MEMO

routes = web.RouteTableDef()
_EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,120}$")


class PersonError(Exception):
    """A person the console does not act for: the page's status and what to say."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _person(service: Service, admin: Identity, raw: object) -> str:
    """The address, once it is a user of the admin's tenant and of no other."""
    email = raw.strip().lower() if isinstance(raw, str) else ""
    if not _EMAIL.match(email):
        raise PersonError(400, "Give the person's e-mail address.")
    async with service.sessions() as session:
        rows = await session.execute(
            select(User.tenant_id).where(func.lower(User.email) == email).distinct()
        )
        tenants = set(rows.scalars())
    if admin.tenant_id not in tenants:
        raise PersonError(404, f"{email} is not a user of this tenant.")
    if len(tenants) > 1:
        raise PersonError(
            409,
            f"{email} is also a user of another tenant: ask the service's operator "
            "(smartnotes admin export / erase), who acts for every tenant.",
        )
    return email


async def _audit(service: Service, admin: Identity, action: str, detail: dict[str, object]) -> None:
    async with service.sessions() as session, session.begin():
        session.add(
            AuditEntry(
                actor=admin.email,
                action=action,
                detail={"tenant": admin.tenant_id, **detail},
            )
        )


def _form(
    admin: Identity, *, error: str | None = None, status: int = 200, **extra: str
) -> web.Response:
    context = {"error": error, "done": None, "email": extra.get("email", "")}
    return page("people.html", context, status=status, admin=admin)


@routes.get("/admin/people")
async def people_page(request: web.Request) -> web.Response:
    return _form(await admin_page(request))


@routes.post("/admin/people/export")
async def export(request: web.Request) -> web.Response:
    admin = await admin_page(request)
    if not same_origin(request):
        return refused_origin(admin)
    service = service_of(request)
    form = await request.post()
    try:
        email = await _person(service, admin, form.get("email"))
    except PersonError as exc:
        return _form(admin, error=str(exc), status=exc.status)
    document = await Privacy(service.sessions).export(email)
    if document is None:  # erased between the check and now
        return _form(admin, error=f"{email} is not a user of this tenant.", status=404)
    await _audit(service, admin, "console_person_exported", {"user": email})
    body = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", email) + ".json"
    return web.Response(
        text=body,
        content_type="application/json",
        headers={**FILE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


@routes.post("/admin/people/erase")
async def erase(request: web.Request) -> web.Response:
    admin = await admin_page(request)
    if not same_origin(request):
        return refused_origin(admin)
    service = service_of(request)
    form = await request.post()
    try:
        email = await _person(service, admin, form.get("email"))
    except PersonError as exc:
        return _form(admin, error=str(exc), status=exc.status)
    typed = form.get("confirm")
    if not isinstance(typed, str) or typed.strip().lower() != email:
        error = "Type the person's e-mail address again to confirm the erasure."
        return _form(admin, error=error, status=400, email=email)
    erased = await Privacy(service.sessions).erase(email, actor=admin.email)
    request.app[MEMO].forget(admin.tenant_id)
    if erased is None:
        return problem(404, f"{email} is not a user of this tenant.", admin)
    await _audit(
        service,
        admin,
        "console_person_erased",
        {"subject": erased.subject, "runs": erased.runs, "transcripts": erased.transcripts},
    )
    done = {
        "subject": pseudonym(email),
        "runs": erased.runs,
        "transcripts": erased.transcripts,
        "rows": erased.rows_rewritten,
    }
    return page("people.html", {"error": None, "done": done, "email": ""}, admin=admin)
