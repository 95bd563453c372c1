"""Notifications (what the rep is told outside the review page) and run attendees (who may
see a run besides its owner).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_adapters.sqltypes

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_notifications_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_user_created", ["user_id", "created_at"], unique=False
        )
    op.create_table(
        "run_attendees",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_attendees_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "email", name=op.f("pk_run_attendees")),
    )
    with op.batch_alter_table("run_attendees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_attendees_email"), ["email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_attendees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_attendees_email"))
    op.drop_table("run_attendees")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_created")
    op.drop_table("notifications")
