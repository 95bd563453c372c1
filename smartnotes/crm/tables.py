"""Every table the service owns, its own and the embedded CRM's, for migrations and checks.

Here rather than in ``smartnotes.storage``: storage knows the service's tables, the CRM side
knows the embedded CRM's, and only the schema's keeper needs both.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from crm_adapters.embedded import CRMBase
from smartnotes.storage.models import Base

METADATA: tuple[MetaData, ...] = (Base.metadata, CRMBase.metadata)
