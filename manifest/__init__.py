"""The Teams app package: the manifest template, its icons and the builder.

``build_manifest`` fills the template for one deployment (app id, host name, version) and
``write_package`` writes the zip that a Teams admin uploads. Both refuse bad input with a
``ManifestError`` before anything is written. Imports nothing of ours.
"""

from manifest.build import build_manifest
from manifest.checks import ManifestError
from manifest.package import write_package

__all__ = ["ManifestError", "build_manifest", "write_package"]
