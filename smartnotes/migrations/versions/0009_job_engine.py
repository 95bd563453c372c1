"""The job engine's tables: procrastinate's own schema on PostgreSQL, and the same tables for
the embedded SQLite connector (``smartnotes.jobs.sqlite_connector``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 05:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

from smartnotes.jobs.sqlite_connector import JOB_TABLES, SCHEMA

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Everything procrastinate's schema creates besides its tables, found by name in the schema
# the migration runs in.
_DROP_POSTGRES_OBJECTS = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || item.signature || ' CASCADE';
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
          AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(item.typname) || ' CASCADE';
    END LOOP;
END $$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SCHEMA:
            op.execute(statement)
        return
    # procrastinate's schema is one script of many statements (functions, triggers, types):
    # the driver runs it as it is, as procrastinate's own `schema --apply` does.
    driver = bind.connection.driver_connection
    if driver is None:
        raise RuntimeError("the migration's connection is closed")
    await_only(driver.execute(SchemaManager.get_schema()))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name != "sqlite"
    for table in reversed(JOB_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}" + (" CASCADE" if postgres else ""))
    if postgres:
        op.execute(_DROP_POSTGRES_OBJECTS)
