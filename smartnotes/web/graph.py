"""``POST /webhooks/graph`` and ``/webhooks/graph/lifecycle``: Microsoft Graph's change and
lifecycle notifications.

Graph first checks the URL with a ``validationToken`` query parameter that must come back as
plain text within 10 seconds. Then every notification must carry our ``clientState``; rich
ones come with ``validationTokens`` JWTs and encrypted resource data, both checked here. What
passes is stored and answered 202 at once (Graph allows three seconds); the fetching happens
afterwards. A notification that fails a check is logged and dropped, never processed: the
tokens vouch for the whole collection, so a bad token, or encrypted content that does not
authenticate, refuses all of it (400); a wrong clientState drops that notification (403 when
none is left). When Microsoft's signing keys cannot be had, nothing is judged: 503, and Graph
tries again later.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import Counter
from typing import Any

from aiohttp import web

from graph.notifications import (
    ChangeNotification,
    NotificationCollection,
    NotificationError,
    check_client_state,
    parse_collection,
    validation_response_token,
)
from graph.rich_notifications import decrypt_content
from smartnotes.meetings.runtime import GraphRuntime, KeyFetchError
from smartnotes.service import Service
from smartnotes.web.body import parse_json
from smartnotes.web.errors import error_response
from smartnotes.web.keys import SERVICE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# A collection holds at most a few hundred notifications; rich ones carry the resource.
MAX_BODY = 4 * 1024 * 1024
# Forged posts cost the sender nothing: their warnings are at most one a minute per service,
# the ones held back counted into the next, so a flood cannot fill the disk with log lines.
DROP_WARNING_EVERY = 60.0


class DropWarnings:
    """When the next dropped-notification warning may be written, and what was held back."""

    def __init__(self, every: float = DROP_WARNING_EVERY) -> None:
        self.every = every
        self.next_at: float | None = None
        self.held_requests = 0
        self.held_notifications = 0

    def due(self, now: float, dropped: int) -> tuple[int, int] | None:
        """``(requests, notifications)`` held back since the last warning when one is due
        now; None when this one is held back too."""
        if self.next_at is not None and now < self.next_at:
            self.held_requests += 1
            self.held_notifications += dropped
            return None
        held = (self.held_requests, self.held_notifications)
        self.held_requests = self.held_notifications = 0
        self.next_at = now + self.every
        return held


# Keyed by the application so each service (and each test's service) has its own budget.
_drop_warnings: weakref.WeakKeyDictionary[web.Application, DropWarnings] = (
    weakref.WeakKeyDictionary()
)


@routes.post("/webhooks/graph")
async def changes(request: web.Request) -> web.StreamResponse:
    return await _receive(request, lifecycle=False)


@routes.post("/webhooks/graph/lifecycle")
async def lifecycle(request: web.Request) -> web.StreamResponse:
    return await _receive(request, lifecycle=True)


async def _receive(request: web.Request, *, lifecycle: bool) -> web.StreamResponse:
    handshake = _handshake(request)
    if handshake is not None:
        return handshake
    service: Service = request.app[SERVICE]
    graph = service.graph
    if graph is None:
        raise web.HTTPServiceUnavailable(
            reason="Graph notifications are not configured (SMARTNOTES_GRAPH__CLIENT_ID)"
        )
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    body = parse_json(await request.read(), what="the notification collection")
    if not isinstance(body, dict):
        return error_response(400, "invalid", "the body must be a JSON object", field="value")
    try:
        collection = parse_collection(body)
        await _check_tokens(graph, collection)
        decrypted = [_decrypted(graph, notification) for notification in collection.value]
    except NotificationError as exc:
        log.warning("Graph notification refused from %s: %s", request.remote, exc)
        return error_response(400, "invalid", str(exc), field=exc.field)
    accepted: list[tuple[ChangeNotification, dict[str, Any]]] = []
    # One warning per request, however many notifications it carries: a post with a thousand
    # forged notifications is one line in the log, not a thousand.
    dropped: Counter[str] = Counter()
    for notification, data in zip(collection.value, decrypted, strict=True):
        try:
            check_client_state(notification, graph.client_state)
            if (notification.lifecycle_event is not None) != lifecycle:
                raise NotificationError(
                    "lifecycle notifications go to /webhooks/graph/lifecycle, changes to "
                    "/webhooks/graph",
                    field="lifecycleEvent",
                )
            accepted.append((notification, data))
        except NotificationError as exc:
            dropped[str(exc)] += 1
    if dropped:
        held = _drop_warnings.setdefault(request.app, DropWarnings()).due(
            time.monotonic(), sum(dropped.values())
        )
        if held is not None:
            log.warning(
                "Graph: %d of %d notification(s) from %s dropped: %s "
                "(and %d notification(s) in %d earlier request(s) not logged)",
                sum(dropped.values()),
                len(collection.value),
                request.remote,
                "; ".join(f"{reason} (x{count})" for reason, count in dropped.most_common(5)),
                held[1],
                held[0],
            )
    if not accepted:
        return error_response(403, "forbidden", "no notification in the request passed the checks")
    await graph.writer.keep(accepted)
    graph.notify()
    return web.Response(status=202)


def _handshake(request: web.Request) -> web.Response | None:
    try:
        token = validation_response_token(request.query)
    except NotificationError as exc:
        raise web.HTTPBadRequest(reason=str(exc)) from None
    if token is None:
        return None
    return web.Response(text=token, content_type="text/plain")


async def _check_tokens(graph: GraphRuntime, collection: NotificationCollection) -> None:
    rich = any(n.is_rich for n in collection.value)
    if not rich and not collection.validation_tokens:
        return
    if graph.rich is None or graph.rich.checker is None:
        raise NotificationError(
            "rich notifications arrived but no encryption certificate is configured",
            field="value",
        )
    keys, checker = graph.rich, graph.rich.checker
    try:
        checker.check_collection(collection)
        return
    except NotificationError:
        # No keys yet (the first notification of a service without its upkeep loop), or a key
        # Microsoft rotated in since the last fetch: fetch, then decide. Not more often than
        # every few minutes, so refused requests cannot make us hammer Microsoft.
        if not keys.may_refetch(time.monotonic()):
            if not keys.keys:
                raise _keys_unavailable() from None
            raise
    try:
        await graph.refresh_keys()
    except KeyFetchError as exc:
        log.error("Graph notification not judged: %s", exc)
        raise _keys_unavailable() from None
    checker.check_collection(collection)


def _keys_unavailable() -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        reason="Microsoft's token-signing keys could not be fetched to check the "
        "validationTokens; try again later"
    )


def _decrypted(graph: GraphRuntime, notification: ChangeNotification) -> dict[str, Any]:
    if notification.encrypted_content is None:
        return dict(notification.resource_data)
    if graph.rich is None:
        raise NotificationError("encrypted content but no certificate", field="encryptedContent")
    data = decrypt_content(
        notification.encrypted_content,
        graph.rich.private_key,
        expected_certificate_id=graph.rich.certificate_id,
    )
    return {**notification.resource_data, **data}
