"""Turning an incoming call into a run: the gate, idempotency, and the rep's "don't process"."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pipeline.events import utcnow
from smartnotes.runs.gate import Skip, code, decide
from smartnotes.runs.offload import sized
from smartnotes.storage.models import (
    AuditEntry,
    Run,
    RunAttendee,
    RunSource,
    RunStatus,
    Tenant,
    User,
    new_id,
)
from smartnotes.storage.sealed import Sealer, is_sealed


@dataclass(frozen=True)
class Participant:
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class CallEvent:
    """A finished call, from Teams, the calling tool or an upload."""

    tenant_id: str
    owner_email: str
    source: RunSource
    call_id: str
    # In memory, or a file (large audio) that becomes the run's own when the run is created.
    transcript: bytes | Path
    transcript_name: str = "transcript.vtt"
    idempotency_key: str | None = None
    call_started_at: datetime | None = None
    # None: the rep's own zone, else their tenant's, else the service's default.
    timezone: str | None = None
    call_url: str | None = None
    participants: tuple[Participant, ...] = field(default_factory=tuple)
    opted_out: bool = False
    confidential: bool | None = None


@dataclass(frozen=True)
class Submitted:
    run_id: str | None
    created: bool
    skipped: Skip | None = None
    # The reason as told to the caller (the skip, with what it depends on: the terms' version).
    why: str | None = None


async def rep_timezone(session: AsyncSession, user: User, default: str) -> str:
    """Where deadlines are read for this rep: their own zone (from Teams or their mailbox),
    else their tenant's default, else the service's."""
    if user.timezone:
        return user.timezone
    tenant = await session.get(Tenant, user.tenant_id)
    return (tenant.default_timezone if tenant is not None else None) or default


INCOMING = "incoming"
# Opened copies of sealed files, while a step reads them.
PLAIN = ".plain"
# A day: longer than any upload or download is allowed to take.
STALE_INCOMING_SECONDS = 24 * 3600.0


class TranscriptStore:
    """Transcripts and recordings on disk, one file per run, removable on demand; sealed
    (AES-256-GCM, ``storage.sealed``) when storage keys are configured."""

    def __init__(self, root: Path, sealer: Sealer | None = None) -> None:
        self.root = root
        self.sealer = sealer

    def save(self, run_id: str, data: bytes | Path, name: str) -> str:
        """Keep the run's transcript or recording; a file (from ``incoming``) is moved, not
        copied, so hundreds of megabytes of audio are never read again to be kept (sealed, it
        is read once, a chunk at a time, and the plain upload removed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        suffix = Path(name).suffix.lower()[:8] or ".bin"
        path = self.root / f"{run_id}{suffix}"
        if self.sealer is not None:
            if isinstance(data, Path):
                with data.open("rb") as source:
                    self.sealer.seal_file(source, path)
                data.unlink(missing_ok=True)
            else:
                self.sealer.seal_file(io.BytesIO(data), path)
            return str(path)
        if isinstance(data, Path):
            data.replace(path)  # same file system: one rename, never a half-written file
            return str(path)
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # never a half-written transcript under the final name
        return str(path)

    def read_bytes(self, ref: str) -> bytes:
        """The stored file's content, opened if sealed. Raises FileNotFoundError, SealError."""
        path = Path(ref)
        if self.sealer is None:
            return path.read_bytes()
        return b"".join(self.sealer.chunks(path))

    @asynccontextmanager
    async def plain(self, ref: str) -> AsyncIterator[Path]:
        """A path to the stored file's plain content for as long as the block runs: the file
        itself, or (sealed) a copy opened into a private folder and removed afterwards."""
        path = Path(ref)
        if self.sealer is None or not await asyncio.to_thread(is_sealed, path):
            yield path
            return
        folder = self.root / PLAIN
        opened = folder / path.name
        sealer = self.sealer

        def open_copy() -> None:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(opened, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                for chunk in sealer.chunks(path):
                    out.write(chunk)

        try:
            await asyncio.to_thread(open_copy)
            yield opened
        finally:
            await asyncio.to_thread(opened.unlink, True)

    def incoming(self) -> Path:
        """Where a request's large media waits, beside the runs' files (a rename moves it in)."""
        folder = self.root / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sweep_incoming(self, older_than: float = STALE_INCOMING_SECONDS) -> int:
        """Remove what a killed process left in ``incoming`` (and opened copies of sealed
        files); a live upload is never that old. Returns how many entries were removed."""
        removed = self._sweep(self.root / PLAIN, older_than)
        return removed + self._sweep(self.root / INCOMING, older_than)

    def _sweep(self, folder: Path, older_than: float) -> int:
        if not folder.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in folder.iterdir():
            try:
                if entry.lstat().st_mtime >= cutoff:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
            except FileNotFoundError:  # another process swept it first
                continue
        return removed

    def delete(self, ref: str | None) -> None:
        delete_files([ref])


def delete_files(refs: Iterable[str | None]) -> None:
    """Remove stored files by their refs (a run's transcript, a kept download); gone is fine."""
    for ref in refs:
        if ref:
            Path(ref).unlink(missing_ok=True)


async def submit_call(
    sessions: async_sessionmaker[AsyncSession],
    store: TranscriptStore,
    event: CallEvent,
    default_timezone: str = "UTC",
    *,
    terms_version: str,
) -> Submitted:
    """Create the run for a call, or find the one the same event already created."""
    key = event.idempotency_key or event.call_id
    async with sessions() as session:
        existing = await _existing(session, event.tenant_id, event.source, key)
        if existing is not None:
            return Submitted(existing.id, created=False)
        decision = await decide(
            session,
            event.tenant_id,
            event.owner_email,
            terms_version=terms_version,
            opted_out=event.opted_out,
            confidential=event.confidential,
        )
        if not decision.process or decision.user is None:
            # Nothing about the call is kept but the decision itself.
            session.add(
                AuditEntry(
                    actor="system",
                    action="call_skipped",
                    detail={
                        "source": event.source,
                        "reason": decision.why,
                        "skip": code(decision.reason) if decision.reason else None,
                        "tenant": event.tenant_id,
                        "user": event.owner_email.strip().lower(),
                    },
                )
            )
            await session.commit()
            return Submitted(None, created=False, skipped=decision.reason, why=decision.why)
        run = Run(
            id=new_id(),  # known now, so the transcript is stored without a round trip
            tenant_id=event.tenant_id,
            owner_id=decision.user.id,
            source=event.source,
            call_id=event.call_id,
            idempotency_key=key,
            call_url=event.call_url,
            call_started_at=event.call_started_at,
            timezone=event.timezone or await rep_timezone(session, decision.user, default_timezone),
            participants=[{"name": p.name, "email": p.email} for p in event.participants],
            confidential=decision.confidential,
            status=RunStatus.QUEUED,
        )
        session.add(run)
        for email in sorted({p.email.strip().lower() for p in event.participants if p.email}):
            session.add(RunAttendee(run_id=run.id, email=email))
        # A file is renamed into place: no bytes to write, nothing to hand to a thread.
        size = len(event.transcript) if isinstance(event.transcript, bytes) else 0
        run.transcript_ref = await sized(
            size, store.save, run.id, event.transcript, event.transcript_name
        )
        session.add(
            AuditEntry(
                actor="system",
                run_id=run.id,
                action="run_created",
                detail={"source": event.source, "confidential": decision.confidential},
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            # The same event, arriving at the same moment, was committed first.
            await session.rollback()
            await asyncio.to_thread(store.delete, run.transcript_ref)
            winner = await _existing(session, event.tenant_id, event.source, key)
            if winner is None:
                raise
            return Submitted(winner.id, created=False)
        return Submitted(run.id, created=True)


async def stop_processing(
    sessions: async_sessionmaker[AsyncSession], store: TranscriptStore, run_id: str, *, by: str
) -> Run | None:
    """The rep's "don't process this call": cancel the run and delete its transcript."""
    async with sessions() as session, session.begin():
        run = await session.get(Run, run_id, with_for_update=True)
        if run is None:
            return None
        await asyncio.to_thread(store.delete, run.transcript_ref)
        run.transcript_ref = None
        run.transcript_deleted_at = utcnow()
        run.status = RunStatus.CANCELLED
        run.version += 1
        session.add(AuditEntry(actor=by, run_id=run.id, action="run_cancelled", detail={}))
        return run


async def find_run(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, source: str, key: str
) -> str | None:
    """The run an event with this idempotency key already created, if any."""
    async with sessions() as session:
        run = await _existing(session, tenant_id, source, key)
    return run.id if run is not None else None


async def _existing(session: AsyncSession, tenant_id: str, source: str, key: str) -> Run | None:
    return (
        await session.execute(
            select(Run).where(
                Run.tenant_id == tenant_id, Run.source == source, Run.idempotency_key == key
            )
        )
    ).scalar_one_or_none()
