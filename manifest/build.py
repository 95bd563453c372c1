"""The manifest for one deployment: the template with its app id, host and version set."""

from __future__ import annotations

import json
from importlib import metadata, resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from manifest.checks import ManifestError, check_app_id, check_domain, check_version

# The template's links keep their paths; only the host changes.
_DEVELOPER_LINKS = ("websiteUrl", "privacyUrl", "termsOfUseUrl")


def build_manifest(app_id: str, domain: str, *, version: str | None = None) -> dict[str, Any]:
    """The app manifest for the bot registered as ``app_id``, served from ``domain``.

    ``version`` defaults to the installed Smart Notes version. Raises ``ManifestError`` naming
    the first bad input.
    """
    app_id = check_app_id(app_id)
    host = check_domain(domain)
    version = check_version(version if version is not None else _package_version())

    manifest: dict[str, Any] = json.loads(
        resources.files("manifest").joinpath("template.json").read_text(encoding="utf-8")
    )
    manifest["id"] = app_id
    manifest["version"] = version
    developer = manifest["developer"]
    for link in _DEVELOPER_LINKS:
        developer[link] = urlunsplit(("https", host, urlsplit(developer[link]).path, "", ""))
    for bot in manifest["bots"]:
        bot["botId"] = app_id
    manifest["validDomains"] = [host]
    # For RSC, Teams only needs a non-empty resource; this is the Application ID URI that the
    # bot's single sign-on would use, so adding SSO later does not change the manifest.
    manifest["webApplicationInfo"] = {"id": app_id, "resource": f"api://{host}/botid-{app_id}"}
    return manifest


def _package_version() -> str:
    try:
        return metadata.version("smartnotes")
    except metadata.PackageNotFoundError:
        raise ManifestError(
            "the Smart Notes version is unknown (the package is not installed); give a version"
        ) from None
