"""Microsoft Graph for Smart Notes: online meetings, their transcripts and recordings, and
change-notification subscriptions, over msgraph-sdk.

What comes back are the plain values of :mod:`graph.types`, never the SDK's models. What is
raised is always a :class:`~graph.types.GraphError`, translated here from the SDK's
``APIError``/``ODataError``, httpx's transport errors and azure-identity's errors::

    GraphError(status, code, message)   any other failure; status 0 and code "unreachable"
     │                                  when Graph or the token endpoint cannot be reached
     ├── GraphNotFoundError             404
     ├── GraphPaymentRequiredError      402: transcript and recording content are metered
     │                                  APIs, and the app registration has no billing
     ├── GraphAuthError                 401/403, or a token the identity platform refused
     └── GraphThrottledError            429/503 still answered after the retries

Requests go through the SDK's own middleware chain (the one ``GraphClientFactory`` builds),
so 429, 503 and 504 are retried by kiota's ``RetryHandler`` honouring ``Retry-After``, within
the limits given to :class:`GraphClient`. 402 is not a retryable status: it never is retried.

The requests, as Microsoft documents them for v1.0 (https://learn.microsoft.com/graph/api/):

- ``GET /users/{organizer}/onlineMeetings/{meeting}`` (onlinemeeting-get), and
  ``GET /users/{user}/onlineMeetings?$filter=JoinWebUrl eq '{url}'``;
- ``GET .../onlineMeetings/{meeting}/transcripts``, ``.../transcripts/{id}/content`` with
  ``Accept: text/vtt``, ``.../transcripts/{id}/metadataContent`` (calltranscript-get);
- ``GET .../onlineMeetings/{meeting}/recordings`` and ``.../recordings/{id}/content``
  (callrecording-get);
- ``GET /users/{organizer}/onlineMeetings/getAllTranscripts(meetingOrganizerUserId='{id}',
  startDateTime={t})/delta``, then every ``@odata.nextLink`` up to the ``@odata.deltaLink``
  (calltranscript-delta);
- ``GET /users/{id}/calendarView?startDateTime={t}&endDateTime={t}`` with ``$select`` and
  ``Prefer: outlook.timezone``, every ``@odata.nextLink`` followed (user-list-calendarview);
- ``POST /subscriptions``, ``PATCH``/``DELETE /subscriptions/{id}``,
  ``POST /subscriptions/{id}/reauthorize``, ``GET /subscriptions`` (subscription-*).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import (
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    KiotaClientFactory,
)
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.call_recording import CallRecording
from msgraph.generated.models.call_transcript import CallTranscript
from msgraph.generated.models.meeting_participant_info import MeetingParticipantInfo
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.online_meeting import OnlineMeeting
from msgraph.generated.models.subscription import Subscription as SdkSubscription
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.online_meetings.item.online_meeting_item_request_builder import (
    OnlineMeetingItemRequestBuilder,
)
from msgraph.generated.users.item.online_meetings.item.transcripts.delta.delta_request_builder import (  # noqa: E501
    DeltaRequestBuilder,
)
from msgraph.generated.users.item.online_meetings.online_meetings_request_builder import (
    OnlineMeetingsRequestBuilder,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_request_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption
from tzlocal.windows_tz import win_tz

from graph.calendar import EVENT_FIELDS, PREFER_UTC, calendar_event, graph_window
from graph.types import (
    CalendarEvent,
    GraphAuthError,
    GraphError,
    GraphNotFoundError,
    GraphPaymentRequiredError,
    GraphThrottledError,
    Meeting,
    MeetingRef,
    NewSubscription,
    Person,
    Recording,
    Subscription,
    Transcript,
    TranscriptDelta,
)

__all__ = ["DEFAULT_BASE_URL", "GRAPH_SCOPE", "METERED_API_HINT", "GraphClient"]

_T = TypeVar("_T")
_CalendarQuery = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
METERED_API_HINT = (
    "metered Graph API: link an Azure subscription to the app registration for billing "
    "(a Microsoft.GraphServices/accounts resource, "
    "https://learn.microsoft.com/graph/metered-api-setup)"
)
# http is accepted for these hosts only, as kiota's token provider accepts it: a local server.
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_THROTTLED = frozenset({429, 503})


class _BoundedRetryHandler(RetryHandler):
    """kiota's retry handler, with a ceiling on each wait.

    The SDK sleeps through any ``Retry-After`` however long; a wait over ``max_delay`` here
    ends the retries instead, so the caller gets :class:`GraphThrottledError` carrying the
    wait Graph asked for and can schedule the work rather than hold a task for minutes.
    """

    def __init__(self, options: RetryHandlerOption, max_delay: float) -> None:
        super().__init__(options)
        self._max_delay = max_delay

    def get_delay_time(
        self,
        retry_count: int,
        response: httpx.Response | None = None,
        delay: float = RetryHandlerOption.DEFAULT_DELAY,
    ) -> float:
        wanted = float(super().get_delay_time(retry_count, response, delay))
        # MAX_DELAY is the value at which the handler gives up instead of sleeping.
        return wanted if wanted <= self._max_delay else RetryHandlerOption.MAX_DELAY


def _http_client(
    transport: httpx.AsyncHTTPTransport, max_retries: int, max_retry_delay: float
) -> httpx.AsyncClient:
    """An httpx client carrying the SDK's default middleware, with our retry limits."""
    # The timeouts KiotaClientFactory.get_default_client() sets.
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
    )
    # The option's "delay" is added to every backoff rather than capping it: zero keeps the
    # backoff at kiota's 0.5 s * 2**n plus jitter; the ceiling is _BoundedRetryHandler's.
    retry = RetryHandlerOption(delay=0.0, max_retries=max_retries)
    options = {**sdk_request_options, RetryHandlerOption.get_key(): retry}
    chain = [
        _BoundedRetryHandler(retry, max_retry_delay)
        if isinstance(handler, RetryHandler)
        else handler
        for handler in KiotaClientFactory.get_default_middleware(options)
    ]
    telemetry = options.get(GraphTelemetryHandlerOption.get_key())
    if isinstance(telemetry, GraphTelemetryHandlerOption):
        chain.append(GraphTelemetryHandler(options=telemetry))
    else:
        chain.append(GraphTelemetryHandler())
    # msgraph-core ships no type information; the factory returns the client it was given.
    wrapped: httpx.AsyncClient = GraphClientFactory.create_with_custom_middleware(
        chain, client=client
    )
    return wrapped


class GraphClient:
    """The Graph calls Smart Notes makes, with the app's own (application) permissions.

    ``credential`` is any azure-identity async credential (:func:`graph.credentials.
    make_credential` builds one from settings); it is closed with the client unless
    ``close_credential`` is false. ``base_url`` is Graph's root including the version
    (another national cloud's, or a local test server's; http only for a loopback host).
    ``max_retries`` (0 to 10) and ``max_retry_delay`` (seconds, at most 180) bound the
    SDK's retries of 429/503/504; a ``Retry-After`` longer than ``max_retry_delay`` is not
    waited for. ``ca_file`` adds a CA bundle to trust for Graph (a TLS-inspecting proxy).

    Use as ``async with GraphClient(...) as graph:`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        base_url: str = DEFAULT_BASE_URL,
        scopes: Sequence[str] = (GRAPH_SCOPE,),
        max_retries: int = 3,
        max_retry_delay: float = 30.0,
        ca_file: str | Path | None = None,
        close_credential: bool = True,
    ) -> None:
        parts = urlsplit(base_url)
        host = parts.hostname
        if not host or parts.scheme not in ("https", "http"):
            raise ValueError(f"the Graph base URL {base_url!r} is not an http(s) URL")
        if parts.scheme == "http" and host not in _LOOPBACK:
            raise ValueError(f"the Graph base URL {base_url!r} must be https")
        if not 0 <= max_retries <= RetryHandlerOption.MAX_MAX_RETRIES:
            raise ValueError(
                f"max_retries must be 0 to {RetryHandlerOption.MAX_MAX_RETRIES}, not {max_retries}"
            )
        if not 0 <= max_retry_delay <= RetryHandlerOption.MAX_DELAY:
            raise ValueError(
                f"max_retry_delay must be 0 to {RetryHandlerOption.MAX_DELAY:.0f} seconds, "
                f"not {max_retry_delay}"
            )
        self._credential = credential
        self._close_credential = close_credential
        self._base_url = base_url.rstrip("/")
        # Tokens go to Graph's own host only: a nextLink elsewhere gets no Authorization.
        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=list(scopes), allowed_hosts=[host]
        )
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        # Kept to close it ourselves: msgraph-core's AsyncGraphTransport, which wraps it, has
        # no aclose(), so closing the httpx client would leave its connections open.
        self._transport = httpx.AsyncHTTPTransport(http2=True, verify=verify)
        self._http = _http_client(self._transport, max_retries, max_retry_delay)
        self._adapter = GraphRequestAdapter(auth, client=self._http)
        self._adapter.base_url = self._base_url
        self._sdk = GraphServiceClient(request_adapter=self._adapter)

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._transport.aclose()
        if self._close_credential:
            await self._credential.close()

    # -- meetings --------------------------------------------------------------------------

    async def get_meeting(self, ref: MeetingRef) -> Meeting:
        """The meeting with its organizer and attendees (``onlineMeeting: get``)."""
        found = await self._call(self._meeting(ref).get())
        return _meeting(_present(found, f"meeting {ref.meeting_id}"), ref.organizer_id)

    async def find_meeting_by_join_url(self, user_id: str, join_url: str) -> Meeting | None:
        """The meeting ``user_id`` organizes with this join URL, or None when there is none."""
        query = OnlineMeetingsRequestBuilder.OnlineMeetingsRequestBuilderGetQueryParameters(
            filter=f"JoinWebUrl eq '{_odata_string(join_url)}'"
        )
        config = RequestConfiguration[
            OnlineMeetingsRequestBuilder.OnlineMeetingsRequestBuilderGetQueryParameters
        ](query_parameters=query)
        page = await self._call(self._sdk.users.by_user_id(user_id).online_meetings.get(config))
        meetings = (page.value if page is not None else None) or []
        return _meeting(meetings[0], user_id) if meetings else None

    # -- people ----------------------------------------------------------------------------

    async def mailbox_time_zone(self, user_id: str) -> str | None:
        """The user's time zone from their mailbox settings, as an IANA name (Exchange names
        zones the Windows way, "W. Europe Standard Time"); None when unset or unknown.
        Needs ``MailboxSettings.Read``."""
        settings = await self._call(self._sdk.users.by_user_id(user_id).mailbox_settings.get())
        return iana_zone(settings.time_zone if settings is not None else None)

    async def calendar_view(
        self, user_id: str, start: datetime, end: datetime, *, page_size: int = 50
    ) -> list[CalendarEvent]:
        """The events of the user's default calendar that overlap ``start``..``end``, each
        occurrence of a series on its own, every page read; times in UTC (:mod:`graph.calendar`).
        Needs ``Calendars.Read`` (or ``Calendars.ReadBasic``)."""
        builder = self._sdk.users.by_user_id(user_id).calendar_view
        first = RequestConfiguration[_CalendarQuery](
            query_parameters=_CalendarQuery(
                start_date_time=graph_window(start),
                end_date_time=graph_window(end),
                select=list(EVENT_FIELDS),
                top=page_size,
            )
        )
        first.headers.add("Prefer", PREFER_UTC)
        page = await self._call(builder.get(first))
        found: list[CalendarEvent] = []
        while page is not None:
            found.extend(calendar_event(item) for item in page.value or [])
            if not page.odata_next_link:
                break
            following = RequestConfiguration[_CalendarQuery]()
            following.headers.add("Prefer", PREFER_UTC)
            page = await self._call(builder.with_url(page.odata_next_link).get(following))
        return found

    # -- transcripts -----------------------------------------------------------------------

    async def list_transcripts(self, ref: MeetingRef) -> list[Transcript]:
        builder = self._meeting(ref).transcripts
        page = await self._call(builder.get())
        found: list[Transcript] = []
        while page is not None:
            found.extend(
                _transcript(item, ref.organizer_id, ref.meeting_id) for item in page.value or []
            )
            if not page.odata_next_link:
                break
            page = await self._call(builder.with_url(page.odata_next_link).get())
        return found

    async def transcript_content(self, ref: MeetingRef, transcript_id: str) -> bytes:
        """The transcript as WebVTT (a metered API: 402 without billing)."""
        config = RequestConfiguration[Any]()
        config.headers.add("Accept", "text/vtt")
        item = self._meeting(ref).transcripts.by_call_transcript_id(transcript_id)
        return (await self._call(item.content.get(config))) or b""

    async def transcript_metadata(self, ref: MeetingRef, transcript_id: str) -> bytes:
        """The transcript's ``metadataContent``: per-utterance speaker ids and timings."""
        item = self._meeting(ref).transcripts.by_call_transcript_id(transcript_id)
        return (await self._call(item.metadata_content.get())) or b""

    async def all_transcripts(
        self,
        organizer_id: str,
        *,
        start: datetime | None = None,
        delta_link: str | None = None,
    ) -> TranscriptDelta:
        """Transcripts of every meeting ``organizer_id`` organized, all pages followed.

        Without ``delta_link``: a full pass (since ``start`` when given). With it: only the
        transcripts added since the pass that returned it. Either way the result carries the
        delta link for the next pass.
        """
        url = delta_link or self._all_transcripts_url(organizer_id, start)
        found: list[Transcript] = []
        while True:
            # The generated transcripts/delta builder, pointed at getAllTranscripts' delta: the
            # SDK has no builder for that URL, and its response is the same delta collection.
            page = await self._call(DeltaRequestBuilder(self._adapter, url).get())
            page = _present(page, "getAllTranscripts delta page")
            found.extend(_transcript(item, organizer_id, None) for item in page.value or [])
            if page.odata_next_link:
                url = page.odata_next_link
                continue
            return TranscriptDelta(tuple(found), page.odata_delta_link)

    def _all_transcripts_url(self, organizer_id: str, start: datetime | None) -> str:
        arguments = f"meetingOrganizerUserId='{quote(_odata_string(organizer_id), safe='')}'"
        if start is not None:
            if start.tzinfo is None:
                raise ValueError("start must be timezone-aware")
            arguments += f",startDateTime={start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        user = quote(organizer_id, safe="")
        return f"{self._base_url}/users/{user}/onlineMeetings/getAllTranscripts({arguments})/delta"

    # -- recordings ------------------------------------------------------------------------

    async def list_recordings(self, ref: MeetingRef) -> list[Recording]:
        builder = self._meeting(ref).recordings
        page = await self._call(builder.get())
        found: list[Recording] = []
        while page is not None:
            found.extend(_recording(item, ref) for item in page.value or [])
            if not page.odata_next_link:
                break
            page = await self._call(builder.with_url(page.odata_next_link).get())
        return found

    async def recording_content(
        self, ref: MeetingRef, recording_id: str, *, max_bytes: int
    ) -> bytes:
        """The recording's mp4, refused when it is over ``max_bytes`` (metered, like transcripts).

        Streamed, so an oversized recording is refused from its ``Content-Length`` before its
        body is read, or as soon as the bytes read pass the limit.
        """
        item = self._meeting(ref).recordings.by_call_recording_id(recording_id)
        info = item.content.to_get_request_information()
        return await self._call(self._download(info, max_bytes, f"recording {recording_id}"))

    async def _download(self, info: Any, max_bytes: int, what: str) -> bytes:
        # The SDK reads whole bodies into memory; this keeps its request building, token and
        # middleware chain (retries included) but reads the body as it arrives.
        self._adapter.set_base_url_for_request_information(info)
        request = await self._adapter.convert_to_native_async(info)
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                raw = await response.aread()
                code, message = _error_body(raw, response.reason_phrase)
                raise _graph_error(
                    response.status_code, code, message, response.headers.get("Retry-After")
                )
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(what, int(declared), max_bytes)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_large(what, None, max_bytes)
            return bytes(body)
        finally:
            await response.aclose()

    # -- subscriptions ---------------------------------------------------------------------

    async def create_subscription(self, new: NewSubscription) -> Subscription:
        """``POST /subscriptions``. Graph validates the notification (and lifecycle) URL before
        answering: the endpoint must echo the validation token within 10 seconds."""
        body = SdkSubscription(
            change_type=new.change_type,
            notification_url=new.notification_url,
            lifecycle_notification_url=new.lifecycle_url,
            resource=new.resource,
            expiration_date_time=_utc(new.expiration),
            client_state=new.client_state,
            include_resource_data=new.include_resource_data,
            encryption_certificate=new.encryption_certificate,
            encryption_certificate_id=new.encryption_certificate_id,
        )
        created = await self._call(self._sdk.subscriptions.post(body))
        return _subscription(_present(created, "created subscription"))

    async def renew_subscription(self, subscription_id: str, expiration: datetime) -> Subscription:
        body = SdkSubscription(expiration_date_time=_utc(expiration))
        item = self._sdk.subscriptions.by_subscription_id(subscription_id)
        renewed = await self._call(item.patch(body))
        return _subscription(_present(renewed, f"renewed subscription {subscription_id}"))

    async def reauthorize_subscription(self, subscription_id: str) -> None:
        """Answer a ``reauthorizationRequired`` lifecycle notification."""
        item = self._sdk.subscriptions.by_subscription_id(subscription_id)
        await self._call(item.reauthorize.post())

    async def delete_subscription(self, subscription_id: str) -> None:
        await self._call(self._sdk.subscriptions.by_subscription_id(subscription_id).delete())

    async def list_subscriptions(self) -> list[Subscription]:
        """The app's active subscriptions, every page."""
        builder = self._sdk.subscriptions
        page = await self._call(builder.get())
        found: list[Subscription] = []
        while page is not None:
            found.extend(_subscription(item) for item in page.value or [])
            if not page.odata_next_link:
                break
            page = await self._call(builder.with_url(page.odata_next_link).get())
        return found

    # -- the boundary ----------------------------------------------------------------------

    def _meeting(self, ref: MeetingRef) -> OnlineMeetingItemRequestBuilder:
        user = self._sdk.users.by_user_id(ref.organizer_id)
        return user.online_meetings.by_online_meeting_id(ref.meeting_id)

    async def _call(self, request: Awaitable[_T]) -> _T:
        """Await one SDK call, translating whatever it raises into a GraphError."""
        try:
            return await request
        except APIError as exc:
            raise _from_api_error(exc) from exc
        except ClientAuthenticationError as exc:
            raise GraphAuthError(401, "tokenRefused", _first_line(exc.message)) from exc
        except (httpx.TransportError, ServiceRequestError, ServiceResponseError) as exc:
            raise GraphError(0, "unreachable", _first_line(str(exc)) or type(exc).__name__) from exc
        except AzureError as exc:
            raise GraphError(0, "credentialError", _first_line(exc.message)) from exc


def iana_zone(name: str | None) -> str | None:
    """An IANA zone for a Windows or IANA zone name, or None for one nobody knows."""
    if not name:
        return None
    candidate = win_tz.get(name, name)
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return candidate


def _from_api_error(exc: APIError) -> GraphError:
    status = exc.response_status_code or 0
    code = message = ""
    if isinstance(exc, ODataError) and exc.error is not None:
        code = exc.error.code or ""
        message = exc.error.message or ""
    retry_after = _header(exc.response_headers, "Retry-After")
    return _graph_error(status, code, message or exc.message or str(exc), retry_after)


def _graph_error(status: int, code: str, message: str, retry_after: str | None) -> GraphError:
    code = code or "unknownError"
    if status == 404:
        return GraphNotFoundError(status, code, message)
    if status == 402:
        return GraphPaymentRequiredError(status, code, f"{message} ({METERED_API_HINT})")
    if status in (401, 403):
        return GraphAuthError(status, code, message)
    if status in _THROTTLED:
        return GraphThrottledError(status, code, message, _retry_after(retry_after))
    return GraphError(status, code, message)


def _too_large(what: str, size: int | None, limit: int) -> GraphError:
    told = f"{size} bytes" if size is not None else "over that"
    # 413 by analogy: Graph answered 200; it is this client that refuses the body.
    return GraphError(413, "contentTooLarge", f"{what} is {told}; the limit is {limit} bytes")


def _error_body(raw: bytes, reason: str) -> tuple[str, str]:
    """Graph's ``{"error": {"code", "message"}}``, or the reason phrase when it is not that."""
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "", reason
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return "", reason
    return str(error.get("code") or ""), str(error.get("message") or reason)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def _retry_after(raw: str | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date from now (RFC 9110 10.2.3)."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _present(value: _T | None, what: str) -> _T:
    if value is None:
        raise GraphError(200, "emptyResponse", f"Graph answered with no {what}")
    return value


def _odata_string(value: str) -> str:
    # An OData string literal doubles its single quotes.
    return value.replace("'", "''")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("expiration must be timezone-aware")
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # Graph's timestamps are UTC; one without an offset is read as such.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _person(info: MeetingParticipantInfo | None) -> Person:
    if info is None:
        return Person()
    user = info.identity.user if info.identity is not None else None
    return Person(
        user_id=user.id if user is not None else None,
        upn=info.upn,
        display_name=user.display_name if user is not None else None,
    )


def _meeting(found: OnlineMeeting, organizer_fallback: str) -> Meeting:
    if not found.id:
        raise GraphError(200, "malformedResponse", "an onlineMeeting without an id")
    participants = found.participants
    organizer = _person(participants.organizer if participants is not None else None)
    if organizer.user_id is None:
        organizer = Person(organizer_fallback, organizer.upn, organizer.display_name)
    attendees = participants.attendees if participants is not None else None
    return Meeting(
        ref=MeetingRef(organizer.user_id or organizer_fallback, found.id),
        organizer=organizer,
        attendees=tuple(_person(a) for a in attendees or []),
        subject=found.subject,
        start=_aware(found.start_date_time),
        end=_aware(found.end_date_time),
        join_url=found.join_web_url,
    )


def _organizer_of(item: CallTranscript | CallRecording) -> str | None:
    identity = item.meeting_organizer
    user = identity.user if identity is not None else None
    return user.id if user is not None and user.id else None


def _transcript(item: CallTranscript, organizer_id: str, meeting_id: str | None) -> Transcript:
    meeting = meeting_id or item.meeting_id
    if not item.id or not meeting:
        raise GraphError(200, "malformedResponse", "a callTranscript without an id or meetingId")
    return Transcript(
        id=item.id,
        ref=MeetingRef(_organizer_of(item) or organizer_id, meeting),
        created=_aware(item.created_date_time),
        end=_aware(item.end_date_time),
        call_id=item.call_id,
    )


def _recording(item: CallRecording, ref: MeetingRef) -> Recording:
    if not item.id:
        raise GraphError(200, "malformedResponse", "a callRecording without an id")
    return Recording(
        id=item.id,
        ref=ref,
        created=_aware(item.created_date_time),
        end=_aware(item.end_date_time),
    )


def _subscription(item: SdkSubscription) -> Subscription:
    expiration = _aware(item.expiration_date_time)
    if not (item.id and item.resource and item.change_type and item.notification_url):
        raise GraphError(200, "malformedResponse", "a subscription without its required fields")
    if expiration is None:
        raise GraphError(200, "malformedResponse", "a subscription without expirationDateTime")
    return Subscription(
        id=item.id,
        resource=item.resource,
        change_type=item.change_type,
        expiration=expiration,
        notification_url=item.notification_url,
        lifecycle_url=item.lifecycle_notification_url,
        include_resource_data=bool(item.include_resource_data),
    )
