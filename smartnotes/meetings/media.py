"""From a transcript (or recording) Graph lists to a run: who is licensed in the meeting, one
download, one run.

However a transcript is found (a change notification, twice and out of order; the catch-up;
the poll after the bot saw the meeting end), it is one ``meeting_media`` row. Working a row is
claimed with a conditional update, so two finders racing do one download (the job engine runs
Graph's work one job at a time anyway); a row a dead worker left claimed is put back by the
next job (``reclaim``); the content is
written to disk before the run is submitted, so a crash in between costs no second (billed)
download; the run's idempotency key is the transcript id, so a resubmission is one run.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from graph.client import GraphClient
from graph.types import (
    GraphError,
    GraphNotFoundError,
    GraphPaymentRequiredError,
    GraphThrottledError,
    Meeting,
    MeetingRef,
    Person,
)
from pipeline.events import utcnow
from smartnotes.consent import covering
from smartnotes.runs.gate import Decision, Skip, SkipNotices, code
from smartnotes.runs.intake import CallEvent, Participant, Submitted
from smartnotes.runs.notify import Kind, notify
from smartnotes.storage.models import AuditEntry, MeetingMedia, Run, RunSource, Seat, Tenant, User
from smartnotes.storage.sealed import Sealer, SealError

log = logging.getLogger(__name__)

TRANSCRIPT = "transcript"
RECORDING = "recording"

MAX_ATTEMPTS = 8
BILLING_HELP = (
    "Microsoft Graph refused the download with 402 Payment Required: it wants a billing setup "
    "for this app, an Azure subscription linked to the app registration (see "
    "docs/teams-setup.md, 'Billing'). Fix the billing setup, then run `smartnotes graph retry`."
)


@dataclass(frozen=True)
class Found:
    kind: str
    item_id: str
    ref: MeetingRef


async def record_found(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, found: Found, *, by: str
) -> int:
    """The row for this transcript or recording, created the first time it is found."""
    async with sessions() as session:
        existing = await _row_id(session, tenant_id, found)
        if existing is not None:
            return existing
        row = MeetingMedia(
            tenant_id=tenant_id,
            kind=found.kind,
            item_id=found.item_id,
            organizer_id=found.ref.organizer_id,
            meeting_id=found.ref.meeting_id,
            found_by=by,
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            # Found by two routes at the same moment: the other one's row is the row.
            await session.rollback()
            again = await _row_id(session, tenant_id, found)
            if again is None:
                raise
            return again
        log.info("%s %s of meeting %s found by %s", found.kind, found.item_id, found.ref, by)
        return row.id


async def _row_id(session: AsyncSession, tenant_id: str, found: Found) -> int | None:
    return (
        await session.execute(
            select(MeetingMedia.id).where(
                MeetingMedia.tenant_id == tenant_id,
                MeetingMedia.kind == found.kind,
                MeetingMedia.item_id == found.item_id,
            )
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Licensed:
    user_id: str
    email: str


@dataclass
class _Attempt:
    """What one attempt learned before it failed: whom to tell, about which meeting."""

    owner: Licensed | None = None
    subject: str | None = None


class MediaFetcher:
    """Works ``meeting_media`` rows: checks the meeting has a licensed, switched-on
    participant, downloads once, submits the run."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: GraphClient,
        submit: Callable[[CallEvent], Awaitable[Submitted]],
        *,
        tenant_id: str,
        terms_version: str,
        keep_dir: Path,
        max_recording_bytes: int,
        clock: Callable[[], datetime] = utcnow,
        sealer: Sealer | None = None,
        notices: SkipNotices | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.submit = submit
        self.tenant_id = tenant_id
        self.terms_version = terms_version
        self.notices = notices
        self.sealer = sealer
        self.keep_dir = keep_dir
        self.max_recording_bytes = max_recording_bytes
        self.clock = clock

    async def reclaim(self) -> int:
        """Put back rows left claimed by a worker that died. Only for a caller that knows no
        one else works rows now: the Graph job, which runs alone in the cluster."""
        async with self.sessions() as session:
            result = await session.execute(
                update(MeetingMedia)
                .where(MeetingMedia.tenant_id == self.tenant_id, MeetingMedia.status == "working")
                .values(status="pending", next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def due(self, limit: int = 50) -> list[int]:
        """Rows to work now: pending and due."""
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.execute(
                select(MeetingMedia.id)
                .where(
                    MeetingMedia.tenant_id == self.tenant_id,
                    _due(now),
                )
                .order_by(MeetingMedia.id)
                .limit(limit)
            )
            return list(rows.scalars())

    async def work(self, row_id: int) -> str | None:
        """Work one row if it is due and nobody else is; its status afterwards, or None when
        it was not ours to work."""
        row = await self._claim(row_id)
        if row is None:
            return None
        known = _Attempt()
        try:
            return await self._work(row, known)
        except GraphPaymentRequiredError:
            log.error("Graph billing is not set up: %s", BILLING_HELP)
            return await self._give_up(row, BILLING_HELP, known, action="graph_billing_required")
        except GraphThrottledError as exc:
            return await self._later(row, str(exc), exc.retry_after, known)
        except GraphError as exc:
            log.warning("%s %s: %s", row.kind, row.item_id, exc)
            return await self._later(row, _reason(exc), None, known)
        except Exception as exc:
            # A reply we cannot read, or a bug: this row's failure, tried again with the same
            # backoff and given up on after MAX_ATTEMPTS, never a stop for the other rows.
            log.exception("%s %s: unexpected error", row.kind, row.item_id)
            return await self._later(row, f"{type(exc).__name__}: {exc}", None, known)

    async def _claim(self, row_id: int) -> MeetingMedia | None:
        now = self.clock()
        async with self.sessions() as session:
            claimed = await session.execute(
                update(MeetingMedia)
                .where(
                    MeetingMedia.id == row_id,
                    _due(now),
                )
                .values(status="working", attempts=MeetingMedia.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return await session.get(MeetingMedia, row_id)

    async def _work(self, row: MeetingMedia, known: _Attempt) -> str:
        ref = MeetingRef(row.organizer_id, row.meeting_id)
        if row.kind == RECORDING and await self._meeting_has_run(row):
            return await self._finish(row, "skipped", "the meeting's transcript made its run")
        if not await self._agreed():
            # Not even the meeting is read: the tenant has not agreed to its processing.
            if self.notices is not None:
                self.notices.skipped(self.tenant_id, Skip.NO_CONSENT, self.terms_version)
            why = Decision(False, Skip.NO_CONSENT, terms_version=self.terms_version).why
            return await self._finish(row, "skipped", why, drop_content=True, skip=Skip.NO_CONSENT)
        meeting = await self.client.get_meeting(ref)
        licensed = await licensed_people(self.sessions, self.tenant_id, meeting.people)
        if not licensed:
            # Not fetched at all: nobody in the meeting has Smart Notes on.
            return await self._finish(row, "skipped", "no licensed, switched-on participant")
        owner = licensed[0]
        known.owner, known.subject = owner, meeting.subject
        await self._learn_zone(owner, meeting.people)
        data = await self._content(row, ref)
        submitted = await self.submit(
            CallEvent(
                tenant_id=self.tenant_id,
                owner_email=owner.email,
                source=RunSource.TEAMS_MEETING,
                call_id=meeting.ref.meeting_id,
                idempotency_key=f"graph:{row.kind}:{row.item_id}",
                transcript=data,
                transcript_name="transcript.vtt" if row.kind == TRANSCRIPT else "recording.mp4",
                call_started_at=meeting.start,
                call_url=meeting.join_url,
                participants=_participants(meeting),
            )
        )
        if submitted.run_id is None:
            reason = submitted.why or (
                str(submitted.skipped) if submitted.skipped else "not processed"
            )
            return await self._finish(row, "skipped", reason, drop_content=True)
        confidential = await self._confidential(submitted.run_id)
        # A confidential run's transcript lives only in the run, until processing ends.
        return await self._finish(
            row, "submitted", None, run_id=submitted.run_id, drop_content=confidential
        )

    async def _learn_zone(self, owner: Licensed, people: Sequence[Person]) -> None:
        """The run's owner's time zone from their mailbox settings, when Teams has not told us
        yet: "by Friday" in a meeting is read where the rep is. Without the permission or a
        mailbox, the tenant's default zone stands."""
        async with self.sessions() as session:
            user = await session.get(User, owner.user_id)
        if user is None or user.timezone:
            return
        graph_id = user.aad_object_id or next(
            (
                p.user_id
                for p in people
                if p.user_id and (p.upn or "").lower() == owner.email.lower()
            ),
            None,
        )
        if not graph_id:
            return
        try:
            zone = await self.client.mailbox_time_zone(graph_id)
        except GraphError as exc:
            log.info("mailbox time zone of %s not read: %s", owner.email, exc)
            return
        if zone is None:
            return
        async with self.sessions() as session, session.begin():
            found = await session.get(User, owner.user_id, with_for_update=True)
            if found is not None and not found.timezone:
                found.timezone = zone

    async def _content(self, row: MeetingMedia, ref: MeetingRef) -> bytes:
        """The kept copy, or the one download (billed per minute) written down at once."""
        kept = await asyncio.to_thread(_read_kept, row.file_ref, self.sealer)
        if kept is not None:
            return kept
        if row.kind == TRANSCRIPT:
            data = await self.client.transcript_content(ref, row.item_id)
        else:
            data = await self.client.recording_content(
                ref, row.item_id, max_bytes=self.max_recording_bytes
            )
        path = self._path(row)
        await asyncio.to_thread(_write, path, data, self.sealer)
        async with self.sessions() as session:
            await session.execute(
                update(MeetingMedia)
                .where(MeetingMedia.id == row.id)
                .values(file_ref=str(path), fetched_at=self.clock())
            )
            await session.commit()
        row.file_ref = str(path)
        return data

    def _path(self, row: MeetingMedia) -> Path:
        digest = hashlib.sha256(f"{row.tenant_id}/{row.item_id}".encode()).hexdigest()[:32]
        suffix = ".vtt" if row.kind == TRANSCRIPT else ".mp4"
        return self.keep_dir / row.kind / f"{digest}{suffix}"

    async def _meeting_has_run(self, row: MeetingMedia) -> bool:
        async with self.sessions() as session:
            found = await session.execute(
                select(MeetingMedia.id).where(
                    MeetingMedia.tenant_id == row.tenant_id,
                    MeetingMedia.meeting_id == row.meeting_id,
                    MeetingMedia.kind == TRANSCRIPT,
                    MeetingMedia.status == "submitted",
                )
            )
            return found.first() is not None

    async def _confidential(self, run_id: str) -> bool:
        async with self.sessions() as session:
            run = await session.get(Run, run_id)
            return bool(run is not None and run.confidential)

    async def _finish(
        self,
        row: MeetingMedia,
        status: str,
        reason: str | None,
        *,
        run_id: str | None = None,
        drop_content: bool = False,
        skip: Skip | None = None,
    ) -> str:
        if drop_content and row.file_ref:
            await asyncio.to_thread(Path(row.file_ref).unlink, missing_ok=True)
        async with self.sessions() as session:
            await session.execute(
                update(MeetingMedia)
                .where(MeetingMedia.id == row.id)
                .values(
                    status=status,
                    error=reason,
                    run_id=run_id,
                    next_attempt_at=None,
                    **({"file_ref": None} if drop_content else {}),
                )
            )
            if status == "skipped":
                session.add(
                    AuditEntry(
                        actor="system",
                        action="meeting_skipped",
                        detail={
                            "kind": row.kind,
                            "item": row.item_id,
                            "reason": reason,
                            "tenant": self.tenant_id,
                            "skip": code(skip) if skip else None,
                        },
                    )
                )
            await session.commit()
        return status

    async def _agreed(self) -> bool:
        async with self.sessions() as session:
            return bool(await session.scalar(select(covering(self.tenant_id, self.terms_version))))

    async def _later(
        self, row: MeetingMedia, reason: str, retry_after: float | None, known: _Attempt
    ) -> str:
        if row.attempts >= MAX_ATTEMPTS:
            return await self._give_up(
                row, f"gave up after {row.attempts} attempts: {reason}", known
            )
        backoff = min(30.0 * 2 ** (row.attempts - 1), 3600.0)
        delay = max(backoff, retry_after or 0.0)
        async with self.sessions() as session:
            await session.execute(
                update(MeetingMedia)
                .where(MeetingMedia.id == row.id)
                .values(
                    status="pending",
                    error=reason,
                    next_attempt_at=self.clock() + timedelta(seconds=delay),
                )
            )
            await session.commit()
        return "pending"

    async def _give_up(
        self, row: MeetingMedia, reason: str, known: _Attempt, *, action: str = ""
    ) -> str:
        async with self.sessions() as session:
            if known.owner is not None:
                # The rep would otherwise wait for notes that never come.
                subject = known.subject or "your Teams meeting"
                notify(
                    session,
                    known.owner.user_id,
                    None,
                    Kind.FETCH_FAILED,
                    f'Smart Notes could not get the transcript of "{subject}" from Teams. '
                    "Your administrator can see why (smartnotes graph status) and retry it.",
                )
            await session.execute(
                update(MeetingMedia)
                .where(MeetingMedia.id == row.id)
                .values(status="failed", error=reason, next_attempt_at=None)
            )
            session.add(
                AuditEntry(
                    actor="system",
                    action=action or "meeting_fetch_failed",
                    detail={"kind": row.kind, "item": row.item_id, "reason": reason},
                )
            )
            await session.commit()
        return "failed"


async def licensed_people(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, people: Sequence[Person]
) -> list[Licensed]:
    """The meeting's people who have a seat and Smart Notes on, in the meeting's order
    (organizer first): the first one owns the run."""
    ids = {p.user_id.lower() for p in people if p.user_id}
    emails = {p.upn.strip().lower() for p in people if p.upn}
    if not ids and not emails:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(User.id, User.email, User.aad_object_id)
            .join(Tenant, Tenant.id == User.tenant_id)
            .join(Seat, and_(Seat.user_id == User.id, Seat.tenant_id == User.tenant_id))
            .where(
                User.tenant_id == tenant_id,
                Tenant.enabled.is_(True),
                User.enabled.is_(True),
                or_(User.aad_object_id.in_(ids), User.email.in_(emails)),
            )
        )
        users = list(rows)
    by_id = {str(aad).lower(): Licensed(uid, email) for uid, email, aad in users if aad}
    by_email = {str(email).lower(): Licensed(uid, email) for uid, email, _ in users}
    ordered: list[Licensed] = []
    for person in people:
        match = (by_id.get(person.user_id.lower()) if person.user_id else None) or (
            by_email.get(person.upn.strip().lower()) if person.upn else None
        )
        if match is not None and match not in ordered:
            ordered.append(match)
    return ordered


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        MeetingMedia.status == "pending",
        or_(MeetingMedia.next_attempt_at.is_(None), MeetingMedia.next_attempt_at <= now),
    )


def _participants(meeting: Meeting) -> tuple[Participant, ...]:
    return tuple(
        Participant(person.display_name or "", person.upn or "")
        for person in meeting.people
        if person.display_name or person.upn
    )


def _read_kept(ref: str | None, sealer: Sealer | None) -> bytes | None:
    if not ref:
        return None
    try:
        if sealer is not None:
            return b"".join(sealer.chunks(Path(ref)))
        return Path(ref).read_bytes()
    except (FileNotFoundError, SealError):
        return None  # downloaded again: a kept copy that cannot be read is no copy


def _write(path: Path, data: bytes, sealer: Sealer | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if sealer is not None:
        sealer.seal_file(io.BytesIO(data), path)
        return
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(path)


def _reason(exc: GraphError) -> str:
    if isinstance(exc, GraphNotFoundError):
        return "not available yet (Graph answered 404)"
    return str(exc)
