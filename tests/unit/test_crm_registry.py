"""The adapter registry: built-ins, plugins through entry points, and refused configurations."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_adapters.contract import AdapterResources
from crm_adapters.errors import AdapterConfigError
from crm_adapters.registry import AdapterRegistry, default_registry
from crm_adapters.rest import RestCRM


@pytest.fixture
def plugin_on_path(tmp_path: Path) -> Iterator[Path]:
    """An installed third-party adapter: a module plus a dist-info with an entry point."""
    (tmp_path / "acme_crm.py").write_text(
        textwrap.dedent("""
        from typing import Any, ClassVar
        from crm_adapters.contract import AdapterOptions, Capability

        class AcmeOptions(AdapterOptions):
            region: str = "eu"

        class AcmeCRM:
            name: ClassVar[str] = "acme"
            capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.WRITE_NOTE})
            Options: ClassVar[type[AdapterOptions]] = AcmeOptions

            def __init__(self, options: AcmeOptions) -> None:
                self.options = options

            @classmethod
            def create(cls, options: Any, resources: Any) -> "AcmeCRM":
                return cls(options)

        class Impostor(AcmeCRM):
            name: ClassVar[str] = "rest"
    """)
    )
    dist = tmp_path / "acme_crm-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-crm\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[smartnotes.crm_adapters]\nacme = acme_crm:AcmeCRM\nrest = acme_crm:Impostor\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("acme_crm", None)


def test_builtins_are_registered() -> None:
    assert default_registry(plugins=False).names() == ["embedded", "rest"]


def test_plugins_load_from_entry_points_and_duplicates_are_refused(plugin_on_path: Path) -> None:
    registry = default_registry(plugins=False)
    assert registry.load_entry_points(allow={"acme"}) == ["acme"]
    adapter = registry.create("acme", {"region": "us"}, AdapterResources())
    assert type(adapter).__name__ == "AcmeCRM"
    with pytest.raises(
        AdapterConfigError, match=r"'rest' is taken twice \(built-in and plugin from acme-crm\)"
    ):
        default_registry(plugins=True)


def test_unknown_adapter_and_bad_options_are_named() -> None:
    registry = default_registry(plugins=False)
    with pytest.raises(
        AdapterConfigError, match="unknown CRM adapter 'salesforce'; available: embedded, rest"
    ):
        registry.create("salesforce", {}, AdapterResources())
    with pytest.raises(AdapterConfigError, match="base_url: Field required"):
        registry.create("rest", {}, AdapterResources())
    with pytest.raises(AdapterConfigError, match="base_uri: Extra inputs are not permitted"):
        registry.create(
            "rest", {"base_url": "https://crm.test", "base_uri": "x"}, AdapterResources()
        )
    with pytest.raises(AdapterConfigError, match="must be an http"):
        registry.create("rest", {"base_url": "crm.test"}, AdapterResources())
    with pytest.raises(AdapterConfigError, match="needs the service's database"):
        registry.create("embedded", {}, AdapterResources())


def test_registering_the_same_name_twice_is_refused() -> None:
    registry = AdapterRegistry()
    registry.register(RestCRM)
    with pytest.raises(AdapterConfigError, match="taken twice"):
        registry.register(RestCRM, origin="a test")
