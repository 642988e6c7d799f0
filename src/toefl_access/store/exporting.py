"""Store queries for exports and deltas (``export --since-last``).

A delta is defined by ids, not by clocks: ``report_revisions.id`` follows the order in
which revisions arrived (sync writes are serialized), and ``cancellations.id`` the order in
which cancellations were recorded. A bookmark keeps the highest id of each that an export
under its name included; the next delta holds the reports with a new current revision or a
cancellation above them (a ``late`` revision, an older one that arrived after a newer one,
is history and not news: the ordering rule in :mod:`.ordering`). The rows and the ids that
close the delta are read in ONE snapshot, so a sync that commits meanwhile is neither
half-included nor skipped: it lands in the next delta.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from ..errors import StoreError, UsageError
from . import schema as s
from .core import StoreCore

#: ``--where`` names besides the data fields, and the report columns they test.
WHERE_META = {"_layout": "layout", "_format": "format", "_revisions": "revisions",
              "_cancelled": "cancelled_at"}


class Position(NamedTuple):
    """How far a delta reaches: the highest revision id and cancellation id it includes."""

    revision_id: int
    cancellation_id: int


class Bookmark(msgspec.Struct, frozen=True):
    """Where the exports under ``name`` got to, and what the last one wrote."""

    name: str
    revision_id: int
    cancellation_id: int
    exported_at: dt.datetime
    rows: int
    target: str | None

    @property
    def position(self) -> Position:
        return Position(self.revision_id, self.cancellation_id)


@dataclass(slots=True)
class ExportBatch:
    """The rows of one export (iterate ``rows`` inside the ``with``), and for a delta the
    bookmark it starts from (None the first time) and the position it reaches."""

    rows: Iterator[dict[str, Any]]
    previous: Bookmark | None = None
    until: Position | None = None


class ExportReader(StoreCore):
    """What the exporters read from the store.

    Each row is a dict: the report's key (``report_key``), every data field by canonical
    name (typed), ``raw``, ``layout``, ``format``, ``extra`` (dict), ``warnings`` (list of
    dicts), ``first_seen``, ``last_seen``, ``revisions``, ``cancelled_at``,
    ``cancel_reason``, ``line`` (of the current revision in its API answer), ``changed_at``
    (when the current revision arrived) and ``change`` (``new``, ``changed``,
    ``cancelled``; None outside deltas and ``changed_since``).
    """

    @contextmanager
    def export_rows(
        self,
        *,
        where: Mapping[str, Sequence[Any]] | None = None,
        changed_since: dt.datetime | None = None,
        since_last: str | None = None,
    ) -> Iterator[ExportBatch]:
        """The reports to export, oldest first, streamed from one consistent snapshot.

        ``where`` maps a field (or ``_layout``, ``_format``, ``_revisions``,
        ``_cancelled``) to the typed values it may take (None: blank); fields are ANDed,
        values ORed. ``changed_since`` keeps the reports whose current revision arrived
        or which were cancelled at or after that instant. ``since_last`` keeps those new,
        changed or cancelled since the bookmark of that name (everything the first time);
        it does not move the bookmark: :meth:`advance_bookmark` does, once the file is safe.
        A report cancelled now is ``cancelled`` whatever else changed.
        """
        if changed_since is not None and since_last is not None:
            raise UsageError("use --changed-since or --since-last, not both")
        t = s.score_reports
        cur = s.report_revisions.alias("current_revision")
        last_seen = s.last_seen(t)
        query = (
            sa.select(
                t.c.report_key, *(t.c[n] for n in s.FIELDS),
                *(last_seen if n == "last_seen" else t.c[n] for n in s.REPORT_META),
                t.c.cancelled_at, t.c.cancel_reason, cur.c.line.label("line"),
                cur.c.received_at.label("changed_at"),
            )
            .select_from(s.with_seen(t.outerjoin(cur, sa.and_(
                cur.c.report_key == t.c.report_key, cur.c.revision == t.c.revisions))))
            .where(*_conditions(where or {}))
            .order_by(t.c.id)
        )
        with self._guard("reading the reports to export"), self._snapshot() as conn:
            previous: Bookmark | None = None
            until: Position | None = None
            if since_last is not None:
                previous = _bookmark(conn, since_last)
                until = _position(conn)
                query = _delta(query, previous.position if previous else Position(0, 0), until)
            elif changed_since is not None:
                since = s.to_utc(changed_since)
                query = query.add_columns(
                    sa.case((t.c.first_seen >= since, 1), else_=2).label("first_revision"),
                    sa.case((t.c.cancelled_at >= since, 1)).label("cancel_hit"),
                ).where(sa.or_(cur.c.received_at >= since, t.c.cancelled_at >= since))
            result = conn.execution_options(yield_per=1000).execute(query)
            rows = _rows(result, delta=since_last is not None or changed_since is not None)
            yield ExportBatch(rows=rows, previous=previous, until=until)

    def bookmark(self, name: str) -> Bookmark | None:
        """The bookmark of that name, or None."""
        with self._guard("reading an export bookmark"), self._read() as conn:
            return _bookmark(conn, name)

    def bookmarks(self) -> list[Bookmark]:
        """Every export bookmark, by name."""
        b = s.export_bookmarks
        with self._guard("reading the export bookmarks"), self._read() as conn:
            return [_to_bookmark(row) for row in conn.execute(sa.select(b).order_by(b.c.name))]

    def advance_bookmark(
        self,
        name: str,
        *,
        since: Position | None,
        until: Position,
        rows: int,
        target: str | None,
        at: dt.datetime | None = None,
    ) -> Bookmark:
        """Move the bookmark ``name`` from ``since`` (None: it did not exist) to ``until``,
        in one small transaction; call it only once the export's file is safely written.

        When the bookmark is no longer at ``since`` (another export under the same name
        finished meanwhile) nothing moves and :class:`StoreError` says so: the file just
        written repeats reports rather than skipping any.
        """
        b = s.export_bookmarks
        at = s.to_utc(at or dt.datetime.now(dt.UTC))
        with self._guard("moving an export bookmark"), self._write() as conn:
            query = sa.select(b.c.revision_id, b.c.cancellation_id).where(b.c.name == name)
            if self.backend == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            now = Position(*row) if row else None
            if now != since:
                raise StoreError(
                    f"the export bookmark {name!r} moved while this export ran (another "
                    f"export under the same name?); it stays where that one left it, so the "
                    f"next export under {name!r} starts from there and nothing is skipped"
                )
            values = dict(revision_id=until.revision_id, cancellation_id=until.cancellation_id,
                          exported_at=at, rows=rows, target=target)
            if row is None:
                conn.execute(b.insert().values(name=name, **values))
            else:
                conn.execute(b.update().where(b.c.name == name).values(**values))
        return Bookmark(name=name, revision_id=until.revision_id,
                        cancellation_id=until.cancellation_id, exported_at=at, rows=rows,
                        target=target)

    @contextmanager
    def _snapshot(self) -> Iterator[sa.Connection]:
        """A read-only transaction whose queries all see the same committed state.

        (SQLite's read transaction already does; PostgreSQL's default level takes a new
        snapshot for every statement.)
        """
        if self.backend != "postgresql":
            with self._read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
            with conn.begin():
                yield conn


def _conditions(where: Mapping[str, Sequence[Any]]) -> list[sa.ColumnElement[bool]]:
    t = s.score_reports
    known = set(s.FIELDS)
    out: list[sa.ColumnElement[bool]] = []
    for name, values in where.items():
        if name not in known and name not in WHERE_META:
            raise UsageError(
                f"cannot filter on {name!r}: use one of {', '.join((*s.FIELDS, *WHERE_META))}"
            )
        column = t.c[WHERE_META.get(name, name)]
        if name == "_cancelled":
            out.append(sa.or_(*(column.is_not(None) if v else column.is_(None) for v in values)))
            continue
        some = [v for v in values if v is not None]
        tests = [column.in_(some)] if some else []
        if len(some) < len(values):
            tests.append(column.is_(None))
        out.append(sa.or_(*tests))
    return out


def _position(conn: sa.Connection) -> Position:
    r, c = s.report_revisions, s.cancellations
    revision = conn.execute(sa.select(sa.func.coalesce(sa.func.max(r.c.id), 0))).scalar_one()
    cancel = conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.c.id), 0))).scalar_one()
    return Position(int(revision), int(cancel))


def _delta(query: sa.Select[Any], since: Position, until: Position) -> sa.Select[Any]:
    """The query narrowed to reports with a new current revision or a cancellation in
    (since, until]. Revisions marked ``late`` (an older revision that arrived after a newer
    one: history, see :mod:`.ordering`) are not news. A report is new when it has no
    revision at or before ``since``."""
    t, r, c = s.score_reports, s.report_revisions, s.cancellations
    revised = (
        sa.select(r.c.report_key)
        .where(r.c.id > since.revision_id, r.c.id <= until.revision_id, r.c.late.is_(False))
        .distinct()
        .subquery("revised")
    )
    oldest = (
        sa.select(r.c.report_key, sa.func.min(r.c.id).label("first_id"))
        .where(r.c.report_key.in_(sa.select(revised.c.report_key)))
        .group_by(r.c.report_key)
        .subquery("oldest")
    )
    cancelled = (
        sa.select(
            c.c.report_key,
            sa.func.max(sa.case((c.c.action == "reinstate", 2), else_=1)).label("cancel_hit"),
        )
        .where(c.c.id > since.cancellation_id, c.c.id <= until.cancellation_id)
        .group_by(c.c.report_key)
        .subquery("cancelled")
    )
    first = sa.case((oldest.c.first_id > since.revision_id, 1), else_=2)
    return (
        query.add_columns(
            sa.case((revised.c.report_key.is_not(None), first)).label("first_revision"),
            cancelled.c.cancel_hit,
        )
        .outerjoin(revised, revised.c.report_key == t.c.report_key)
        .outerjoin(oldest, oldest.c.report_key == t.c.report_key)
        .outerjoin(cancelled, cancelled.c.report_key == t.c.report_key)
        .where(sa.or_(revised.c.report_key.is_not(None), cancelled.c.report_key.is_not(None)))
    )


def _rows(result: sa.CursorResult[Any], *, delta: bool) -> Iterator[dict[str, Any]]:
    decode = msgspec.json.decode
    keys = list(result.keys())
    for row in result:
        d = dict(zip(keys, row, strict=True))
        d["extra"] = decode(d["extra"]) if d["extra"] else {}
        d["warnings"] = decode(d["warnings"]) if d["warnings"] else []
        if delta:
            first, hit = d.pop("first_revision"), d.pop("cancel_hit")
            if d["cancelled_at"] is not None:
                d["change"] = "cancelled"
            elif first == 1:
                d["change"] = "new"
            elif hit == 2:
                d["change"] = "reinstated"  # a cancellation withdrawn (cancel remove)
            elif first is not None or hit:
                d["change"] = "changed"
        else:
            d["change"] = None
        yield d


def _bookmark(conn: sa.Connection, name: str) -> Bookmark | None:
    b = s.export_bookmarks
    row = conn.execute(sa.select(b).where(b.c.name == name)).first()
    return _to_bookmark(row) if row else None


def _to_bookmark(row: sa.Row[Any]) -> Bookmark:
    m = row._mapping
    return Bookmark(name=m["name"], revision_id=int(m["revision_id"]),
                    cancellation_id=int(m["cancellation_id"]), exported_at=m["exported_at"],
                    rows=int(m["rows"]), target=m["target"])
