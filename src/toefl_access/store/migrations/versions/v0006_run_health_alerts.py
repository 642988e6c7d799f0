"""Feed health: each run's exit code and key fingerprint in the ledger, and the alerts log
(``alert_events``). Runs recorded before this migration have neither (shown as unknown).
An index on the ID-number column, for the other registrations of one person (``show``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_runs", sa.Column("exit_code", sa.Integer))
    op.add_column("sync_runs", sa.Column("key_fingerprint", sa.Text))
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("delivered", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_events_event", "alert_events", ["event", "id"])
    op.create_index("ix_score_reports_security_id_number", "score_reports",
                    ["security_id_number"])


def downgrade() -> None:
    op.drop_index("ix_score_reports_security_id_number", "score_reports")
    op.drop_index("ix_alert_events_event", "alert_events")
    op.drop_table("alert_events")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("key_fingerprint")
        batch.drop_column("exit_code")
