"""What the builder accepts: an app id, a host name, a version and a place for the package."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

EXAMPLE_HOST = "smartnotes.example.com"

# The same sets as the manifest schema's ``guid`` and ``semver`` patterns.
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_VERSION = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class ManifestError(ValueError):
    """An input the app package cannot be built from; the message names the problem."""


def check_app_id(app_id: str) -> str:
    """The bot's Microsoft Entra app id, lower-cased so that the three places it fills (the
    app's id, the bot's id, the RSC app id) read the same."""
    if not _GUID.fullmatch(app_id):
        raise ManifestError(
            f"app id {app_id!r} is not a GUID (the bot's Microsoft Entra application id, "
            "e.g. 1b4c7f2e-9d3a-4e8b-a6f0-2c5d8e9b1a73)"
        )
    return app_id.lower()


def check_domain(domain: str) -> str:
    """The service's host name, lower-cased.

    Teams' ``validDomains`` also takes wildcards, but this host is where the manifest's links
    (privacy, terms, review pages) point, so it must be one concrete host.
    """
    if not domain:
        raise ManifestError(f"domain is empty; give the service's host name, e.g. {EXAMPLE_HOST}")
    if any(character.isspace() for character in domain):
        raise ManifestError(f"domain {domain!r} contains whitespace")
    if "://" in domain:
        host = urlsplit(domain).hostname
        hint = f" ({host})" if host else ""
        raise ManifestError(
            f"domain {domain!r} is a URL; give the bare host name{hint}, without a scheme or a path"
        )
    if "/" in domain:
        raise ManifestError(f"domain {domain!r} has a path; give the bare host name")
    if ":" in domain:
        raise ManifestError(f"domain {domain!r} has a port; give the bare host name")
    if "*" in domain:
        raise ManifestError(
            f"domain {domain!r} is a wildcard; the app's links need the one host that serves them"
        )
    host = domain.lower()
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ManifestError(
            f"domain {domain!r} is not a fully qualified host name (dot-separated letters, "
            f"digits and hyphens, e.g. {EXAMPLE_HOST})"
        )
    return host


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise ManifestError(
            f"version {version!r} is not MAJOR.MINOR.PATCH; Teams takes three numbers, e.g. 1.4.0"
        )
    return version


def check_output(output: Path) -> None:
    if output.suffix.lower() != ".zip":
        raise ManifestError(f"output {output} does not end in .zip; Teams uploads a .zip package")
    if not output.parent.is_dir():
        raise ManifestError(f"output folder {output.parent} does not exist")
    if output.is_dir():
        raise ManifestError(f"output {output} is a folder")


def check_https_url(name: str, url: str) -> str:
    """An absolute HTTPS URL with a host: what Teams accepts for the developer's links."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestError(f"{name} must be an https:// URL, not {url!r}")
    if len(url) > 2048:
        raise ManifestError(f"{name} is longer than 2048 characters")
    return url.strip()
