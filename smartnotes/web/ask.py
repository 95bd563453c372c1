"""``POST /api/ask``: a question answered from the caller's calls, with its sources."""

from __future__ import annotations

from aiohttp import web

from smartnotes.runs.review import InvalidError, UnavailableError
from smartnotes.search.query import Searcher, SearchError
from smartnotes.web.api import authenticate, body
from smartnotes.web.keys import SERVICE
from smartnotes.web.review_schemas import AskIn

routes = web.RouteTableDef()


@routes.post("/api/ask")
async def ask(request: web.Request) -> web.Response:
    viewer = await authenticate(request)
    asked = await body(request, AskIn)
    asker = request.app[SERVICE].asker
    if asker is None:
        raise UnavailableError("questions cannot be answered right now")
    who = Searcher(viewer.tenant_id, viewer.user_id, viewer.email)
    try:
        answer = await asker.answer(asked.question, who, customer_id=asked.customer_id)
    except SearchError as exc:
        raise InvalidError("question", str(exc)) from None
    return web.json_response(answer.to_json())
