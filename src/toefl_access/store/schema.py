"""The database schema, as SQLAlchemy Core tables (the newest revision).

The tables are created and changed only by the migrations in ``migrations/versions``; this
module describes the result, for queries. A test compares the two after ``upgrade``.

==================== ==========================================================================
table                what it holds
==================== ==========================================================================
``score_reports``    the current version of every report, one row per identity
                     (``registration_number + test_date + institution_code +
                     department_code``, kept as ``report_key``): a typed column for every data
                     field of both built-in layouts, the raw line, its content hash, first and
                     last seen, and the number of revisions
``report_revisions`` every version of a report, in the order the vendor reported them (see
                     :mod:`.ordering`), with the window and line where it begins and the run
                     and archived response that brought it (``late``: it arrived after a
                     newer revision, by a backfill or a retry). Its content columns
                     (``raw``, ``layout``, ``format``, ``fields``, ``extra``, ``warnings``)
                     are NULL on the current revision, whose content is the
                     ``score_reports`` row, and are filled when a newer one replaces it:
                     each content is stored once (:meth:`Store.revisions` joins them)
``report_sightings`` every record of every answer, narrow: report key, window, line,
                     content digest, run and arrival; the revisions are computed from these
``response_archive`` every API answer body, zlib-compressed, with its SHA-256 and window, so a
                     layout correction can re-parse everything without calling the API
``sync_runs``        the run ledger
``window_coverage``  the UTC intervals ``[window_start, window_end)`` written completely
``window_failures``  the windows that failed, per run
``sync_locks``       who holds the sync lock (SQLite's lock itself; informative on PostgreSQL)
``match_decisions``  what people decided about an applicant and a test sitting
                     (``registration_number + test_date``: every copy of that test):
                     ``confirmed`` or ``rejected``, append-only; a pair's current decision is
                     its row with the highest id
``match_runs``       the ledger of ``toefl-access match`` runs: roster, sizes, counts, settings
``match_proposals``  the pairs the latest match run proposed (``match`` or ``review``, with a
                     score and its reasons); each run replaces them
==================== ==========================================================================

All instants are UTC. SQLite stores them as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (which sorts
correctly), PostgreSQL as ``timestamptz``; :class:`UTCDateTime` returns aware datetimes on both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ..formats import layout as layouts
from ..formats.record import SECTIONS

#: The newest migration revision; ``open_store`` upgrades any older database to it.
HEAD = "0007"
#: The name of Alembic's version table (not ``alembic_version``, so that a PostgreSQL
#: database shared with another Alembic-managed application does not clash).
VERSION_TABLE = "toefl_access_schema_version"

#: The text layout of instants in SQLite (SQLAlchemy's own storage format for DATETIME).
SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An instant: aware UTC datetimes in and out (naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a value written by hand in another format
            value = dt.datetime.fromisoformat(value)
        return to_utc(value)


def to_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _sql_type(kind: str) -> sa.types.TypeEngine[Any]:
    if kind == "score":
        return sa.Integer()
    if kind == "band":
        return sa.Float()
    if kind == "date":
        return sa.Date()
    return sa.Text()


def field_kinds() -> dict[str, str]:
    """Every data field of the built-in layouts (current first, then legacy-only) by kind."""
    return {f.name: f.kind for f in layouts.builtin_fields()}


FIELD_KINDS = field_kinds()
FIELDS = tuple(FIELD_KINDS)
DATE_FIELDS = tuple(n for n, k in FIELD_KINDS.items() if k == "date")
#: Per-report bookkeeping columns of ``score_reports`` (after the typed fields).
REPORT_META = (
    "raw", "layout", "format", "extra", "warnings", "content_hash",
    "first_seen", "last_seen", "revisions",
)  # fmt: skip

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

score_reports = sa.Table(
    "score_reports",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.Text, nullable=False, unique=True),
    *(sa.Column(name, _sql_type(kind)) for name, kind in FIELD_KINDS.items()),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("layout", sa.Text, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("warnings", sa.Text),
    sa.Column("content_hash", sa.LargeBinary, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("revisions", sa.Integer, nullable=False),
    sa.Column("cancelled_at", UTCDateTime),
    sa.Column("cancel_reason", sa.Text),
    sa.Index("ix_score_reports_first_seen", "first_seen"),
    sa.Index("ix_score_reports_department", "institution_code", "department_code"),
    sa.Index("ix_score_reports_registration_number", "registration_number"),
    # `show` and the report page look up the other registrations of one ID number (hash).
    sa.Index("ix_score_reports_security_id_number", "security_id_number"),
)

#: When each report was last seen in an answer, if later than ``score_reports.last_seen``
#: (the time its row was last written). A re-sync of an unchanged range moves only these
#: narrow rows: rewriting a 2.3 KB report row to move one instant cost more than the rest
#: of the re-sync (PostgreSQL keeps a new version of every row it updates). A report's last
#: sighting is the later of the two.
report_seen = sa.Table(
    "report_seen",
    metadata,
    sa.Column("report_id", BigId, primary_key=True, autoincrement=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
)



def last_seen(reports: sa.Table | sa.sql.Alias) -> sa.sql.elements.Label[dt.datetime]:
    """A report's last sighting, the later of its row's and ``report_seen``'s (select it
    from :func:`with_seen`)."""
    seen = report_seen.c.last_seen
    return sa.type_coerce(
        sa.case((seen > reports.c.last_seen, seen), else_=reports.c.last_seen), UTCDateTime()
    ).label("last_seen")


def with_seen(reports: Any) -> Any:
    """``reports`` (a table or a join that starts with it) joined to ``report_seen``."""
    return reports.outerjoin(report_seen, report_seen.c.report_id == score_reports.c.id)


sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("windows_planned", sa.Integer),
    sa.Column("windows_done", sa.Integer),
    sa.Column("windows_failed", sa.Integer),
    sa.Column("statuses", sa.Text),
    sa.Column("new_reports", sa.Integer),
    sa.Column("changed_reports", sa.Integer),
    sa.Column("unchanged_reports", sa.Integer),
    sa.Column("older_reports", sa.Integer),
    sa.Column("warnings", sa.Integer),
    sa.Column("bytes_received", sa.BigInteger),
    sa.Column("duration_s", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("pid", sa.Integer),
    # The run's exit code (0-3, the CLI's contract; None while running or when it was killed)
    # and a short sha256 fingerprint of the key it used: key health without the key.
    sa.Column("exit_code", sa.Integer),
    sa.Column("key_fingerprint", sa.Text),
)

response_archive = sa.Table(
    "response_archive",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("compression", sa.Text, nullable=False),
    # NULL when an identical body (same sha256) is already archived in another row.
    sa.Column("body", sa.LargeBinary),
    sa.Column("records", sa.Integer),
    sa.Index("ix_response_archive_sha256", "sha256"),
)

# No foreign keys on report_revisions (one row per report written): the write path keeps it
# consistent under the sync lock in one transaction, and on PostgreSQL three FK checks per
# row cost more than the row itself.
report_revisions = sa.Table(
    "report_revisions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.LargeBinary, nullable=False),
    # Content (raw .. warnings) is NULL on the current revision: the score_reports row holds
    # it, so every distinct content is stored once. It is moved here when superseded.
    sa.Column("raw", sa.LargeBinary),
    sa.Column("layout", sa.Text),
    sa.Column("format", sa.Text),
    sa.Column("fields", sa.Text),
    sa.Column("extra", sa.Text),
    sa.Column("warnings", sa.Text),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("archive_id", sa.BigInteger),
    sa.Column("line", sa.Integer),
    sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("report_key", "revision", name="uq_report_revisions_key_revision"),
)

# One row per record of an answer, at its place in it: what the revisions are computed from
# (the ordering rule, :mod:`.ordering`). A re-read of the same window adds nothing.
report_sightings = sa.Table(
    "report_sightings",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.Text, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.LargeBinary, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("archive_id", sa.BigInteger),
    sa.Index("ux_report_sightings_place", "report_key", "window_start", "line", "content_hash",
             unique=True),
)

window_coverage = sa.Table(
    "window_coverage",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
    sa.Column("completed_at", UTCDateTime, nullable=False),
)

window_failures = sa.Table(
    "window_failures",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("sync_runs.id"), nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", UTCDateTime, nullable=False),
)

sync_locks = sa.Table(
    "sync_locks",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("heartbeat", UTCDateTime, nullable=False),
)

# Cancellations come by e-mail and in the TOEFL Access web UI, not through the feed: a person
# records them here. The report row is marked (cancelled_at), never deleted.
cancellations = sa.Table(
    "cancellations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_key", sa.Text, nullable=False),
    sa.Column("registration_number", sa.Text, nullable=False),
    sa.Column("test_date", sa.Date, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("cancelled_at", UTCDateTime, nullable=False),
    # ``cancel``, or ``reinstate`` (``cancel remove``: the mark withdrawn).
    sa.Column("action", sa.Text, nullable=False, server_default="cancel"),
    sa.Index("ix_cancellations_report_key", "report_key"),
)

# Where each named delta export (``export --since-last NAME``) got to: the highest revision
# and cancellation ids it included. Moved only after the file is completely written.
export_bookmarks = sa.Table(
    "export_bookmarks",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("revision_id", sa.BigInteger, nullable=False),
    sa.Column("cancellation_id", sa.Integer, nullable=False),
    sa.Column("exported_at", UTCDateTime, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("target", sa.Text),
)

# Alerts sent about the feed (``[alerts]``): one row each time an event opens or resolves.
# An event's current state is its latest row; ``delivered`` maps each channel to "ok" or its
# error (JSON), so an alert no channel delivered is sent again by the next run.
alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer),
    sa.Column("delivered", sa.Text, nullable=False),
    sa.Index("ix_alert_events_event", "event", "id"),
)

# Store-wide settings, e.g. the key of the keyed hash of ID numbers (``sensitive = hash``).
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Matching applicants to test sittings (``toefl-access match``, :mod:`.matching`). A pair is
# an applicant and a sitting (registration number + test date), which covers every
# institution and department copy of that test. Decisions are append-only: the current one
# of a pair is its row with the highest id; history is never rewritten.
match_decisions = sa.Table(
    "match_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("applicant_id", sa.Text, nullable=False),
    sa.Column("registration_number", sa.Text, nullable=False),
    sa.Column("test_date", sa.Date, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False),
    # Where it came from: ``cli``, or ``csv:FILE:LINE`` for an imported decision.
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("note", sa.Text),
    sa.CheckConstraint("decision IN ('confirmed', 'rejected')",
                       name="ck_match_decisions_decision"),
    sa.Index("ix_match_decisions_sitting", "registration_number", "test_date"),
    sa.Index("ix_match_decisions_applicant", "applicant_id"),
)

# One row per match run; ``counts`` and ``settings`` are JSON objects.
match_runs = sa.Table(
    "match_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("roster", sa.Text, nullable=False),
    sa.Column("applicants", sa.Integer, nullable=False),
    sa.Column("reports", sa.Integer, nullable=False),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
)

# The proposals of the latest match run only (a run replaces them all), one per pair: the
# primary key (sitting first) also serves the look-ups of one registration number.
match_proposals = sa.Table(
    "match_proposals",
    metadata,
    sa.Column("registration_number", sa.Text, primary_key=True),
    sa.Column("test_date", sa.Date, primary_key=True),
    sa.Column("applicant_id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("match_runs.id"), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    # The reasons of the score, joined by "; ".
    sa.Column("reasons", sa.Text, nullable=False),
    sa.CheckConstraint("decision IN ('match', 'review')", name="ck_match_proposals_decision"),
    sa.Index("ix_match_proposals_applicant", "applicant_id"),
)


def scale_of(t: sa.Table | None = None) -> sa.ColumnElement[str]:
    """The score scale of a report row, as :meth:`Store.status` counts them: ``0-120``
    (a section or total on the 0-120 scale), ``1-6`` (an iBT26 band), ``both`` or ``none``."""
    c = (score_reports if t is None else t).c
    old = sa.or_(*(c[n].is_not(None) for n in (*SECTIONS, "total")))
    new = sa.or_(*(c[f"ibt26_{n}"].is_not(None) for n in (*SECTIONS, "total")))
    return sa.case((sa.and_(old, new), "both"), (old, "0-120"), (new, "1-6"), else_="none")
