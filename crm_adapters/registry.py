"""Which CRM adapters exist, and building the configured one.

Built-ins are registered in code; third-party adapters are found through the entry-point group
``smartnotes.crm_adapters`` (the entry point names an adapter class). A name can be taken only
once: a plugin that reuses a built-in's name is refused, not silently preferred.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from crm_adapters.contract import AdapterOptions, AdapterResources, Capability, CRMAdapter
from crm_adapters.errors import AdapterConfigError

ENTRY_POINT_GROUP = "smartnotes.crm_adapters"


class AdapterFactory(Protocol):
    """An adapter class: its name, its options model, and how to build it."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    @property
    def Options(self) -> type[AdapterOptions]: ...  # noqa: N802 - mirrors the class attribute

    def create(self, options: Any, resources: AdapterResources) -> CRMAdapter: ...


class AdapterRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, AdapterFactory] = {}
        self._origins: dict[str, str] = {}

    def register(self, factory: AdapterFactory, origin: str = "built-in") -> None:
        name = factory.name
        if name in self._factories:
            raise AdapterConfigError(
                f"CRM adapter name {name!r} is taken twice ({self._origins[name]} and {origin})"
            )
        self._factories[name] = factory
        self._origins[name] = origin

    def names(self) -> list[str]:
        return sorted(self._factories)

    def load_entry_points(self, allow: Collection[str] | None = None) -> list[str]:
        """Register plugins from the entry-point group; ``allow`` limits which names load."""
        loaded: list[str] = []
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and entry.name not in allow:
                continue
            try:
                factory = entry.load()
            except Exception as exc:  # a broken plugin is reported by name, not as a traceback
                raise AdapterConfigError(
                    f"CRM adapter plugin {entry.name!r} ({entry.value}) failed to load: {exc}"
                ) from exc
            if getattr(factory, "name", None) != entry.name:
                raise AdapterConfigError(
                    f"CRM adapter plugin {entry.value} calls itself "
                    f"{getattr(factory, 'name', None)!r}, not {entry.name!r}"
                )
            dist = entry.dist.name if entry.dist is not None else "unknown distribution"
            self.register(factory, origin=f"plugin from {dist}")
            loaded.append(entry.name)
        return loaded

    def create(
        self, name: str, options: Mapping[str, Any], resources: AdapterResources
    ) -> CRMAdapter:
        try:
            factory = self._factories[name]
        except KeyError:
            raise AdapterConfigError(
                f"unknown CRM adapter {name!r}; available: {', '.join(self.names())}"
            ) from None
        try:
            validated = factory.Options.model_validate(dict(options))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
                for e in exc.errors()
            )
            raise AdapterConfigError(f"CRM adapter {name!r} options: {problems}") from None
        return factory.create(validated, resources)


def default_registry(
    *, plugins: bool = True, allow: Collection[str] | None = None
) -> AdapterRegistry:
    from crm_adapters.embedded import EmbeddedCRM
    from crm_adapters.rest import RestCRM

    registry = AdapterRegistry()
    registry.register(EmbeddedCRM)
    registry.register(RestCRM)
    if plugins:
        registry.load_entry_points(allow)
    return registry
