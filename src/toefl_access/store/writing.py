"""Writing a window: ONE transaction with its archive row, sightings, reports, revisions and
coverage.

Records are classified by report key, place and content digest *before* parsing, so the
common case of a re-sync (everything seen already) parses nothing and only moves
``last_seen``. Which revision is current follows the ordering rule of :mod:`.ordering`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from ..errors import StoreError
from ..formats.record import Record
from . import schema as s
from .core import StoreCore, _encode, _new_id, gc_paused
from .history import cancelled_among, with_cancel_warning
from .ordering import ReorderCounts, reorder, reorder_all
from .structs import Incoming, WindowCounts

ZLIB_LEVEL = 3
_FIELD_SET = frozenset(s.FIELDS)

#: ``score_reports`` columns in the order of the rows the bulk paths take.
INSERT_COLUMNS = ("report_key", *s.FIELDS, *s.REPORT_META)
#: Columns an update of a changed report sets (everything but the key and first_seen).
UPDATE_COLUMNS = tuple(c for c in INSERT_COLUMNS if c not in ("report_key", "first_seen"))
REVISION_COLUMNS = (
    "report_key", "revision", "content_hash", "raw", "layout", "format", "fields", "extra",
    "warnings", "received_at", "run_id", "window_start", "window_end", "archive_id", "line",
)  # fmt: skip
_N_FIELDS = len(s.FIELDS)


def update_params(row: list[Any]) -> list[Any]:
    """An insert row as the parameters of the update: the set columns, then the key."""
    return [*row[1 : 1 + _N_FIELDS + 6], *row[-2:], row[0]]


def quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


_Plan = tuple[Callable[[Record], list[Any]], tuple[str, ...]]
_PLANS: dict[tuple[str, ...], _Plan] = {}
_last_plan: tuple[tuple[str, ...], _Plan] | None = None


def _row_plan(names: tuple[str, ...]) -> _Plan:
    """How to turn a record whose fields are these names (in this order) into the typed
    part of a report row (with a slot for the key first), and which names have no column."""
    global _last_plan
    if _last_plan is not None and names is _last_plan[0]:
        return _last_plan[1]  # records of one parser share their names: skip the hash
    plan = _PLANS.get(names)
    if plan is None:
        if len(_PLANS) > 64:
            _PLANS.clear()
        unknown = tuple(n for n in names if n not in _FIELD_SET)
        if names == s.FIELDS[: len(names)]:  # a built-in layout's order: take values as is
            pad = [None] * (len(s.FIELDS) - len(names))

            def build(record: Record) -> list[Any]:
                return [None, *record.row(), *pad]
        else:

            def build(record: Record) -> list[Any]:
                return [None, *map(record.get, s.FIELDS)]

        plan = _PLANS[names] = (build, unknown)
    _last_plan = (names, plan)
    return plan


def _fill_content(revision: list[Any], record: Record, row: list[Any]) -> None:
    """Give a revision row its own content (it is no longer the current one)."""
    fields = {k: v for k, v in record.values.items() if v is not None}
    revision[3:9] = [row[-9], row[-8], row[-7], _encode(fields).decode(), row[-6], row[-5]]


def compress_body(body: bytes) -> bytes:
    """A body as the archive stores it (zlib); see ``write_window(compressed=...)``."""
    return zlib.compress(body, ZLIB_LEVEL)


class _Key:
    """What the write knows about one report key while classifying a window."""

    __slots__ = ("digest", "revisions")

    def __init__(self, digest: bytes, revisions: int) -> None:
        self.digest = digest
        self.revisions = revisions


class WindowWriter(StoreCore):
    """The write path of a store."""

    def write_window(
        self,
        *,
        run_id: int,
        start: dt.datetime,
        end: dt.datetime,
        fmt: str,
        body: bytes,
        sha256: str,
        status: int,
        incoming: Sequence[Incoming],
        parse: Callable[[Incoming], Record],
        received_at: dt.datetime,
        compressed: bytes | None = None,
        parse_many: Callable[[Sequence[Incoming]], list[Record]] | None = None,
    ) -> WindowCounts:
        """Write one fetched window in ONE transaction and return what it did.

        The body goes to the archive (compressed; not stored twice when an identical body,
        by ``sha256``, is already there); each record is classified by key and digest
        before parsing: *unchanged* (same content as now, or as an earlier revision that was
        resent) only moves ``last_seen``; *new* is parsed and inserted with revision 1;
        *changed* is parsed, gets revision n+1 and replaces the current row. Several records
        of one key in a window are taken in order (the last distinct content wins). If
        anything raises (``parse`` included) nothing of the window is written.

        ``compressed`` may carry :func:`compress_body` of the body, done beforehand (e.g. in
        the thread that fetched it: zlib runs without the GIL), to keep it off the writer.
        ``parse_many``, when given, parses every record that needs it in one call (a batch
        parser is much faster than ``parse`` record by record).
        """
        start, end, received_at = s.to_utc(start), s.to_utc(end), s.to_utc(received_at)
        if start >= end:
            raise StoreError(f"window start {start} is not before its end {end}")
        doing = f"writing the window {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}"
        with gc_paused(), self._guard(doing), self._write() as conn:
            archive_id = self._archive(
                conn, run_id=run_id, start=start, end=end, fmt=fmt, body=body, sha256=sha256,
                status=status, received_at=received_at, records=len(incoming),
                compressed=compressed,
            )
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                counts = self._write_records(
                    conn, cur, run_id=run_id, start=start, end=end, incoming=incoming,
                    parse=parse, received_at=received_at, archive_id=archive_id,
                    parse_many=parse_many,
                )
            finally:
                cur.close()
            conn.execute(
                s.window_coverage.insert().values(
                    window_start=start, window_end=end, run_id=run_id,
                    completed_at=dt.datetime.now(dt.UTC),
                )
            )
        return counts

    def repair_order(self, *, wait: bool = False) -> ReorderCounts:
        """Recompute every report's revisions and current row under the ordering rule
        (:mod:`.ordering`), holding the sync lock, in ONE transaction; the run ledger says
        how many reports it corrected. ``db upgrade`` runs it when ``status`` finds a
        report whose current row is not its latest revision (it should never happen)."""
        with (
            self.sync_lock(wait=wait),
            self._guard("recomputing the revisions"),
            self._write() as conn,
        ):
            return reorder_all(conn, why={"repair": "order"})

    def archived_bodies(self, start: dt.datetime, end: dt.datetime) -> set[str]:
        """The SHA-256 of every body the archive holds for windows within ``start..end``
        (a sync skips compressing an answer it already has)."""
        a = s.response_archive
        query = sa.select(a.c.sha256).distinct().where(
            a.c.body.is_not(None),
            a.c.window_start >= s.to_utc(start),
            a.c.window_end <= s.to_utc(end),
        )
        with self._guard("reading the answer archive"), self._read() as conn:
            return {sha for (sha,) in conn.execute(query)}

    def _archive(
        self, conn: sa.Connection, *, run_id: int, start: dt.datetime, end: dt.datetime,
        fmt: str, body: bytes, sha256: str, status: int, received_at: dt.datetime, records: int,
        compressed: bytes | None,
    ) -> int:
        a = s.response_archive
        seen = conn.execute(
            sa.select(a.c.id).where(a.c.sha256 == sha256, a.c.body.is_not(None)).limit(1)
        ).first()
        if seen and hashlib.sha256(body).hexdigest() != sha256:
            # Only here does a wrong hash lose data (the body would not be kept): check it.
            raise StoreError(f"the sha256 given for the window {start}..{end} is not the body's")
        if not seen and compressed is None:
            compressed = zlib.compress(body, ZLIB_LEVEL)
        result = conn.execute(
            a.insert().values(
                run_id=run_id, window_start=start, window_end=end, format=fmt, status=status,
                received_at=received_at, sha256=sha256, size=len(body), records=records,
                compression="zlib", body=None if seen else compressed,
            )
        )
        return _new_id(result)

    def _value(self, v: Any) -> Any:
        """An instant as the driver takes it."""
        if self._text_values and isinstance(v, dt.datetime):
            return v.replace(tzinfo=None).strftime(s.SQLITE_INSTANT)
        return v

    def _write_records(
        self, conn: sa.Connection, cur: Any, *, run_id: int, start: dt.datetime,
        end: dt.datetime, incoming: Sequence[Incoming], parse: Callable[[Incoming], Record],
        received_at: dt.datetime, archive_id: int,
        parse_many: Callable[[Sequence[Incoming]], list[Record]] | None,
    ) -> WindowCounts:
        """Append what comes after everything stored (the common case, in bulk); hand what
        comes before a stored sighting to :func:`.ordering.reorder` (see the rule there)."""
        when = self._value(received_at)
        w_start, w_end = self._value(start), self._value(end)
        # Each stored report, and where it was seen at or after this window's start: which
        # records of this very window (a re-read), or in a later window.
        stored: dict[str, tuple[int, bytes, int]] = {}
        seen: set[tuple[str, int, bytes]] = set()
        later: set[str] = set()
        for key, id_, digest, n, start_seen, line, seen_digest in self._load_state(
            cur, list({i.key for i in incoming}), w_start
        ):
            stored[key] = (id_, digest, n)
            if start_seen is None or line is None or seen_digest is None:
                continue  # no sighting from this window on
            if start_seen == w_start:
                seen.add((key, line, seen_digest))
            else:
                later.add(key)

        def place(inc: Incoming) -> str:
            """``seen`` (this sighting is stored), ``before`` (a stored one comes after it:
            one in a later window) or ``after`` (it comes after every stored one: a new
            sighting of this window comes from this answer, newer than any stored one)."""
            if (inc.key, inc.line, inc.digest) in seen:
                return "seen"
            return "before" if inc.key in later else "after"

        def sighting(inc: Incoming) -> list[Any]:
            """The ``report_sightings`` row of a record of this window."""
            return [inc.key, w_start, inc.line, inc.digest, w_end, run_id, when, archive_id]

        state = {k: _Key(d, n) for k, (_, d, n) in stored.items()}
        parsed: dict[int, Record] = {}
        if parse_many is not None:  # what will surely be parsed, at once (see below)
            need = [
                (at, inc) for at, inc in enumerate(incoming)
                if (st := state.get(inc.key)) is None
                or (inc.digest != st.digest and place(inc) == "after")
            ]
            if need:
                records = parse_many([inc for _, inc in need])
                parsed = dict(zip((at for at, _ in need), records, strict=True))
        differing = list(
            {i.key for i in incoming if i.key in stored and stored[i.key][1] != i.digest}
        )
        cancelled = cancelled_among(conn, differing) if differing else {}

        counts = WindowCounts()
        new_rows: dict[str, list[Any]] = {}
        changed_rows: dict[str, list[Any]] = {}
        touched: set[str] = set()
        revisions: list[list[Any]] = []
        sightings: list[list[Any]] = []
        early: dict[str, list[tuple[int, Incoming]]] = {}  # keys for reorder, their records
        # The revision row, record and report row of each key's newest content in this window,
        # and the stored revision each changed key supersedes.
        latest: dict[str, tuple[list[Any], Record, list[Any]]] = {}
        superseded: dict[str, int] = {}
        for at, inc in enumerate(incoming):
            key = inc.key
            st = state.get(key)
            if key in stored:
                where = place(inc)
                if where == "seen":  # (also for a key some of whose records come early)
                    counts.unchanged += 1
                    touched.add(key)
                    continue
                if where == "before" or key in early:
                    early.setdefault(key, []).append((at, inc))
                    continue
            sightings.append(sighting(inc))
            if st is not None and inc.digest == st.digest:  # sent again, after all stored
                counts.unchanged += 1
                touched.add(key)
                continue
            record = parsed.get(at) or parse(inc)
            if key in cancelled:  # it stays cancelled (an update leaves the mark alone)
                record = with_cancel_warning(record, cancelled[key])
            if record.warnings:
                counts.warnings += 1
            row = self._report_row(key, inc, record, when)
            if st is None:
                counts.new += 1
                st = state[key] = _Key(inc.digest, 1)
                new_rows[key] = row
            else:
                counts.changed += 1
                if key in latest:  # the content it replaces came in this very window
                    _fill_content(*latest[key])
                else:
                    superseded[key] = st.revisions
                st.revisions += 1
                st.digest = inc.digest
                (new_rows if key in new_rows else changed_rows)[key] = row
            row[-1] = st.revisions
            revision = [key, st.revisions, inc.digest, None, None, None, None, None, None,
                        when, run_id, w_start, w_end, archive_id, inc.line]
            revisions.append(revision)
            latest[key] = (revision, record, row)
        if superseded:
            self._keep_superseded(conn, superseded)
        if new_rows:
            self._insert_reports(cur, list(new_rows.values()))
        if changed_rows:
            self._update_reports(cur, list(changed_rows.values()))
        ids = [stored[k][0] for k in touched if k in stored and k not in changed_rows]
        if ids:
            self._touch(cur, ids, when)
        if revisions:
            self._insert_revisions(cur, revisions)
        sightings += [sighting(inc) for items in early.values() for _, inc in items]
        if sightings:
            self._insert_sightings(cur, sightings)
        if early:
            self._place_early(conn, early, parse, cancelled, when, received_at, counts)
        return counts

    def _place_early(
        self, conn: sa.Connection, early: dict[str, list[tuple[int, Incoming]]],
        parse: Callable[[Incoming], Record], cancelled: dict[str, Any], when: Any,
        received_at: dt.datetime, counts: WindowCounts,
    ) -> None:
        """Records that come before a stored sighting of their report: recompute those
        reports' revisions from all their sightings (:func:`.ordering.reorder`)."""
        fresh: dict[tuple[str, bytes], dict[str, Any]] = {}
        for key, items in early.items():
            for _, inc in items:
                if (key, inc.digest) not in fresh:
                    record = parse(inc)
                    if key in cancelled:
                        record = with_cancel_warning(record, cancelled[key])
                    row = self._report_row(key, inc, record, when)
                    fresh[key, inc.digest] = dict(zip(INSERT_COLUMNS, row, strict=True))
        done = reorder(conn, list(early), fresh=fresh, seen_at=received_at)
        for key, items in early.items():
            changed = 1 if key in done.corrected_keys else 0
            older = min(len(items) - changed, done.late_by_key.get(key, 0))
            counts.changed += changed
            counts.older += older
            counts.unchanged += len(items) - changed - older

    def _keep_superseded(self, conn: sa.Connection, superseded: dict[str, int]) -> None:
        """Copy the content of current rows about to be replaced into their revision rows."""
        t, r = s.score_reports, s.report_revisions
        content = [t.c.raw, t.c.layout, t.c.format, t.c.extra, t.c.warnings]
        fields = [t.c[n] for n in s.FIELDS]
        params = []
        keys = list(superseded)
        for i in range(0, len(keys), 500):
            query = sa.select(t.c.report_key, *content, *fields).where(
                t.c.report_key.in_(keys[i : i + 500])
            )
            for row in conn.execute(query):
                values = {n: v for n, v in zip(s.FIELDS, row[6:], strict=True) if v is not None}
                params.append({
                    "b_key": row[0], "b_revision": superseded[row[0]], "b_raw": row[1],
                    "b_layout": row[2], "b_format": row[3], "b_extra": row[4],
                    "b_warnings": row[5], "b_fields": _encode(values).decode(),
                })
        conn.execute(
            r.update()
            .where(r.c.report_key == sa.bindparam("b_key"),
                   r.c.revision == sa.bindparam("b_revision"))
            .values(raw=sa.bindparam("b_raw"), layout=sa.bindparam("b_layout"),
                    format=sa.bindparam("b_format"), extra=sa.bindparam("b_extra"),
                    warnings=sa.bindparam("b_warnings"), fields=sa.bindparam("b_fields")),
            params,
        )

    def _report_row(self, key: str, inc: Incoming, record: Record, when: Any) -> list[Any]:
        """The ``score_reports`` row of a record (``revisions`` is set by the caller)."""
        build, unknown = _row_plan(record.names)
        row = build(record)
        row[0] = key
        extra = record.extra
        if unknown:  # a custom layout's own fields: keep them
            extra = {**extra, **{k: record[k] for k in unknown}}
        row += (
            inc.raw,
            record.layout,
            record.format,
            _encode(extra).decode() if extra else None,
            _encode(record.warnings).decode() if record.warnings else None,
            inc.digest,
            when,
            when,
            0,
        )
        return row
