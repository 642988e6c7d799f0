"""The storage contract, on SQLite and on PostgreSQL (``store_url``).

Reports come from the tests' own generator (``gen.Gen``) as fixed-length lines, and are parsed
by the library's decoder, as the sync does.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from gen import CURRENT, LEGACY, Gen, Report

from toefl_access.errors import StoreError
from toefl_access.formats.jsonformat import parse_json
from toefl_access.formats.record import Record
from toefl_access.formats.textformat import codec
from toefl_access.store import (
    Incoming,
    Store,
    WindowCounts,
    compress_body,
    incoming_from_records,
    open_store,
    report_key,
)
from toefl_access.store import schema as s

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)


# -- building windows ---------------------------------------------------------------------


class Window(msgspec.Struct):
    body: bytes
    incoming: list[Incoming]
    records: dict[int, Record]
    parsed: list[int] = msgspec.field(default_factory=list)

    def parse(self, item: Incoming) -> Record:
        self.parsed.append(item.line)
        return self.records[item.line]


def window(reports: Sequence[Report]) -> Window:
    """A text answer body of these reports, and the store's input for it."""
    lines = [r.line() for r in reports]
    records = [
        codec(r.layout).decode(line, n)
        for n, (r, line) in enumerate(zip(reports, lines, strict=True), 1)
    ]
    return Window(
        body=b"\n".join(lines) + b"\n",
        incoming=incoming_from_records(records),
        records={r.line: r for r in records},
    )


def write(
    store: Store, run_id: int, w: Window, start: dt.datetime, *, days: int = 1,
    received_at: dt.datetime | None = None, parse: Callable[[Incoming], Record] | None = None,
    fmt: str = "text",
) -> WindowCounts:
    return store.write_window(
        run_id=run_id, start=start, end=start + days * DAY, fmt=fmt, body=w.body,
        sha256=hashlib.sha256(w.body).hexdigest(), status=200, incoming=w.incoming,
        parse=parse or w.parse, received_at=received_at or dt.datetime.now(UTC),
    )


def rescored(report: Report, listening: int) -> Report:
    """The same report (same identity) with another listening score and a matching total."""
    new = copy.deepcopy(report)
    v = new.values
    v["listening"] = listening
    v["total"] = sum(v[n] for n in ("listening", "reading", "speaking", "writing"))
    return new


def key_of(r: Report) -> str:
    v = r.values
    return report_key(
        v["registration_number"], v["test_date"], v["institution_code"], v["department_code"]
    )


def distinct(reports: Sequence[Report]) -> list[Report]:
    """Reports with distinct keys (the generator may, rarely, repeat an identity)."""
    seen: dict[str, Report] = {}
    for r in reports:
        seen.setdefault(key_of(r), r)
    return list(seen.values())


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def table_digest(store: Store, table: sa.Table, *, skip: tuple[str, ...] = ()) -> str:
    """A hash over every row of a table (ordered by id), without the ``skip`` columns."""
    cols = [c for c in table.c if c.name not in skip]
    h = hashlib.sha256()
    with store.engine.connect() as conn:
        for row in conn.execute(sa.select(*cols).order_by(table.c[cols[0].name])):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as st:
        yield st


@pytest.fixture
def run_id(store: Store) -> int:
    return store.begin_run(started_at=dt.datetime.now(UTC), params={"test": True})


# -- first write ----------------------------------------------------------------------------


def test_first_write_stores_every_report_with_typed_columns(store: Store, run_id: int) -> None:
    reports = distinct(Gen(1).reports(60, encoding="mixed"))
    w = window(reports)
    received = T0 + dt.timedelta(hours=30)
    counts = write(store, run_id, w, T0, received_at=received)
    assert counts == WindowCounts(new=len(reports), changed=0, unchanged=0, warnings=0)

    rows = {r["report_key"]: r for r in store.reports()}
    assert len(rows) == len(reports)
    for rep in reports:
        row = rows[key_of(rep)]
        for name, value in rep.values.items():
            assert row[name] == value, name
        assert row["raw"] == rep.line()
        assert row["layout"] == CURRENT and row["format"] == "text"
        assert row["content_hash"] == hashlib.blake2b(rep.line(), digest_size=16).digest()
        assert row["first_seen"] == row["last_seen"] == received
        assert row["revisions"] == 1
        assert row["warnings"] == [] and row["extra"] == {}
        (rev,) = store.revisions(key_of(rep))
        assert rev["revision"] == 1 and rev["raw"] == rep.line()
        assert rev["fields"] == {k: v for k, v in rep.values.items() if v is not None}
        assert rev["run_id"] == run_id
        assert (rev["window_start"], rev["window_end"]) == (T0, T0 + DAY)
    assert store.coverage() == [(T0, T0 + DAY)]


def test_the_archive_keeps_the_body_once(store: Store, run_id: int) -> None:
    w = window(Gen(2).reports(5))
    write(store, run_id, w, T0)
    write(store, run_id, w, T0)  # the same body again
    a = s.response_archive
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(a).order_by(a.c.id)).all()
    assert len(rows) == 2
    first, again = (r._mapping for r in rows)
    assert zlib.decompress(first["body"]) == w.body
    assert again["body"] is None  # identical body: not stored twice
    for row in (first, again):
        assert row["sha256"] == hashlib.sha256(w.body).hexdigest()
        assert row["size"] == len(w.body) and row["records"] == 5
        assert (row["window_start"], row["window_end"], row["format"], row["status"]) == (
            T0, T0 + DAY, "text", 200,
        )
    assert store.archived_body(again["id"]) == w.body


def test_a_body_compressed_beforehand_and_a_wrong_hash(store: Store, run_id: int) -> None:
    w = window(Gen(16).reports(3))
    store.write_window(
        run_id=run_id, start=T0, end=T0 + DAY, fmt="text", body=w.body,
        sha256=hashlib.sha256(w.body).hexdigest(), status=200, incoming=w.incoming,
        parse=w.parse, received_at=dt.datetime.now(UTC), compressed=compress_body(w.body),
    )
    with store.engine.connect() as conn:
        (archive_id,) = conn.execute(sa.select(s.response_archive.c.id)).scalars()
    assert store.archived_body(archive_id) == w.body
    other = window(Gen(17).reports(3))
    with pytest.raises(StoreError, match="sha256 given for the window"):
        store.write_window(
            run_id=run_id, start=T0 + DAY, end=T0 + 2 * DAY, fmt="text", body=other.body,
            sha256=hashlib.sha256(w.body).hexdigest(), status=200, incoming=other.incoming,
            parse=other.parse, received_at=dt.datetime.now(UTC),
        )
    assert count(store, s.response_archive) == 1


def test_values_of_both_layouts_and_json_extras_are_kept(store: Store, run_id: int) -> None:
    legacy = Gen(3).report(LEGACY)
    w = window([legacy])
    write(store, run_id, w, T0)
    (row,) = store.reports()
    assert row["layout"] == LEGACY and row["report_date"] == legacy.values["report_date"]

    report = Gen(4).report(CURRENT, scale="1-6")
    body = msgspec.json.encode({"data": [report.json_object(extra={"NewField": [1, "x"]})]})
    records = list(parse_json(io.BufferedReader(io.BytesIO(body))))
    incoming = incoming_from_records(records)
    store.write_window(
        run_id=run_id, start=T0 + DAY, end=T0 + 2 * DAY, fmt="json", body=body,
        sha256=hashlib.sha256(body).hexdigest(), status=200, incoming=incoming,
        parse=lambda i: records[i.line - 1], received_at=dt.datetime.now(UTC),
    )
    row = next(r for r in store.reports() if r["report_key"] == key_of(report))
    assert row["format"] == "json" and row["extra"] == {"NewField": [1, "x"]}
    assert row["ibt26_total"] == report.values["ibt26_total"]
    assert row["raw"] == records[0].raw


# -- re-writes ------------------------------------------------------------------------------


def row_versions(store: Store) -> list[Any]:
    """PostgreSQL: each report row's version (``xmin`` changes whenever a row is written,
    even with the same values); SQLite: nothing to compare."""
    if store.engine.dialect.name != "postgresql":
        return []
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT id, xmin::text FROM score_reports ORDER BY id"))


def test_the_same_window_again_writes_no_report_and_no_revision(store: Store, run_id: int) -> None:
    w = window(distinct(Gen(5).reports(40)))
    first_time = T0 + dt.timedelta(hours=25)
    write(store, run_id, w, T0, received_at=first_time)
    before = (
        count(store, s.score_reports), count(store, s.report_revisions),
        table_digest(store, s.score_reports), table_digest(store, s.report_revisions),
        row_versions(store),
    )

    again = Window(body=w.body, incoming=w.incoming, records=w.records)
    later = first_time + dt.timedelta(hours=6)
    counts = write(store, run_id, again, T0, received_at=later)

    assert counts == WindowCounts(new=0, changed=0, unchanged=40, warnings=0)
    assert again.parsed == []  # classified by key and digest, nothing parsed
    after = (
        count(store, s.score_reports), count(store, s.report_revisions),
        table_digest(store, s.score_reports), table_digest(store, s.report_revisions),
        row_versions(store),
    )
    assert after == before  # not one wide report row written, last_seen included
    assert count(store, s.report_seen) == 40  # the narrow rows moved instead
    for row in store.reports():
        assert row["first_seen"] == first_time
        assert row["last_seen"] == later
    earlier = Window(body=w.body, incoming=w.incoming, records=w.records)
    write(store, run_id, earlier, T0, received_at=first_time + dt.timedelta(hours=1))
    assert {row["last_seen"] for row in store.reports()} == {later}  # it never goes back


def test_only_the_reports_sent_again_are_seen_again(store: Store, run_id: int) -> None:
    reports = distinct(Gen(18).reports(12))
    first = T0 + dt.timedelta(hours=25)
    write(store, run_id, window(reports), T0, received_at=first)
    again = [reports[i] for i in (0, 2, 3, 4, 9, 11)]  # scattered ids
    later = first + DAY
    assert write(store, run_id, window(again), T0 + DAY, received_at=later).unchanged == 6
    seen = {r["report_key"]: r["last_seen"] for r in store.reports()}
    assert seen == {key_of(r): later if r in again else first for r in reports}


def test_a_changed_report_gets_exactly_one_new_revision(store: Store, run_id: int) -> None:
    reports = distinct(Gen(6).reports(10, scale="0-120"))
    first = T0 + dt.timedelta(hours=25)
    write(store, run_id, window(reports), T0, received_at=first)
    old = reports[3]
    new = rescored(old, listening=(old.values["listening"] + 1) % 31)

    later = first + 5 * DAY
    w = window([new, *reports[4:6]])
    counts = write(store, run_id, w, T0 + 5 * DAY, received_at=later)

    assert counts == WindowCounts(new=0, changed=1, unchanged=2, warnings=0)
    assert w.parsed == [1]
    assert count(store, s.score_reports) == 10
    assert count(store, s.report_revisions) == 11
    current = next(r for r in store.reports() if r["report_key"] == key_of(old))
    assert current["listening"] == new.values["listening"]
    assert current["total"] == new.values["total"]
    assert current["raw"] == new.line()
    assert current["revisions"] == 2
    assert current["first_seen"] == first and current["last_seen"] == later
    one, two = store.revisions(key_of(old))
    assert (one["revision"], two["revision"]) == (1, 2)
    assert one["raw"] == old.line() and one["fields"]["listening"] == old.values["listening"]
    assert one["fields"] == {k: v for k, v in old.values.items() if v is not None}
    assert two["raw"] == new.line() and two["fields"]["listening"] == new.values["listening"]
    assert (one["received_at"], two["received_at"]) == (first, later)
    assert two["window_start"] == T0 + 5 * DAY
    # The other reports' revisions are untouched.
    for rep in reports:
        if rep is not old:
            (rev,) = store.revisions(key_of(rep))
            assert rev["raw"] == rep.line()


def test_an_older_version_sent_again_is_not_a_change(store: Store, run_id: int) -> None:
    v1 = Gen(7).report(scale="0-120")
    v2 = rescored(v1, listening=(v1.values["listening"] + 3) % 31)
    write(store, run_id, window([v1]), T0)
    write(store, run_id, window([v2]), T0 + DAY)
    w = window([v1])  # e.g. a backfill over the old window
    counts = write(store, run_id, w, T0)
    assert counts == WindowCounts(new=0, changed=0, unchanged=1, warnings=0)
    assert w.parsed == []
    (row,) = store.reports()
    assert row["raw"] == v2.line() and row["revisions"] == 2
    assert [r["raw"] for r in store.revisions(key_of(v1))] == [v1.line(), v2.line()]


def test_several_versions_of_a_key_in_one_window(store: Store, run_id: int) -> None:
    g = Gen(8)
    a1 = g.report(scale="0-120")
    a2 = rescored(a1, listening=(a1.values["listening"] + 1) % 31)
    a3 = rescored(a1, listening=(a1.values["listening"] + 2) % 31)
    # A new key with two versions, one of them repeated.
    counts = write(store, run_id, window([a1, a1, a2]), T0)
    assert counts == WindowCounts(new=1, changed=1, unchanged=1, warnings=0)
    (row,) = store.reports()
    assert row["raw"] == a2.line() and row["revisions"] == 2
    assert [r["raw"] for r in store.revisions(key_of(a1))] == [a1.line(), a2.line()]
    # A stored key changed twice in one window: both become revisions, the last one wins.
    counts = write(store, run_id, window([a3, rescored(a1, 30)]), T0 + DAY)
    assert counts == WindowCounts(new=0, changed=2, unchanged=0, warnings=0)
    revs = store.revisions(key_of(a1))
    assert [r["revision"] for r in revs] == [1, 2, 3, 4]
    assert [r["raw"] for r in revs] == [a1.line(), a2.line(), a3.line(), rescored(a1, 30).line()]
    assert revs[2]["fields"]["listening"] == a3.values["listening"]
    (row,) = store.reports()
    assert row["listening"] == 30 and row["revisions"] == 4


def test_warnings_are_counted_and_kept(store: Store, run_id: int) -> None:
    report = Gen(9).report(scale="0-120")
    report.values["total"] = (report.values["total"] + 1) % 121  # not the sum any more
    counts = write(store, run_id, window([report]), T0)
    assert counts.warnings == 1
    (row,) = store.reports()
    assert [w["field"] for w in row["warnings"]] == ["total"]


# -- all or nothing -------------------------------------------------------------------------


def test_a_write_that_fails_midway_leaves_nothing_of_the_window(store: Store, run_id: int) -> None:
    write(store, run_id, window(Gen(10).reports(3)), T0)  # something already there
    before = {t.name: table_digest(store, t) for t in s.metadata.sorted_tables}
    w = window(distinct(Gen(11).reports(80)))

    class Boom(Exception):
        pass

    def parse(item: Incoming) -> Record:
        if len(w.parsed) == 49:
            raise Boom("the 50th record")
        return w.parse(item)

    with pytest.raises(Boom):
        write(store, run_id, w, T0 + DAY, parse=parse)
    after = {t.name: table_digest(store, t) for t in s.metadata.sorted_tables}
    assert after == before
    assert store.coverage() == [(T0, T0 + DAY)]
    # and the same window then goes through whole
    w.parsed.clear()
    assert write(store, run_id, w, T0 + DAY).new == len(w.incoming)


def test_a_database_error_is_a_store_error_and_rolls_back(store: Store, run_id: int) -> None:
    with pytest.raises(StoreError, match="failed while writing the window"):
        write(store, run_id + 1000, window(Gen(12).reports(3)), T0)  # no such run
    assert count(store, s.score_reports) == 0
    assert count(store, s.response_archive) == 0
    assert store.coverage() == []


# -- coverage -------------------------------------------------------------------------------


def test_coverage_merges_contiguous_windows_and_keeps_gaps(store: Store, run_id: int) -> None:
    assert store.coverage() == [] and store.watermark() is None
    empty = window([])
    for day in (2, 0, 1, 5, 6, 9):  # out of order; islands at 5-7 and 9-10
        write(store, run_id, empty, T0 + day * DAY)
    write(store, run_id, empty, T0 + 5 * DAY + dt.timedelta(hours=12), days=1)  # overlap
    cov = store.coverage()
    assert cov == [(T0, T0 + 3 * DAY), (T0 + 5 * DAY, T0 + 7 * DAY), (T0 + 9 * DAY, T0 + 10 * DAY)]
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in cov)
    # the end of the newest covered run: older islands (backfills) never move it back
    assert store.watermark() == T0 + 10 * DAY
    status = store.status()
    assert status.gaps == [(T0 + 3 * DAY, T0 + 5 * DAY), (T0 + 7 * DAY, T0 + 9 * DAY)]
    write(store, run_id, empty, T0 + 3 * DAY, days=2)  # fill the first gap
    assert store.watermark() == T0 + 10 * DAY
    assert store.status().gaps == [(T0 + 7 * DAY, T0 + 9 * DAY)]


def test_instants_with_an_offset_are_stored_in_utc(store: Store, run_id: int) -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    start = dt.datetime(2026, 3, 1, 2, 0, tzinfo=plus2)  # = 00:00 UTC
    write(store, run_id, window([]), start)
    assert store.coverage() == [(T0, T0 + DAY)]


# -- the ledger and the status ----------------------------------------------------------------


def test_run_ledger_round_trip(store: Store) -> None:
    started = dt.datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    run = store.begin_run(started_at=started, params={"window": "1d", "since": None})
    store.record_failure(run_id=run, start=T0, end=T0 + DAY, error="500 from the server",
                         status=500)
    store.record_failure(run_id=run, start=T0 + DAY, end=T0 + 2 * DAY, error="refused",
                         status=None)
    store.finish_run(
        run, finished_at=started + dt.timedelta(seconds=90), windows_done=3, windows_failed=2,
        counts=WindowCounts(5, 1, 7, 2), nbytes=12345, statuses={200: 3, 500: 4},
        error="stopped", windows_planned=5,
    )
    later = store.begin_run(started_at=started + DAY, params={})
    (newest, older) = store.status(runs=2).runs
    assert newest.id == later and newest.finished_at is None and newest.counts is None
    assert older.id == run and older.started_at == started
    assert older.finished_at == started + dt.timedelta(seconds=90)
    assert older.duration_s == 90.0
    assert older.params == {"window": "1d", "since": None}
    assert (older.windows_planned, older.windows_done, older.windows_failed) == (5, 3, 2)
    assert older.counts == WindowCounts(5, 1, 7, 2)
    assert older.nbytes == 12345 and older.statuses == {200: 3, 500: 4}
    assert older.error == "stopped"
    assert [(f.start, f.end, f.status, f.error) for f in older.failures] == [
        (T0, T0 + DAY, 500, "500 from the server"),
        (T0 + DAY, T0 + 2 * DAY, None, "refused"),
    ]
    with pytest.raises(StoreError, match="no run 999"):
        store.finish_run(999, finished_at=started, windows_done=0, windows_failed=0,
                         counts=WindowCounts(), nbytes=0, statuses={}, error=None)


def test_status_counts_scales_departments_and_the_last_new_report(
    store: Store, run_id: int
) -> None:
    g = Gen(13)
    old = [g.report(scale="0-120") for _ in range(3)]
    new = [g.report(scale="1-6") for _ in range(2)]
    both = [g.report(scale="both")]
    none = g.report(scale="0-120")
    for name in ("listening", "reading", "speaking", "writing", "total"):
        none.values[name] = None
    reports = [*old, *new, *both, none]
    for r in reports:
        r.values["institution_code"] = "1234"
        r.values["department_code"] = "01"
    for r in reports[:2]:
        r.values["department_code"] = "02"
    first = T0 + dt.timedelta(hours=26)
    write(store, run_id, window(reports), T0, received_at=first)
    write(store, run_id, window(reports[:2]), T0 + DAY, received_at=first + DAY)

    st = store.status()
    assert st.backend in ("sqlite", "postgresql") and st.revision == s.HEAD
    assert st.reports == 7 and st.revisions == 7 and st.archived_responses == 2
    assert st.by_scale == {"0-120": 3, "1-6": 2, "both": 1, "none": 1}
    assert [(d.institution_code, d.department_code, d.reports) for d in st.by_department] == [
        ("1234", "01", 5), ("1234", "02", 2),
    ]
    assert st.last_new_report == first
    assert st.watermark == T0 + 2 * DAY and st.gaps == []
    assert st.lock is None
    assert "***" not in st.url or "@" in st.url
    with store.sync_lock():
        holder = store.status().lock
        assert holder is not None and holder.pid > 0


def test_status_of_an_empty_store(store: Store) -> None:
    st = store.status()
    assert (st.reports, st.revisions, st.watermark, st.last_new_report) == (0, 0, None, None)
    assert st.by_scale == {"0-120": 0, "1-6": 0, "both": 0, "none": 0}
    assert st.coverage == [] and st.gaps == [] and st.runs == [] and st.by_department == []


# -- keys -----------------------------------------------------------------------------------


def test_report_key_and_incoming() -> None:
    assert report_key("0001234", dt.date(2026, 1, 21), "1234", "02") == "0001234|2026-01-21|1234|02"
    assert report_key("R123456", None, "1234", None) == "R123456||1234|"
    rep = Gen(14).report()
    record = codec(CURRENT).decode(rep.line(), 7)
    (inc,) = incoming_from_records([record])
    assert inc == Incoming(
        key=key_of(rep), digest=hashlib.blake2b(rep.line(), digest_size=16).digest(),
        raw=rep.line(), line=7,
    )


def test_reading_many_reports_streams_them(store: Store, run_id: int) -> None:
    reports = distinct(Gen(15).reports(300))
    write(store, run_id, window(reports), T0)
    seen: list[Any] = [r["report_key"] for r in store.reports()]
    assert seen == [key_of(r) for r in reports]  # in the order they were first stored
