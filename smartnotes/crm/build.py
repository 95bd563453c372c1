"""Building the configured CRM adapter."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapters.contract import AdapterResources, CRMAdapter
from crm_adapters.registry import default_registry
from smartnotes.settings import Settings


def build_crm(settings: Settings, engine: AsyncEngine) -> CRMAdapter:
    """The adapter named by ``SMARTNOTES_CRM_ADAPTER`` with its options, validated."""
    allow = {n.strip() for n in settings.crm_plugins.split(",") if n.strip()} or None
    registry = default_registry(plugins=True, allow=allow)
    return registry.create(
        settings.crm_adapter,
        settings.crm.get(settings.crm_adapter, {}),
        AdapterResources(engine=engine, data_dir=settings.data_dir),
    )
