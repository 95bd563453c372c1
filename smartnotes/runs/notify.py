"""Telling the rep: a notification on the record, for the bot or the CRM to deliver."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from smartnotes.storage.models import Notification


class Kind:
    READY = "run_ready"
    FAILED = "run_failed"
    NOT_PROCESSED = "run_not_processed"
    SAVED = "run_saved"
    AUTO_SAVED = "run_auto_saved"
    AUTO_SAVE_BLOCKED = "run_auto_save_blocked"
    CRM_DELAYED = "crm_write_delayed"
    FETCH_FAILED = "meeting_fetch_failed"


def notify(
    session: AsyncSession, user_id: str, run_id: str | None, kind: str, message: str
) -> None:
    """Add a notification in the caller's transaction: it exists exactly when the change does."""
    session.add(Notification(user_id=user_id, run_id=run_id, kind=kind, message=message))
