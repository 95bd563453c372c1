"""The parts of the local Graph that are not its routes: Graph's error body and timestamps,
the subscription rules, the https listener's and the app's certificates, and a notification
endpoint that does Graph's handshake. See :mod:`tests.fakes.graph`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from yarl import URL

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
    """The https listener's certificate and the app's client certificate, on disk."""

    directory: Path
    ca_file: Path
    server_key: Path
    client_certificate: Path
    client_sha256: str
    client_sha1: str
    client_public: rsa.RSAPublicKey


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
    )


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
