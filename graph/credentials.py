"""How the service proves who it is to Microsoft Entra ID: an azure-identity async credential.

Three kinds, as the app registration allows ("Microsoft identity platform and the OAuth 2.0
client credentials flow", https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):

- ``secret``: a client secret (``ClientSecretCredential``);
- ``certificate``: a certificate whose public half is uploaded to the app registration, PEM or
  PKCS #12 with its private key (``CertificateCredential``, which signs a client assertion);
- ``managed_identity``: the Azure resource's own identity, no secret at all
  (``ManagedIdentityCredential``); ``client_id`` names a user-assigned identity, empty for the
  system-assigned one.

:class:`graph.client.GraphClient` takes any ``AsyncTokenCredential``, so tests and other hosts
can bring their own.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
)

__all__ = ["CredentialError", "CredentialKind", "make_credential"]


class CredentialKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - the kind's name, not a secret
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"


class CredentialError(ValueError):
    """The credential settings are incomplete or name a file that is not what it should be."""


def make_credential(
    kind: CredentialKind | str,
    tenant_id: str,
    client_id: str,
    *,
    secret: str | None = None,
    certificate_path: str | Path | None = None,
    certificate_password: str | None = None,
    authority: str | None = None,
    disable_instance_discovery: bool = False,
    ca_file: str | Path | None = None,
) -> AsyncTokenCredential:
    """An async credential for the app registration ``client_id`` in ``tenant_id``.

    ``authority`` is the identity platform's host (a national cloud has its own; it must be
    https). ``disable_instance_discovery`` skips the authority's metadata check, for an
    authority Microsoft does not know (Azure Stack, a local test server). ``ca_file`` is a PEM
    bundle trusted for the token endpoint, for a TLS-inspecting proxy or a test CA.

    Raises :class:`CredentialError` naming what is missing or wrong.
    """
    chosen = _kind(kind)
    options: dict[str, Any] = {}
    if ca_file is not None:
        ca = Path(ca_file)
        if not ca.is_file():
            raise CredentialError(f"CA file {ca} does not exist")
        # azure-core's transports read it per request: a path is a CA bundle to trust.
        options["connection_verify"] = str(ca)

    if chosen is CredentialKind.MANAGED_IDENTITY:
        return ManagedIdentityCredential(client_id=client_id or None, **options)

    if not tenant_id:
        raise CredentialError("a tenant id is required for a secret or certificate credential")
    if not client_id:
        raise CredentialError("a client id (the app registration's) is required")
    if authority is not None:
        options["authority"] = authority
    if disable_instance_discovery:
        options["disable_instance_discovery"] = True

    if chosen is CredentialKind.CERTIFICATE:
        return _certificate(tenant_id, client_id, certificate_path, certificate_password, options)
    if not secret:
        raise CredentialError("a client secret is required for credential kind 'secret'")
    try:
        return ClientSecretCredential(tenant_id, client_id, secret, **options)
    except ValueError as exc:
        # azure-identity's own checks (tenant id characters, an http authority) say what.
        raise CredentialError(str(exc)) from None


def _kind(kind: CredentialKind | str) -> CredentialKind:
    try:
        return CredentialKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in CredentialKind)
        raise CredentialError(
            f"unknown credential kind {kind!r}; expected one of {allowed}"
        ) from None


def _certificate(
    tenant_id: str,
    client_id: str,
    path: str | Path | None,
    password: str | None,
    options: dict[str, Any],
) -> AsyncTokenCredential:
    if path is None:
        raise CredentialError("a certificate path is required for credential kind 'certificate'")
    certificate = Path(path)
    if not certificate.is_file():
        raise CredentialError(f"certificate file {certificate} does not exist")
    try:
        return CertificateCredential(
            tenant_id, client_id, str(certificate), password=password, **options
        )
    except ValueError as exc:
        raise CredentialError(
            f"{certificate}: not a PEM or PKCS #12 certificate with its private key, or the "
            f"password is wrong ({exc})"
        ) from None
