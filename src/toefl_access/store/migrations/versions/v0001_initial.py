"""The first schema: reports, revisions, the response archive, the run ledger, coverage.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

# The typed report columns as they were at this revision (frozen here on purpose: later
# layout changes get their own migration). T text, I integer, F float, D date.
FIELDS = (
    ("institution_code", "T"), ("department_code", "T"), ("registration_number", "T"),
    ("last_name", "T"), ("first_name", "T"), ("middle_name", "T"), ("address_line1", "T"),
    ("address_line2", "T"), ("address_line3", "T"), ("address_line4", "T"), ("city", "T"),
    ("state", "T"), ("country_code", "T"), ("country_name", "T"), ("postal_code", "T"),
    ("native_country_code", "T"), ("native_country_name", "T"), ("native_language_code", "T"),
    ("native_language_name", "T"), ("date_of_birth", "D"), ("gender", "T"), ("test_date", "D"),
    ("test_center_code", "T"), ("test_type", "T"), ("listening_indicator", "T"),
    ("speaking_indicator", "T"), ("listening", "I"), ("reading", "I"), ("speaking", "I"),
    ("writing", "I"), ("total", "I"), ("pb_reason", "T"), ("pb_degree", "T"),
    ("pb_section1", "I"), ("pb_section2", "I"), ("pb_section3", "I"), ("pb_twe", "I"),
    ("pb_total", "I"), ("interpretive_info_year", "T"), ("times_taken", "T"),
    ("no_response_off_topic", "T"), ("email", "T"), ("ibt_test_center_code", "T"),
    ("test_center_country", "T"), ("security_id_type", "T"), ("security_id_number", "T"),
    ("security_id_country", "T"), ("rpdt_listening", "I"), ("rpdt_reading", "I"),
    ("rpdt_writing", "I"), ("mybest_listening", "I"), ("mybest_listening_date", "D"),
    ("mybest_reading", "I"), ("mybest_reading_date", "D"), ("mybest_writing", "I"),
    ("mybest_writing_date", "D"), ("mybest_speaking", "I"), ("mybest_speaking_date", "D"),
    ("mybest_total", "I"), ("mybest_total_date", "D"), ("unidentified_824", "T"),
    ("ibt26_listening", "F"), ("ibt26_reading", "F"), ("ibt26_speaking", "F"),
    ("ibt26_writing", "F"), ("ibt26_total", "F"), ("ibt26_listening_cefr", "T"),
    ("ibt26_reading_cefr", "T"), ("ibt26_speaking_cefr", "T"), ("ibt26_writing_cefr", "T"),
    ("ibt26_total_cefr", "T"), ("ibt26_comparable_total", "I"), ("mybest26_listening", "F"),
    ("mybest26_listening_date", "D"), ("mybest26_reading", "F"), ("mybest26_reading_date", "D"),
    ("mybest26_speaking", "F"), ("mybest26_speaking_date", "D"), ("mybest26_writing", "F"),
    ("mybest26_writing_date", "D"), ("mybest26_total", "F"), ("mybest26_total_date", "D"),
    ("essentials_listening", "I"), ("essentials_reading", "I"), ("essentials_writing", "I"),
    ("essentials_speaking", "I"), ("essentials_total", "T"), ("essentials_mybest_listening", "I"),
    ("essentials_mybest_listening_date", "D"), ("essentials_mybest_reading", "I"),
    ("essentials_mybest_reading_date", "D"), ("essentials_mybest_writing", "I"),
    ("essentials_mybest_writing_date", "D"), ("essentials_mybest_speaking", "I"),
    ("essentials_mybest_speaking_date", "D"), ("essentials_mybest_total", "T"),
    ("essentials_mybest_total_date", "D"), ("essentials_listening_cefr", "T"),
    ("essentials_reading_cefr", "T"), ("essentials_writing_cefr", "T"),
    ("essentials_speaking_cefr", "T"), ("essentials_total_cefr", "T"),
    ("essentials_sentence_construction", "I"), ("essentials_vocabulary", "I"),
    ("report_date", "D"),
)  # fmt: skip
TYPES = {"T": sa.Text, "I": sa.Integer, "F": sa.Float, "D": sa.Date}


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
        autoincrement=True,
    )


def _instant(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _instant("started_at"),
        _instant("finished_at", nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("windows_planned", sa.Integer),
        sa.Column("windows_done", sa.Integer),
        sa.Column("windows_failed", sa.Integer),
        sa.Column("statuses", sa.Text),
        sa.Column("new_reports", sa.Integer),
        sa.Column("changed_reports", sa.Integer),
        sa.Column("unchanged_reports", sa.Integer),
        sa.Column("warnings", sa.Integer),
        sa.Column("bytes_received", sa.BigInteger),
        sa.Column("duration_s", sa.Float),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "score_reports",
        _id(),
        sa.Column("report_key", sa.Text, nullable=False, unique=True),
        *(sa.Column(name, TYPES[t]()) for name, t in FIELDS),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("layout", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("extra", sa.Text),
        sa.Column("warnings", sa.Text),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        _instant("first_seen"),
        _instant("last_seen"),
        sa.Column("revisions", sa.Integer, nullable=False),
    )
    op.create_table(
        "response_archive",
        _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
        _instant("window_start"),
        _instant("window_end"),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        _instant("received_at"),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("compression", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary),
    )
    op.create_table(
        "report_revisions",
        _id(),
        # No foreign keys here: see schema.py.
        sa.Column("report_key", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        # The content columns are NULL on a report's current revision: its content is the
        # score_reports row (stored once); they are filled when a newer revision replaces it.
        sa.Column("raw", sa.LargeBinary),
        sa.Column("layout", sa.Text),
        sa.Column("format", sa.Text),
        sa.Column("fields", sa.Text),
        sa.Column("extra", sa.Text),
        sa.Column("warnings", sa.Text),
        _instant("received_at"),
        sa.Column("run_id", sa.Integer, nullable=False),
        _instant("window_start"),
        _instant("window_end"),
        sa.Column("archive_id", sa.BigInteger),
        sa.Column("line", sa.Integer),
        sa.UniqueConstraint("report_key", "revision", name="uq_report_revisions_key_revision"),
    )
    op.create_table(
        "window_coverage",
        _id(),
        _instant("window_start"),
        _instant("window_end"),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
        _instant("completed_at"),
    )
    op.create_table(
        "window_failures",
        _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
        _instant("window_start"),
        _instant("window_end"),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text, nullable=False),
        _instant("failed_at"),
    )


def downgrade() -> None:
    for table in (
        "window_failures", "window_coverage", "report_revisions", "response_archive",
        "score_reports", "sync_runs",
    ):
        op.drop_table(table)
