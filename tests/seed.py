"""Runs put straight into the database in a given state, for tests of what comes after
processing (review, access, saving) without running the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from smartnotes import directory
from smartnotes.consent import record_consent
from smartnotes.settings import Settings
from smartnotes.storage.models import Run, RunAttendee, RunSource, RunStatus, RunTask, TaskStatus

SUMMARY = "Daniel wants annual pricing; Maria sends a revised quote by Friday."
TASKS: list[dict[str, Any]] = [
    {
        "title": "Send revised quote with annual pricing",
        "description": "Annual pricing as discussed",
        "owner": "Maria Chen",
        "due_date": "2026-11-20",
        "due_text": "by Friday",
        "priority": "high",
        "evidence": [{"quote": "I will send you a revised quote", "at": 1.0, "verified": True}],
        "confidence": 0.9,
        "origin": "claude",
    },
    {
        "title": "Book a follow-up demo",
        "description": "",
        "owner": "Maria Chen",
        "due_date": None,
        "priority": "medium",
        "evidence": [{"quote": "let's do a demo", "at": 30.0, "verified": True}],
        "confidence": 0.7,
        "origin": "claude",
    },
]


# The terms in force where a test's settings leave the version alone, and who agrees to them.
TERMS = str(Settings.model_fields["terms_version"].default)
TENANT_ADMIN = "Test Admin <admin@tenant.test>"


async def seed_consent(
    sessions: async_sessionmaker[AsyncSession],
    tenant: str,
    *,
    by: str = TENANT_ADMIN,
    terms_version: str = TERMS,
) -> None:
    """The tenant's agreement to AI processing, without which none of its calls is processed."""
    async with sessions() as session, session.begin():
        await record_consent(session, tenant, by=by, terms_version=terms_version)


async def seed_user(
    sessions: async_sessionmaker[AsyncSession],
    tenant: str,
    email: str,
    name: str = "",
    *,
    consent: bool = True,
) -> str:
    """A rep with a seat; with ``consent``, their tenant has agreed to the terms in force (an
    admin's act the tests of processing would otherwise each repeat)."""
    async with sessions() as session, session.begin():
        user = await directory.add_seat(session, tenant, email, by="test", display_name=name)
        user_id = user.id
    if consent:
        await seed_consent(sessions, tenant)
    return user_id


async def seed_run(
    sessions: async_sessionmaker[AsyncSession],
    tenant: str,
    owner_id: str,
    *,
    call_id: str,
    attendees: tuple[str, ...] = (),
    confidential: bool = False,
    status: RunStatus = RunStatus.NEEDS_REVIEW,
    customer: tuple[str, str] | None = None,
    tasks: list[dict[str, Any]] | None = None,
    transcript_ref: str | None = None,
) -> str:
    async with sessions() as session, session.begin():
        run = Run(
            tenant_id=tenant,
            owner_id=owner_id,
            source=RunSource.CALLING_TOOL,
            call_id=call_id,
            idempotency_key=call_id,
            call_url=f"https://calls.test/{call_id}",
            call_started_at=datetime(2026, 11, 17, 16, tzinfo=UTC),
            timezone="America/Chicago",
            participants=[{"name": "", "email": e} for e in attendees],
            confidential=confidential,
            status=status,
            summary_generated=SUMMARY,
            extractor="claude",
            extractor_model="claude-sonnet-4-6",
            customer_id=customer[0] if customer else None,
            customer_name=customer[1] if customer else None,
            transcript_ref=transcript_ref,
        )
        session.add(run)
        await session.flush()
        for email in attendees:
            session.add(RunAttendee(run_id=run.id, email=email))
        for position, task in enumerate(TASKS if tasks is None else tasks):
            session.add(
                RunTask(
                    run_id=run.id,
                    position=position,
                    generated=task,
                    status=TaskStatus.PROPOSED,
                )
            )
        return run.id
