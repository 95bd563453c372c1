"""``POST /webhooks/calls``: the internal calling tool reports a finished call.

The body is verified (HMAC over timestamp and body, see ``smartnotes.web.signing``) before any of
it is parsed; then the call becomes a run and the tool gets 202 with the run id and the review
page's address before any processing starts. The same call id again (a retry or a replay) is
200 with the run it already created. Limits: 413 for oversize bodies, 415 for media types we
do not read, 422 naming the field for everything else that is wrong.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from pipeline.errors import InputError
from pipeline.formats import parse_transcript_bytes
from smartnotes.auth import AuthError
from smartnotes.runs.intake import CallEvent, Participant, find_run
from smartnotes.runs.media import Audio, Downloader, MediaError, audio_suffix
from smartnotes.runs.offload import sized
from smartnotes.runs.review import InvalidError
from smartnotes.service import Service
from smartnotes.settings import CallsSettings
from smartnotes.storage.models import RunSource
from smartnotes.web.api import skipped
from smartnotes.web.body import parse_json, signed_body
from smartnotes.web.errors import error_response
from smartnotes.web.keys import SERVICE
from smartnotes.web.multipart import Part, split
from smartnotes.web.schemas import CallWebhookIn
from smartnotes.web.signing import BodySignature, SignatureError, check_headers

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# Room for the JSON around a transcript or the multipart framing around a file.
ENVELOPE = 256 * 1024


@routes.post("/webhooks/calls")
async def calls_webhook(request: web.Request) -> web.Response:
    service: Service = request.app[SERVICE]
    config = service.settings.calls
    secrets = config.secret_list()
    if not secrets:
        raise web.HTTPServiceUnavailable(
            reason="the calling-tool webhook is not configured (SMARTNOTES_CALLS__SECRETS)"
        )
    kind = request.content_type
    if kind == "application/json":
        limit = config.max_transcript_bytes + ENVELOPE
    elif kind == "multipart/form-data":
        limit = config.max_audio_bytes + ENVELOPE
    else:
        raise web.HTTPUnsupportedMediaType(
            reason="send application/json, or multipart/form-data with an audio file"
        )
    try:
        check_headers(request.headers, tolerance=config.tolerance)
        async with signed_body(request, limit, BodySignature(secrets, request.headers)) as body:
            # Large media goes from the body to a file beside the runs' files, and from there
            # into the run by a rename: never whole in memory.
            with tempfile.TemporaryDirectory(dir=service.store.incoming()) as scratch:
                return await _take(request, service, config, kind, body, Path(scratch))
    except SignatureError as exc:
        log.warning("calling-tool webhook refused from %s: %s", request.remote, exc)
        raise AuthError(str(exc)) from None


async def _take(
    request: web.Request,
    service: Service,
    config: CallsSettings,
    kind: str,
    body: IO[bytes],
    scratch: Path,
) -> web.Response:
    content_type = request.headers.get("Content-Type", "")
    size = body.seek(0, io.SEEK_END)
    body.seek(0)
    try:
        # A typical call is parsed in place; a long transcript or an audio file in a thread.
        call, media = await sized(size, _parse, kind, content_type, body, config, scratch)
    except MediaError as exc:
        return _media_error(exc)
    tenant = config.tenant
    key = f"calls:{call.call_id}"
    if isinstance(media, str):
        # A repeated delivery must not download (and bill, and wait for) the audio again.
        existing = await find_run(service.sessions, tenant, RunSource.CALLING_TOOL, key)
        if existing is not None:
            return _accepted(request, service, existing, created=False)
        try:
            media = await _downloader(config).fetch(media, scratch)
        except MediaError as exc:
            log.warning("audio for call %s not taken: %s", call.call_id, exc)
            return _media_error(exc)

    event = CallEvent(
        tenant_id=tenant,
        owner_email=call.rep.email,
        source=RunSource.CALLING_TOOL,
        call_id=call.call_id,
        idempotency_key=key,
        transcript=media.data,
        transcript_name=media.name,
        call_started_at=call.started_at,
        timezone=call.timezone,
        call_url=call.call_url,
        participants=_participants(call),
        opted_out=call.opt_out,
        confidential=call.confidential,
    )
    submitted = await service.submit(event)
    if submitted.run_id is None:
        return skipped(submitted)
    return _accepted(request, service, submitted.run_id, created=submitted.created)


def _accepted(
    request: web.Request, service: Service, run_id: str, *, created: bool
) -> web.Response:
    # The configured public address, else where this request reached the service (its real
    # port, not the configured default).
    base = service.settings.review.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    review_url = f"{base}/review/{run_id}"
    return web.json_response(
        {"run_id": run_id, "created": created, "review_url": review_url, "skipped": None},
        status=202 if created else 200,
    )


def _parse(
    kind: str, content_type: str, body: IO[bytes], config: CallsSettings, scratch: Path
) -> tuple[CallWebhookIn, Audio | str]:
    """The call's fields, and its transcript or audio, or the URL to download it from."""
    files: dict[str, Part] = {}
    if kind == "application/json":
        data = parse_json(body.read(), what="the call")
    else:
        files = split(
            content_type,
            body,
            limits={
                "call": ENVELOPE,
                "transcript": config.max_transcript_bytes,
                "audio": config.max_audio_bytes,
            },
            to_disk=frozenset({"audio"}),
            directory=scratch,
        )
        if "call" not in files:
            raise InvalidError("call", "the multipart body needs a 'call' part with the JSON")
        data = parse_json(files.pop("call").read(), what="the 'call' part")
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="the call must be a JSON object")
    call = CallWebhookIn.model_validate(data)

    sources = [
        name
        for name, present in (
            ("transcript", call.transcript is not None or "transcript" in files),
            ("audio_url", call.audio_url is not None),
            ("audio", "audio" in files),
        )
        if present
    ]
    if len(sources) != 1:
        raise InvalidError(
            "transcript",
            "send exactly one of: transcript, audio_url, or an audio file part"
            + (f" (got {', '.join(sources)})" if sources else ""),
        )
    if "audio" in files:
        audio = files["audio"]
        if not audio.size or audio.path is None:
            raise InvalidError("audio", "the file is empty")
        return call, Audio(audio.path, "audio" + audio_suffix(audio.content_type, "audio"))
    if call.audio_url is not None:
        _downloader(config).check(call.audio_url)
        return call, call.audio_url
    text = call.transcript.encode() if call.transcript is not None else files["transcript"].read()
    if len(text) > config.max_transcript_bytes:
        raise MediaError(413, "transcript", f"larger than {config.max_transcript_bytes} bytes")
    name = call.transcript_name or "transcript.txt"
    try:
        parse_transcript_bytes(text, name)
    except InputError as exc:
        raise InvalidError("transcript", str(exc)) from None
    return call, Audio(text, name)


def _downloader(config: CallsSettings) -> Downloader:
    return Downloader(
        hosts=config.host_list(),
        max_bytes=config.max_audio_bytes,
        timeout=config.download_timeout,
        ca_file=config.audio_ca_file,
    )


def _participants(call: CallWebhookIn) -> tuple[Participant, ...]:
    people = [Participant(call.rep.name, call.rep.email)]
    people += [Participant(p.name, p.email) for p in call.participants]
    seen: set[str] = set()
    unique: list[Participant] = []
    for person in people:
        key = person.email.strip().lower() or person.name
        if key not in seen:
            seen.add(key)
            unique.append(person)
    return tuple(unique)


def _media_error(exc: MediaError) -> web.Response:
    code = {413: "too_large", 415: "unsupported_media_type", 502: "bad_gateway"}.get(
        exc.status, "invalid"
    )
    extra: dict[str, Any] = {"field": exc.field}
    if exc.status == 422:
        extra["fields"] = [{"field": exc.field, "message": exc.message}]
    return error_response(exc.status, code, str(exc), **extra)
