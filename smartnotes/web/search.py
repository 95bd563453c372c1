"""``GET /api/search``: what was said and noted across the caller's calls."""

from __future__ import annotations

from aiohttp import web

from smartnotes.runs.review import InvalidError
from smartnotes.search.query import MAX_HITS, Searcher, SearchError, search
from smartnotes.web.api import authenticate
from smartnotes.web.keys import SERVICE

routes = web.RouteTableDef()
MAX_QUESTION = 500


@routes.get("/api/search")
async def search_calls(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    question = request.query.get("q", "")
    if len(question) > MAX_QUESTION:
        raise InvalidError("q", f"at most {MAX_QUESTION} characters")
    raw_limit = request.query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_HITS:
        raise InvalidError("limit", f"a number from 1 to {MAX_HITS}")
    customer = request.query.get("customer") or None
    who = Searcher(viewer.tenant_id, viewer.user_id, viewer.email)
    service = request.app[SERVICE]
    try:
        async with service.sessions() as session:
            hits = await search(
                session,
                who,
                question,
                customer_id=customer,
                limit=int(raw_limit),
                semantic=service.semantic,
            )
    except SearchError as exc:
        raise InvalidError("q", str(exc)) from None
    return web.json_response({"hits": hits})
