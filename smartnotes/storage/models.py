"""The service's tables. Alembic migrations in ``smartnotes/migrations`` produce exactly these
(a test compares them on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_adapters.sqltypes import NAMING, UTCDateTime
from pipeline.events import utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RunSource(StrEnum):
    TEAMS_MEETING = "teams_meeting"
    CALLING_TOOL = "calling_tool"
    UPLOAD = "upload"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    NEEDS_REVIEW = "needs_review"
    SAVING = "saving"
    SAVED = "saved"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WRITTEN = "written"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # Off switch for the whole tenant: calls are not processed at all.
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # "review" or "auto" (save unreviewed notes after a while); null: the service's default.
    save_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)
    auto_save_after_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The time zone deadlines are read in when a rep's own zone is unknown; null: the service's.
    default_timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # The Entra ID object id, when known (Teams and Graph name users by it).
    aad_object_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    confidential_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # The rep's IANA time zone, as Teams (clientInfo) or their mailbox settings report it.
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The rep's own choice of save mode; null: the tenant's.
    save_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Consent(Base):
    """A tenant's agreement to AI processing of its calls: who agreed, when, to which version
    of the terms. Without one for the terms in force nothing of the tenant's is processed."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_tenant_accepted", "tenant_id", "accepted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    terms_version: Mapped[str] = mapped_column(String(40))
    accepted_by: Mapped[str] = mapped_column(String(320))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Seat(Base):
    __tablename__ = "seats"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(200), default="")
    # The persona cohort the rep belongs to (deal-closer, relationship-builder, all-rounder,
    # or the tenant's own label): success metrics and limits are read per cohort.
    cohort: Mapped[str | None] = mapped_column(String(60), nullable=True)


class Run(Base):
    """One call on its way from transcript to CRM."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "idempotency_key"),
        Index("ix_runs_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[str] = mapped_column(String(300))
    # The same event twice (same call id or a sender's idempotency key) is one run.
    idempotency_key: Mapped[str] = mapped_column(String(300))
    call_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    transcript_ref: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    transcript_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.QUEUED)
    step: Mapped[str | None] = mapped_column(String(30), nullable=True)
    summary_generated: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary_edited: Mapped[str | None] = mapped_column(Text, nullable=True)
    extractor: Mapped[str | None] = mapped_column(String(20), nullable=True)
    extractor_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    extractor_fallback_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # What had to be repaired in the extractor's answer; shown beside the tasks.
    extractor_repairs: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # What the customer's open tasks changed (a task not proposed again because it is open).
    task_notes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    failed_step: Mapped[str | None] = mapped_column(String(30), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    notify_when_done: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the notes were first ready for review: the auto-save window counts from here.
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Saved without the rep (auto-save), and why an auto-save could not happen (once told).
    auto_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    auto_save_blocked: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Optimistic locking for the rep's edits: a stale version is a 409, not an overwrite.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )
    # The deal coach's next steps, objections and sentiment (``smartnotes.coaching``); null
    # until it ran.
    coaching: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The ``updated_at`` the search index was last rebuilt from (``smartnotes.search``).
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RunStep(Base):
    __tablename__ = "run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunTask(Base):
    __tablename__ = "run_tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    generated: Mapped[dict[str, Any]] = mapped_column(JSON)
    edited: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.PROPOSED)
    crm_task_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The task's page in the CRM, when the CRM gives one: the review links the saved task.
    crm_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "summary" or a run task's id.
    target: Mapped[str] = mapped_column(String(40))
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CrmWrite(Base):
    """The outbox: every CRM write, queued until it lands; the key makes it land once."""

    __tablename__ = "crm_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(String(40), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Notification(Base):
    """What the rep is told outside the review page: a run ready after "inform me later", a
    failure while the page was closed, a CRM write that cannot land. The bot and the CRM
    deliver these; the record stays so nothing depends on a delivery succeeding."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RunAttendee(Base):
    """Who attended a run's call, by e-mail: attendees may see and review its notes (unless
    the run is confidential, which only its owner sees)."""

    __tablename__ = "run_attendees"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), primary_key=True, index=True)


class TeamsConversation(Base):
    """Where the bot reaches a rep in Teams: the personal chat's conversation reference, kept
    from the installation on (proactive messages need it; a process dict would lose it)."""

    __tablename__ = "teams_conversations"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[str] = mapped_column(String(300), index=True)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    greeted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The rep blocked the bot: Teams answers 403 and nothing is sent until they reinstall.
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RunCard(Base):
    """The card message that shows a run in the rep's chat, updated in place as it moves."""

    __tablename__ = "run_cards"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(300))
    activity_id: Mapped[str] = mapped_column(String(300))
    # The run version the message shows: an update is sent only when the run moved on.
    shown_version: Mapped[int] = mapped_column(Integer, default=0)
    shown_step: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The last status the rep was told about with a message of its own (ready, failed): an
    # updated card does not notify in Teams, a new message does.
    announced_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class MeetingBrief(Base):
    """A pre-meeting brief for one rep and one event of their calendar, claimed (inserted, or
    taken back after a failed send) in a transaction before it is sent: one rep never gets a
    meeting's brief twice, whichever worker looks and however often."""

    __tablename__ = "meeting_briefs"
    __table_args__ = (UniqueConstraint("user_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The event's iCalUId (the same in every attendee's calendar), else Graph's event id.
    event_id: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    customer_id: Mapped[str] = mapped_column(String(200))
    # sending (claimed), sent, failed (the next look-ahead before the meeting tries again).
    status: Mapped[str] = mapped_column(String(20), default="sending")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MeetingEnd(Base):
    """A Teams meeting that ended where the app is installed, recorded for the transcript fetch
    (the same event delivered twice is one row)."""

    __tablename__ = "meeting_ends"
    __table_args__ = (UniqueConstraint("tenant_id", "meeting_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    meeting_id: Mapped[str] = mapped_column(String(500))
    join_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    conversation_id: Mapped[str] = mapped_column(String(300))
    reported_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # pending while its transcript is looked for; then found, none or failed.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Resolved from the join URL: what Graph names the meeting by.
    organizer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    online_meeting_id: Mapped[str | None] = mapped_column(String(500), nullable=True)
    polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class GraphSubscription(Base):
    """A Graph change-notification subscription this service created and keeps renewed
    (stored, so a restart neither forgets nor duplicates it)."""

    __tablename__ = "graph_subscriptions"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Not a foreign key: an admin may subscribe before the first seat sets the tenant up.
    tenant_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(1000))
    change_type: Mapped[str] = mapped_column(String(60))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    include_resource_data: Mapped[bool] = mapped_column(Boolean, default=False)
    # active; removed (Graph dropped it, or it was replaced by a new one).
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class GraphInbox(Base):
    """A change or lifecycle notification as received, kept before Graph gets its 202 and
    worked off afterwards: a crash between the two loses nothing."""

    __tablename__ = "graph_inbox"
    __table_args__ = (Index("ix_graph_inbox_status", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    subscription_id: Mapped[str] = mapped_column(String(100))
    lifecycle_event: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resource: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # The resource data (decrypted, for rich notifications).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending, done, ignored (nothing for us in it), failed (given up, reason in error).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MeetingMedia(Base):
    """A meeting's transcript (or recording) as Graph lists it, found by a notification, the
    catch-up or the poll after the meeting ended; one row however often it is found. Downloads
    are billed per minute, so the content is fetched once and kept (a confidential run's copy
    only until processing ends)."""

    __tablename__ = "meeting_media"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "item_id"),
        Index("ix_meeting_media_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Not a foreign key: Graph announces meetings before (or without) the tenant's first seat.
    tenant_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[str] = mapped_column(String(500))
    organizer_id: Mapped[str] = mapped_column(String(64))
    meeting_id: Mapped[str] = mapped_column(String(500))
    found_by: Mapped[str] = mapped_column(String(20))
    # pending, skipped (no licensed participant, or all switched off), submitted, failed.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    file_ref: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GraphCursor(Base):
    """Where the catch-up left off per organizer: the delta link Graph handed out."""

    __tablename__ = "graph_cursors"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UsageRecord(Base):
    """What one processing of a call used, for the rep's seat: metered per seat and month and
    exported for billing. Not tied to the run's row: usage outlives the run's retention."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # 1 for a call's first processing; 0 for a re-run of its task extraction.
    calls: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    claude_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    claude_output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    local_model_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    extractor: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The cohort limit that sent this call to the local extractor, when one did.
    limited_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class EvalScore(Base):
    """The quality score of ``smartnotes eval`` over a tenant's own labelled calls."""

    __tablename__ = "eval_scores"
    __table_args__ = (Index("ix_eval_scores_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    calls: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SearchSegment(Base):
    """What a rep can search across calls: a run's note, its tasks and its transcript's
    segments, by customer. Rebuilt from the run whenever the run changes. Who may see a hit is
    decided from the run at query time (the review's visibility rule), never copied here.

    The full-text index is the database's own, outside the models: an FTS5 table kept by
    triggers on SQLite; on PostgreSQL a stored generated column ``search_fts_vector``
    (``to_tsvector('english', text)``) with a GIN index (migration 0012)."""

    __tablename__ = "search_segments"
    __table_args__ = (Index("ix_search_segments_tenant_customer", "tenant_id", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # note, task or transcript.
    kind: Mapped[str] = mapped_column(String(20))
    # The task's id for a task; null otherwise.
    ref: Mapped[str | None] = mapped_column(String(40), nullable=True)
    speaker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Seconds from the start of the call, for a transcript segment.
    start_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str] = mapped_column(Text)


class SearchEmbedding(Base):
    """A search segment's vector from the embeddings endpoint (``SMARTNOTES_SEARCH__*``), for
    ranking by meaning: unit length, little-endian float32 (``smartnotes.search.vectors``).
    It goes with its segment (the foreign key cascades) and with its segment's words: a
    trigger deletes it when the text is rewritten in place (erasure), so no vector outlives
    the words it came from. Confidential runs' segments get none.

    With PostgreSQL's pgvector, migration 0015 adds a ``vector`` column ``embedding_pg`` with
    the same vector, outside the models, and the search ranks with it in the database."""

    __tablename__ = "search_embeddings"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("search_segments.id", ondelete="CASCADE"), primary_key=True
    )
    # The endpoint's model name as configured: another model's vectors are not comparable.
    model: Mapped[str] = mapped_column(String(200))
    dims: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
