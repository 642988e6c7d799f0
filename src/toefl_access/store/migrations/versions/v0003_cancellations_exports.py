"""Cancellations (marked, never deleted), export bookmarks for deltas, and a small key/value
table for store-wide settings such as the key of the ID-number hash.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no table copy needed.
    op.add_column("score_reports", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("score_reports", sa.Column("cancel_reason", sa.Text))
    op.create_table(
        "cancellations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_key", sa.Text, nullable=False),
        sa.Column("registration_number", sa.Text, nullable=False),
        sa.Column("test_date", sa.Date, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cancellations_report_key", "cancellations", ["report_key"])
    op.create_table(
        "export_bookmarks",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("revision_id", sa.BigInteger, nullable=False),
        sa.Column("cancellation_id", sa.Integer, nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("target", sa.Text),
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_meta")
    op.drop_table("export_bookmarks")
    op.drop_index("ix_cancellations_report_key", table_name="cancellations")
    op.drop_table("cancellations")
    with op.batch_alter_table("score_reports") as batch:
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_at")
