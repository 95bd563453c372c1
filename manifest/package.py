"""The app package: a zip with manifest.json and the two icons at its root."""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from manifest.checks import ManifestError, check_output

# A fixed timestamp makes the same manifest give the same package, whenever it is built.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_package(manifest: Mapping[str, Any], output: Path) -> None:
    """Write the Teams app package for ``manifest`` to ``output`` (a .zip).

    The zip is written next to ``output`` under a temporary name and renamed into place, so a
    failure leaves no partial package and an existing one untouched.
    """
    check_output(output)
    partial = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
    # O_EXCL: never write through a file or link that is already there; 0o666 lets the umask
    # decide the package's permissions like for any other file the user creates.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                _add(archive, "manifest.json", _manifest_json(manifest))
                for icon in (manifest["icons"]["color"], manifest["icons"]["outline"]):
                    _add(archive, icon, _icon(icon))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _manifest_json(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _icon(name: str) -> bytes:
    # Icons sit at the package's root, next to manifest.json; a path would point elsewhere.
    icon = resources.files("manifest").joinpath(name)
    if "/" in name or "\\" in name or not icon.is_file():
        raise ManifestError(f"the manifest names icon {name!r}, which the package does not ship")
    return icon.read_bytes()


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    entry = zipfile.ZipInfo(name, date_time=_EPOCH)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data)
