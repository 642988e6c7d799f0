"""Matching test takers to applicants (``toefl-access match``): the decisions people make
(``match_decisions``, append-only), the ledger of match runs (``match_runs``) and the pairs
the latest run proposed (``match_proposals``, replaced by each run).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("applicant_id", sa.Text, nullable=False),
        sa.Column("registration_number", sa.Text, nullable=False),
        sa.Column("test_date", sa.Date, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.CheckConstraint("decision IN ('confirmed', 'rejected')",
                           name="ck_match_decisions_decision"),
    )
    op.create_index("ix_match_decisions_sitting", "match_decisions",
                    ["registration_number", "test_date"])
    op.create_index("ix_match_decisions_applicant", "match_decisions", ["applicant_id"])
    op.create_table(
        "match_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("roster", sa.Text, nullable=False),
        sa.Column("applicants", sa.Integer, nullable=False),
        sa.Column("reports", sa.Integer, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
    )
    op.create_table(
        "match_proposals",
        sa.Column("registration_number", sa.Text, primary_key=True),
        sa.Column("test_date", sa.Date, primary_key=True),
        sa.Column("applicant_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("match_runs.id"), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.CheckConstraint("decision IN ('match', 'review')",
                           name="ck_match_proposals_decision"),
    )
    op.create_index("ix_match_proposals_applicant", "match_proposals", ["applicant_id"])


def downgrade() -> None:
    op.drop_index("ix_match_proposals_applicant", table_name="match_proposals")
    op.drop_table("match_proposals")
    op.drop_table("match_runs")
    op.drop_index("ix_match_decisions_applicant", table_name="match_decisions")
    op.drop_index("ix_match_decisions_sitting", table_name="match_decisions")
    op.drop_table("match_decisions")
