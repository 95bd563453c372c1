"""Graph change notifications: handshake, parsing, clientState, rich-notification decryption and
validation-token JWTs, against payloads built the way Microsoft documents them.

Encrypted content is made exactly as Graph makes it ("Set up change notifications that include
resource data"; tests/fakes/graph_support.py, shared with the local Graph): a random 32-byte AES
key, AES-CBC with IV = key[:16] and PKCS7 padding, HMAC-SHA256 of the ciphertext, the key
RSA-OAEP(SHA-1)-encrypted to a self-signed certificate's public key, all base64. Validation
tokens are RS256 JWTs signed with keys made here.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from yarl import URL

from graph.notifications import (
    MAX_VALIDATION_TOKEN_LENGTH,
    ChangeNotification,
    ChangeType,
    EncryptedContent,
    LifecycleEvent,
    NotificationError,
    check_client_state,
    parse_collection,
    validation_response_token,
)
from graph.rich_notifications import decrypt_content
from graph.validation_tokens import (
    GRAPH_CHANGE_TRACKING_APP_ID,
    ValidationTokenChecker,
    keys_from_jwks,
)
from tests.fakes.graph_support import aes_cbc, encrypt_resource, validation_token

APP_ID = "8e460676-ae3f-4b1e-8790-ee0fb5d6148f"
TENANT = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
OTHER_TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
CERT_ID = "smartnotes-notifications/2026-11"
KID = "test-kid-1"
CLIENT_STATE = "s3cret-client-state"

# A resource as Graph would encrypt it for an onlineMeeting transcript subscription.
RESOURCE = {
    "@odata.type": "#Microsoft.Graph.callTranscript",
    "id": "MSMjMCMjZDAwYWU3NjUtNmM2Yi00NjQxLTgwMWQtMTkzMmFmMjEzNzdh",
    "meetingId": "MSo1N2Y5ZGFjYy03MWJmLTQ3NDMtYjQxMy01M2EdFGkdRWHJlQ",
    "createdDateTime": "2026-11-17T16:45:03.1990000Z",
}


# --- keys and certificates ------------------------------------------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def certificate(cert_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Self-signed, as Microsoft allows: Graph only uses its public key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smartnotes notifications")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(cert_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(cert_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    """Plays the Microsoft identity platform's token-signing key."""
    return _rsa_key()


# --- Graph's side: encrypting resource data -------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def graph_encrypt(
    resource: Mapping[str, Any] | None,
    certificate: x509.Certificate,
    *,
    certificate_id: str = CERT_ID,
    key: bytes | None = None,
    ciphertext: bytes | None = None,
) -> dict[str, str]:
    """``encryptedContent`` as Graph sends it, for our certificate id unless told otherwise."""
    return encrypt_resource(
        resource, certificate, certificate_id=certificate_id, key=key, ciphertext=ciphertext
    )


def basic_notification(**overrides: Any) -> dict[str, Any]:
    """The change notification example from "Receive change notifications through webhooks"."""
    item: dict[str, Any] = {
        "id": "lsgTZMr9KwAAA",
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
        "clientState": CLIENT_STATE,
        "changeType": "created",
        "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
        "tenantId": TENANT,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
            "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
            "id": "{long_id_string}",
        },
    }
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not _DROP}


_DROP = object()


# --- Microsoft identity platform's side: validation tokens ----------------------------------


def make_token(
    key: rsa.RSAPrivateKey,
    *,
    kid: str | None = KID,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A v1.0 validation token like the example in Microsoft's docs; ``claims`` override."""
    return validation_token(key, kid=kid, app_id=APP_ID, tenant_id=TENANT, drop=drop, **claims)


def make_v2_token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    v2: dict[str, Any] = {
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "azp": GRAPH_CHANGE_TRACKING_APP_ID,
        "azpacr": "2",
        "ver": "2.0",
    }
    v2.update(claims)
    return make_token(key, drop=("appid", "appidacr", "idp"), **v2)


@pytest.fixture
def checker(signing_key: rsa.RSAPrivateKey) -> ValidationTokenChecker:
    return ValidationTokenChecker({APP_ID}, {TENANT}, {KID: signing_key.public_key()})


# --- the validation handshake ---------------------------------------------------------------

HANDSHAKE_VALUE = (
    "Validation: Testing client application reachability for subscription "
    "Request-Id: 4b5a3b1e-5f0a-4c3e-9b8e-2b7c0c6d1a2f"
)


def test_handshake_echoes_the_url_decoded_token() -> None:
    url = URL.build(
        scheme="https",
        host="notes.example.com",
        path="/webhooks/graph",
        query={"validationToken": HANDSHAKE_VALUE},
    )
    assert "%20" in str(url) or "+" in str(url)  # it travels encoded...
    # ...and the web framework's decoded query is what we echo.
    assert validation_response_token(URL(str(url)).query) == HANDSHAKE_VALUE


def test_a_notification_post_is_not_a_handshake() -> None:
    assert validation_response_token({}) is None
    assert validation_response_token({"tenant": TENANT}) is None


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "validationToken is empty"),
        ("x" * (MAX_VALIDATION_TOKEN_LENGTH + 1), "at most 1024 are accepted"),
        ("<script>alert(1)</script>", "never sends"),
        ("line\r\nSet-Cookie: a=b", "never sends"),
        ("caf\u00e9", "never sends"),
    ],
)
def test_abusive_handshake_tokens_are_refused(token: str, message: str) -> None:
    with pytest.raises(NotificationError, match=message) as caught:
        validation_response_token({"validationToken": token})
    assert caught.value.field == "validationToken"


# --- parsing ----------------------------------------------------------------------------------


def test_parses_a_basic_notification_from_bytes() -> None:
    body = json.dumps({"value": [basic_notification()]}).encode()

    collection = parse_collection(body)

    assert collection.validation_tokens == ()
    [note] = collection.value
    assert note.subscription_id == "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
    assert note.subscription_expiration == datetime(2016, 3, 19, 22, 11, 9, 952000, tzinfo=UTC)
    assert note.change_type is ChangeType.CREATED
    assert note.resource == "users/{user_guid}@{tenant_guid}/messages/{long_id_string}"
    assert note.resource_data["id"] == "{long_id_string}"
    assert note.tenant_id == TENANT
    assert note.client_state == CLIENT_STATE
    assert note.id == "lsgTZMr9KwAAA"
    assert note.lifecycle_event is None
    assert not note.is_lifecycle
    assert note.encrypted_content is None
    assert CLIENT_STATE not in repr(note)


@pytest.mark.parametrize("event", list(LifecycleEvent))
def test_parses_lifecycle_notifications(event: LifecycleEvent) -> None:
    # The structure from "Reduce missing subscriptions and change notifications".
    body = {
        "value": [
            {
                "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                "subscriptionExpirationDateTime": "2019-03-20T11:00:00.0000000Z",
                "tenantId": TENANT,
                "clientState": CLIENT_STATE,
                "lifecycleEvent": event.value,
            }
        ]
    }

    [note] = parse_collection(body).value

    assert note.lifecycle_event is event
    assert note.is_lifecycle
    assert note.change_type is None
    assert note.resource is None
    assert note.resource_data == {}
    # Seven fractional digits, as Graph writes them.
    assert note.subscription_expiration == datetime(2019, 3, 20, 11, tzinfo=UTC)


def test_parses_a_rich_notification(certificate: x509.Certificate) -> None:
    encrypted = graph_encrypt(RESOURCE, certificate)
    body = {
        "value": [basic_notification(encryptedContent=encrypted)],
        "validationTokens": ["eyJ0eXAiOiJKV1QiLCJhbGciOiJSU..."],
    }

    collection = parse_collection(body)

    [note] = collection.value
    assert note.is_rich
    assert note.encrypted_content is not None
    assert note.encrypted_content.data == encrypted["data"]
    assert note.encrypted_content.data_key == encrypted["dataKey"]
    assert note.encrypted_content.data_signature == encrypted["dataSignature"]
    assert note.encrypted_content.encryption_certificate_id == CERT_ID
    assert (
        note.encrypted_content.encryption_certificate_thumbprint
        == (encrypted["encryptionCertificateThumbprint"])
    )
    assert collection.validation_tokens == ("eyJ0eXAiOiJKV1QiLCJhbGciOiJSU...",)


BAD_BODIES: list[tuple[str, Any, str | None, str]] = [
    ("not-json", b"{value: [", None, "not JSON"),
    ("not-utf8", b'{"value": ["\xff"]}', None, "not UTF-8"),
    ("not-an-object", [basic_notification()], None, "not a JSON object"),
    ("no-value", {"validationTokens": []}, "value", "has no 'value'"),
    ("value-not-list", {"value": basic_notification()}, "value", "'value' is not a list"),
    ("item-not-object", {"value": ["created"]}, "value[0]", "value\\[0\\] is not a JSON object"),
    (
        "no-subscription-id",
        {"value": [basic_notification(subscriptionId=_DROP)]},
        "value[0].subscriptionId",
        "value\\[0\\]\\.subscriptionId is missing",
    ),
    (
        "subscription-id-not-string",
        {"value": [basic_notification(subscriptionId=42)]},
        "value[0].subscriptionId",
        "subscriptionId is not a string",
    ),
    (
        "empty-subscription-id",
        {"value": [basic_notification(subscriptionId="")]},
        "value[0].subscriptionId",
        "subscriptionId is empty",
    ),
    (
        "no-expiration",
        {"value": [basic_notification(subscriptionExpirationDateTime=_DROP)]},
        "value[0].subscriptionExpirationDateTime",
        "subscriptionExpirationDateTime is missing",
    ),
    (
        "expiration-not-a-timestamp",
        {"value": [basic_notification(subscriptionExpirationDateTime="tomorrow")]},
        "value[0].subscriptionExpirationDateTime",
        "'tomorrow', not an ISO 8601 timestamp",
    ),
    (
        "expiration-without-offset",
        {"value": [basic_notification(subscriptionExpirationDateTime="2016-03-19T22:11:09")]},
        "value[0].subscriptionExpirationDateTime",
        "has no UTC offset",
    ),
    (
        "no-change-type",
        {"value": [basic_notification(changeType=_DROP)]},
        "value[0].changeType",
        "changeType is missing",
    ),
    (
        "unknown-change-type",
        {"value": [basic_notification(changeType="exploded")]},
        "value[0].changeType",
        "'exploded'; expected one of created, updated, deleted",
    ),
    (
        "no-resource",
        {"value": [basic_notification(resource=_DROP)]},
        "value[0].resource",
        "resource is missing",
    ),
    (
        "resource-data-not-object",
        {"value": [basic_notification(resourceData=["id"])]},
        "value[0].resourceData",
        "resourceData is not a JSON object",
    ),
    (
        "tenant-not-string",
        {"value": [basic_notification(tenantId=7)]},
        "value[0].tenantId",
        "tenantId is not a string",
    ),
    (
        "client-state-not-string",
        {"value": [basic_notification(clientState={"secret": 1})]},
        "value[0].clientState",
        "clientState is not a string",
    ),
    (
        "unknown-lifecycle-event",
        {"value": [basic_notification(lifecycleEvent="subscriptionExploded")]},
        "value[0].lifecycleEvent",
        "expected one of reauthorizationRequired, subscriptionRemoved, missed",
    ),
    (
        "encrypted-content-not-object",
        {"value": [basic_notification(encryptedContent="abc")]},
        "value[0].encryptedContent",
        "encryptedContent is not a JSON object",
    ),
    (
        "encrypted-content-without-data-key",
        {"value": [basic_notification(encryptedContent={"data": "a", "dataSignature": "b"})]},
        "value[0].encryptedContent.dataKey",
        "encryptedContent\\.dataKey is missing",
    ),
    (
        "second-item-bad",
        {"value": [basic_notification(), basic_notification(subscriptionId=None)]},
        "value[1].subscriptionId",
        "value\\[1\\]\\.subscriptionId is missing",
    ),
    (
        "validation-tokens-not-list",
        {"value": [basic_notification()], "validationTokens": "eyJ"},
        "validationTokens",
        "'validationTokens' is not a list",
    ),
    (
        "validation-token-empty",
        {"value": [basic_notification()], "validationTokens": ["eyJ", ""]},
        "validationTokens[1]",
        "validationTokens\\[1\\] is not a non-empty string",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_bodies_name_the_field(body: Any, field: str | None, message: str) -> None:
    with pytest.raises(NotificationError, match=message) as caught:
        parse_collection(body)
    assert caught.value.field == field


# --- clientState ------------------------------------------------------------------------------


def _note(**overrides: Any) -> ChangeNotification:
    [note] = parse_collection({"value": [basic_notification(**overrides)]}).value
    return note


def test_matching_client_state_passes() -> None:
    check_client_state(_note(), CLIENT_STATE)


def test_client_state_mismatch_is_rejected_without_echoing_secrets() -> None:
    note = _note(clientState="guessed-client-state")
    with pytest.raises(
        NotificationError, match=r"clientState of the notification .* does not match ours"
    ):
        check_client_state(note, CLIENT_STATE)
    with pytest.raises(NotificationError) as caught:
        check_client_state(note, CLIENT_STATE)
    assert CLIENT_STATE not in str(caught.value)
    assert "guessed-client-state" not in str(caught.value)


def test_missing_client_state_is_rejected() -> None:
    with pytest.raises(NotificationError, match="has no clientState"):
        check_client_state(_note(clientState=_DROP), CLIENT_STATE)


def test_non_ascii_client_state_is_compared_not_crashed_on() -> None:
    with pytest.raises(NotificationError, match="does not match"):
        check_client_state(_note(clientState="s3cret-client-stat\u00e9"), CLIENT_STATE)


def test_an_empty_expected_client_state_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        check_client_state(_note(), "")


# --- decrypting rich notifications ------------------------------------------------------------


def _encrypted(content: Mapping[str, str]) -> EncryptedContent:
    [note] = parse_collection({"value": [basic_notification(encryptedContent=content)]}).value
    assert note.encrypted_content is not None
    return note.encrypted_content


def test_decrypts_what_graph_encrypted(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    encrypted = _encrypted(graph_encrypt(RESOURCE, certificate))

    assert decrypt_content(encrypted, cert_key, expected_certificate_id=CERT_ID) == RESOURCE
    assert decrypt_content(encrypted, cert_key, expected_certificate_id=None) == RESOURCE


def test_tampered_data_is_rejected_before_decryption(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    key = os.urandom(32)
    content = graph_encrypt(RESOURCE, certificate, key=key)
    data = bytearray(base64.b64decode(content["data"]))
    data[-1] ^= 0x01  # would break the padding, were the ciphertext decrypted
    content["data"] = _b64(bytes(data))

    with pytest.raises(NotificationError, match="dataSignature does not match") as caught:
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)
    assert caught.value.field == "encryptedContent.dataSignature"
    assert _b64(key) not in str(caught.value)
    assert key.hex() not in str(caught.value)


def test_tampered_signature_is_rejected(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    content = graph_encrypt(RESOURCE, certificate)
    signature = bytearray(base64.b64decode(content["dataSignature"]))
    signature[0] ^= 0x80
    content["dataSignature"] = _b64(bytes(signature))

    with pytest.raises(NotificationError, match="dataSignature does not match"):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


def test_content_for_another_certificate_id_is_rejected(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    content = graph_encrypt(RESOURCE, certificate, certificate_id="someone-elses-cert")

    with pytest.raises(NotificationError, match="encryptionCertificateId does not name our"):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


def test_the_wrong_private_key_is_rejected(
    certificate: x509.Certificate, stranger_key: rsa.RSAPrivateKey
) -> None:
    content = graph_encrypt(RESOURCE, certificate)

    with pytest.raises(NotificationError, match="dataKey does not decrypt with our private key"):
        decrypt_content(_encrypted(content), stranger_key, expected_certificate_id=CERT_ID)


@pytest.mark.parametrize("name", ["data", "dataKey", "dataSignature"])
def test_content_that_is_not_base64_is_rejected(
    name: str, certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    content = graph_encrypt(RESOURCE, certificate)
    content[name] = "not base64!"

    with pytest.raises(NotificationError, match=f"encryptedContent.{name} is not valid base64"):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


def test_authentic_content_with_bad_padding_is_rejected(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    key = os.urandom(32)
    unpadded = aes_cbc(key, b"x" * 31 + b"\x00", pad=False)
    content = graph_encrypt(None, certificate, key=key, ciphertext=unpadded)

    with pytest.raises(NotificationError, match="invalid PKCS7 padding"):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (b"<html>not json</html>", "does not decrypt to UTF-8 JSON"),
        (b"\xff\xfe", "does not decrypt to UTF-8 JSON"),
        (b'["a", "list"]', "JSON that is not an object"),
    ],
)
def test_authentic_content_that_is_not_a_json_object_is_rejected(
    plaintext: bytes, message: str, certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    key = os.urandom(32)
    content = graph_encrypt(None, certificate, key=key, ciphertext=aes_cbc(key, plaintext))

    with pytest.raises(NotificationError, match=message):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


def test_a_ciphertext_of_partial_blocks_is_rejected(
    certificate: x509.Certificate, cert_key: rsa.RSAPrivateKey
) -> None:
    content = graph_encrypt(None, certificate, ciphertext=b"0123456789")

    with pytest.raises(NotificationError, match="not a whole number of AES blocks"):
        decrypt_content(_encrypted(content), cert_key, expected_certificate_id=CERT_ID)


# --- validation tokens ------------------------------------------------------------------------


def test_a_genuine_v1_token_passes(
    checker: ValidationTokenChecker, signing_key: rsa.RSAPrivateKey
) -> None:
    validated = checker.check(make_token(signing_key))

    assert validated.app_id == APP_ID
    assert validated.tenant_id == TENANT
    assert validated.claims["appid"] == GRAPH_CHANGE_TRACKING_APP_ID


def test_a_genuine_v2_token_passes(
    checker: ValidationTokenChecker, signing_key: rsa.RSAPrivateKey
) -> None:
    validated = checker.check(make_v2_token(signing_key))

    assert (validated.app_id, validated.tenant_id) == (APP_ID, TENANT)


def test_any_tenant_passes_when_tenants_are_not_restricted(signing_key: rsa.RSAPrivateKey) -> None:
    checker = ValidationTokenChecker({APP_ID}, None, {KID: signing_key.public_key()})
    token = make_token(
        signing_key, iss=f"https://sts.windows.net/{OTHER_TENANT}/", tid=OTHER_TENANT
    )

    assert checker.check(token).tenant_id == OTHER_TENANT


def _unsigned_token(claims: Mapping[str, Any]) -> str:
    """An ``alg: none`` JWT: header and claims, no signature."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{part(claims)}."


REJECTED_TOKENS: list[tuple[str, Callable[[rsa.RSAPrivateKey], str], str]] = [
    (
        "wrong-audience",
        lambda key: make_token(key, aud="11111111-2222-3333-4444-555555555555"),
        r"audience \(aud\) is not one of our app ids",
    ),
    (
        "wrong-azp",
        lambda key: make_v2_token(key, azp="11111111-2222-3333-4444-555555555555"),
        r"not issued to Microsoft Graph's change-notification publisher \(azp is",
    ),
    (
        "wrong-appid",
        lambda key: make_token(key, appid="11111111-2222-3333-4444-555555555555"),
        r"not issued to Microsoft Graph's change-notification publisher \(appid is",
    ),
    (
        "no-issuing-app",
        lambda key: make_token(key, drop=("appid",)),
        r"names no issuing app \(neither azp nor appid\)",
    ),
    (
        "expired",
        lambda key: make_token(
            key,
            iat=datetime.now(UTC) - timedelta(hours=9),
            nbf=datetime.now(UTC) - timedelta(hours=9),
            exp=datetime.now(UTC) - timedelta(hours=1),
        ),
        "validation token has expired",
    ),
    (
        "not-yet-valid",
        lambda key: make_token(key, nbf=datetime.now(UTC) + timedelta(hours=1)),
        "validation token is not valid yet",
    ),
    (
        "no-expiry",
        lambda key: make_token(key, drop=("exp",)),
        "lacks the 'exp' claim",
    ),
    (
        "foreign-tenant",
        lambda key: make_token(
            key, iss=f"https://sts.windows.net/{OTHER_TENANT}/", tid=OTHER_TENANT
        ),
        f"issued by tenant {OTHER_TENANT}, which is not one of ours",
    ),
    (
        "foreign-tenant-v2",
        lambda key: make_v2_token(
            key, iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0", tid=OTHER_TENANT
        ),
        f"issued by tenant {OTHER_TENANT}, which is not one of ours",
    ),
    (
        "tid-differs-from-issuer",
        lambda key: make_token(key, tid=OTHER_TENANT),
        r"tenant \(tid\) differs from its issuer's tenant",
    ),
    (
        "foreign-issuer",
        lambda key: make_token(key, iss=f"https://login.example.com/{TENANT}/"),
        "is not the Microsoft identity platform",
    ),
    (
        "unknown-kid",
        lambda key: make_token(key, kid="rotated-away"),
        r"unknown signing key \(kid 'rotated-away'\)",
    ),
    (
        "no-kid",
        lambda key: make_token(key, kid=None),
        r"names no signing key \(kid\)",
    ),
    (
        "hs256",
        lambda key: jwt.encode(
            {"aud": APP_ID}, "a-shared-secret-of-32-bytes-long!", "HS256", headers={"kid": KID}
        ),
        "signed with 'HS256', not RS256",
    ),
    (
        "unsigned",
        lambda key: _unsigned_token({"aud": APP_ID, "appid": GRAPH_CHANGE_TRACKING_APP_ID}),
        "signed with 'none', not RS256",
    ),
    ("garbage", lambda key: "eyJ0eXAiOiJKV1QiLCJhb.not-a.jwt", "not a well-formed JWT"),
    (
        "too-long",
        lambda key: make_token(key, padding="x" * 20_000),
        "at most 16384 are accepted",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"),
    [case[1:] for case in REJECTED_TOKENS],
    ids=[case[0] for case in REJECTED_TOKENS],
)
def test_bad_tokens_are_rejected_for_the_reason_given(
    build: Callable[[rsa.RSAPrivateKey], str],
    message: str,
    checker: ValidationTokenChecker,
    signing_key: rsa.RSAPrivateKey,
) -> None:
    with pytest.raises(NotificationError, match=message) as caught:
        checker.check(build(signing_key))
    assert caught.value.field == "validationTokens"


def test_a_token_signed_by_another_key_is_rejected(
    checker: ValidationTokenChecker, stranger_key: rsa.RSAPrivateKey
) -> None:
    # Same kid as the genuine key: only the signature can tell them apart.
    with pytest.raises(NotificationError, match="signature does not verify with its signing key"):
        checker.check(make_token(stranger_key))


def test_an_unknown_kid_refreshes_the_keys_at_most_once_per_interval(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    now = [1000.0]
    refreshes: list[float] = []

    def refresh() -> dict[str, rsa.RSAPublicKey]:
        refreshes.append(now[0])
        return {"rotated-in": signing_key.public_key()}

    checker = ValidationTokenChecker({APP_ID}, {TENANT}, {}, refresh=refresh, clock=lambda: now[0])

    assert checker.check(make_token(signing_key, kid="rotated-in")).tenant_id == TENANT
    assert refreshes == [1000.0]
    assert checker.check(make_token(signing_key, kid="rotated-in")).tenant_id == TENANT
    assert refreshes == [1000.0]  # known now: no refresh

    now[0] += 60
    with pytest.raises(NotificationError, match="unknown signing key"):
        checker.check(make_token(signing_key, kid="junk-from-a-stranger"))
    assert refreshes == [1000.0]  # too soon for another

    now[0] += 300
    with pytest.raises(NotificationError, match="unknown signing key"):
        checker.check(make_token(signing_key, kid="junk-from-a-stranger"))
    assert refreshes == [1000.0, 1360.0]


def test_keys_come_from_a_jwks_document(signing_key: rsa.RSAPrivateKey) -> None:
    # The shape of https://login.microsoftonline.com/common/discovery/v2.0/keys.
    jwk = RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    ec_jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    jwks = {
        "keys": [
            {
                **jwk,
                "kid": KID,
                "use": "sig",
                "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            },
            {**jwk, "kid": "encryption-key", "use": "enc"},
            {**ec_jwk, "kid": "ec-key", "use": "sig"},
            {"kty": "RSA", "kid": "broken", "use": "sig", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }

    keys = keys_from_jwks(jwks)

    assert set(keys) == {KID}
    checker = ValidationTokenChecker({APP_ID}, {TENANT}, keys)
    assert checker.check(make_token(signing_key)).tenant_id == TENANT


def test_a_jwks_document_without_keys_is_rejected() -> None:
    with pytest.raises(NotificationError, match="no 'keys' list"):
        keys_from_jwks({"error": "temporarily_unavailable"})


def test_checker_needs_app_ids_and_real_tenant_sets(signing_key: rsa.RSAPrivateKey) -> None:
    keys = {KID: signing_key.public_key()}
    with pytest.raises(ValueError, match="app_ids"):
        ValidationTokenChecker(set(), None, keys)
    with pytest.raises(ValueError, match="app_ids"):
        ValidationTokenChecker(APP_ID, None, keys)
    with pytest.raises(ValueError, match="tenant_ids"):
        ValidationTokenChecker({APP_ID}, set(), keys)


# --- a whole rich collection ------------------------------------------------------------------


def _rich_collection(
    certificate: x509.Certificate, tokens: list[str], *, tenant: str = TENANT
) -> dict[str, Any]:
    return {
        "value": [
            basic_notification(
                tenantId=tenant,
                changeType="created",
                resource="communications/onlineMeetings/getAllTranscripts",
                encryptedContent=graph_encrypt(RESOURCE, certificate),
            )
        ],
        "validationTokens": tokens,
    }


def test_a_genuine_rich_collection_passes_end_to_end(
    checker: ValidationTokenChecker,
    signing_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    cert_key: rsa.RSAPrivateKey,
) -> None:
    body = json.dumps(_rich_collection(certificate, [make_token(signing_key)])).encode()

    collection = parse_collection(body)
    [validated] = checker.check_collection(collection)
    [note] = collection.value
    check_client_state(note, CLIENT_STATE)
    assert note.encrypted_content is not None
    resource = decrypt_content(note.encrypted_content, cert_key, expected_certificate_id=CERT_ID)

    assert validated.tenant_id == TENANT
    assert resource == RESOURCE


def test_a_rich_collection_without_tokens_is_rejected(
    checker: ValidationTokenChecker, certificate: x509.Certificate
) -> None:
    collection = parse_collection(_rich_collection(certificate, []))

    with pytest.raises(NotificationError, match="rich notifications arrived without"):
        checker.check_collection(collection)


def test_basic_collections_need_no_tokens(checker: ValidationTokenChecker) -> None:
    assert checker.check_collection(parse_collection({"value": [basic_notification()]})) == []


def test_one_bad_token_spoils_the_collection(
    checker: ValidationTokenChecker,
    signing_key: rsa.RSAPrivateKey,
    stranger_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
) -> None:
    tokens = [make_token(signing_key), make_token(stranger_key)]
    collection = parse_collection(_rich_collection(certificate, tokens))

    with pytest.raises(NotificationError, match="signature does not verify"):
        checker.check_collection(collection)


def test_tokens_must_cover_each_rich_notifications_tenant(
    signing_key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    checker = ValidationTokenChecker({APP_ID}, None, {KID: signing_key.public_key()})
    collection = parse_collection(
        _rich_collection(certificate, [make_token(signing_key)], tenant=OTHER_TENANT)
    )

    with pytest.raises(NotificationError, match=re.escape(f"covers tenant '{OTHER_TENANT}'")):
        checker.check_collection(collection)
