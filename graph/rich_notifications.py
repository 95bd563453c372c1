"""Decrypting the resource data of rich change notifications.

The scheme, as "Set up change notifications that include resource data" describes it
(https://learn.microsoft.com/graph/change-notifications-with-resource-data) and the
changeNotificationEncryptedContent reference pins it down:

- ``dataKey``: a one-off symmetric key, encrypted with the public key of the certificate given at
  subscription time using ``RSA/ECB/OAEPWithSHA1AndMGF1Padding``;
- ``dataSignature``: base64 HMAC-SHA256, keyed with that symmetric key, of the base64-decoded
  ``data``; checked before anything is decrypted;
- ``data``: the resource as JSON, AES-CBC with PKCS7 padding, IV = the key's first 16 bytes.

Call this only after the collection's validation tokens have passed
(:class:`graph.validation_tokens.ValidationTokenChecker`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from graph.notifications import EncryptedContent, NotificationError

__all__ = ["decrypt_content"]

_AES_KEY_SIZES = frozenset({16, 24, 32})
_BLOCK = 16


def decrypt_content(
    encrypted: EncryptedContent,
    private_key: rsa.RSAPrivateKey,
    *,
    expected_certificate_id: str | None,
) -> dict[str, Any]:
    """The resource a rich notification carries, as the JSON object Graph encrypted.

    ``private_key`` belongs to the certificate whose id the subscription gave as
    ``encryptionCertificateId``; pass that id as ``expected_certificate_id`` (None skips the
    check, for a caller that already picked the key by ``encrypted.encryption_certificate_id``).
    Raises :class:`NotificationError` when the content is not for this key, was tampered with,
    or does not decrypt to a JSON object. Messages never carry key material.
    """
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError(f"private_key must be an RSA private key, not {type(private_key)!r}")
    if expected_certificate_id is not None and not hmac.compare_digest(
        encrypted.encryption_certificate_id.encode(), expected_certificate_id.encode()
    ):
        raise NotificationError(
            "encryptedContent.encryptionCertificateId does not name our certificate "
            f"(got {encrypted.encryption_certificate_id[:128]!r})",
            field="encryptedContent.encryptionCertificateId",
        )

    wrapped_key = _b64("dataKey", encrypted.data_key)
    ciphertext = _b64("data", encrypted.data)
    signature = _b64("dataSignature", encrypted.data_signature)

    try:
        key = private_key.decrypt(
            wrapped_key,
            # Graph's cipher suite is RSA/ECB/OAEPWithSHA1AndMGF1Padding; SHA-1 is what it uses.
            OAEP(mgf=MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
        )
    except ValueError:
        raise NotificationError(
            "encryptedContent.dataKey does not decrypt with our private key "
            "(wrong key, or a different certificate)",
            field="encryptedContent.dataKey",
        ) from None
    if len(key) not in _AES_KEY_SIZES:
        raise NotificationError(
            f"encryptedContent.dataKey holds a {len(key)}-byte key, not an AES key",
            field="encryptedContent.dataKey",
        )

    expected_signature = hmac.new(key, ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(expected_signature, signature):
        raise NotificationError(
            "encryptedContent.dataSignature does not match the data: "
            "the data was tampered with or is not for this key",
            field="encryptedContent.dataSignature",
        )

    plaintext = _aes_cbc_decrypt(key, ciphertext)
    try:
        resource = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NotificationError(
            "encryptedContent.data does not decrypt to UTF-8 JSON", field="encryptedContent.data"
        ) from None
    if not isinstance(resource, dict):
        raise NotificationError(
            "encryptedContent.data decrypts to JSON that is not an object",
            field="encryptedContent.data",
        )
    return resource


def _aes_cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % _BLOCK:
        raise NotificationError(
            f"encryptedContent.data is {len(ciphertext)} bytes, not a whole number of AES blocks",
            field="encryptedContent.data",
        )
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:_BLOCK])).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise NotificationError(
            "encryptedContent.data has invalid PKCS7 padding", field="encryptedContent.data"
        ) from None


def _b64(name: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NotificationError(
            f"encryptedContent.{name} is not valid base64", field=f"encryptedContent.{name}"
        ) from None
