"""The rep's time zone (from Teams or their mailbox) and the tenant's default.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 01:35:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("default_timezone")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("timezone")
