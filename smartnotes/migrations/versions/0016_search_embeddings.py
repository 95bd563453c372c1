"""Search segments' vectors from an embeddings endpoint, for ranking by meaning.

On PostgreSQL where the pgvector extension can be had, a ``vector`` column beside the bytes
(left out of the model comparison, like the full-text vector of 0012); elsewhere the bytes
alone, compared in Python. Either way a trigger drops a vector when its segment's text is
rewritten in place (erasure), so that no vector outlives the words it was made from.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TRIGGER = (
    "CREATE TRIGGER search_embeddings_text_changed AFTER UPDATE OF text ON search_segments "
    "WHEN old.text IS NOT new.text BEGIN "
    "DELETE FROM search_embeddings WHERE segment_id = old.id; END"
)
_POSTGRES_TRIGGER = (
    "CREATE FUNCTION search_embeddings_text_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM search_embeddings WHERE segment_id = OLD.id; RETURN NULL; END $$",
    "CREATE TRIGGER search_embeddings_text_changed AFTER UPDATE OF text ON search_segments "
    "FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text) "
    "EXECUTE FUNCTION search_embeddings_text_changed()",
)


def upgrade() -> None:
    op.create_table(
        "search_embeddings",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["search_segments.id"],
            name=op.f("fk_search_embeddings_segment_id_search_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_search_embeddings")),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_TRIGGER)
        return
    for statement in _POSTGRES_TRIGGER:
        op.execute(statement)
    if _pgvector():
        # No dimension on the column: it is the endpoint's, known from its first answer. No
        # approximate index either: a search compares one rep's segments, exactly
        # (smartnotes.search.semantic).
        op.execute("ALTER TABLE search_embeddings ADD COLUMN embedding_pg vector")


def _pgvector() -> bool:
    """Whether the ``vector`` type is usable here, creating the extension if it is installed
    on the server and this role may create it; a refusal leaves the upgrade going."""
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if installed is None:
        return False
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
    else:
        savepoint.commit()
    # Created here, or earlier in a schema on the search path: either way usable unqualified.
    return bool(bind.execute(sa.text("SELECT to_regtype('vector') IS NOT NULL")).scalar())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS search_embeddings_text_changed")
    else:
        op.execute("DROP TRIGGER IF EXISTS search_embeddings_text_changed ON search_segments")
        op.execute("DROP FUNCTION IF EXISTS search_embeddings_text_changed()")
    # The extension stays: other tables may use it, and it is the administrator's.
    op.drop_table("search_embeddings")
