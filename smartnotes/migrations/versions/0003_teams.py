"""Teams: the reps' personal-chat conversation references, the card message per run, and
the meeting-end events handed to the transcript fetch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:34:15.099726
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_adapters.sqltypes

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_ends",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("meeting_id", sa.String(length=500), nullable=False),
        sa.Column("join_url", sa.String(length=2000), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("ended_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversation_id", sa.String(length=300), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=True),
        sa.Column("received_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_meeting_ends_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_ends")),
        sa.UniqueConstraint("tenant_id", "meeting_id", name=op.f("uq_meeting_ends_tenant_id")),
    )
    op.create_table(
        "teams_conversations",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("installed_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("greeted_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.Column("blocked_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_teams_conversations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_teams_conversations")),
    )
    op.create_index(
        op.f("ix_teams_conversations_conversation_id"),
        "teams_conversations",
        ["conversation_id"],
        unique=False,
    )

    op.create_table(
        "run_cards",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=300), nullable=False),
        sa.Column("activity_id", sa.String(length=300), nullable=False),
        sa.Column("shown_version", sa.Integer(), nullable=False),
        sa.Column("shown_step", sa.String(length=20), nullable=True),
        sa.Column("announced_status", sa.String(length=20), nullable=True),
        sa.Column("updated_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_cards_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_cards")),
    )


def downgrade() -> None:
    op.drop_table("run_cards")
    op.drop_index(op.f("ix_teams_conversations_conversation_id"), table_name="teams_conversations")

    op.drop_table("teams_conversations")
    op.drop_table("meeting_ends")
