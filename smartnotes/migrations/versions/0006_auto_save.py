"""Auto-save: the save mode of tenants and reps, and when a run was ready and auto-saved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 21:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_adapters.sqltypes

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("save_mode", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("auto_save_after_hours", sa.Float(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("save_mode", sa.String(length=10), nullable=True))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ready_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "auto_saved_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("auto_save_blocked", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("auto_save_blocked")
        batch_op.drop_column("auto_saved_at")
        batch_op.drop_column("ready_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("save_mode")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("auto_save_after_hours")
        batch_op.drop_column("save_mode")
