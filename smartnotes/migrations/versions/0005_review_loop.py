"""The review loop: a saved task's link in the CRM, and who owns an embedded CRM customer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crm_url", sa.String(length=2000), nullable=True))
    with op.batch_alter_table("crm_customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_customers", schema=None) as batch_op:
        batch_op.drop_column("owner_email")
    with op.batch_alter_table("run_tasks", schema=None) as batch_op:
        batch_op.drop_column("crm_url")
