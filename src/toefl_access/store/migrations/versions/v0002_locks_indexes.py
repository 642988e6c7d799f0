"""The sync lock table, the number of records per archived body, the run's process id,
indexes for status, exports and archive de-duplication, and (PostgreSQL) storage settings
that make writes cheaper.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_score_reports_first_seen", "score_reports", ["first_seen"]),
    ("ix_score_reports_department", "score_reports", ["institution_code", "department_code"]),
    ("ix_score_reports_registration_number", "score_reports", ["registration_number"]),
    ("ix_response_archive_sha256", "response_archive", ["sha256"]),
)


def upgrade() -> None:
    op.create_table(
        "sync_locks",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=False),
    )
    # Nullable columns: SQLite adds them in place, no table copy needed.
    op.add_column("response_archive", sa.Column("records", sa.Integer))
    op.add_column("sync_runs", sa.Column("pid", sa.Integer))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_context().dialect.name == "postgresql":
        _tune_postgresql()


def _tune_postgresql() -> None:
    # Room on each page for the new version of a row whose last_seen moved (a re-sync
    # touches every report of its windows): such updates stay on the page (HOT) and leave
    # the indexes alone. Applies to pages written from now on.
    op.execute("ALTER TABLE score_reports SET (fillfactor = 70)")
    # Archived bodies are zlib-compressed already: do not try again.
    op.execute("ALTER TABLE response_archive ALTER COLUMN body SET STORAGE EXTERNAL")
    # A report row is just over the size where PostgreSQL compresses it; lz4 (PostgreSQL 14+,
    # when built with it) does that in half the time of the default pglz.
    if _has_lz4():
        for table in ("score_reports", "report_revisions"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION lz4")


def _has_lz4() -> bool:
    row = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return row is not None


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE score_reports RESET (fillfactor)")
        op.execute("ALTER TABLE response_archive ALTER COLUMN body SET STORAGE EXTENDED")
        if _has_lz4():
            for table in ("score_reports", "report_revisions"):
                op.execute(f"ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION DEFAULT")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("pid")
    with op.batch_alter_table("response_archive") as batch:
        batch.drop_column("records")
    op.drop_table("sync_locks")
