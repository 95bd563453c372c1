"""Typed CRM errors; every adapter translates its transport's failures into these.

CRMError
├── CRMAuthError        credentials rejected (401/403): fix the settings, do not retry
├── CRMRateLimitedError      429; ``retry_after`` seconds when the CRM said
├── CRMNotFoundError         the customer, note or task does not exist (404)
├── CRMConflictError         the write clashes with the CRM's state (409)
└── CRMUnavailableError      timeouts, connection failures, 5xx: retry later
"""

from __future__ import annotations


class CRMError(Exception):
    """Base class of every CRM adapter error."""


class CRMAuthError(CRMError):
    pass


class CRMRateLimitedError(CRMError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CRMNotFoundError(CRMError):
    pass


class CRMConflictError(CRMError):
    pass


class CRMUnavailableError(CRMError):
    pass


class AdapterConfigError(CRMError):
    """An adapter name or its options are wrong; raised when the adapter is created."""
