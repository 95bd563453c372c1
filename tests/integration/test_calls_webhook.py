"""The calling tool's webhook against the real app on a loopback port: signatures, timestamps,
replays, secret rotation, idempotency, and every refusal with its status and field.

API-only service (no models) except the audio test, which goes through faster-whisper.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import func, select

from smartnotes.runs.intake import STALE_INCOMING_SECONDS, TranscriptStore
from smartnotes.settings import CallsSettings, Settings
from smartnotes.storage.models import AuditEntry, Run
from smartnotes.web.schemas import CallWebhookIn
from smartnotes.web.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_headers, signature
from tests.api_client import Api, running_api
from tests.seed import seed_user

TENANT = "northwind"
REP = "maria@northwind.test"
OLD_SECRET = "old-calling-tool-secret-0123456789abcdef"  # noqa: S105 - test-only keys
NEW_SECRET = "new-calling-tool-secret-0123456789abcdef"  # noqa: S105
SAMPLE_WAV = Path(__file__).parents[2] / "smartnotes" / "samples" / "sales_call_excerpt.wav"
VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:06.000\n"
    "<v Maria Chen>I will send you a revised quote by Friday.</v>\n"
)


def call_body(call_id: str = "call-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": call_id,
        "rep": {"email": REP, "name": "Maria Chen"},
        "participants": [{"name": "Daniel Okafor", "email": "daniel@contoso.test"}],
        "started_at": "2026-11-17T10:00:00-06:00",
        "timezone": "America/Chicago",
        "call_url": "https://calls.northwind.test/c/1",
        "transcript": VTT,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def post(
    api: Api,
    payload: bytes,
    *,
    secret: str = NEW_SECRET,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    now: float | None = None,
) -> tuple[int, Any]:
    sent = {"Content-Type": content_type, **sign_headers(secret, payload, now=now)}
    sent.update(headers or {})
    async with api.http.post(api.url("/webhooks/calls"), data=payload, headers=sent) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def settings(tmp_path: Path, **calls: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        calls=CallsSettings(
            secrets=SecretStr(f"{OLD_SECRET},{NEW_SECRET}"), tenant=TENANT, **calls
        ),
        workers=1,
        summary_max_tokens=32,
        summarizer_context=4096,
    )


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(settings(tmp_path, max_transcript_bytes=64 * 1024), process=False) as a:
        await seed_user(a.service.sessions, TENANT, REP, name="Maria Chen")
        yield a


async def stored(api: Api, run_id: str) -> bytes:
    """The transcript or recording the run keeps, as it was received."""
    async with api.service.sessions() as session:
        run = await session.get(Run, run_id)
    assert run is not None
    assert run.transcript_ref is not None
    return await asyncio.to_thread(Path(run.transcript_ref).read_bytes)


async def count_runs(api: Api) -> int:
    async with api.service.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Run))).scalar_one())


async def test_a_signed_call_becomes_one_run_and_a_replay_is_a_no_op(api: Api) -> None:
    payload = encode(call_body())
    status, first = await post(api, payload)
    assert status == 202, first
    assert first["created"] is True
    assert first["review_url"].endswith(f"/review/{first['run_id']}")
    # The same delivery again (a retry, or a captured request replayed in its window).
    status, again = await post(api, payload)
    assert (status, again["run_id"], again["created"]) == (200, first["run_id"], False)
    # The same call id with a new signature and body is still that call.
    status, third = await post(api, encode(call_body(transcript=VTT + "\n")))
    assert (status, third["run_id"]) == (200, first["run_id"])
    assert await count_runs(api) == 1

    async with api.service.sessions() as session:
        run = await session.get(Run, first["run_id"])
        assert run is not None
        assert run.status == "queued"
        assert run.source == "calling_tool"
        assert run.timezone == "America/Chicago"
        assert run.call_url == "https://calls.northwind.test/c/1"
        emails = [p["email"] for p in run.participants]
        assert emails == [REP, "daniel@contoso.test"]
    assert await stored(api, first["run_id"]) == VTT.encode()


async def test_the_same_call_posted_at_once_creates_one_run(api: Api) -> None:
    payload = encode(call_body("call-race"))
    results = await asyncio.gather(*(post(api, payload) for _ in range(8)))
    assert sorted(status for status, _ in results) == [200] * 7 + [202]
    assert len({body["run_id"] for _, body in results}) == 1
    assert await count_runs(api) == 1


async def test_either_secret_is_accepted_during_a_rotation(api: Api) -> None:
    status, _ = await post(api, encode(call_body("call-old")), secret=OLD_SECRET)
    assert status == 202
    status, _ = await post(api, encode(call_body("call-new")), secret=NEW_SECRET)
    assert status == 202
    # A sender holding both secrets may send both signatures.
    payload = encode(call_body("call-both"))
    stamp = str(int(time.time()))
    both = f"v1={signature(OLD_SECRET, stamp, payload)},v1={signature(NEW_SECRET, stamp, payload)}"
    status, _ = await post(api, payload, headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: both})
    assert status == 202


@pytest.mark.parametrize(
    ("case", "headers_for"),
    [
        ("wrong secret", lambda body: sign_headers("x" * 40, body)),
        ("no signature", lambda body: {TIMESTAMP_HEADER: str(int(time.time()))}),
        ("no timestamp", lambda body: {SIGNATURE_HEADER: "v1=" + "0" * 64}),
        ("stale", lambda body: sign_headers(NEW_SECRET, body, now=time.time() - 301)),
        ("future", lambda body: sign_headers(NEW_SECRET, body, now=time.time() + 301)),
        (
            "body changed after signing",
            lambda body: sign_headers(NEW_SECRET, body.replace(b"call-bad", b"call-bad2")),
        ),
        (
            "timestamp changed after signing",
            lambda body: {
                **sign_headers(NEW_SECRET, body, now=time.time() - 10),
                TIMESTAMP_HEADER: str(int(time.time())),
            },
        ),
    ],
)
async def test_unsigned_or_stale_requests_are_refused_and_nothing_is_stored(
    api: Api, case: str, headers_for: Any
) -> None:
    payload = encode(call_body("call-bad"))
    headers = {"Content-Type": "application/json", **headers_for(payload)}
    async with api.http.post(api.url("/webhooks/calls"), data=payload, headers=headers) as r:
        assert r.status == 401, case
        answer = await r.json()
    assert answer["error"]["code"] == "unauthorized"
    assert "run_id" not in json.dumps(answer)
    assert await count_runs(api) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (call_body(call_id=""), "call_id"),
        (call_body(rep={"email": "not-an-address"}), "rep.email"),
        (call_body(started_at="2026-11-17T10:00:00"), "started_at"),
        (call_body(timezone="Mars/Olympus"), "timezone"),
        (call_body(transcript="just some words with no speakers"), "transcript"),
        (call_body(transcript=None), "transcript"),
        (call_body(audio_url="https://media.test/a.wav"), "transcript"),  # two sources
        (call_body(transcript=None, audio_url="http://media.test/a.wav"), "audio_url"),
        (call_body(transcript=None, audio_url="https://evil.test/a.wav"), "audio_url"),
        (call_body(colour="blue"), "colour"),
        (call_body(opt_out="maybe"), "opt_out"),
    ],
)
async def test_invalid_calls_are_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    status, answer = await post(api, encode(body))
    assert status == 422, answer
    assert answer["error"]["field"] == field
    assert await count_runs(api) == 0


async def test_bad_bodies_and_media_types(api: Api) -> None:
    status, answer = await post(api, b"{not json")
    assert status == 400
    assert answer["error"]["code"] == "bad_json"
    status, answer = await post(api, b"[1, 2]")
    assert status == 400

    status, answer = await post(api, b"call_id=1", content_type="application/x-www-form-urlencoded")
    assert status == 415

    too_long = VTT + ("\n\n00:00:07.000 --> 00:00:08.000\n<v Maria>" + "word " * 40 + "</v>") * 400
    status, answer = await post(api, encode(call_body(transcript=too_long)))
    assert status == 413, answer

    form = aiohttp.FormData()
    form.add_field("call", json.dumps(call_body("call-media", transcript=None)))
    form.add_field("audio", b"GIF89a....", filename="x.gif", content_type="image/gif")
    status, answer = await post_form(api, form)
    assert status == 415
    assert answer["error"]["field"] == "audio"
    assert await count_runs(api) == 0


async def test_opted_out_call_and_unknown_rep_store_nothing_but_the_decision(api: Api) -> None:
    status, answer = await post(api, encode(call_body("call-private", opt_out=True)))
    assert status == 200
    assert answer == {"run_id": None, "created": False, "skipped": "the call was opted out"}
    status, answer = await post(
        api, encode(call_body("call-stranger", rep={"email": "who@elsewhere.test"}))
    )
    assert (status, answer["run_id"]) == (200, None)
    assert await count_runs(api) == 0
    async with api.service.sessions() as session:
        query = select(AuditEntry.action).order_by(AuditEntry.id)
        actions = (await session.execute(query)).scalars().all()
    assert actions == ["seat_added", "consent_given", "call_skipped", "call_skipped"]
    kept = (api.service.settings.data_dir / "transcripts").rglob("*")
    assert not [path for path in kept if path.is_file()]


async def test_an_unconfigured_webhook_refuses_everything(tmp_path: Path) -> None:
    async with running_api(Settings(data_dir=tmp_path), process=False) as api:
        status, answer = await post(api, encode(call_body()))
    assert status == 503
    assert "SMARTNOTES_CALLS__SECRETS" in answer["error"]["message"]


async def post_form(api: Api, form: aiohttp.FormData) -> tuple[int, Any]:
    payload = form()
    body = _Collect()
    await payload.write(body)  # type: ignore[arg-type]
    raw = bytes(body.data)
    return await post(api, raw, content_type=payload.content_type)


class _Collect:
    """A writer that keeps what aiohttp's multipart payload writes, so it can be signed."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk

    async def write_eof(self, chunk: bytes = b"") -> None:
        self.data += chunk


async def test_a_multipart_transcript_file_is_taken_byte_for_byte(api: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("call", json.dumps(call_body("call-file", transcript=None)))
    data = ("\ufeff" + VTT).encode("utf-8").replace(b"\n", b"\r\n")
    form.add_field("transcript", data, filename="call.vtt", content_type="text/vtt")
    status, answer = await post_form(api, form)
    assert status == 202, answer
    assert await stored(api, answer["run_id"]) == data


async def test_recorded_audio_is_transcribed_into_a_reviewed_run(tmp_path: Path) -> None:
    """The audio as a multipart upload, through faster-whisper and the pipeline."""
    async with running_api(settings(tmp_path)) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        audio = SAMPLE_WAV.read_bytes()
        form = aiohttp.FormData()
        form.add_field("call", json.dumps(call_body("call-audio", transcript=None)))
        form.add_field("audio", audio, filename="call.wav", content_type="audio/wav")
        status, answer = await post_form(api, form)
        assert status == 202, answer
        run_id = answer["run_id"]
        assert await stored(api, run_id) == audio
        view = await api.wait_for(
            run_id, (TENANT, REP), lambda v: v["status"] in ("needs_review", "failed")
        )
    assert view["status"] == "needs_review", view["error"]
    steps = [s["step"] for s in view["steps"]]
    assert "transcribing" in steps
    assert view["summary"]["text"]
    quotes = " ".join(e["quote"] for t in view["tasks"] for e in t["evidence"]).lower()
    assert "revised quote" in quotes, "the spoken commitment became a task with its quote"


def test_the_documented_schema_is_the_one_we_validate_with() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "calling-tool.md").read_text()
    block = doc.split("### Schema", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == CallWebhookIn.model_json_schema()


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost: the audio host's, and the CA we trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "audio-host.pem", directory / "audio-host.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest_asyncio.fixture
async def audio_host(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An HTTPS server on loopback serving recordings, as the calling tool's storage would."""
    cert_path, key_path = _certificate(tmp_path)
    audio = SAMPLE_WAV.read_bytes()

    async def recording(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "call.wav":
            return web.Response(body=audio, content_type="audio/wav")
        if name == "moved.wav":
            raise web.HTTPFound("https://localhost/elsewhere.wav")
        if name == "page.html":
            return web.Response(text="<html></html>", content_type="text/html")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{name}", recording)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://localhost:{port}", cert_path
    await runner.cleanup()


async def test_an_audio_url_is_fetched_from_an_allowed_https_host(
    tmp_path: Path, audio_host: tuple[str, Path]
) -> None:
    base, ca_file = audio_host
    config = settings(
        tmp_path / "data", audio_hosts="localhost", audio_ca_file=ca_file, max_audio_bytes=8 * 2**20
    )
    async with running_api(config, process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP)
        body = call_body("call-url", transcript=None, audio_url=f"{base}/call.wav")
        status, answer = await post(api, encode(body))
        assert status == 202, answer
        assert await stored(api, answer["run_id"]) == SAMPLE_WAV.read_bytes()
        status, again = await post(api, encode(body))
        assert (status, again["run_id"]) == (200, answer["run_id"])

        for name, expected in [
            ("moved.wav", 502),  # redirects are not followed
            ("missing.wav", 502),
            ("page.html", 415),
        ]:
            body = call_body(f"call-{name}", transcript=None, audio_url=f"{base}/{name}")
            status, refused = await post(api, encode(body))
            assert status == expected, (name, refused)
            assert refused["error"]["field"] == "audio_url"
        assert await count_runs(api) == 1

    small = settings(
        tmp_path / "small", audio_hosts="localhost", audio_ca_file=ca_file, max_audio_bytes=4096
    )
    async with running_api(small, process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP)
        body = call_body("call-big", transcript=None, audio_url=f"{base}/call.wav")
        status, refused = await post(api, encode(body))
        assert status == 413
        assert await count_runs(api) == 0

    untrusted = settings(tmp_path / "untrusted", audio_hosts="localhost")
    async with running_api(untrusted, process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP)
        body = call_body("call-tls", transcript=None, audio_url=f"{base}/call.wav")
        status, refused = await post(api, encode(body))
        assert status == 502, "a host whose certificate we do not trust is not fetched"
        assert await count_runs(api) == 0


def _signed_multipart(parts: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, content type, data) parts, and its Content-Type."""
    boundary = "smartnotes-test-boundary-7d1f"
    body = bytearray()
    for name, kind, data in parts:
        body += f"--{boundary}\r\n".encode()
        body += f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode()
        body += f"Content-Type: {kind}\r\n\r\n".encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def _incoming(api: Api) -> list[Path]:
    folder = api.service.settings.data_dir / "transcripts" / "incoming"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_signed_audio_goes_to_disk_as_it_arrives_not_into_memory(tmp_path: Path) -> None:
    """24 MiB of signed audio: the service's own allocations while taking it stay a fraction
    of the file (it used to hold the body, the parsed part and its copy: three times over)."""
    audio = b"RIFF" + bytes(range(256)) * (24 * 4096)
    call = json.dumps(call_body("call-big-audio", transcript=None)).encode()
    payload, content_type = _signed_multipart(
        [("call", "application/json", call), ("audio", "audio/wav", audio)]
    )
    headers = {"Content-Type": content_type, **sign_headers(NEW_SECRET, payload)}
    view = memoryview(payload)

    async def chunks() -> AsyncIterator[bytes]:
        # Slices of the body already in memory: the client adds no copy of its own.
        for start in range(0, len(view), 1 << 16):
            yield view[start : start + (1 << 16)]  # type: ignore[misc]

    async with running_api(settings(tmp_path, max_audio_bytes=32 * 2**20), process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            async with api.http.post(
                api.url("/webhooks/calls"), data=chunks(), headers=headers
            ) as response:
                answer = await response.json()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.status == 202, answer
        assert await stored(api, answer["run_id"]) == audio
        assert _incoming(api) == [], "the upload's scratch folder is gone once the run has it"
    assert peak < len(audio) / 4, f"{peak / 2**20:.1f} MiB allocated for a 24 MiB upload"


async def test_an_oversize_or_broken_multipart_body_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    async with running_api(settings(tmp_path, max_audio_bytes=64 * 1024), process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP)
        call = json.dumps(call_body("call-parts", transcript=None)).encode()

        payload, kind = _signed_multipart(
            [("call", "application/json", call), ("audio", "audio/wav", b"x" * (80 * 1024))]
        )
        status, answer = await post(api, payload, content_type=kind)
        assert status == 413, answer
        assert answer["error"]["field"] == "audio"

        payload, kind = _signed_multipart(
            [("call", "application/json", call), ("audio", "audio/wav", b"RIFF" * 100)]
        )
        cut = payload[: len(payload) - 40]  # the closing boundary never comes
        status, answer = await post(api, cut, content_type=kind)
        assert status == 400, answer
        assert "multipart" in answer["error"]["message"]

        payload, kind = _signed_multipart(
            [("call", "application/json", call), ("slides", "application/pdf", b"%PDF")]
        )
        status, answer = await post(api, payload, content_type=kind)
        assert status == 422, answer
        assert answer["error"]["field"] == "slides"

        payload, kind = _signed_multipart(
            [("call", "application/json", call), ("audio", "audio/wav", b"")]
        )
        status, answer = await post(api, payload, content_type=kind)
        assert (status, answer["error"]["field"]) == (422, "audio")

        status, answer = await post(api, payload, content_type="multipart/form-data")
        assert status == 400, "no boundary"

        assert await count_runs(api) == 0
        assert _incoming(api) == []
        assert not [p for p in (tmp_path / "transcripts").rglob("*") if p.is_file()]


def test_what_a_killed_process_left_in_incoming_is_swept_at_start(tmp_path: Path) -> None:
    store = TranscriptStore(tmp_path)
    old = store.incoming() / "tmp-old"
    old.mkdir()
    (old / "audio").write_bytes(b"RIFF")
    stale = time.time() - 2 * STALE_INCOMING_SECONDS
    os.utime(old, (stale, stale))
    fresh = store.incoming() / "tmp-live"
    fresh.mkdir()
    assert store.sweep_incoming() == 1
    assert [p.name for p in store.incoming().iterdir()] == ["tmp-live"]


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 10.0.0.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "notes.northwind.test",
}


async def test_the_review_link_follows_the_ingress_only_when_it_is_trusted(
    tmp_path: Path,
) -> None:
    trusting = settings(tmp_path / "a").model_copy(update={"forwarded_allow_ips": "127.0.0.1/32"})
    async with running_api(trusting, process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        status, body = await post(api, encode(call_body("via-ingress")), headers=FORWARDED)
        assert status == 202, body
        assert body["review_url"].startswith("https://notes.northwind.test/review/")
        # Values that are not a scheme or a host are not taken.
        odd = {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.test/phish"}
        status, body = await post(api, encode(call_body("odd")), headers=odd)
        assert body["review_url"].startswith(api.url("/review/"))
    # The same headers from a peer nobody said to trust are anyone's words.
    async with running_api(settings(tmp_path / "b"), process=False) as api:
        await seed_user(api.service.sessions, TENANT, REP, name="Maria Chen")
        status, body = await post(api, encode(call_body("spoofed")), headers=FORWARDED)
        assert status == 202, body
        assert body["review_url"].startswith(api.url("/review/"))


def test_a_trusted_proxy_entry_that_is_no_address_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not an address or network: 'ingress'"):
        Settings(forwarded_allow_ips="10.0.0.0/8, ingress")
