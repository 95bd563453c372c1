"""The search index over calls: segments, and the database's own full-text index on them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_adapters.sqltypes

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: an external-content FTS5 table over search_segments.text, kept by triggers.
_SQLITE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "text, content='search_segments', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER search_fts_insert AFTER INSERT ON search_segments BEGIN "
    "INSERT INTO search_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER search_fts_delete AFTER DELETE ON search_segments BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER search_fts_update AFTER UPDATE ON search_segments BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO search_fts(rowid, text) VALUES (new.id, new.text); END",
)
# PostgreSQL: the text's vector stored beside it (ranking reads it instead of parsing every
# matching text again) and a GIN index on it.
_POSTGRES = (
    "ALTER TABLE search_segments ADD COLUMN search_fts_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_search_segments_fts ON search_segments USING gin (search_fts_vector)",
)


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("indexed_at", crm_adapters.sqltypes.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_runs_updated_at"), ["updated_at"], unique=False)
    op.create_table(
        "search_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=True),
        sa.Column("speaker", sa.String(length=200), nullable=True),
        sa.Column("start_seconds", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_search_segments_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_segments")),
    )
    op.create_index(op.f("ix_search_segments_run_id"), "search_segments", ["run_id"], unique=False)
    op.create_index(
        "ix_search_segments_tenant_customer",
        "search_segments",
        ["tenant_id", "customer_id"],
        unique=False,
    )
    statements = _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_fts_insert", "search_fts_delete", "search_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_segments_fts")
        op.execute("ALTER TABLE search_segments DROP COLUMN IF EXISTS search_fts_vector")
    op.drop_index("ix_search_segments_tenant_customer", table_name="search_segments")
    op.drop_index(op.f("ix_search_segments_run_id"), table_name="search_segments")
    op.drop_table("search_segments")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_updated_at"))
        batch_op.drop_column("indexed_at")
