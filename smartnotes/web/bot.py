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

from bot.auth import BotAuthError, VerifiedToken
from smartnotes.web.body import parse_json
from smartnotes.web.errors import error_response
from smartnotes.web.keys import SERVICE

log = logging.getLogger(__name__)
# Teams refuses messages over about 28 KB; activities it sends us (cards' data included) are far
# below this.
MAX_ACTIVITY_BYTES = 1024 * 1024
routes = web.RouteTableDef()


@routes.post("/api/messages")
async def messages(request: web.Request) -> web.StreamResponse:
    teams = request.app[SERVICE].teams
    if teams is None:
        raise web.HTTPServiceUnavailable(
            reason="the Teams bot is not configured (SMARTNOTES_BOT__APP_ID)"
        )
    authorization = request.headers.get("Authorization")
    verified: VerifiedToken | None = None
    if teams.validator is not None and (authorization or not teams.allow_unauthenticated):
        # The token first: nobody without one makes the service read, let alone parse, a body.
        try:
            verified = await teams.validator.verify_token(authorization)
        except BotAuthError as exc:
            log.warning("refused a bot request: %s", exc)
            return error_response(401, "unauthorized", "the request's token is not valid")
    elif not teams.allow_unauthenticated:
        return error_response(401, "unauthorized", "the request's token is not valid")
    if request.content_length is not None and request.content_length > MAX_ACTIVITY_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_ACTIVITY_BYTES, actual_size=request.content_length
        )
    # read() (bounded by the app's client_max_size) keeps the bytes for the SDK to read again.
    body = parse_json(await request.read(), what="the activity")
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "the body is not an activity")
    identity: ClaimsIdentity
    if teams.validator is not None and verified is not None:
        try:
            claims = teams.validator.check_activity(verified, body)
        except BotAuthError as exc:
            log.warning("refused a bot request: %s", exc)
            return error_response(401, "unauthorized", "the request's token is not valid")
        identity = ClaimsIdentity(claims, authentication_type="Bearer")
    else:
        # Unverified, but the bot's replies still go out under its own credentials (if any).
        app_id = request.app[SERVICE].settings.bot.app_id
        identity = ClaimsIdentity({"aud": app_id, "appid": app_id} if app_id else {})
    with warnings.catch_warnings():
        # The SDK's aiohttp adapter reads the identity under this plain string key.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request["claims_identity"] = identity
    response = await teams.adapter.process(request, teams.bot)
    return response if response is not None else web.Response(status=202)
