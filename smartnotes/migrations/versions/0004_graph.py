"""Teams meetings through Graph: stored subscriptions, the notification inbox, one row per
transcript or recording found, catch-up cursors, and the meeting-end poll's state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 11:23:47.452855
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_adapters.sqltypes

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graph_cursors",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_graph_cursors")),
    )
    op.create_table(
        "graph_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("subscription_id", sa.String(length=100), nullable=False),
        sa.Column("lifecycle_event", sa.String(length=40), nullable=True),
        sa.Column("resource", sa.String(length=1000), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_inbox")),
    )
    with op.batch_alter_table("graph_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_graph_inbox_status", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=1000), nullable=False),
        sa.Column("change_type", sa.String(length=60), nullable=False),
        sa.Column("expires_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("include_resource_data", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_subscriptions")),
    )
    op.create_table(
        "meeting_media",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=500), nullable=False),
        sa.Column("organizer_id", sa.String(length=64), nullable=False),
        sa.Column("meeting_id", sa.String(length=500), nullable=False),
        sa.Column("found_by", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("file_ref", sa.String(length=2000), nullable=True),
        sa.Column("fetched_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_media")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "item_id", name=op.f("uq_meeting_media_tenant_id")
        ),
    )
    with op.batch_alter_table("meeting_media", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_media_status", ["status", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("meeting_ends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organizer_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("online_meeting_id", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("polls", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column(
                "next_poll_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meeting_ends", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("next_poll_at")
        batch_op.drop_column("polls")
        batch_op.drop_column("online_meeting_id")
        batch_op.drop_column("organizer_id")

    with op.batch_alter_table("meeting_media", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_media_status")

    op.drop_table("meeting_media")
    op.drop_table("graph_subscriptions")
    with op.batch_alter_table("graph_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_graph_inbox_status")

    op.drop_table("graph_inbox")
    op.drop_table("graph_cursors")
