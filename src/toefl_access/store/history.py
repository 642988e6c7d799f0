"""Store operations on people and history: cancellations, revisions side by side, replay,
and the ``store_meta`` key/value table.

Cancellations arrive by e-mail and in the TOEFL Access web UI, never through the feed: a
person records them (``toefl-access cancel``). A cancelled report is marked
(``score_reports.cancelled_at``, ``cancel_reason``) and one ``cancellations`` row per report
says when, why and from where; nothing is deleted. The mark survives later feed records (the
write path leaves the two columns alone) and a changed record for a cancelled report carries a
warning saying so (:func:`cancelled_warning`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa

from ..errors import UsageError
from ..formats.record import Record, RecordWarning
from . import schema as s
from .core import StoreCore, _encode
from .ordering import content_of_report, rewrite_sightings
from .structs import Incoming, WindowCounts

_CHUNK = 500  # keys per IN (...): below every backend's parameter limit
_FIT: dict[str, tuple[type, ...]] = {"score": (int,), "band": (float, int), "date": (dt.date,)}
#: The message of the warning a changed feed record for a cancelled report carries.
CANCELLED_FIELD = "cancelled"


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """A cancellation to record: every report of a registration number and test date.
    ``where`` says where it came from in an input (e.g. ``line 4``), for messages."""

    registration_number: str
    test_date: dt.date
    reason: str | None = None
    where: str = ""


@dataclass(frozen=True, slots=True)
class CancelledReport:
    report_key: str
    institution_code: str | None
    department_code: str | None
    cancelled_at: dt.datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What one request did: reports ``cancelled`` now, and those ``already`` cancelled."""

    request: CancelRequest
    cancelled: list[CancelledReport]
    already: list[CancelledReport]


@dataclass(frozen=True, slots=True)
class ReinstateOutcome:
    """What one ``cancel remove`` request did: reports ``reinstated`` now (with the
    cancellation they had), and the keys of those that were ``not_cancelled``."""

    request: CancelRequest
    reinstated: list[CancelledReport]
    not_cancelled: list[str]


@dataclass(slots=True)
class ReportHistory:
    """One report of a person: its current row, every revision (oldest first, each with
    its content, see :meth:`Store.revisions`) and its cancellation rows."""

    report: dict[str, Any]
    revisions: list[dict[str, Any]]
    cancellations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One archived answer, without its body."""

    id: int
    run_id: int
    window_start: dt.datetime
    window_end: dt.datetime
    format: str
    received_at: dt.datetime
    sha256: str
    size: int
    records: int | None


@dataclass(slots=True)
class _Current:
    """A report's current content while an answer is replayed."""

    row: dict[str, Any]
    digest: bytes
    revisions: int
    known: set[bytes]
    cancelled: tuple[dt.datetime, str | None] | None
    #: Where the current revision was reported (window start and end, line, archive row):
    #: a correction of it by a replay is placed there, after it (the ordering rule).
    place: dict[str, Any] | None = None


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


def cancelled_warning(cancelled_at: dt.datetime, reason: str | None) -> RecordWarning:
    """The warning on a changed record of a cancelled report (which stays cancelled)."""
    why = f" ({reason})" if reason else ""
    return RecordWarning(
        field=CANCELLED_FIELD,
        value=reason or "",
        message=f"the report was cancelled on {cancelled_at:%Y-%m-%d}{why} and stays "
        "cancelled; the feed sent it again, changed",
    )


def with_cancel_warning(record: Record, cancelled: tuple[dt.datetime, str | None]) -> Record:
    """The record with :func:`cancelled_warning` added (a copy; the record is not changed)."""
    warning = cancelled_warning(*cancelled)
    return record.replace(warnings=[*record.warnings, warning])


def cancelled_among(
    conn: sa.Connection, keys: Sequence[str]
) -> dict[str, tuple[dt.datetime, str | None]]:
    """``report_key -> (cancelled_at, reason)`` of the cancelled reports among ``keys``."""
    t = s.score_reports
    out: dict[str, tuple[dt.datetime, str | None]] = {}
    for part in _chunks(keys):
        query = sa.select(t.c.report_key, t.c.cancelled_at, t.c.cancel_reason).where(
            t.c.cancelled_at.is_not(None), t.c.report_key.in_(part)
        )
        for key, when, reason in conn.execute(query):
            out[key] = (when, reason)
    return out


def typed_row(record: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record as ``score_reports`` typed columns (every field, None when absent) and the
    ``extra`` it stores: unknown JSON keys, a custom layout's own fields, and any value
    whose type does not fit its column (a layout that changed a field's kind)."""
    columns = dict.fromkeys(s.FIELDS)
    extra = dict(record.extra)
    for name, value in record.values.items():
        kind = s.FIELD_KINDS.get(name)
        if kind is None:
            if value is not None:
                extra[name] = value
        elif value is None or (
            isinstance(value, _FIT.get(kind, (str,))) and not isinstance(value, bool)
        ):
            columns[name] = value
        else:
            extra[name] = value
    return columns, extra


def _json(value: Any) -> Any:
    """A value as JSON gives it back (dates as text): how ``extra`` compares to storage."""
    return msgspec.json.decode(_encode(value)) if value else {}


class HistoryKeeper(StoreCore):
    """Cancellations, a test taker's reports and revisions, re-reading the archive, and
    the ``store_meta`` table."""

    if TYPE_CHECKING:  # provided by StoreReader, a sibling part of Store

        def revisions(self, report_key: str) -> list[dict[str, Any]]: ...

    # -- store_meta -----------------------------------------------------------------------

    def meta_get(self, key: str) -> str | None:
        """A value of ``store_meta``, or None."""
        m = s.store_meta
        with self._guard("reading store_meta"), self._read() as conn:
            value = conn.execute(sa.select(m.c.value).where(m.c.key == key)).scalar()
        return None if value is None else str(value)

    def meta_set(self, key: str, value: str) -> None:
        """Set a value of ``store_meta`` (insert or replace)."""
        m = s.store_meta
        with self._guard("writing store_meta"), self._write() as conn:
            done = conn.execute(m.update().where(m.c.key == key).values(value=value))
            if not done.rowcount:
                conn.execute(m.insert().values(key=key, value=value))

    def meta_setdefault(self, key: str, value: str) -> str:
        """The value of ``key``, set to ``value`` first when absent (atomically)."""
        m = s.store_meta
        with self._guard("writing store_meta"), self._write() as conn:
            if self.backend == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                conn.execute(pg_insert(m).values(key=key, value=value).on_conflict_do_nothing())
            else:  # SQLite: the write transaction is BEGIN IMMEDIATE, one writer at a time
                if conn.execute(sa.select(m.c.key).where(m.c.key == key)).first() is None:
                    conn.execute(m.insert().values(key=key, value=value))
            return str(conn.execute(sa.select(m.c.value).where(m.c.key == key)).scalar_one())

    # -- cancellations --------------------------------------------------------------------

    def cancel(
        self,
        requests: Sequence[CancelRequest],
        *,
        source: str,
        when: dt.datetime | None = None,
    ) -> list[CancelOutcome]:
        """Mark cancelled every report of each request's registration number and test date
        (all institutions and departments), in ONE transaction.

        A request that matches no stored report raises :class:`UsageError` naming it (and
        every other such request), and nothing is written. A report cancelled already is
        left as it was (with its first reason): running the same cancellation twice is
        harmless. Each newly cancelled report gets one ``cancellations`` row.
        """
        when = s.to_utc(when or dt.datetime.now(dt.UTC))
        t, c = s.score_reports, s.cancellations
        with self._guard("recording cancellations"), self._write() as conn:
            self._cancel_lock(conn)
            found = self._reports_of(conn, requests, done="cancelled")
            outcomes: list[CancelOutcome] = []
            done: dict[str, CancelledReport] = {}
            for req, rows in zip(requests, found, strict=True):
                new: list[CancelledReport] = []
                already: list[CancelledReport] = []
                for key, inst, dept, at, reason in rows:
                    if at is not None or key in done:
                        earlier = CancelledReport(key, inst, dept, at, reason)
                        already.append(done.get(key, earlier))
                        continue
                    conn.execute(c.insert().values(
                        report_key=key, registration_number=req.registration_number,
                        test_date=req.test_date, reason=req.reason, source=source,
                        cancelled_at=when,
                    ))  # fmt: skip
                    conn.execute(
                        t.update()
                        .where(t.c.report_key == key)
                        .values(cancelled_at=when, cancel_reason=req.reason)
                    )
                    done[key] = CancelledReport(key, inst, dept, when, req.reason)
                    new.append(done[key])
                outcomes.append(CancelOutcome(req, new, already))
        return outcomes

    def reinstate(
        self,
        requests: Sequence[CancelRequest],
        *,
        source: str,
        when: dt.datetime | None = None,
    ) -> list[ReinstateOutcome]:
        """Withdraw the cancellation of every report of each request's registration number
        and test date, in ONE transaction (``cancel remove``).

        Each reinstated report gets a ``cancellations`` row with action ``reinstate`` (the
        ledger keeps both) and appears in the next export delta as ``reinstated``. A request
        that matches no stored report raises :class:`UsageError` and nothing is written; a
        report that is not cancelled is left as it is.
        """
        when = s.to_utc(when or dt.datetime.now(dt.UTC))
        t, c = s.score_reports, s.cancellations
        with self._guard("withdrawing cancellations"), self._write() as conn:
            self._cancel_lock(conn)
            found = self._reports_of(conn, requests, done="reinstated")
            outcomes: list[ReinstateOutcome] = []
            for req, rows in zip(requests, found, strict=True):
                done: list[CancelledReport] = []
                not_cancelled: list[str] = []
                for key, inst, dept, at, reason in rows:
                    if at is None:
                        not_cancelled.append(key)
                        continue
                    conn.execute(c.insert().values(
                        report_key=key, registration_number=req.registration_number,
                        test_date=req.test_date, reason=req.reason, source=source,
                        cancelled_at=when, action="reinstate",
                    ))  # fmt: skip
                    conn.execute(t.update().where(t.c.report_key == key)
                                 .values(cancelled_at=None, cancel_reason=None))
                    done.append(CancelledReport(key, inst, dept, at, reason))
                outcomes.append(ReinstateOutcome(req, done, not_cancelled))
        return outcomes

    def _reports_of(
        self, conn: sa.Connection, requests: Sequence[CancelRequest], *, done: str
    ) -> list[Sequence[Any]]:
        """For each request, its reports (key, institution, department, cancelled at and
        why); a request without any raises :class:`UsageError` naming it (nothing is
        ``done``)."""
        t = s.score_reports
        cols = (t.c.report_key, t.c.institution_code, t.c.department_code, t.c.cancelled_at,
                t.c.cancel_reason)  # fmt: skip
        found = [
            conn.execute(
                sa.select(*cols)
                .where(t.c.registration_number == req.registration_number,
                       t.c.test_date == req.test_date)
                .order_by(t.c.institution_code, t.c.department_code, t.c.report_key)
            ).all()
            for req in requests
        ]  # fmt: skip
        missing = [req for req, rows in zip(requests, found, strict=True) if not rows]
        if missing:
            raise UsageError(_missing_message(missing, self.url, done=done))
        return found

    def cancellations(self, report_key: str | None = None) -> list[dict[str, Any]]:
        """The ``cancellations`` rows (of one report, or all), oldest first; ``action`` is
        ``cancel`` or ``reinstate``."""
        c = s.cancellations
        query = sa.select(c).order_by(c.c.id)
        if report_key is not None:
            query = query.where(c.c.report_key == report_key)
        with self._guard("reading cancellations"), self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- people ---------------------------------------------------------------------------

    def person(self, registration_number: str) -> list[ReportHistory]:
        """Every report of a registration number (by test date, institution, department),
        each with its revisions and cancellations; empty when there is none."""
        t = s.score_reports
        query = (
            sa.select(t)
            .where(t.c.registration_number == registration_number)
            .order_by(t.c.test_date, t.c.institution_code, t.c.department_code, t.c.id)
        )
        with self._guard("reading a person's reports"), self._read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        out = []
        for row in rows:
            row["extra"] = msgspec.json.decode(row["extra"]) if row["extra"] else {}
            row["warnings"] = msgspec.json.decode(row["warnings"]) if row["warnings"] else []
            key = row["report_key"]
            out.append(ReportHistory(row, self.revisions(key), self.cancellations(key)))
        return out

    def reports_with_values(
        self, name: str, values: Sequence[str], *, other_than: str
    ) -> list[tuple[str, dt.date | None, str]]:
        """``(registration_number, test_date, report_key)`` of the reports whose field
        ``name`` holds one of ``values`` and whose registration number is not
        ``other_than`` (e.g. the same hashed ID number on another registration)."""
        t = s.score_reports
        if not values or name not in s.FIELD_KINDS:
            return []
        query = (
            sa.select(t.c.registration_number, t.c.test_date, t.c.report_key)
            .where(t.c[name].in_(list(values)), t.c.registration_number != other_than)
            .order_by(t.c.test_date, t.c.report_key)
        )
        with self._guard("looking for the same person"), self._read() as conn:
            return [(a, b, c) for a, b, c in conn.execute(query)]

    def run_params(self, run_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The parameters of runs of the ledger, by id (``{"replay": true, ...}`` for a replay)."""
        r = s.sync_runs
        if not run_ids:
            return {}
        with self._guard("reading the run ledger"), self._read() as conn:
            rows = conn.execute(sa.select(r.c.id, r.c.params).where(r.c.id.in_(list(run_ids))))
            return {i: msgspec.json.decode(p) for i, p in rows}

    # -- replay ---------------------------------------------------------------------------

    def archive_entries(self) -> list[ArchiveEntry]:
        """Every archived answer, in the order the vendor reported them (window start, then
        the order they were written)."""
        a = s.response_archive
        query = sa.select(
            a.c.id, a.c.run_id, a.c.window_start, a.c.window_end, a.c.format, a.c.received_at,
            a.c.sha256, a.c.size, a.c.records,
        ).order_by(a.c.window_start, a.c.id)  # fmt: skip
        with self._guard("reading the archive"), self._read() as conn:
            return [ArchiveEntry(*row) for row in conn.execute(query)]

    def replay_answer(
        self,
        *,
        entry: ArchiveEntry,
        run_id: int,
        received_at: dt.datetime,
        items: Sequence[Incoming],
        parse: Callable[[Incoming], Record],
        premasked: Mapping[int, tuple[str, ...]] | None = None,
        arrived: Mapping[int, bytes] | None = None,
    ) -> tuple[WindowCounts, set[str]]:
        """Apply one re-read archived answer as a sync would, in ONE transaction; returns
        the counts and the keys of the reports that got a new revision.

        Content is compared by digest AND typed values: a record whose bytes are the
        current revision's but whose values (read with today's layout) differ becomes a
        new revision with the same digest; a record equal to an earlier revision is a
        resend (nothing happens, as in a sync); a record never seen is new or changed.
        Sensitive fields that arrived masked (``premasked``) keep the current row's value.
        ``arrived`` gives, for records the ``sensitive`` mode changed, the digest of the
        bytes as archived: equal to an earlier revision's, the record is a resend of it
        stored under another mode (nothing happens); equal to the current one's, it is the
        current content, re-stored under the new mode (a new revision).
        New revisions carry the replay's ``run_id`` and ``received_at`` (when the stored
        data changed: what ``export --changed-since`` goes by) and the answer's window,
        archive row and line (where the bytes came from). ``first_seen`` and ``last_seen``
        are left alone: a replay is not a sighting.
        """
        premasked, arrived = premasked or {}, arrived or {}
        t = s.score_reports
        doing = f"replaying the archived answer {entry.id}"
        with self._guard(doing), self._write() as conn:
            state = self._current_state(conn, list(dict.fromkeys(i.key for i in items)))
            stored = {k: v.row for k, v in state.items()}
            counts = WindowCounts()
            updated: set[str] = set()
            new_rows: dict[str, dict[str, Any]] = {}
            changed_rows: dict[str, dict[str, Any]] = {}
            revisions: list[dict[str, Any]] = []
            sightings: list[dict[str, Any]] = []
            rewrites: dict[str, tuple[bytes, bytes]] = {}
            latest: dict[str, dict[str, Any]] = {}  # key -> its newest revision row here
            superseded: dict[str, int] = {}
            for inc in items:
                key = inc.key
                cur = state.get(key)
                if cur is not None and inc.digest != cur.digest:
                    before = arrived.get(inc.line, inc.digest)
                    if inc.digest in cur.known or (before in cur.known and before != cur.digest):
                        counts.unchanged += 1  # an earlier revision sent again
                        continue
                corrects = cur is not None and inc.digest == cur.digest
                # the current content as it arrived, stored again under another sensitive
                # mode: its sightings move to the new digest (the old one must not return)
                restores = (cur is not None and not corrects
                            and arrived.get(inc.line) == cur.digest)  # fmt: skip
                if restores:
                    assert cur is not None
                    rewrites[key] = (cur.digest, inc.digest)
                record = parse(inc)
                if cur is not None and inc.digest == cur.digest:
                    for name in premasked.get(inc.line, ()):
                        if name in record.values:
                            record.values[name] = cur.row.get(name)
                columns, extra = typed_row(record)
                if cur is not None and _same(columns, extra, cur.row):
                    counts.unchanged += 1
                    continue
                if cur is not None and cur.cancelled is not None:
                    record = with_cancel_warning(record, cur.cancelled)
                if record.warnings:
                    counts.warnings += 1
                row = {
                    **columns, "raw": inc.raw, "layout": record.layout, "format": record.format,
                    "extra": _encode(extra).decode() if extra else None,
                    "warnings": _encode(record.warnings).decode() if record.warnings else None,
                    "content_hash": inc.digest,
                }  # fmt: skip
                if cur is None:
                    counts.new += 1
                    row.update(report_key=key, first_seen=entry.received_at,
                               last_seen=entry.received_at, revisions=1)
                    cur = state[key] = _Current(row, inc.digest, 1, {inc.digest}, None)
                    new_rows[key] = row
                else:
                    counts.changed += 1
                    if key in latest:
                        latest[key].update(content_of_report(cur.row))
                    elif key not in new_rows:
                        superseded[key] = cur.revisions
                    cur.revisions += 1
                    row["revisions"] = cur.revisions
                    if key in new_rows:
                        row.update(report_key=key, first_seen=entry.received_at,
                                   last_seen=entry.received_at)
                        new_rows[key] = row
                    else:
                        changed_rows[key] = row
                    cur.row, cur.digest = {**cur.row, **row}, inc.digest
                    cur.known.add(inc.digest)
                updated.add(key)
                place = {"window_start": entry.window_start, "window_end": entry.window_end,
                         "archive_id": entry.id, "line": inc.line}  # fmt: skip
                if (corrects or restores) and cur.place is not None:
                    place = cur.place  # a new reading of the current revision: right after it
                elif not (corrects or restores):  # content never stored for it: a sighting
                    sightings.append({"report_key": key, "content_hash": inc.digest,
                                      "received_at": received_at, "run_id": run_id, **place})
                    cur.place = place
                latest[key] = revision = {
                    "report_key": key, "revision": cur.revisions, "content_hash": inc.digest,
                    "raw": None, "layout": None, "format": None, "fields": None, "extra": None,
                    "warnings": None, "received_at": received_at, "run_id": run_id, **place,
                }  # fmt: skip
                revisions.append(revision)
            self._supersede(conn, {k: (n, stored[k]) for k, n in superseded.items()})
            if new_rows:
                conn.execute(t.insert(), list(new_rows.values()))
            if changed_rows:
                names = [c for c in next(iter(changed_rows.values())) if c != "report_key"]
                conn.execute(
                    t.update()
                    .where(t.c.report_key == sa.bindparam("k_report_key"))
                    .values({c: sa.bindparam(f"v_{c}") for c in names}),
                    [{"k_report_key": k, **{f"v_{c}": row[c] for c in names}}
                     for k, row in changed_rows.items()],
                )
            if revisions:
                conn.execute(s.report_revisions.insert(), revisions)
            for key, (old, new) in rewrites.items():
                rewrite_sightings(conn, key, old, new)
            if sightings:
                conn.execute(s.report_sightings.insert(), sightings)
        return counts, updated

    def _current_state(self, conn: sa.Connection, keys: list[str]) -> dict[str, _Current]:
        t, r = s.score_reports, s.report_revisions
        out: dict[str, _Current] = {}
        for part in _chunks(keys):
            for row in conn.execute(sa.select(t).where(t.c.report_key.in_(part))):
                m = dict(row._mapping)
                cancelled = (m["cancelled_at"], m["cancel_reason"]) if m["cancelled_at"] else None
                digest = bytes(m["content_hash"])
                out[m["report_key"]] = _Current(m, digest, m["revisions"], {digest}, cancelled)
            query = sa.select(
                r.c.report_key, r.c.content_hash, r.c.raw.is_(None), r.c.window_start,
                r.c.window_end, r.c.archive_id, r.c.line,
            ).where(r.c.report_key.in_(part))  # fmt: skip
            for key, digest, current, start, end, archive_id, line in conn.execute(query):
                if key in out:
                    out[key].known.add(bytes(digest))
                    if current:
                        out[key].place = {"window_start": start, "window_end": end,
                                          "archive_id": archive_id, "line": line}  # fmt: skip
        return out

    def _supersede(
        self, conn: sa.Connection, superseded: dict[str, tuple[int, dict[str, Any]]]
    ) -> None:
        """Give the revisions about to stop being current their own content."""
        if not superseded:
            return
        r = s.report_revisions
        content = ("raw", "layout", "format", "fields", "extra", "warnings")
        params = []
        for key, (revision, row) in superseded.items():
            values: dict[str, Any] = {}
            values.update(content_of_report(row))
            params.append({"b_key": key, "b_revision": revision,
                           **{f"b_{c}": values[c] for c in content}})
        conn.execute(
            r.update()
            .where(r.c.report_key == sa.bindparam("b_key"),
                   r.c.revision == sa.bindparam("b_revision"))
            .values({c: sa.bindparam(f"b_{c}") for c in content}),
            params,
        )


def _same(columns: dict[str, Any], extra: dict[str, Any], row: dict[str, Any]) -> bool:
    """True when typed columns and extra equal a stored row's."""
    if any(row.get(n) != v for n, v in columns.items()):
        return False
    stored = row.get("extra")
    if isinstance(stored, str):
        stored = msgspec.json.decode(stored)
    return bool(_json(extra) == (stored or {}))


def _missing_message(
    missing: Sequence[CancelRequest], url: str, *, done: str = "cancelled"
) -> str:
    def one(req: CancelRequest) -> str:
        where = f"{req.where}: " if req.where else ""
        return (f"{where}no report with registration number {req.registration_number} and "
                f"test date {req.test_date.isoformat()}")  # fmt: skip

    if len(missing) == 1 and not missing[0].where:
        reg = missing[0].registration_number
        return (f"{one(missing[0])} in {url}; check both (`toefl-access show {reg}` lists "
                f"that registration number's reports). Nothing was {done}.")  # fmt: skip
    lines = [one(req) for req in missing[:20]]
    if len(missing) > 20:
        lines.append(f"... and {len(missing) - 20} more")
    return (f"{len(missing)} request(s) name no stored report, so nothing was {done} "
            f"(fix or remove them and run again):\n  " + "\n  ".join(lines))  # fmt: skip
