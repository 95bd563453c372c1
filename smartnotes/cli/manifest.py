"""``smartnotes manifest``: the Teams app package an admin uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from smartnotes.cli.common import Exit, fail

manifest_app = typer.Typer(help="The Teams app package (manifest and icons).", no_args_is_help=True)


@manifest_app.command("build")
def build(
    app_id: Annotated[
        str, typer.Option("--app-id", help="The bot's Microsoft Entra application id (a GUID).")
    ],
    domain: Annotated[
        str,
        typer.Option(help="The service's public host name, e.g. smartnotes.example.com."),
    ],
    output: Annotated[Path, typer.Option(help="The package to write, e.g. app.zip.")],
    version: Annotated[
        str | None,
        typer.Option(help="The app's version, MAJOR.MINOR.PATCH (default: Smart Notes' own)."),
    ] = None,
    developer: Annotated[
        str | None,
        typer.Option(help="The publisher Teams shows: your company (default: Smart Notes)."),
    ] = None,
    website_url: Annotated[
        str | None, typer.Option(help="Your page about the app [default: https://DOMAIN/].")
    ] = None,
    privacy_url: Annotated[
        str | None,
        typer.Option(help="Your privacy statement [default: https://DOMAIN/privacy]."),
    ] = None,
    terms_url: Annotated[
        str | None, typer.Option(help="Your terms of use [default: https://DOMAIN/terms].")
    ] = None,
    teams_app_id: Annotated[
        str | None,
        typer.Option(help="The Teams app's own id, when registered apart from the bot."),
    ] = None,
) -> None:
    """Write the Teams app package (manifest.json, color.png, outline.png) for a deployment."""
    # Imported when the command runs: the other commands need not load, or find, this package.
    from manifest import ManifestError, build_manifest, write_package

    err = Console(stderr=True, highlight=False)
    try:
        given = {
            "websiteUrl": website_url,
            "privacyUrl": privacy_url,
            "termsOfUseUrl": terms_url,
        }
        links = {name: url for name, url in given.items() if url is not None}
        manifest = build_manifest(
            app_id,
            domain,
            version=version,
            developer=developer,
            links=links,
            teams_app_id=teams_app_id,
        )
        write_package(manifest, output)
    except ManifestError as exc:
        raise fail(err, str(exc), Exit.BAD_INPUT) from None
    except OSError as exc:
        raise fail(err, f"cannot write {output}: {exc.strerror or exc}", Exit.BAD_INPUT) from None
    err.print(
        f"Wrote {escape(str(output))}: Smart Notes {manifest['version']} for app "
        f"{manifest['id']} at {escape(manifest['validDomains'][0])}.",
        soft_wrap=True,
    )
