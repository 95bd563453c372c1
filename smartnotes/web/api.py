"""The review API: the rep's runs, their summary and tasks, decisions, feedback and saving.

Every route authenticates first and then works only on runs the caller may see; another
user's run answers exactly like a missing one (404). ``openapi.py`` describes these routes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from pipeline.errors import InputError
from pipeline.formats import parse_transcript_bytes
from smartnotes import directory
from smartnotes.auth import AuthError, Identity
from smartnotes.runs.intake import CallEvent, Participant, Submitted
from smartnotes.runs.offload import sized
from smartnotes.runs.review import InvalidError, NotFoundError, Viewer
from smartnotes.service import Service
from smartnotes.storage.models import RunSource
from smartnotes.web.body import parse_json
from smartnotes.web.keys import SERVICE
from smartnotes.web.review_schemas import AcceptAllIn, CustomerChoiceIn, ProspectIn
from smartnotes.web.schemas import (
    FeedbackIn,
    Retrigger,
    SaveIn,
    SummaryEdit,
    TaskDecision,
    TaskEdit,
    UploadIn,
)
from smartnotes.web.sse import run_events

B = TypeVar("B", bound=BaseModel)
routes = web.RouteTableDef()


async def authenticate(request: web.Request, *, run_id: str | None = None) -> Viewer:
    """The caller; ``run_id`` names the run a route without one in its path acts on."""
    identity = await identify(request)
    return await viewer_for(request, identity, run_id)


async def identify(request: web.Request) -> Identity:
    """Who is calling, from the credentials alone: checked before any body is read."""
    for authenticator in request.app[SERVICE].authenticators:
        identity = await authenticator.authenticate(request)
        if identity is not None:
            return identity
    raise AuthError("authentication required")


async def viewer_for(request: web.Request, identity: Identity, run_id: str | None) -> Viewer:
    service = request.app[SERVICE]
    concerns = run_id if run_id is not None else request.match_info.get("run_id")
    if identity.run_id is not None and concerns != identity.run_id:
        # A one-run credential (the review page's) is good for that run and nothing else.
        raise NotFoundError("no such run")
    key = (identity.tenant_id, identity.email.lower())
    viewer = service.viewers.get(key)
    if viewer is None:
        async with service.sessions() as session:
            user = await directory.find_user(session, identity.tenant_id, identity.email)
        if user is None:
            raise AuthError("this user is not known to Smart Notes")
        viewer = Viewer(tenant_id=user.tenant_id, user_id=user.id, email=user.email)
        service.viewers.put(key, viewer)
    return viewer


async def body(request: web.Request, model: type[B]) -> B:
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(reason="send the body as application/json")
        data = parse_json(raw)
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return model.model_validate(data)


def skipped(submitted: Submitted) -> web.Response:
    """A call the gate let through to nothing: say why, with nothing else kept."""
    reason = submitted.why or (str(submitted.skipped) if submitted.skipped else "not processed")
    return web.json_response({"run_id": None, "created": False, "skipped": reason})


def _service(request: web.Request) -> Service:
    return request.app[SERVICE]


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise web.HTTPBadRequest(reason="limit: a number from 1 to 200")
    return int(raw)


@routes.get("/api/runs")
async def list_runs(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    runs = await _service(request).review.list_runs(
        viewer, limit=_limit(request), status=request.query.get("status")
    )
    return web.json_response({"runs": runs})


@routes.post("/api/runs")
async def upload_run(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    upload = await body(request, UploadIn)
    transcript = upload.transcript.encode()
    try:
        await sized(len(transcript), parse_transcript_bytes, transcript, upload.transcript_name)
    except InputError as exc:
        raise InvalidError("transcript", str(exc)) from None
    service = _service(request)
    event = CallEvent(
        tenant_id=viewer.tenant_id,
        owner_email=viewer.email,
        source=RunSource.UPLOAD,
        call_id=upload.call_id,
        transcript=transcript,
        transcript_name=upload.transcript_name,
        # A rep's key is theirs: another user sending the same call id or key gets their own
        # run, never an answer that names someone else's.
        idempotency_key=f"user:{viewer.user_id}:"
        + (request.headers.get("Idempotency-Key") or upload.call_id),
        call_started_at=upload.started_at,
        timezone=upload.timezone,
        call_url=upload.call_url,
        participants=tuple(Participant(p.name, p.email) for p in upload.participants),
        opted_out=upload.opt_out,
        confidential=upload.confidential,
    )
    submitted = await service.submit(event)
    if submitted.run_id is None:
        return skipped(submitted)
    return web.json_response(
        {"run_id": submitted.run_id, "created": submitted.created, "skipped": None},
        status=202 if submitted.created else 200,
        headers={"Location": f"/api/runs/{submitted.run_id}"},
    )


@routes.get("/api/runs/{run_id}")
async def get_run(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    return web.json_response(
        await _service(request).review.get(viewer, request.match_info["run_id"])
    )


@routes.patch("/api/runs/{run_id}/summary")
async def edit_summary(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    edit = await body(request, SummaryEdit)
    view = await _service(request).review.edit_summary(
        viewer, request.match_info["run_id"], edit.text, edit.version
    )
    return web.json_response(view)


@routes.patch("/api/runs/{run_id}/tasks/{task_id}")
async def edit_task(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    edit = await body(request, TaskEdit)
    view = await _service(request).review.edit_task(
        viewer,
        request.match_info["run_id"],
        request.match_info["task_id"],
        edit.changes(),
        edit.version,
    )
    return web.json_response(view)


@routes.post("/api/runs/{run_id}/tasks/{task_id}/accept")
async def accept_task(request: web.Request) -> web.Response:
    return await _decide(request, accept=True)


@routes.post("/api/runs/{run_id}/tasks/{task_id}/reject")
async def reject_task(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def _decide(request: web.Request, *, accept: bool) -> web.Response:
    viewer = await authenticate(request)
    decision = await body(request, TaskDecision)
    view = await _service(request).review.decide_task(
        viewer,
        request.match_info["run_id"],
        request.match_info["task_id"],
        accept=accept,
        version=decision.version,
    )
    return web.json_response(view)


@routes.post("/api/runs/{run_id}/retrigger-tasks")
async def retrigger_tasks(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    retrigger = await body(request, Retrigger)
    view = await _service(request).review.retrigger_tasks(
        viewer, request.match_info["run_id"], retrigger.version
    )
    return web.json_response(view, status=202)


@routes.post("/api/runs/{run_id}/feedback")
async def feedback(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    given = await body(request, FeedbackIn)
    view = await _service(request).review.feedback(
        viewer, request.match_info["run_id"], given.target, given.rating, given.comment
    )
    return web.json_response(view, status=201)


@routes.post("/api/runs/{run_id}/save")
async def save(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    wanted = await body(request, SaveIn)
    view = await _service(request).review.save(
        viewer,
        request.match_info["run_id"],
        version=wanted.version,
        customer_id=wanted.customer_id,
        accept_proposed=wanted.accept_proposed,
    )
    return web.json_response(view, status=202)


@routes.post("/api/runs/{run_id}/later")
async def later(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    return web.json_response(
        await _service(request).review.later(viewer, request.match_info["run_id"])
    )


@routes.post("/api/runs/{run_id}/stop")
async def stop(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    service = _service(request)
    view = await service.review.stop(viewer, request.match_info["run_id"], service.cancel)
    return web.json_response(view)


@routes.post("/api/runs/{run_id}/retry")
async def retry(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    view = await _service(request).review.retry(viewer, request.match_info["run_id"])
    return web.json_response(view, status=202)


@routes.get("/api/runs/{run_id}/events")
async def events(request: web.Request) -> web.StreamResponse:
    viewer = await authenticate(request)
    return await run_events(request, _service(request), viewer, request.match_info["run_id"])


@routes.post("/api/runs/{run_id}/tasks/accept-all")
async def accept_all(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    wanted = await body(request, AcceptAllIn)
    view = await _service(request).review.accept_all(
        viewer, request.match_info["run_id"], wanted.version
    )
    return web.json_response(view)


@routes.get("/api/runs/{run_id}/transcript")
async def transcript(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    found = await _service(request).review.transcript(viewer, request.match_info["run_id"])
    return web.json_response(found)


@routes.put("/api/runs/{run_id}/customer")
async def choose_customer(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    review = _service(request).review
    # Someone else's run is 404 whatever they sent, not a complaint about their body.
    await review.check_visible(viewer, request.match_info["run_id"])
    chosen = await body(request, CustomerChoiceIn)
    view = await review.choose_customer(
        viewer, request.match_info["run_id"], chosen.customer_id, chosen.version
    )
    return web.json_response(view)


@routes.get("/api/customers")
async def search_customers(request: web.Request) -> web.Response:
    """Customers for a run's picker: those the CRM lets the rep write to."""
    run_id = request.query.get("run_id", "")
    if not run_id:
        raise web.HTTPBadRequest(reason="run_id: the run the customer is for is required")
    viewer = await authenticate(request, run_id=run_id)
    query = request.query.get("q", "").strip()
    if len(query) > 200:
        raise web.HTTPBadRequest(reason="q: at most 200 characters")
    review = _service(request).review
    found = await review.search_customers(viewer, run_id, query) if query else []
    return web.json_response({"customers": found, "can_create": review.can_create_customers()})


@routes.post("/api/customers")
async def create_customer(request: web.Request) -> web.Response:
    """Create the call's customer as a new prospect, and make it the run's customer."""
    # The run is named in the body; the caller is known before the body is read.
    identity = await identify(request)
    prospect = await body(request, ProspectIn)
    viewer = await viewer_for(request, identity, prospect.run_id)
    view = await _service(request).review.create_customer(
        viewer,
        prospect.run_id,
        prospect.name,
        [prospect.email] if prospect.email else [],
        prospect.version,
    )
    customer = {"id": view["customer_id"], "name": view["customer_name"]}
    return web.json_response({**customer, "run": view}, status=201)


@routes.get("/api/notifications")
async def notifications(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    unread = request.query.get("unread") in ("1", "true")
    items = await _service(request).review.notifications(viewer, unread=unread)
    return web.json_response({"notifications": items})


@routes.post("/api/notifications/{notification_id}/read")
async def mark_read(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    raw = request.match_info["notification_id"]
    if not raw.isdigit():
        raise web.HTTPNotFound(reason="no such notification")
    await _service(request).review.mark_read(viewer, int(raw))
    return web.json_response({"read": True})
