"""A local Microsoft Graph (v1.0) and Entra token endpoint for Teams meeting transcripts,
recordings and change-notification subscriptions, in one aiohttp server on 127.0.0.1.

The same app listens twice: plain http (``base_url``, what the tests point the SDK at) and
https with a certificate made at start (``https_base_url``, ``authority``), because
azure-identity only talks to an https authority; ``ca_file`` is the PEM to trust for it.

What it speaks, and where Microsoft documents it:

- ``POST /{tenant}/oauth2/v2.0/token``: the client-credentials grant ("Microsoft identity
  platform and the OAuth 2.0 client credentials flow"), scope
  ``https://graph.microsoft.com/.default``, with a client secret or a certificate's signed
  client assertion (PS256 or RS256, ``x5t#S256``/``x5t``, ``aud`` the token URL), Entra's error
  shape (``{"error": "invalid_client", "error_description": "AADSTS7000215: ..."}``).
- Every ``/v1.0`` call needs a bearer token this fake issued, else 401 with Graph's error
  shape ``{"error": {"code": "InvalidAuthenticationToken", "message", "innerError"}}``.
- ``GET /users/{id}/mailboxSettings`` ("Get user mailbox settings"): ``timeZone`` as Exchange
  names it (a Windows zone name); 403 without ``MailboxSettings.Read``, 404 without a mailbox.
- ``GET /users/{id}/onlineMeetings/{meetingId}`` and ``?$filter=JoinWebUrl eq '{url}'``
  ("Get onlineMeeting"); meeting ids are base64 of ``1*{organizer}*0**{thread id}`` as
  Teams makes them.
- ``.../transcripts``, ``.../transcripts/{id}``, ``/content`` (``text/vtt``; ``$format`` other
  than ``text/vtt`` is refused), ``/metadataContent`` ("Get callTranscript"), and
  ``.../recordings``, ``/content`` (``video/mp4``) ("Get callRecording"). Content downloads are
  metered APIs: with ``billing_enabled`` false they answer 402 ``PaymentRequired``.
- ``GET /users/{id}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{id}',
  startDateTime=...,endDateTime=...)`` and its ``/delta`` ("onlineMeeting: getAllTranscripts",
  "callTranscript: delta"): ``page_size`` items a page, ``@odata.nextLink`` with
  ``$skiptoken``, and at the end of a delta round an ``@odata.deltaLink`` whose
  ``$deltatoken`` returns only the transcripts added after it was issued.
- ``POST/GET /subscriptions``, ``GET/PATCH/DELETE /subscriptions/{id}``,
  ``POST /subscriptions/{id}/reauthorize`` ("subscription resource type", "Create
  subscription"): creation validates the notification URL, and the lifecycle URL, as Graph
  does ("Receive change notifications through webhooks"): ``POST {url}?validationToken=...``
  (``text/plain``), to be answered ``200`` with exactly the token within 10 seconds. Graph's
  limits for transcript and recording resources hold: expiration at most 4320 minutes away,
  ``lifecycleNotificationUrl`` required beyond one hour ("Get change notifications for
  meeting transcripts and recordings"), ``clientState`` at most 128 characters, https
  notification URLs (http is let through for loopback hosts only, so tests need no TLS).

- ``GET /users/{id}/calendarView`` ("List calendarView"): ``calendar`` (``graph_calendar.py``)
  holds every user's events; ``calendar.granted`` false is an app without ``Calendars.Read``.

- ``GET /{tenant}/discovery/v2.0/keys`` (``jwks_url``): the Microsoft identity platform's
  token-signing keys as a JWKS, the key that signs rich notifications' validation tokens.

``change_notification()`` and ``lifecycle_notification()`` build the notification collections
Graph posts for a transcript or recording and for a subscription's lifecycle, as documented
(resource ``communications/onlineMeetings('{meeting}')/transcripts('{id}')``, resource data
``#Microsoft.Graph.callTranscript``); ``rich_change_notification()`` the one with resource data
("Set up change notifications that include resource data"): the ``callTranscript`` encrypted to
the subscription's certificate, and ``validationTokens`` signed by the key in the JWKS.
``send()`` posts one the way Graph does. Every request is
recorded; ``fail_next()`` makes matching calls answer a Graph error with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import shutil
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from graph.types import MeetingRef
from tests.fakes.graph_calendar import Calendars
from tests.fakes.graph_support import (
    DEFAULT_ERRORS,
    EVALUATION_EXCEEDED,
    VALIDATION_TIMEOUT,
    InjectedFailure,
    Keys,
    MediaItem,
    MeetingRecord,
    PageCursor,
    Recorded,
    WebhookEndpoint,
    aad_error,
    assertion_problem,
    default_metadata,
    encrypt_resource,
    expiration_problem,
    function_args,
    graph_error,
    graph_time,
    make_keys,
    page_type,
    parse_body,
    parse_time,
    signing_jwk,
    subscription_problem,
    tampered,
    validate_endpoint,
    validation_token,
)

__all__ = ["GRAPH_SCOPE", "FakeGraph", "Recorded", "WebhookEndpoint"]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_ORGANIZER_FILTER = re.compile(r"MeetingOrganizer/User/Id\s+eq\s+'(?P<id>(?:[^']|'')*)'", re.I)
_JOIN_URL_FILTER = re.compile(r"^\s*JoinWebUrl\s+eq\s+'(?P<url>(?:[^']|'')*)'\s*$", re.I)


class FakeGraph:
    """Graph v1.0 and the Entra token endpoint on 127.0.0.1:0; see the module docstring.

    Use ``async with FakeGraph() as graph:``. Point msgraph-sdk at ``base_url`` and an
    azure-identity credential at ``authority`` (trusting ``ca_file``) for ``tenant_id``,
    ``client_id`` with ``client_secret`` or the certificate at ``client_certificate_path``.
    """

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        client_id: str = "5d6c1f3e-8a2b-4c7d-9e0f-1a2b3c4d5e6f",
        client_secret: str = "fake-graph-secret",  # noqa: S107 - the fake's own test credential
        page_size: int = 10,
        token_lifetime: int = 3600,
        validation_timeout: float = VALIDATION_TIMEOUT,
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.validation_timeout = validation_timeout
        self.service_principal_id = str(uuid.uuid4())
        self.billing_enabled = True
        self.requests: list[Recorded] = []
        self.downloads: Counter[str] = Counter()
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.validations: list[tuple[str, int, str]] = []
        self.sent: list[tuple[str, int, float]] = []
        self.tokens_issued = 0
        self._access_tokens: dict[str, float] = {}
        self._failures: list[InjectedFailure] = []
        self._garbled: list[str] = []
        self._meetings: dict[str, MeetingRecord] = {}
        # A user's mailbox time zone, as Exchange names it ("Pacific Standard Time").
        self.mailbox_zones: dict[str, str] = {}
        # Whether the app was granted MailboxSettings.Read.
        self.mailbox_settings_granted = True
        self.calendar = Calendars()
        self._media: dict[str, MediaItem] = {}
        self._cursors: dict[str, PageCursor] = {}
        self._seq = 0
        self._keys: Keys | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.root_url = ""
        self.https_root_url = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeGraph:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> str:
        self._keys = await asyncio.to_thread(make_keys)
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._jwks)
        app.router.add_get("/v1.0/users/{uid}/mailboxSettings", self._mailbox_settings)
        app.router.add_get("/v1.0/users/{uid}/calendarView", self._calendar_view)
        users = "/v1.0/users/{uid}/onlineMeetings"
        app.router.add_get(users, self._find_meetings)
        function = r"{fn:getAllTranscripts\([^/]*\)}"
        app.router.add_get(f"{users}/{function}", self._all_transcripts)
        app.router.add_get(f"{users}/{function}/delta", self._all_transcripts_delta)
        meeting = f"{users}/{{mid}}"
        app.router.add_get(meeting, self._meeting)
        for kind in ("transcripts", "recordings"):
            app.router.add_get(f"{meeting}/{kind}", self._list_media)
            app.router.add_get(f"{meeting}/{kind}/{{item}}", self._one_media)
            app.router.add_get(f"{meeting}/{kind}/{{item}}/content", self._content)
        app.router.add_get(f"{meeting}/transcripts/{{item}}/metadataContent", self._metadata)
        app.router.add_post("/v1.0/subscriptions", self._create_subscription)
        app.router.add_get("/v1.0/subscriptions", self._list_subscriptions)
        app.router.add_get("/v1.0/subscriptions/{sid}", self._get_subscription)
        app.router.add_patch("/v1.0/subscriptions/{sid}", self._update_subscription)
        app.router.add_delete("/v1.0/subscriptions/{sid}", self._delete_subscription)
        app.router.add_post("/v1.0/subscriptions/{sid}/reauthorize", self._reauthorize)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.root_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self._keys.ca_file, self._keys.server_key)
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls).start()
        self.https_root_url = f"https://127.0.0.1:{self._runner.addresses[1][1]}"
        self._http = aiohttp.ClientSession()
        return self.base_url

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._keys is not None:
            shutil.rmtree(self._keys.directory, ignore_errors=True)
            self._keys = None

    @property
    def base_url(self) -> str:
        """Graph's root over http, version included: the SDK adapter's ``base_url``."""
        return f"{self.root_url}/v1.0"

    @property
    def https_base_url(self) -> str:
        return f"{self.https_root_url}/v1.0"

    @property
    def authority(self) -> str:
        """The identity platform's host for azure-identity (https, trusting ``ca_file``)."""
        return self.https_root_url

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def jwks_url(self) -> str:
        """The identity platform's signing keys (``SMARTNOTES_GRAPH__JWKS_URL``)."""
        return f"{self.root_url}/common/discovery/v2.0/keys"

    @property
    def ca_file(self) -> Path:
        return self._started().ca_file

    @property
    def client_certificate_path(self) -> Path:
        """PEM with the app's private key and the certificate registered for it."""
        return self._started().client_certificate

    def _started(self) -> Keys:
        if self._keys is None:
            raise RuntimeError("FakeGraph is not started; use `async with`")
        return self._keys

    # -- test controls ---------------------------------------------------------------------

    def add_meeting(
        self,
        organizer_id: str,
        meeting_id: str | None = None,
        *,
        attendees: list[tuple[str, str | None, str | None]] | None = None,
        organizer_upn: str | None = None,
        organizer_name: str | None = None,
        subject: str | None = "Customer call",
        join_url: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> MeetingRef:
        """An online meeting ``organizer_id`` organizes. ``attendees`` are ``(user id, upn,
        display name)``. The id, when not given, is made the way Teams makes it."""
        thread = f"19:meeting_{secrets.token_urlsafe(36)}@thread.v2"
        if meeting_id is None:
            raw = f"1*{organizer_id}*0**{thread}".encode()
            meeting_id = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        ends = end or datetime.now(UTC).replace(microsecond=0)
        starts = start or ends - timedelta(minutes=30)
        context = json.dumps({"Tid": self.tenant_id, "Oid": organizer_id}, separators=(",", ":"))
        ref = MeetingRef(organizer_id, meeting_id)
        self._meetings[meeting_id] = MeetingRecord(
            ref=ref,
            organizer=(organizer_id, organizer_upn, organizer_name),
            attendees=list(attendees or []),
            subject=subject,
            join_url=join_url
            or f"https://teams.microsoft.com/l/meetup-join/{quote(thread, safe='')}/0"
            f"?context={quote(context, safe='')}",
            thread_id=thread,
            start=starts,
            end=ends,
            created=starts - timedelta(days=1),
        )
        return ref

    def add_transcript(
        self,
        ref: MeetingRef,
        vtt: str,
        *,
        transcript_id: str | None = None,
        created: datetime | None = None,
        metadata: str | None = None,
    ) -> str:
        """A transcript of the meeting, available from now on; returns its id."""
        item = self._add_media("transcript", ref, vtt.encode(), transcript_id, created)
        item.metadata = metadata.encode() if metadata is not None else default_metadata(vtt)
        return item.id

    def add_recording(
        self,
        ref: MeetingRef,
        mp4: bytes,
        *,
        recording_id: str | None = None,
        created: datetime | None = None,
    ) -> str:
        return self._add_media("recording", ref, mp4, recording_id, created).id

    def _add_media(
        self,
        kind: Literal["transcript", "recording"],
        ref: MeetingRef,
        content: bytes,
        item_id: str | None,
        created: datetime | None,
    ) -> MediaItem:
        meeting = self._meetings.get(ref.meeting_id)
        if meeting is None:
            raise KeyError(f"no meeting {ref.meeting_id!r} in the fake; add_meeting first")
        self._seq += 1
        if item_id is None:
            raw = f"1##0##{uuid.uuid4()}##{kind}".encode()
            item_id = base64.urlsafe_b64encode(raw).decode()
        made = created or datetime.now(UTC)
        item = MediaItem(
            kind=kind,
            id=item_id,
            ref=meeting.ref,
            content=content,
            created=made,
            end=made + timedelta(minutes=30),
            seq=self._seq,
            call_id=str(uuid.uuid4()),
            correlation_id=str(uuid.uuid4()),
        )
        self._media[item_id] = item
        return item

    def fail_next(
        self,
        path_contains: str,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next ``times`` Graph calls whose path contains ``path_contains`` answer
        ``status`` with Graph's error body (and ``Retry-After`` when given)."""
        default_code, default_message = DEFAULT_ERRORS.get(status, ("UnknownError", "Error."))
        failure = InjectedFailure(
            path_contains,
            status,
            retry_after,
            times,
            code or default_code,
            message or default_message,
        )
        self._failures.append(failure)

    def garble_next(self, path_contains: str) -> None:
        """The next Graph call whose path contains ``path_contains`` answers 200 with JSON that
        is not what Graph sends (a broken proxy, a changed API): a reader's bug, not an error
        Graph reported."""
        self._garbled.append(path_contains)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working: the next Graph call with one gets 401."""
        for token in self._access_tokens:
            self._access_tokens[token] = 0.0

    def join_url(self, ref: MeetingRef) -> str:
        """The meeting's join URL, as Teams hands it to the bot in ``meetingEnd``."""
        return self._meetings[ref.meeting_id].join_url

    def calls(self, method: str | None = None, *, contains: str = "") -> list[Recorded]:
        """Recorded Graph calls (``/v1.0/...``), optionally by method and a part of the path."""
        return [
            r
            for r in self.requests
            if r.path.startswith("/v1.0/")
            and (method is None or r.method == method.upper())
            and contains in r.path
        ]

    # -- notifications Graph posts ---------------------------------------------------------

    def change_notification(
        self,
        item_id: str,
        subscription_id: str,
        client_state: str | None,
        *,
        tenant_id: str | None = None,
        change_type: str = "created",
    ) -> dict[str, Any]:
        """The collection Graph posts when a transcript (or recording) is available, without
        resource data, as "Get change notifications for meeting transcripts and recordings"
        shows it."""
        item = self._media[item_id]
        plural = "transcripts" if item.kind == "transcript" else "recordings"
        kind = "callTranscript" if item.kind == "transcript" else "callRecording"
        resource = f"communications/onlineMeetings('{item.ref.meeting_id}')/{plural}('{item.id}')"
        notification = {
            "subscriptionId": subscription_id,
            "changeType": change_type,
            "tenantId": tenant_id or self.tenant_id,
            "clientState": client_state,
            "subscriptionExpirationDateTime": self._expiry_of(subscription_id),
            "resource": resource,
            "resourceData": {
                "id": item.id,
                "@odata.type": f"#Microsoft.Graph.{kind}",
                "@odata.id": resource,
            },
        }
        return {"value": [notification]}

    def lifecycle_notification(
        self,
        subscription_id: str,
        event: str,
        client_state: str | None,
        *,
        tenant_id: str | None = None,
    ) -> dict[str, Any]:
        """A lifecycle notification (``reauthorizationRequired``, ``subscriptionRemoved``,
        ``missed``) as "Reduce missing subscriptions and change notifications" shows it."""
        return {
            "value": [
                {
                    "subscriptionId": subscription_id,
                    "subscriptionExpirationDateTime": self._expiry_of(subscription_id),
                    "tenantId": tenant_id or self.tenant_id,
                    "clientState": client_state,
                    "lifecycleEvent": event,
                }
            ]
        }

    def rich_change_notification(
        self,
        item_id: str,
        subscription_id: str,
        client_state: str | None,
        *,
        tamper: str | None = None,
        token_audience: str | None = None,
        token_key: rsa.RSAPrivateKey | None = None,
        with_tokens: bool = True,
    ) -> dict[str, Any]:
        """``change_notification()`` as a subscription with ``includeResourceData`` gets it:
        the item's resource encrypted to the subscription's certificate, and a validation token
        for the app, signed by the key in the JWKS. ``tamper`` flips a bit of ``data``,
        ``dataSignature`` or ``dataKey``; ``token_audience`` and ``token_key`` make the token
        for another app or sign it with another key (under the JWKS key's kid)."""
        stored = self.subscriptions.get(subscription_id)
        if stored is None or not stored["includeResourceData"]:
            raise KeyError(f"subscription {subscription_id!r} does not include resource data")
        certificate = x509.load_der_x509_certificate(
            base64.b64decode(stored["encryptionCertificate"])
        )
        collection = self.change_notification(item_id, subscription_id, client_state)
        content = encrypt_resource(
            self._media_json(self._media[item_id]),
            certificate,
            certificate_id=str(stored["encryptionCertificateId"]),
        )
        collection["value"][0]["encryptedContent"] = (
            content if tamper is None else tampered(content, tamper)
        )
        if with_tokens:
            keys = self._started()
            collection["validationTokens"] = [
                validation_token(
                    token_key or keys.signing_key,
                    kid=keys.signing_kid,
                    app_id=token_audience or self.client_id,
                    tenant_id=self.tenant_id,
                )
            ]
        return collection

    def _expiry_of(self, subscription_id: str) -> str:
        stored = self.subscriptions.get(subscription_id)
        if stored is not None:
            return str(stored["expirationDateTime"])
        return graph_time(datetime.now(UTC) + timedelta(days=1))

    async def send(self, url: str, payload: Mapping[str, Any]) -> tuple[int, float]:
        """POST a notification collection to ``url`` as Graph does; returns the status and
        the seconds the endpoint took to answer (Graph wants it under three)."""
        http = self._client()
        started = time.monotonic()
        async with http.post(
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as response:
            await response.read()
            elapsed = time.monotonic() - started
            self.sent.append((url, response.status, elapsed))
            return response.status, elapsed

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("FakeGraph is not started; use `async with`")
        return self._http

    # -- the gate: recording, tokens, injected failures ------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        entry = Recorded(
            at=time.monotonic(),
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=parse_body(request.content_type, raw),
            authorization=request.headers.get("Authorization"),
            accept=request.headers.get("Accept"),
        )
        self.requests.append(entry)
        response: web.StreamResponse
        try:
            if not request.path.startswith("/v1.0/"):
                response = await handler(request)
            elif (refused := self._refuse_token(entry.authorization)) is not None:
                response = graph_error(401, "InvalidAuthenticationToken", refused)
            elif any(part in request.path for part in self._garbled):
                self._garbled.remove(next(p for p in self._garbled if p in request.path))
                response = web.json_response({"id": 42, "startDateTime": {"no": "date"}})
            elif (failure := self._take_failure(request.path)) is not None:
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                response = graph_error(failure.status, failure.code, failure.message, headers)
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            entry.status = exc.status
            raise
        entry.status = response.status
        return response

    def _refuse_token(self, header: str | None) -> str | None:
        scheme, _, token = (header or "").partition(" ")
        if not token:
            return "Access token is empty."
        if scheme.lower() != "bearer":
            return "Access token validation failure. Invalid audience."
        expires = self._access_tokens.get(token)
        if expires is None:
            return "Access token validation failure."
        if expires <= time.monotonic():
            return "Lifetime validation failed, the token is expired."
        return None

    def _take_failure(self, path: str) -> InjectedFailure | None:
        for failure in self._failures:
            if failure.contains in path and failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                return failure
        return None

    # -- the token endpoint and signing keys ----------------------------------------------

    async def _jwks(self, request: web.Request) -> web.Response:
        keys = self._started()
        return web.json_response({"keys": [signing_jwk(keys.signing_key, keys.signing_kid)]})

    async def _token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if request.content_type != "application/x-www-form-urlencoded":
            return aad_error(
                400, "invalid_request", 900144, "The request body must be form-encoded."
            )
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400, "unsupported_grant_type", 70003, "The grant type is not supported."
            )
        if form.get("client_id") != self.client_id:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{self.tenant_id}'.",
            )
        refused = self._refuse_client(form, str(request.url.with_query(None)))
        if refused is not None:
            return refused
        if form.get("scope") != GRAPH_SCOPE:
            return aad_error(
                400,
                "invalid_scope",
                70011,
                f"The provided scope '{form.get('scope')}' is not valid.",
            )
        token = secrets.token_urlsafe(48)
        self._access_tokens[token] = time.monotonic() + self.token_lifetime
        self.tokens_issued += 1
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    def _refuse_client(self, form: Mapping[str, str], token_url: str) -> web.Response | None:
        if "client_assertion" not in form:
            if form.get("client_secret") == self.client_secret:
                return None
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("client_assertion_type") != JWT_BEARER:
            return aad_error(
                400, "invalid_request", 700027, "Client assertion type is not supported."
            )
        problem = assertion_problem(
            form["client_assertion"], self._started(), self.client_id, token_url
        )
        if problem is not None:
            return aad_error(
                401, "invalid_client", 700027, f"Client assertion failed validation. {problem}"
            )
        return None

    # -- meetings --------------------------------------------------------------------------

    def _person(self, who: tuple[str, str | None, str | None], role: str) -> dict[str, Any]:
        user_id, upn, name = who
        return {
            "upn": upn,
            "role": role,
            "identity": {
                "application": None,
                "device": None,
                "user": {
                    "id": user_id,
                    "displayName": name,
                    "tenantId": self.tenant_id,
                    "identityProvider": "AAD",
                },
            },
        }

    def _meeting_json(self, meeting: MeetingRecord) -> dict[str, Any]:
        return {
            "id": meeting.ref.meeting_id,
            "creationDateTime": graph_time(meeting.created),
            "startDateTime": graph_time(meeting.start),
            "endDateTime": graph_time(meeting.end),
            "joinWebUrl": meeting.join_url,
            "subject": meeting.subject,
            "isBroadcast": False,
            "allowedPresenters": "everyone",
            "chatInfo": {"threadId": meeting.thread_id, "messageId": "0"},
            "participants": {
                "organizer": self._person(meeting.organizer, "presenter"),
                "attendees": [self._person(a, "attendee") for a in meeting.attendees],
            },
        }

    async def _mailbox_settings(self, request: web.Request) -> web.Response:
        if not self.mailbox_settings_granted:
            return graph_error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        user = request.match_info["uid"]
        zone = self.mailbox_zones.get(user)
        if zone is None:
            return graph_error(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        return web.json_response(
            {
                "@odata.context": f"{self.base_url}/$metadata#users('{user}')/mailboxSettings",
                "timeZone": zone,
                "dateFormat": "M/d/yyyy",
                "timeFormat": "h:mm tt",
                "language": {"locale": "en-US", "displayName": "English (United States)"},
            }
        )

    async def _calendar_view(self, request: web.Request) -> web.Response:
        return await self.calendar.view(request, self.base_url)

    def _owned(self, request: web.Request) -> MeetingRecord | web.Response:
        meeting = self._meetings.get(request.match_info["mid"])
        if meeting is None or meeting.ref.organizer_id != request.match_info["uid"]:
            return graph_error(404, "NotFound", "The requested online meeting was not found.")
        return meeting

    async def _meeting(self, request: web.Request) -> web.Response:
        meeting = self._owned(request)
        if isinstance(meeting, web.Response):
            return meeting
        body = {
            "@odata.context": f"{self.base_url}/$metadata#users('{meeting.ref.organizer_id}')"
            "/onlineMeetings/$entity",
            **self._meeting_json(meeting),
        }
        return web.json_response(body)

    async def _find_meetings(self, request: web.Request) -> web.Response:
        # Listing a user's meetings is only possible with a JoinWebUrl filter.
        match = _JOIN_URL_FILTER.match(request.query.get("$filter", ""))
        if match is None:
            return graph_error(
                400, "InvalidArgument", "Filter by JoinWebUrl is required to list online meetings."
            )
        wanted = match["url"].replace("''", "'")
        user = request.match_info["uid"]
        found = [
            self._meeting_json(m)
            for m in self._meetings.values()
            if m.join_url == wanted and m.ref.organizer_id == user
        ]
        return web.json_response(
            {
                "@odata.context": f"{self.base_url}/$metadata#users('{user}')/onlineMeetings",
                "value": found,
            }
        )

    # -- transcripts and recordings --------------------------------------------------------

    def _media_json(self, item: MediaItem) -> dict[str, Any]:
        plural = "transcripts" if item.kind == "transcript" else "recordings"
        kind = "callTranscript" if item.kind == "transcript" else "callRecording"
        url = (
            f"{self.base_url}/users/{item.ref.organizer_id}/onlineMeetings/"
            f"{item.ref.meeting_id}/{plural}/{item.id}/content"
        )
        return {
            "@odata.type": f"#microsoft.graph.{kind}",
            "id": item.id,
            "meetingId": item.ref.meeting_id,
            "callId": item.call_id,
            "contentCorrelationId": item.correlation_id,
            f"{item.kind}ContentUrl": url,
            "createdDateTime": graph_time(item.created),
            "endDateTime": graph_time(item.end),
            "meetingOrganizer": {
                "application": None,
                "device": None,
                "user": {
                    "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                    "id": item.ref.organizer_id,
                    "displayName": None,
                    "userIdentityType": "aadUser",
                    "tenantId": self.tenant_id,
                },
            },
        }

    def _kind_of(self, request: web.Request) -> Literal["transcript", "recording"]:
        # The route's template, not the path: ids are the caller's to choose.
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        return "transcript" if "/transcripts" in template else "recording"

    def _item(self, request: web.Request) -> MediaItem | web.Response:
        meeting = self._owned(request)
        if isinstance(meeting, web.Response):
            return meeting
        item = self._media.get(request.match_info["item"])
        if item is None or item.kind != self._kind_of(request) or item.ref != meeting.ref:
            return graph_error(
                404, "NotFound", f"The requested {self._kind_of(request)} was not found."
            )
        return item

    async def _list_media(self, request: web.Request) -> web.Response:
        meeting = self._owned(request)
        if isinstance(meeting, web.Response):
            return meeting
        kind = self._kind_of(request)
        items = [m for m in self._media.values() if m.kind == kind and m.ref == meeting.ref]
        return self._page(request, items, delta=False, cursor=None)

    async def _one_media(self, request: web.Request) -> web.Response:
        item = self._item(request)
        if isinstance(item, web.Response):
            return item
        return web.json_response(self._media_json(item))

    async def _content(self, request: web.Request) -> web.Response:
        item = self._item(request)
        if isinstance(item, web.Response):
            return item
        if not self.billing_enabled:
            return graph_error(402, "PaymentRequired", EVALUATION_EXCEEDED)
        if item.kind == "recording":
            self.downloads[item.id] += 1
            return web.Response(body=item.content, content_type="video/mp4")
        wanted = request.query.get("$format")
        if wanted is not None and wanted != "text/vtt":
            return graph_error(400, "BadRequest", f"The format '{wanted}' is not supported.")
        self.downloads[item.id] += 1
        return web.Response(body=item.content, content_type="text/vtt", charset="utf-8")

    async def _metadata(self, request: web.Request) -> web.Response:
        item = self._item(request)
        if isinstance(item, web.Response):
            return item
        if not self.billing_enabled:
            return graph_error(402, "PaymentRequired", EVALUATION_EXCEEDED)
        return web.Response(body=item.metadata, content_type="text/vtt", charset="utf-8")

    # -- getAllTranscripts and its delta ---------------------------------------------------

    async def _all_transcripts(self, request: web.Request) -> web.Response:
        return self._organizer_transcripts(request, delta=False)

    async def _all_transcripts_delta(self, request: web.Request) -> web.Response:
        return self._organizer_transcripts(request, delta=True)

    def _organizer_transcripts(self, request: web.Request, *, delta: bool) -> web.Response:
        token = (
            request.query.get("$skiptoken")
            or request.query.get("skipToken")
            or request.query.get("$deltatoken")
            or request.query.get("deltaToken")
        )
        if token is not None:
            cursor = self._cursors.get(token)
            if cursor is None:
                return graph_error(400, "BadRequest", "The skip or delta token is not valid.")
        else:
            started = self._new_cursor(request)
            if isinstance(started, web.Response):
                return started
            cursor = started
        upto = cursor.upto if cursor.upto is not None else self._seq
        items = [
            m
            for m in self._media.values()
            if m.kind == "transcript"
            and m.ref.organizer_id == cursor.organizer
            and cursor.after < m.seq <= upto
            and (cursor.start is None or m.created >= cursor.start)
            and (cursor.end is None or m.created <= cursor.end)
        ]
        return self._page(request, items, delta=delta, cursor=cursor)

    def _new_cursor(self, request: web.Request) -> PageCursor | web.Response:
        args = function_args(request.match_info["fn"], request.query) or {}
        organizer = args.get("meetingOrganizerUserId")
        if organizer is None:
            by_filter = _ORGANIZER_FILTER.search(request.query.get("$filter", ""))
            organizer = by_filter["id"].replace("''", "'") if by_filter else None
        if not organizer:
            return graph_error(
                400,
                "BadRequest",
                "The function parameter meetingOrganizerUserId (or a filter on "
                "MeetingOrganizer/User/Id) is required.",
            )
        window: dict[str, datetime | None] = {}
        for name in ("startDateTime", "endDateTime"):
            raw = args.get(name)
            window[name] = parse_time(raw) if raw else None
            if raw and window[name] is None:
                return graph_error(400, "BadRequest", f"'{raw}' is not a valid {name}.")
        return PageCursor(
            organizer, window["startDateTime"], window["endDateTime"], after=0, upto=None, offset=0
        )

    def _page(
        self,
        request: web.Request,
        items: list[MediaItem],
        *,
        delta: bool,
        cursor: PageCursor | None,
    ) -> web.Response:
        """One page of ``items`` in the order they were added, with the link to what's next."""
        items.sort(key=lambda m: m.seq)
        size = int(request.query.get("$top") or self.page_size)
        if cursor is None:
            token = request.query.get("$skiptoken")
            known = self._cursors.get(token) if token else None
            cursor = known or PageCursor("", None, None, after=0, upto=None, offset=0)
        upto = cursor.upto if cursor.upto is not None else self._seq
        page = items[cursor.offset : cursor.offset + size]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#Collection({page_type(items)})",
            "value": [self._media_json(m) for m in page],
        }
        if cursor.offset + size < len(items):
            following = PageCursor(
                cursor.organizer, cursor.start, cursor.end, cursor.after, upto, cursor.offset + size
            )
            body["@odata.nextLink"] = self._link(request, "$skiptoken", following)
        elif delta:
            # A new round starts after everything this one covered.
            following = PageCursor(cursor.organizer, cursor.start, cursor.end, upto, None, 0)
            body["@odata.deltaLink"] = self._link(request, "$deltatoken", following)
        return web.json_response(body)

    def _link(self, request: web.Request, name: str, cursor: PageCursor) -> str:
        token = secrets.token_urlsafe(24)
        self._cursors[token] = cursor
        return str(request.url.with_query({name: token}))

    # -- subscriptions ---------------------------------------------------------------------

    def _subscription_json(self, stored: Mapping[str, Any], *, with_state: bool) -> dict[str, Any]:
        shown = dict(stored)
        if not with_state:
            # Graph returns the clientState only in the answer to the create request.
            shown["clientState"] = None
        shown.pop("reauthorized", None)
        return shown

    async def _create_subscription(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return graph_error(400, "BadRequest", "The request body is not JSON.")
        if not isinstance(body, dict):
            return graph_error(400, "BadRequest", "The request body is not a JSON object.")
        problem = subscription_problem(body)
        if problem is not None:
            return graph_error(400, "InvalidRequest", problem)
        expiration = parse_time(str(body["expirationDateTime"])) or datetime.now(UTC)
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if body.get(key):
                failed, seen = await validate_endpoint(
                    self._client(), str(body[key]), self.validation_timeout
                )
                self.validations.append(seen)
                if failed is not None:
                    return graph_error(400, "ValidationError", failed)
        subscription_id = str(uuid.uuid4())
        stored = {
            "@odata.context": f"{self.base_url}/$metadata#subscriptions/$entity",
            "id": subscription_id,
            "resource": body["resource"],
            "applicationId": self.client_id,
            "changeType": body["changeType"],
            "clientState": body.get("clientState"),
            "notificationUrl": body["notificationUrl"],
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
            "expirationDateTime": graph_time(expiration),
            "creatorId": self.service_principal_id,
            "includeResourceData": bool(body.get("includeResourceData")),
            "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion") or "v1_2",
            "encryptionCertificate": body.get("encryptionCertificate"),
            "encryptionCertificateId": body.get("encryptionCertificateId"),
            "notificationUrlAppId": None,
            "reauthorized": 0,
        }
        self.subscriptions[subscription_id] = stored
        return web.json_response(self._subscription_json(stored, with_state=True), status=201)

    def _stored(self, request: web.Request) -> dict[str, Any] | web.Response:
        stored = self.subscriptions.get(request.match_info["sid"])
        if stored is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        return stored

    async def _list_subscriptions(self, request: web.Request) -> web.Response:
        shown = [self._subscription_json(s, with_state=False) for s in self.subscriptions.values()]
        return web.json_response(
            {"@odata.context": f"{self.base_url}/$metadata#subscriptions", "value": shown}
        )

    async def _get_subscription(self, request: web.Request) -> web.Response:
        stored = self._stored(request)
        if isinstance(stored, web.Response):
            return stored
        return web.json_response(self._subscription_json(stored, with_state=False))

    async def _update_subscription(self, request: web.Request) -> web.Response:
        stored = self._stored(request)
        if isinstance(stored, web.Response):
            return stored
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return graph_error(400, "BadRequest", "The request body is not JSON.")
        if not isinstance(body, dict) or not body.get("expirationDateTime"):
            return graph_error(
                400, "InvalidRequest", "The property 'expirationDateTime' is required."
            )
        problem = expiration_problem(
            body["expirationDateTime"],
            str(stored["resource"]),
            str(stored.get("lifecycleNotificationUrl") or ""),
        )
        if problem is not None:
            return graph_error(400, "InvalidRequest", problem)
        expiration = parse_time(str(body["expirationDateTime"])) or datetime.now(UTC)
        stored["expirationDateTime"] = graph_time(expiration)
        return web.json_response(self._subscription_json(stored, with_state=False))

    async def _delete_subscription(self, request: web.Request) -> web.Response:
        stored = self._stored(request)
        if isinstance(stored, web.Response):
            return stored
        del self.subscriptions[stored["id"]]
        return web.Response(status=204)

    async def _reauthorize(self, request: web.Request) -> web.Response:
        stored = self._stored(request)
        if isinstance(stored, web.Response):
            return stored
        stored["reauthorized"] += 1
        return web.Response(status=204)
