"""What a call's extraction learnt from the customer's open tasks, and tasks completed in the
embedded CRM.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_adapters.sqltypes import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_notes", sa.JSON(), nullable=True))
    with op.batch_alter_table("crm_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_tasks", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("task_notes")
