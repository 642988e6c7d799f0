"""Revisions in the order the vendor reported them: a narrow table of sightings, the ``late``
mark on revisions, older-revision counts in the ledger, un-cancelling; and every stored
report's revisions and current row recomputed under the ordering rule.

Before this revision the current row was the content that *arrived* last. The sightings are
rebuilt from the revisions and from the archived answers (which also hold the resends that
were only counted), then every report with more than one sighting or revision is recomputed
(:func:`toefl_access.store.ordering.reorder`). A ledger row (``params``: ``{"upgrade":
"0004", ...}``) says how many reports got another current content (``corrected``) and how
many another history (``reordered``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from toefl_access.store import schema as s
from toefl_access.store.ordering import reorder_all

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

_CHUNK = 500


def upgrade() -> None:
    op.create_table(
        "report_sightings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("report_key", sa.Text, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archive_id", sa.BigInteger),
    )  # fmt: skip
    op.create_index("ux_report_sightings_place", "report_sightings",
                    ["report_key", "window_start", "line", "content_hash"], unique=True)
    op.add_column("report_revisions",
                  sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("sync_runs", sa.Column("older_reports", sa.Integer))
    op.add_column("cancellations",
                  sa.Column("action", sa.Text, nullable=False, server_default="cancel"))
    conn = op.get_bind()
    conn.execute(sa.text(
        "INSERT INTO report_sightings (report_key, window_start, line, content_hash, window_end,"
        " run_id, received_at, archive_id) SELECT report_key, window_start, COALESCE(line, 0),"
        " content_hash, window_end, run_id, received_at, archive_id FROM report_revisions"
        " WHERE id IN (SELECT min(id) FROM report_revisions"
        " GROUP BY report_key, window_start, COALESCE(line, 0), content_hash) ORDER BY id"
    ))  # fmt: skip
    # Archived answers keep ID numbers as the mode of their run had them: after a change of
    # mode their digests are those of content stored under the old mode, and sightings of
    # it could bring (e.g.) clear ID numbers back as current. Then only the revisions count.
    modes = {json.loads(p).get("sensitive") for (p,) in conn.execute(sa.text(
        "SELECT params FROM sync_runs"))} - {None}  # fmt: skip
    from_archive: int | str = (
        _sightings_from_archive(conn) if len(modes) <= 1
        else "skipped: the sensitive mode changed between runs"
    )
    reorder_all(conn, why={"upgrade": "0004", "sightings_from_archive": from_archive})


def _sightings_from_archive(conn: sa.Connection) -> int:
    """Add the sightings the archived answers hold beyond the revisions (resends, which were
    only counted): records whose content is one the report has had. Answers that cannot be
    read with the built-in layouts (a custom layout) are left out."""
    from toefl_access.errors import ToeflAccessError
    from toefl_access.sync.preparing import prepare

    a, r, g = s.response_archive, s.report_revisions, s.report_sightings
    entries = conn.execute(
        sa.select(a.c.id, a.c.run_id, a.c.window_start, a.c.window_end, a.c.format,
                  a.c.received_at, a.c.sha256).order_by(a.c.id)
    ).all()  # fmt: skip
    added = 0
    for id_, run_id, start, end, fmt, received_at, sha in entries:
        body = conn.execute(
            sa.select(a.c.body).where(a.c.sha256 == sha, a.c.body.is_not(None)).limit(1)
        ).scalar()
        if body is None:
            continue
        try:
            items, _parse = prepare(zlib.decompress(body), fmt)
        except (ToeflAccessError, zlib.error):
            continue
        rows: list[dict[str, Any]] = []
        keys = list(dict.fromkeys(i.key for i in items))
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            known = {(k, bytes(d)) for k, d in conn.execute(
                sa.select(r.c.report_key, r.c.content_hash).where(r.c.report_key.in_(part)))}
            there = {(k, n, bytes(d)) for k, n, d in conn.execute(
                sa.select(g.c.report_key, g.c.line, g.c.content_hash)
                .where(g.c.report_key.in_(part), g.c.window_start == start))}  # fmt: skip
            part_set = set(part)
            rows.extend(
                {"report_key": item.key, "window_start": start, "line": item.line,
                 "content_hash": item.digest, "window_end": end, "run_id": run_id,
                 "received_at": received_at, "archive_id": id_}
                for item in items
                if item.key in part_set and (item.key, item.digest) in known
                and (item.key, item.line, item.digest) not in there
            )  # fmt: skip
        if rows:
            conn.execute(g.insert(), rows)
            added += len(rows)
    return added


def downgrade() -> None:
    with op.batch_alter_table("cancellations") as batch:
        batch.drop_column("action")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("older_reports")
    with op.batch_alter_table("report_revisions") as batch:
        batch.drop_column("late")
    op.drop_index("ux_report_sightings_place", table_name="report_sightings")
    op.drop_table("report_sightings")
