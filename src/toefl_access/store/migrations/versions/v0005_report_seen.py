"""A narrow table for ``last_seen``: a re-sync of an unchanged range no longer rewrites the
wide report rows (see ``report_seen`` in :mod:`toefl_access.store.schema`). Existing values
stay in ``score_reports.last_seen``; readers take the later of the two.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_seen",
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("report_seen")
