"""``POST /api/messages``: where Teams (the Bot Connector) delivers the bot's activities.

The bearer token is checked before the SDK sees the activity; a request without a valid one is
401 and never reaches the bot, unless the operator switched on the dangerous unauthenticated
mode for a local test client.
"""

from __future__ import annotations

import logging
import warnings

from aiohttp import web
from microsoft_agents.hosting.core.authorization import ClaimsIdentity

from bot.auth import BotAuthError
from smartnotes.web.errors import error_response
from smartnotes.web.keys import SERVICE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/api/messages")
async def messages(request: web.Request) -> web.StreamResponse:
    teams = request.app[SERVICE].teams
    if teams is None:
        raise web.HTTPServiceUnavailable(
            reason="the Teams bot is not configured (SMARTNOTES_BOT__APP_ID)"
        )
    body = await request.json()
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "the body is not an activity")
    authorization = request.headers.get("Authorization")
    identity: ClaimsIdentity
    if teams.validator is not None and (authorization or not teams.allow_unauthenticated):
        try:
            identity = await teams.validator.identity(authorization, body)
        except BotAuthError as exc:
            log.warning("refused a bot request: %s", exc)
            return error_response(401, "unauthorized", "the request's token is not valid")
    elif teams.allow_unauthenticated:
        # Unverified, but the bot's replies still go out under its own credentials (if any).
        app_id = request.app[SERVICE].settings.bot.app_id
        identity = ClaimsIdentity({"aud": app_id, "appid": app_id} if app_id else {})
    else:
        return error_response(401, "unauthorized", "the request's token is not valid")
    with warnings.catch_warnings():
        # The SDK's aiohttp adapter reads the identity under this plain string key.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request["claims_identity"] = identity
    response = await teams.adapter.process(request, teams.bot)
    return response if response is not None else web.Response(status=202)
