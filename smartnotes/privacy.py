"""A person's data: exported as one document (a subject access request), or erased.

Erasure removes, in every tenant where the e-mail address has a user:

- the user, with their seat, switches, Teams conversation reference, notifications, the
  feedback they gave, the record of the meeting briefs sent to them and their usage records
  (the tenant's usage report loses their rows);
- the runs they own, with everything of those runs (steps, tasks, decisions, CRM-write
  records, cards) and the stored transcript or recording;
- the stored transcript of every other run they took part in (attendee or participant), or
  whose notes named them: the transcript holds their words; the other rep's notes stay;
- every other mention of them in the service's tables (a participant entry, a task's owner or
  quote, a summary, a CRM write still pending, an audit entry, a Graph record): their e-mail
  address, display name, Entra object id and user id are replaced by a pseudonym,
  ``erased-`` and a hash of the address, so the audit log keeps a pseudonymised trail;
- a consent to AI processing they gave or withdrew for their tenant stays (it is the proof of
  what the tenant agreed to), with the pseudonym for who gave or withdrew it. Someone known
  only from a consent (an admin without a seat) is a person to export and erase as well.

Notes already saved to the CRM are the CRM's; the embedded CRM's tables are not touched. The
scan covers every row of the service's own tables: minutes on a large database, which is
fine for a request that comes a few times a year.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, String, Table, Text, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.consent import person_email, person_name
from smartnotes.runs.intake import delete_files
from smartnotes.search.index import forget
from smartnotes.storage.models import (
    AuditEntry,
    Base,
    Consent,
    Feedback,
    MeetingBrief,
    Notification,
    Run,
    RunAttendee,
    RunTask,
    Seat,
    UsageRecord,
    User,
)

# Shorter names would match inside ordinary words ("Al" in "Also").
MIN_NAME_LENGTH = 4


def pseudonym(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"erased-{digest[:12]}"


@dataclass
class Erased:
    subject: str
    users: int = 0
    runs: int = 0
    transcripts: int = 0
    rows_rewritten: int = 0
    tables: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Person:
    email: str
    user_ids: list[str]
    needles: list[str]
    # Consents they gave or withdrew.
    consents: list[Consent] = field(default_factory=list)

    def pattern(self) -> re.Pattern[str]:
        # Longest first, so a name is not half-replaced by a shorter needle inside it.
        ordered = sorted(set(self.needles), key=len, reverse=True)
        return re.compile("|".join(re.escape(n) for n in ordered), re.IGNORECASE)


async def _person(session: AsyncSession, email: str) -> _Person | None:
    address = email.strip().lower()
    users = (
        (await session.execute(select(User).where(func.lower(User.email) == address)))
        .scalars()
        .all()
    )
    consents = await _consents_by(session, address)
    if not users and not consents:
        return None
    needles = [address]
    for user in users:
        needles.append(user.id)
        if user.aad_object_id:
            needles.append(user.aad_object_id)
        if len(user.display_name.strip()) >= MIN_NAME_LENGTH:
            needles.append(user.display_name.strip())
    for consent in consents:
        # The name they gave with their address ("Name <email>") identifies them too.
        for stored in _theirs(consent, address):
            if len(person_name(stored)) >= MIN_NAME_LENGTH:
                needles.append(person_name(stored))
    return _Person(address, [u.id for u in users], needles, consents)


async def _consents_by(session: AsyncSession, address: str) -> list[Consent]:
    """The consents the person gave or withdrew."""
    candidates = (
        await session.execute(
            select(Consent)
            .where(
                or_(
                    func.lower(Consent.accepted_by).contains(address, autoescape=True),
                    func.lower(Consent.withdrawn_by).contains(address, autoescape=True),
                )
            )
            .order_by(Consent.id)
        )
    ).scalars()
    return [c for c in candidates if _theirs(c, address)]


def _theirs(consent: Consent, address: str) -> list[str]:
    """Who gave and who withdrew the consent, where that is the person."""
    return [
        stored
        for stored in (consent.accepted_by, consent.withdrawn_by)
        if stored and person_email(stored) == address
    ]


class Privacy:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # Export ---------------------------------------------------------------------------------

    async def export(self, email: str) -> dict[str, Any] | None:
        """Everything kept about the person, as one JSON-ready document; None if unknown."""
        async with self.sessions() as session:
            person = await _person(session, email)
            if person is None:
                return None
            users = (
                await session.execute(select(User).where(User.id.in_(person.user_ids)))
            ).scalars()
            owned = (
                await session.execute(
                    select(Run).where(Run.owner_id.in_(person.user_ids)).order_by(Run.created_at)
                )
            ).scalars()
            attended = (
                await session.execute(
                    select(Run.id, Run.call_started_at, Run.customer_name)
                    .join(RunAttendee, RunAttendee.run_id == Run.id)
                    .where(RunAttendee.email == person.email)
                )
            ).all()
            return {
                "email": person.email,
                "exported_at": utcnow().isoformat(),
                "users": [_user(u) for u in users],
                "seats": [
                    {
                        "tenant": s.tenant_id,
                        "granted_at": s.granted_at.isoformat(),
                        "cohort": s.cohort,
                    }
                    for s in (
                        await session.execute(select(Seat).where(Seat.user_id.in_(person.user_ids)))
                    ).scalars()
                ],
                "runs": [await _run(session, run) for run in owned],
                "consents": [_consent(c, person.email) for c in person.consents],
                "attended": [
                    {
                        "run_id": r.id,
                        "call_started_at": r.call_started_at.isoformat()
                        if r.call_started_at
                        else None,
                        "customer": r.customer_name,
                    }
                    for r in attended
                ],
                "feedback": [
                    _feedback(f)
                    for f in (
                        await session.execute(
                            select(Feedback).where(Feedback.user_id.in_(person.user_ids))
                        )
                    ).scalars()
                ],
                "usage": [
                    _usage(u)
                    for u in (
                        await session.execute(
                            select(UsageRecord)
                            .where(UsageRecord.user_id.in_(person.user_ids))
                            .order_by(UsageRecord.at)
                        )
                    ).scalars()
                ],
                "meeting_briefs": [
                    {
                        "event_id": b.event_id,
                        "starts_at": b.starts_at.isoformat(),
                        "customer_id": b.customer_id,
                        "status": b.status,
                        "sent_at": b.sent_at.isoformat() if b.sent_at else None,
                    }
                    for b in (
                        await session.execute(
                            select(MeetingBrief)
                            .where(MeetingBrief.user_id.in_(person.user_ids))
                            .order_by(MeetingBrief.starts_at)
                        )
                    ).scalars()
                ],
                "notifications": [
                    {
                        "run_id": n.run_id,
                        "kind": n.kind,
                        "message": n.message,
                        "at": n.created_at.isoformat(),
                    }
                    for n in (
                        await session.execute(
                            select(Notification).where(Notification.user_id.in_(person.user_ids))
                        )
                    ).scalars()
                ],
                "audit": [
                    {
                        "at": a.at.isoformat(),
                        "run_id": a.run_id,
                        "action": a.action,
                        "detail": a.detail,
                    }
                    for a in (
                        await session.execute(
                            select(AuditEntry)
                            .where(
                                or_(
                                    AuditEntry.actor.in_([person.email, *person.user_ids]),
                                    # Who gave a consent acts as "Name <email>".
                                    func.lower(AuditEntry.actor).endswith(
                                        f"<{person.email}>", autoescape=True
                                    ),
                                )
                            )
                            .order_by(AuditEntry.at, AuditEntry.id)
                        )
                    ).scalars()
                ],
            }

    # Erasure --------------------------------------------------------------------------------

    async def erase(self, email: str, *, actor: str) -> Erased | None:
        """Remove the person everywhere the service keeps them; None if unknown."""
        async with self.sessions() as session, session.begin():
            person = await _person(session, email)
            if person is None:
                return None
            erased = Erased(subject=pseudonym(person.email), users=len(person.user_ids))
            owned = (
                await session.execute(
                    select(Run.id, Run.transcript_ref).where(Run.owner_id.in_(person.user_ids))
                )
            ).all()
            files = [r.transcript_ref for r in owned]
            erased.runs = len(owned)
            await session.execute(delete(Run).where(Run.id.in_([r.id for r in owned])))
            touched = await _runs_naming(session, person)
            kept = (
                await session.execute(
                    select(Run.id, Run.transcript_ref).where(
                        Run.id.in_(touched), Run.transcript_ref.is_not(None)
                    )
                )
            ).all()
            files += [r.transcript_ref for r in kept]
            await session.execute(
                update(Run)
                .where(Run.id.in_([r.id for r in kept]))
                .values(transcript_ref=None, transcript_deleted_at=utcnow())
            )
            # Transcript lines in the search index go with the transcripts; the notes and tasks
            # there are rewritten with every other table below.
            await forget(session, touched, transcripts_only=True)
            erased.transcripts = len([f for f in files if f])
            await session.execute(delete(RunAttendee).where(RunAttendee.email == person.email))
            # Seats, switches, the Teams reference, notifications, feedback and usage records
            # go with them.
            await session.execute(delete(User).where(User.id.in_(person.user_ids)))
            _pseudonymise_consents(person, erased)
            await _pseudonymise(session, person, erased)
            session.add(
                AuditEntry(
                    actor=actor,
                    action="person_erased",
                    detail={
                        "subject": erased.subject,
                        "users": erased.users,
                        "runs": erased.runs,
                        "transcripts": erased.transcripts,
                        "rows_rewritten": erased.rows_rewritten,
                    },
                )
            )
        # The rows are gone (committed) before the files: a crash in between leaves files no
        # row points to, which the next erasure of nobody would not find; so they go now.
        await asyncio.to_thread(delete_files, files)
        return erased


async def _runs_naming(session: AsyncSession, person: _Person) -> list[str]:
    """Runs the person attended, was a participant of, or whose notes name them."""
    attended = (
        await session.execute(select(RunAttendee.run_id).where(RunAttendee.email == person.email))
    ).scalars()
    found = set(attended)
    pattern = person.pattern()
    rows = await session.execute(
        select(Run.id, Run.participants, Run.summary_generated, Run.summary_edited)
    )
    for row in rows:
        if pattern.search(f"{row.participants} {row.summary_generated} {row.summary_edited}"):
            found.add(row.id)
    tasks = await session.execute(select(RunTask.run_id, RunTask.generated, RunTask.edited))
    for task in tasks:
        if pattern.search(f"{task.generated} {task.edited}"):
            found.add(task.run_id)
    return sorted(found)


# The tables whose rows the scan rewrites: every table of the service's schema. The embedded
# CRM keeps its own tables (its notes are the CRM's) and the job engine its own (run ids).
def _tables() -> Sequence[Table]:
    return list(Base.metadata.sorted_tables)


async def _pseudonymise(session: AsyncSession, person: _Person, erased: Erased) -> None:
    pattern = person.pattern()
    for table in _tables():
        columns = [
            c
            for c in table.columns
            if not c.primary_key and isinstance(c.type, String | Text | JSON)
        ]
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        text_columns = [c for c in columns if not isinstance(c.type, JSON)]
        query = select(*keys, *columns)
        if text_columns and len(text_columns) == len(columns):
            # Only rows that can match, when every candidate column is text.
            query = query.where(or_(*(c.ilike(f"%{n}%") for c in columns for n in person.needles)))
        changed = 0
        for row in (await session.execute(query)).all():
            values = row._mapping
            new = {c.name: _scrub(values[c], pattern, erased.subject) for c in columns}
            updates = {k: v for k, v in new.items() if v != values[table.c[k]]}
            if updates:
                where = [k == values[k] for k in keys]
                await session.execute(update(table).where(*where).values(**updates))
                changed += 1
        if changed:
            erased.tables[table.name] = changed
            erased.rows_rewritten += changed


def _pseudonymise_consents(person: _Person, erased: Erased) -> None:
    """The proof of consent stays; who gave or withdrew it becomes the pseudonym, whole (the
    name given with the address included)."""
    for consent in person.consents:
        if person_email(consent.accepted_by) == person.email:
            consent.accepted_by = erased.subject
        if consent.withdrawn_by and person_email(consent.withdrawn_by) == person.email:
            consent.withdrawn_by = erased.subject
    if person.consents:
        erased.tables["consents"] = len(person.consents)
        erased.rows_rewritten += len(person.consents)


def _scrub(value: Any, pattern: re.Pattern[str], replacement: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(replacement, value)
    if isinstance(value, list):
        return [_scrub(v, pattern, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, pattern, replacement) for k, v in value.items()}
    return value


def _user(user: User) -> dict[str, Any]:
    return {
        "tenant": user.tenant_id,
        "email": user.email,
        "display_name": user.display_name,
        "entra_object_id": user.aad_object_id,
        "enabled": user.enabled,
        "confidential_default": user.confidential_default,
        "timezone": user.timezone,
        "created_at": user.created_at.isoformat(),
    }


def _usage(record: UsageRecord) -> dict[str, Any]:
    return {
        "tenant": record.tenant_id,
        "run_id": record.run_id,
        "at": record.at.isoformat(),
        "calls": record.calls,
        "audio_seconds": record.audio_seconds,
        "claude_input_tokens": record.claude_input_tokens,
        "claude_output_tokens": record.claude_output_tokens,
        "local_model_seconds": record.local_model_seconds,
        "extractor": record.extractor,
        "limited_by": record.limited_by,
    }


def _consent(consent: Consent, email: str) -> dict[str, Any]:
    return {
        "tenant": consent.tenant_id,
        "terms_version": consent.terms_version,
        "given_by_them": person_email(consent.accepted_by) == email,
        "accepted_by": consent.accepted_by,
        "accepted_at": consent.accepted_at.isoformat(),
        "withdrawn_by": consent.withdrawn_by,
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
    }


def _feedback(item: Feedback) -> dict[str, Any]:
    return {
        "run_id": item.run_id,
        "target": item.target,
        "rating": item.rating,
        "comment": item.comment,
        "at": item.created_at.isoformat(),
    }


async def _run(session: AsyncSession, run: Run) -> dict[str, Any]:
    tasks = (
        await session.execute(
            select(RunTask).where(RunTask.run_id == run.id).order_by(RunTask.position)
        )
    ).scalars()
    return {
        "run_id": run.id,
        "tenant": run.tenant_id,
        "source": run.source,
        "call_id": run.call_id,
        "call_url": run.call_url,
        "call_started_at": run.call_started_at.isoformat() if run.call_started_at else None,
        "participants": run.participants,
        "customer": run.customer_name,
        "status": run.status,
        "confidential": run.confidential,
        "summary": {"generated": run.summary_generated, "edited": run.summary_edited},
        "tasks": [
            {"generated": t.generated, "edited": t.edited, "status": t.status} for t in tasks
        ],
        "transcript_kept": run.transcript_ref is not None,
        "created_at": run.created_at.isoformat(),
    }
