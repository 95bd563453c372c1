"""The manifest for one deployment: the template with its app id, host and version set."""

from __future__ import annotations

import json
from importlib import metadata, resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from manifest.checks import (
    ManifestError,
    check_app_id,
    check_domain,
    check_https_url,
    check_version,
)

# The template's links keep their paths; only the host changes.
_DEVELOPER_LINKS = ("websiteUrl", "privacyUrl", "termsOfUseUrl")


def build_manifest(
    app_id: str,
    domain: str,
    *,
    version: str | None = None,
    developer: str | None = None,
    links: dict[str, str] | None = None,
    teams_app_id: str | None = None,
) -> dict[str, Any]:
    """The app manifest for the bot registered as ``app_id``, served from ``domain``.

    ``version`` defaults to the installed Smart Notes version. ``developer`` is the name Teams
    shows as the app's publisher (the company that runs it); ``links`` replaces any of
    ``websiteUrl``, ``privacyUrl`` and ``termsOfUseUrl`` (HTTPS, as Teams requires), which
    otherwise point at the service's own pages. ``teams_app_id`` is the Teams app's own id
    when the app was registered apart from the bot (the Agents Toolkit's ``teamsApp/create``);
    by default the app takes the bot's id. Raises ``ManifestError`` naming the first bad input.
    """
    app_id = check_app_id(app_id)
    package_id = check_app_id(teams_app_id) if teams_app_id is not None else app_id
    host = check_domain(domain)
    version = check_version(version if version is not None else _package_version())

    manifest: dict[str, Any] = json.loads(
        resources.files("manifest").joinpath("template.json").read_text(encoding="utf-8")
    )
    manifest["id"] = package_id
    manifest["version"] = version
    publisher = manifest["developer"]
    for link in _DEVELOPER_LINKS:
        publisher[link] = urlunsplit(("https", host, urlsplit(publisher[link]).path, "", ""))
    for link, url in (links or {}).items():
        if link not in _DEVELOPER_LINKS:
            raise ManifestError(f"{link} is not one of the developer's links")
        publisher[link] = check_https_url(link, url)
    if developer is not None:
        if not developer.strip() or len(developer) > 32:
            raise ManifestError("the developer name must be 1 to 32 characters (Teams' limit)")
        publisher["name"] = developer.strip()
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
