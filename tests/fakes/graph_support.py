"""The parts of the local Graph that are not its routes: Graph's error body and timestamps,
the subscription rules, the https listener's and the app's certificates, rich notifications'
encryption and validation tokens, and a notification endpoint that does Graph's handshake.
See :mod:`tests.fakes.graph`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm
from yarl import URL

from graph.types import MeetingRef
from graph.validation_tokens import GRAPH_CHANGE_TRACKING_APP_ID

# Transcript and recording subscriptions: three days at most, and beyond an hour only with a
# lifecycle URL. Other resources Graph caps at 4230 minutes.
MEDIA_MAX_MINUTES = 4320
OTHER_MAX_MINUTES = 4230
LIFECYCLE_REQUIRED_AFTER = timedelta(hours=1)
VALIDATION_TIMEOUT = 10.0
EVALUATION_EXCEEDED = (
    "Evaluation capacity for the month has exceeded. To continue beyond the evaluation limits "
    "complete billing onboarding."
)
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed or incorrect."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    402: ("PaymentRequired", EVALUATION_EXCEEDED),
    403: ("Forbidden", "No application access policy found for this app."),
    404: ("NotFound", "The requested resource was not found."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("InternalServerError", "Internal server error."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway timed out."),
}

_FUNCTION = re.compile(r"^getAllTranscripts\((?P<args>.*)\)$")
_CUE = re.compile(r"^(?P<start>\S+) --> (?P<end>\S+)\s*\n<v (?P<who>[^>]+)>(?P<text>.*?)</v>", re.M)


@dataclass
class Recorded:
    """One request the fake answered. ``at`` is ``time.monotonic()`` on arrival."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    accept: str | None
    status: int = 0


@dataclass
class Keys:
    """The https listener's certificate and the app's client certificate, on disk, and the
    identity platform's key that signs rich notifications' validation tokens."""

    directory: Path
    ca_file: Path
    server_key: Path
    client_certificate: Path
    client_sha256: str
    client_sha1: str
    client_public: rsa.RSAPublicKey
    signing_key: rsa.RSAPrivateKey
    signing_kid: str


@dataclass
class MeetingRecord:
    """An online meeting the fake knows."""

    ref: MeetingRef
    organizer: tuple[str, str | None, str | None]
    attendees: list[tuple[str, str | None, str | None]]
    subject: str | None
    join_url: str
    thread_id: str
    start: datetime
    end: datetime
    created: datetime


@dataclass
class MediaItem:
    """A transcript or recording of a meeting; ``seq`` orders them for delta rounds."""

    kind: Literal["transcript", "recording"]
    id: str
    ref: MeetingRef
    content: bytes
    created: datetime
    end: datetime
    seq: int
    call_id: str
    correlation_id: str
    metadata: bytes = b""


@dataclass(frozen=True)
class PageCursor:
    """Where a page or delta round stands. ``upto`` None: whatever exists when it is used."""

    organizer: str
    start: datetime | None
    end: datetime | None
    after: int
    upto: int | None
    offset: int


@dataclass
class InjectedFailure:
    """What ``FakeGraph.fail_next()`` asked for."""

    contains: str
    status: int
    retry_after: int | None
    times: int
    code: str
    message: str


def graph_time(moment: datetime) -> str:
    # Graph writes seven fractional digits and a Z.
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_time(raw: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def graph_error(
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Graph's error body, with the ``innerError`` it always carries."""
    default_code, default_message = DEFAULT_ERRORS.get(status, ("UnknownError", "Error."))
    return web.json_response(
        {
            "error": {
                "code": code or default_code,
                "message": message or default_message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
        status=status,
        headers=headers,
    )


def parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        for secret in ("client_secret", "client_assertion"):
            if secret in form:
                form[secret] = "***"
        return form
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw.decode(errors="replace")


def make_keys() -> Keys:
    directory = Path(tempfile.mkdtemp(prefix="fake-graph-"))
    now = datetime.now(UTC)
    server_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    ski = x509.SubjectKeyIdentifier.from_public_key(server_key.public_key())
    server = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        # Its own CA, so the one PEM is both what the server presents and what clients trust.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(server_key, hashes.SHA256())
    )
    ca_file = directory / "fake-graph-ca.pem"
    ca_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "fake-graph-key.pem"
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smart-notes-test-app")])
    client = (
        x509.CertificateBuilder()
        .subject_name(client_name)
        .issuer_name(client_name)
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .sign(client_key, hashes.SHA256())
    )
    client_file = directory / "app-certificate.pem"
    client_file.write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + client.public_bytes(serialization.Encoding.PEM)
    )
    der = client.public_bytes(serialization.Encoding.DER)
    return Keys(
        directory=directory,
        ca_file=ca_file,
        server_key=key_file,
        client_certificate=client_file,
        client_sha256=base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode(),
        # x5t is the certificate's SHA-1 thumbprint by definition (RFC 7515).
        client_sha1=base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode(),  # noqa: S324
        client_public=client_key.public_key(),
        signing_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        # Microsoft's kids are the certificate thumbprints; any opaque string will do here.
        signing_kid=base64.urlsafe_b64encode(os.urandom(20)).decode().rstrip("="),
    )


def page_type(items: list[MediaItem]) -> str:
    if items and items[0].kind == "recording":
        return "callRecording"
    return "callTranscript"


def function_args(segment: str, query: Mapping[str, str]) -> dict[str, str] | None:
    """``getAllTranscripts(a='x',b=2024-...)``'s arguments; ``@name`` aliases come from the
    query string, as OData allows (the SDK's generated builder sends them that way)."""
    match = _FUNCTION.match(segment)
    if match is None:
        return None
    found: dict[str, str] = {}
    for part in re.findall(r"(?:[^,']|'(?:[^']|'')*')+", match["args"]):
        name, _, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        # The generated builder even quotes its aliases: getAllTranscripts(x='@x')?x=...
        if value.startswith("@"):
            value = query.get(value[1:], "").strip("'")
        if value and value.lower() != "null":
            found[name.strip()] = value
    return found


def default_metadata(vtt: str) -> bytes:
    """``metadataContent`` as Teams writes it: each cue's timing, then a JSON line about it."""
    lines = ["WEBVTT", ""]
    for cue in _CUE.finditer(vtt):
        lines.append(f"{cue['start']} --> {cue['end']}")
        lines.append(
            json.dumps(
                {
                    "speakerName": cue["who"].strip(),
                    "spokenText": cue["text"].strip(),
                    "spokenLanguage": "en-us",
                }
            )
        )
        lines.append("")
    return "\n".join(lines).encode()


def is_media_resource(resource: str) -> bool:
    lowered = resource.lower()
    return "onlinemeetings" in lowered and ("transcript" in lowered or "recording" in lowered)


def expiration_problem(raw: Any, resource: str, lifecycle_url: str) -> str | None:
    expiration = parse_time(str(raw))
    if expiration is None:
        return f"'{raw}' is not a valid expirationDateTime."
    now = datetime.now(UTC)
    if expiration <= now:
        return "Subscription expiration must be in the future."
    media = is_media_resource(resource)
    limit = MEDIA_MAX_MINUTES if media else OTHER_MAX_MINUTES
    # A minute of grace for the time the request took to get here.
    if expiration > now + timedelta(minutes=limit + 1):
        return f"Subscription expiration can only be {limit} minutes in the future."
    if media and not lifecycle_url and expiration > now + LIFECYCLE_REQUIRED_AFTER:
        return (
            "lifecycleNotificationUrl is required for subscription creation on this resource "
            "when the expirationDateTime value exceeds 1 hour."
        )
    return None


def aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    """Entra's token endpoint error body."""
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status=status,
    )


def assertion_problem(assertion: str, keys: Keys, client_id: str, token_url: str) -> str | None:
    """What is wrong with a certificate credential's client assertion, if anything: signed by
    the registered certificate's key (named by its thumbprint), for this token URL, by and
    about the app."""
    try:
        header = jwt.get_unverified_header(assertion)
        thumbprint = header.get("x5t#S256") or header.get("x5t")
        if thumbprint not in (keys.client_sha256, keys.client_sha1):
            return "the certificate is not registered for the app"
        claims = jwt.decode(
            assertion,
            keys.client_public,
            algorithms=["PS256", "RS256"],
            audience=token_url,
            issuer=client_id,
            options={"require": ["exp", "nbf", "aud", "iss", "sub"]},
        )
    except jwt.PyJWTError as exc:
        return str(exc)
    if claims.get("sub") != client_id:
        return "sub is not the client id"
    return None


def subscription_problem(body: Mapping[str, Any]) -> str | None:
    """Why Graph would refuse this ``POST /subscriptions`` body before validating its URLs."""
    for key in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"The property '{key}' is required."
    changes = {c.strip() for c in str(body["changeType"]).split(",")}
    if not changes <= {"created", "updated", "deleted"}:
        return f"'{body['changeType']}' is not a valid changeType."
    for key in ("notificationUrl", "lifecycleNotificationUrl"):
        url = body.get(key)
        if url and not _acceptable_url(str(url)):
            return f"The {key} must use https: '{url}'."
    state = body.get("clientState")
    if state is not None and len(str(state)) > 128:
        return "The clientState must be at most 128 characters."
    if body.get("includeResourceData") and not (
        body.get("encryptionCertificate") and body.get("encryptionCertificateId")
    ):
        return (
            "encryptionCertificate and encryptionCertificateId are required when "
            "includeResourceData is true."
        )
    lifecycle = body.get("lifecycleNotificationUrl")
    return expiration_problem(
        body["expirationDateTime"], str(body["resource"]), str(lifecycle or "")
    )


# Rich notifications ("Set up change notifications that include resource data"): Graph
# encrypts the resource to the subscription's certificate, and the Microsoft identity
# platform signs the validation tokens that vouch for the collection.


def aes_cbc(key: bytes, plaintext: bytes, *, pad: bool = True) -> bytes:
    """AES-CBC with IV = the key's first 16 bytes and (unless ``pad`` is false) PKCS7."""
    if pad:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def encrypt_resource(
    resource: Mapping[str, Any] | None,
    certificate: x509.Certificate,
    *,
    certificate_id: str,
    key: bytes | None = None,
    ciphertext: bytes | None = None,
) -> dict[str, str]:
    """``encryptedContent`` as Graph sends it: a fresh 32-byte AES key wrapped with
    RSA-OAEP(SHA-1) to the certificate, HMAC-SHA256 of the ciphertext, all base64.
    ``ciphertext`` overrides the encrypted resource (still correctly signed), to build content
    that is authentic but decrypts to junk."""
    key = key if key is not None else os.urandom(32)
    if ciphertext is None:
        ciphertext = aes_cbc(key, json.dumps(resource).encode())
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise TypeError("Graph encrypts only to RSA certificates")
    data_key = public_key.encrypt(
        key,
        OAEP(mgf=MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
    )
    return {
        "data": _b64(ciphertext),
        "dataSignature": _b64(hmac.new(key, ciphertext, hashlib.sha256).digest()),
        "dataKey": _b64(data_key),
        "encryptionCertificateId": certificate_id,
        "encryptionCertificateThumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
    }


def tampered(content: Mapping[str, str], field: str) -> dict[str, str]:
    """``content`` with one bit of the base64-encoded ``field`` (``data``, ``dataSignature``,
    ``dataKey``) flipped: still valid base64, no longer what Graph sent."""
    raw = bytearray(base64.b64decode(content[field]))
    raw[-1] ^= 0x01
    return {**content, field: _b64(bytes(raw))}


def validation_token(
    key: rsa.RSAPrivateKey,
    *,
    kid: str | None,
    app_id: str,
    tenant_id: str,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A v1.0 validation token like the example in Microsoft's docs, for ``app_id`` (``aud``)
    from ``tenant_id``, issued to Graph's change-notification publisher; ``claims``
    override, ``drop`` removes."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "aud": app_id,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now - timedelta(minutes=5),
        "nbf": now - timedelta(minutes=5),
        "exp": now + timedelta(hours=8),
        "appid": GRAPH_CHANGE_TRACKING_APP_ID,
        "appidacr": "2",
        "idp": f"https://sts.windows.net/{tenant_id}/",
        "tid": tenant_id,
        "ver": "1.0",
    }
    payload.update(claims)
    for name in drop:
        del payload[name]
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def signing_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """One entry of https://login.microsoftonline.com/common/discovery/v2.0/keys."""
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {
        **jwk,
        "use": "sig",
        "kid": kid,
        "x5t": kid,
        "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
    }


def notification_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA certificate for rich notifications, as Microsoft allows: Graph only
    uses its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smartnotes notifications")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def pem_with_key(key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> bytes:
    """The certificate and its unencrypted private key in one PEM, as the service loads it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + certificate.public_bytes(serialization.Encoding.PEM)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _acceptable_url(url: str) -> bool:
    # Graph wants https; loopback http is the fake's one allowance, so tests need no TLS.
    parsed = URL(url)
    if parsed.scheme == "https":
        return True
    return parsed.scheme == "http" and parsed.host in ("127.0.0.1", "localhost", "::1")


async def validate_endpoint(
    http: aiohttp.ClientSession, url: str, within: float
) -> tuple[str | None, tuple[str, int, str]]:
    """Graph's handshake: POST ``?validationToken=``, wanting 200 with exactly the token within
    ``within`` seconds. Returns why it failed (None when it passed) and ``(url, status,
    answer)``, status 0 when there was no answer."""
    token = (
        "Validation: Testing client application reachability for subscription Request-Id: "
        f"{uuid.uuid4()}"
    )
    target = URL(url).update_query({"validationToken": token})
    try:
        async with http.post(
            target,
            data=b"",
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=aiohttp.ClientTimeout(total=within),
        ) as response:
            answer = await response.text()
    except TimeoutError:
        return "Subscription validation request timed out.", (url, 0, "")
    except aiohttp.ClientError as exc:
        return f"Subscription validation request failed: {exc}.", (url, 0, "")
    seen = (url, response.status, answer)
    if response.status != 200:
        return (
            "Subscription validation request failed. Notification endpoint must respond with "
            f"200 OK to validation request (got {response.status})."
        ), seen
    if answer != token:
        return (
            "Subscription validation request failed. Response must exactly match "
            "validationToken query parameter."
        ), seen
    return None, seen


class WebhookEndpoint:
    """A notification endpoint on 127.0.0.1:0 that does the handshake Graph expects ("Receive
    change notifications through webhooks"), for tests where the service's own route is not
    what is under test.

    ``validation``: ``"echo"`` answers the token as documented, ``"wrong"`` answers 200 with
    something else, ``"refuse"`` answers 403; ``delay`` seconds pass before any answer.
    Notifications are kept in ``received`` and answered 202.
    """

    def __init__(
        self, validation: Literal["echo", "wrong", "refuse"] = "echo", *, delay: float = 0.0
    ) -> None:
        self.validation = validation
        self.delay = delay
        self.received: list[Any] = []
        self.tokens: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> WebhookEndpoint:
        app = web.Application()
        app.router.add_post("/notifications", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/notifications"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if self.delay:
            await asyncio.sleep(self.delay)
        if token is not None:
            self.tokens.append(token)
            if self.validation == "refuse":
                return web.Response(status=403)
            answer = token if self.validation == "echo" else "not the token"
            return web.Response(text=answer, content_type="text/plain")
        self.received.append(await request.json())
        return web.Response(status=202)
