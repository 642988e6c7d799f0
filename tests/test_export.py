"""Exports on both backends: every format read back with its own reader and compared with
the store, deltas after a rescore and a cancellation, an interrupted export, ScoreLink bytes
as the mock server sent them, and the command line."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import fresh_pg_database

from toefl_access.api.client import Client
from toefl_access.cli import main
from toefl_access.errors import MissingExtraError, ToeflAccessError, UsageError
from toefl_access.formats import layout as layouts
from toefl_access.formats.output import to_row
from toefl_access.formats.record import Record
from toefl_access.formats.textformat import codec, render
from toefl_access.handoff import export as ex
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.store import Store, open_store, report_key
from toefl_access.store import schema as s
from toefl_access.sync import SyncSettings, sync
from toefl_access.sync.preparing import prepare

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 2, 26, tzinfo=UTC)
PER_DAY = 6
FIELDS = s.FIELDS
SENSITIVE = tuple(n for n, kind in s.FIELD_KINDS.items() if kind == "sensitive")


class Recorder:
    """A client that keeps every body it fetched, by window start."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.bodies: dict[dt.datetime, bytes] = {}

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        body = self.client.fetch_body(start, end, format=format)
        self.bodies[start] = body.content
        return body


def synced(store: Store, *, fmt: str = "text", keep: bool = False) -> Recorder:
    """A store synced from the mock (ID numbers hashed, the default, unless ``keep``)."""
    api = MockApi(seed=0, per_day=PER_DAY)
    client = Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
                    transport=api.transport())
    settings = SyncSettings(since=SINCE, format=fmt, sensitive="keep" if keep else "hash")
    with client:
        recorder = Recorder(client)
        result = sync(recorder, store, settings, now=NOW)
    assert result.exit_code == 0 and result.counts.new > 40
    return recorder


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as st:
        yield st


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def synced_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Recorder]]:
    """One store per backend, synced once, for the tests that only read it."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('export')}/toefl-access.db"
        else:
            url = stack.enter_context(fresh_pg_database("test_export"))
        st = stack.enter_context(open_store(url))
        yield st, synced(st)


def stored(store: Store) -> dict[str, dict[str, Any]]:
    return {r["report_key"]: r for r in store.reports()}


def run(store: Store, to: str, out: Path | None = None, **kw: Any) -> tuple[ex.ExportResult, bytes]:
    if out is None:
        buf = io.BytesIO()
        result = ex.export(store, to=to, stdout=buf, **kw)
        return result, buf.getvalue()
    result = ex.export(store, to=to, output=out, **kw)
    return result, out.read_bytes()


def unwrap(cell: str) -> str:
    """A CSV cell as Excel shows it: ``="0123"`` is the text 0123."""
    if cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1].replace('""', '"')
    return cell


def plain(value: Any) -> str:
    """The text of a stored value, written independently of the exporter."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


META = {"_layout": "layout", "_format": "format", "_first_seen": "first_seen",
        "_revisions": "revisions", "_cancelled_at": "cancelled_at",
        "_cancel_reason": "cancel_reason"}


# -- each format read back ----------------------------------------------------------------


def test_csv_opens_in_excel_and_holds_the_stored_values(
    synced_store: tuple[Store, Recorder], tmp_path: Path
) -> None:
    store, _ = synced_store
    result, data = run(store, "csv", tmp_path / "scores.csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    want = stored(store)
    assert result.rows == len(rows) == len(want)
    assert list(rows[0]) == [*FIELDS, *ex.DEFAULT_META]
    names = set()
    for row in rows:
        key = report_key(unwrap(row["registration_number"]), dt.date.fromisoformat(
            unwrap(row["test_date"])), unwrap(row["institution_code"]) or None,
            unwrap(row["department_code"]) or None)
        rec = want.pop(key)
        for name in FIELDS:
            assert unwrap(row[name]) == plain(rec[name]), name
            if isinstance(rec[name], str) and rec[name].isdigit():
                assert row[name] == f'="{rec[name]}"', name  # leading zeros survive Excel
            if isinstance(rec[name], dt.date):
                assert row[name].startswith('="'), name
        for col, source in META.items():
            assert unwrap(row[col]) == plain(rec[source]), col
        assert row["_cancelled"] == "false"
        names.add(rec["last_name"])
    assert not want
    assert any(not n.isascii() for n in names), "the mock population has non-ASCII names"


def test_plain_csv_and_labels(synced_store: tuple[Store, Recorder]) -> None:
    store, _ = synced_store
    _, data = run(store, "csv", excel=False, headers="labels",
                  columns=["registration_number", "test_date", "total"])
    assert not data.startswith(b"\xef\xbb\xbf") and b'="' not in data
    lines = data.decode().split("\r\n")
    lay = layouts.builtin(layouts.CURRENT)
    assert lines[0] == ",".join(
        f'"{lay.field(n).label}"' if "," in lay.field(n).label else lay.field(n).label
        for n in ("registration_number", "test_date", "total")
    )
    first = next(iter(stored(store).values()))
    reg, day, total = first["registration_number"], first["test_date"], plain(first["total"])
    assert lines[1] == f"{reg},{day},{total}"


def test_jsonl_follows_the_parse_contract_plus_metadata(
    synced_store: tuple[Store, Recorder]
) -> None:
    store, _ = synced_store
    _, data = run(store, "jsonl")
    want = stored(store)
    lines = data.splitlines()
    assert len(lines) == len(want)
    for line in lines:
        obj = json.loads(line)
        assert "_report_key" not in obj  # not a default column
        key = report_key(obj["registration_number"], dt.date.fromisoformat(obj["test_date"]),
                         obj["institution_code"], obj["department_code"])
        rec = want.pop(key)
        parsed = codec(rec["layout"]).decode(rec["raw"], obj["_line"])
        contract = json.loads(msgspec.json.encode(to_row(parsed)))
        assert list(obj)[: len(contract)] == list(contract)  # same keys, same order
        # the values `parse` gives, but the ID number as stored (hashed or dropped by default)
        contract.update((n, plain(rec[n]) or None) for n in SENSITIVE if n in contract)
        assert {k: obj[k] for k in contract} == contract
        assert list(obj)[len(contract):] == list(ex.JSONL_META)
        assert obj["_first_seen"] == plain(rec["first_seen"])
        assert obj["_revisions"] == rec["revisions"] and obj["_cancelled"] is False
    assert not want


def test_xlsx_has_typed_cells_and_a_frozen_header(
    synced_store: tuple[Store, Recorder], tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    store, _ = synced_store
    out = tmp_path / "scores.xlsx"
    result, _ = run(store, "xlsx", out)
    sheet = openpyxl.load_workbook(out).active
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert list(header) == [*FIELDS, *ex.DEFAULT_META]
    assert len(body) == result.rows
    want = stored(store)
    col = {name: i for i, name in enumerate(header)}
    kinds = s.FIELD_KINDS
    for values in body:
        key = report_key(values[col["registration_number"]], values[col["test_date"]].date(),
                         values[col["institution_code"]], values[col["department_code"]])
        rec = want.pop(key)
        for name in FIELDS:
            got, expect = values[col[name]], rec[name]
            if kinds[name] == "date" and expect is not None:
                assert isinstance(got, dt.datetime) and got.date() == expect, name
            elif kinds[name] in ("score", "band") and expect is not None:
                assert isinstance(got, int | float) and got == expect, name
            else:
                assert got == expect, name  # codes stay text: "0001" is not 1
        seen = values[col["_first_seen"]]
        assert abs(seen - rec["first_seen"].replace(tzinfo=None)) < dt.timedelta(milliseconds=1)
        assert values[col["_revisions"]] == rec["revisions"]
        assert values[col["_cancelled"]] is False
    assert not want


def test_parquet_has_proper_types(synced_store: tuple[Store, Recorder], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    store, _ = synced_store
    out = tmp_path / "scores.parquet"
    run(store, "parquet", out)
    table = pq.read_table(out)
    types = {f.name: f.type for f in table.schema}
    assert types["total"] == pa.int32() and types["ibt26_total"] == pa.float64()
    assert types["test_date"] == pa.date32() and types["registration_number"] == pa.string()
    assert types["_first_seen"] == pa.timestamp("us", tz="UTC")
    assert types["_cancelled"] == pa.bool_()
    want = stored(store)
    for row in table.to_pylist():
        rec = want.pop(report_key(row["registration_number"], row["test_date"],
                                  row["institution_code"], row["department_code"]))
        assert {n: row[n] for n in FIELDS} == {n: rec[n] for n in FIELDS}
        assert row["_first_seen"] == rec["first_seen"]
        assert row["_changed_at"] is not None and row["_line"] >= 1
    assert not want


def sent_lines(recorder: Recorder) -> dict[str, bytes]:
    """Each report's current line among those the server sent (the store's rule: the last
    distinct content in window order)."""
    current: dict[str, bytes] = {}
    seen: dict[str, set[bytes]] = {}
    lay = codec(layouts.CURRENT)
    for start in sorted(recorder.bodies):
        for line in recorder.bodies[start].splitlines():
            key = report_key(*lay.decode(line).identity)
            if line not in seen.setdefault(key, set()):
                seen[key].add(line)
                current[key] = line
    return current


def test_scorelink_lines_are_the_bytes_the_server_sent(store: Store, tmp_path: Path) -> None:
    recorder = synced(store, keep=True)
    result, data = run(store, "scorelink", tmp_path / "scores.txt")
    assert data.endswith(b"\n") and not result.notes
    lines = data.split(b"\n")[:-1]
    assert sorted(lines) == sorted(sent_lines(recorder).values())
    assert b"".join(line + b"\n" for line in lines) == data


def test_no_export_holds_an_id_number_the_store_does_not(
    synced_store: tuple[Store, Recorder]
) -> None:
    store, recorder = synced_store  # the default: ID numbers hashed, their bytes masked
    lay = codec(layouts.CURRENT)
    ids = {lay.decode(line)["security_id_number"] for line in sent_lines(recorder).values()}
    ids.discard(None)
    assert len(ids) > 10
    (f,) = (f for f in lay.layout.data_fields if f.kind == "sensitive")
    for to in ("csv", "jsonl", "scorelink"):
        _, data = run(store, to)
        assert not any(i.encode() in data for i in ids), to
    # ScoreLink lines differ from those sent only in the masked ID number
    _, data = run(store, "scorelink")
    masked = {line[: f.start - 1] + line[f.end :] for line in sent_lines(recorder).values()}
    assert {line[: f.start - 1] + line[f.end :] for line in data.splitlines()} == masked


def test_scorelink_of_json_reports_renders_them_and_says_so(store: Store) -> None:
    synced(store, fmt="json")
    result, data = run(store, "scorelink")
    assert result.notes and "JSON" in result.notes[0]
    want = stored(store)
    names = [n for n in layouts.builtin(layouts.CURRENT).names if n not in SENSITIVE]
    for line in data.splitlines():
        record = codec(layouts.CURRENT).decode(line)
        rec = want.pop(report_key(*record.identity))
        assert {n: record[n] for n in names} == {n: rec[n] for n in names}
        for n in SENSITIVE:  # stored as a keyed hash: written masked, as text lines hold it
            assert record[n] is None if rec[n] is None else set(record[n]) == {"*"}
    assert not want


# -- deltas -------------------------------------------------------------------------------


def rescore(store: Store, keys: list[str]) -> None:
    """Send these reports again with their listening score and total one lower."""
    lay = layouts.builtin(layouts.CURRENT)
    listening, total = lay.field("listening"), lay.field("total")
    rows = stored(store)
    lines = []
    for key in keys:
        raw = bytearray(rows[key]["raw"])
        for f, value in ((listening, rows[key]["listening"] - 1),
                         (total, rows[key]["total"] - 1)):
            raw[f.start - 1 : f.end] = f"{value:0{f.size}d}".encode()
        lines.append(bytes(raw))
    body = b"\n".join(lines) + b"\n"
    incoming, parse = prepare(body, "text")
    run_id = store.begin_run(started_at=dt.datetime.now(UTC), params={"test": "rescore"})
    start = dt.datetime(2026, 3, 20, tzinfo=UTC)
    counts = store.write_window(
        run_id=run_id, start=start, end=start + dt.timedelta(days=1), fmt="text", body=body,
        sha256=hashlib.sha256(body).hexdigest(), status=200, incoming=incoming, parse=parse,
        received_at=dt.datetime.now(UTC),
    )
    assert counts.changed == len(keys)


def cancel(store: Store, key: str, reason: str = "test cancellation") -> None:
    """Mark a report cancelled as the cancellation commands do (straight into the tables)."""
    reg, date, _, _ = key.split("|")
    now = dt.datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(s.cancellations.insert().values(
            report_key=key, registration_number=reg, test_date=dt.date.fromisoformat(date),
            reason=reason, source="test", cancelled_at=now))
        conn.execute(s.score_reports.update().where(s.score_reports.c.report_key == key)
                     .values(cancelled_at=now, cancel_reason=reason))


def some_keys(store: Store, n: int) -> list[str]:
    keys = [k for k, r in stored(store).items() if r["total"] and r["listening"]]
    assert len(keys) >= n
    return keys[:n]


def delta_rows(data: bytes) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return {unwrap(r["_report_key"]): r for r in rows}


DELTA_COLUMNS = ["_report_key", "listening", "total", "_cancelled", "_cancel_reason"]


def test_a_delta_holds_exactly_the_rescored_and_the_cancelled(store: Store, tmp_path: Path) -> None:
    synced(store)
    out = tmp_path / "delta.csv"
    first, data = run(store, "csv", out, since_last="crm", columns=DELTA_COLUMNS)
    everything = stored(store)
    assert first.previous is None and first.changes == {"new": len(everything), "changed": 0,
                                                        "cancelled": 0}
    assert {k: r["change"] for k, r in delta_rows(data).items()} == dict.fromkeys(
        everything, "new")

    again, data = run(store, "csv", out, since_last="crm", columns=DELTA_COLUMNS)
    assert again.rows == 0 and delta_rows(data) == {}

    *changed, gone = some_keys(store, 3)
    rescore(store, changed)
    cancel(store, gone)
    third, data = run(store, "csv", out, since_last="crm", columns=DELTA_COLUMNS)
    rows = delta_rows(data)
    assert {k: r["change"] for k, r in rows.items()} == {
        changed[0]: "changed", changed[1]: "changed", gone: "cancelled"}
    assert next(iter(next(iter(rows.values())))) == "change"  # added first when not listed
    for key in changed:
        assert int(rows[key]["total"]) == everything[key]["total"] - 1
    assert rows[gone]["_cancelled"] == "true"
    assert rows[gone]["_cancel_reason"] == "test cancellation"
    assert third.changes == {"new": 0, "changed": 2, "cancelled": 1}
    assert third.previous is not None and third.previous.rows == 0
    assert store.bookmark("crm") == third.bookmark

    # another name starts from the beginning; the cancelled report is cancelled there too
    _, data = run(store, "csv", tmp_path / "other.csv", since_last="other",
                  columns=DELTA_COLUMNS)
    assert {r["change"] for r in delta_rows(data).values()} == {"new", "cancelled"}


def test_changed_since_and_where(store: Store, tmp_path: Path) -> None:
    synced(store)
    mark = dt.datetime.now(UTC)
    *changed, gone = some_keys(store, 3)
    rescore(store, changed)
    cancel(store, gone)
    _, data = run(store, "csv", changed_since=mark, columns=DELTA_COLUMNS)
    assert {k: r["change"] for k, r in delta_rows(data).items()} == {
        changed[0]: "changed", changed[1]: "changed", gone: "cancelled"}

    _, data = run(store, "csv", where=["_cancelled=yes"], columns=["_report_key"])
    assert list(delta_rows(data)) == [gone]
    rec = stored(store)[changed[0]]
    where = [f"registration_number={rec['registration_number']}",
             f"test_date={rec['test_date']:%Y%m%d}", f"total={rec['total']}",
             f"total={rec['total'] + 50}"]
    _, data = run(store, "csv", where=where, columns=["_report_key"])
    assert list(delta_rows(data)) == [changed[0]]
    _, data = run(store, "csv", where=[*where[:2], f"total={rec['total'] + 1}"],
                  columns=["_report_key"])
    assert delta_rows(data) == {}


def test_an_interrupted_export_moves_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(store)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "delta.csv"
    run(store, "csv", out, since_last="crm")
    before = store.bookmark("crm")
    out.write_bytes(b"the previous file\n")
    rescore(store, some_keys(store, 1))

    def failing(rows: Any, fh: IO[bytes], spec: ex.Spec) -> int:
        ex.write_csv(rows, fh, spec)
        fh.write(b"half a row")
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(ex.WRITERS, "csv", failing)
    with pytest.raises(ToeflAccessError, match="No space left"):
        run(store, "csv", out, since_last="crm")
    assert store.bookmark("crm") == before
    assert out.read_bytes() == b"the previous file\n"
    assert [p.name for p in folder.iterdir()] == ["delta.csv"]  # no .part file left

    monkeypatch.undo()
    result, _ = run(store, "csv", out, since_last="crm")
    assert result.changes["changed"] == 1  # repeated, not skipped


def test_the_bookmark_does_not_move_when_another_export_moved_it(
    store: Store, tmp_path: Path
) -> None:
    synced(store)
    with store.export_rows(since_last="crm") as batch:
        list(batch.rows)
    run(store, "jsonl", tmp_path / "a.jsonl", since_last="crm")
    with pytest.raises(ToeflAccessError, match="moved while this export ran"):
        assert batch.until is not None
        store.advance_bookmark("crm", since=None, until=batch.until, rows=0, target=None)


# -- refusals and errors ------------------------------------------------------------------


def test_refusals_before_anything_is_read(
    synced_store: tuple[Store, Recorder], tmp_path: Path
) -> None:
    store, _ = synced_store
    with pytest.raises(UsageError, match=r"valid names: .*registration_number"):
        run(store, "csv", columns=["registration_number", "totl"])
    with pytest.raises(UsageError, match="did you mean total"):
        run(store, "csv", where=["totl=3"])
    with pytest.raises(UsageError, match="total is a score"):
        run(store, "csv", where=["total=high"])
    with pytest.raises(UsageError, match="needs -o FILE"):
        run(store, "csv", since_last="crm")
    with pytest.raises(UsageError, match="change column exists only"):
        run(store, "csv", columns=["change"])
    with pytest.raises(UsageError, match="do not apply"):
        run(store, "scorelink", columns=["total"])
    with pytest.raises(UsageError, match="does not exist"):
        run(store, "csv", tmp_path / "nowhere" / "x.csv")
    assert store.bookmarks() == []


def test_a_missing_extra_is_named(
    synced_store: tuple[Store, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = synced_store
    monkeypatch.setitem(sys.modules, "xlsxwriter", None)
    with pytest.raises(MissingExtraError, match=r"toefl-access\[excel\]"):
        run(store, "xlsx")


# -- the command line, exactly ------------------------------------------------------------


def small_store(url: str) -> None:
    """Two hand-made reports: leading zeros, a non-ASCII name, one in the legacy layout."""
    base: dict[str, Any] = {
        "institution_code": "0042", "department_code": "07",
        "registration_number": "0000123456789012", "last_name": "Nguyễn",
        "first_name": "Thị, Lan", "test_date": dt.date(2026, 1, 9), "listening": 25,
        "reading": 27, "speaking": 22, "writing": 24, "total": 98,
    }
    lines = [render(Record(values=base, layout=layouts.CURRENT, line=1, raw=b""))]
    legacy = {**base, "registration_number": "0000999", "last_name": "=Ørsted",
              "test_date": dt.date(2017, 5, 2), "report_date": dt.date(2017, 5, 20)}
    lines.append(render(Record(values=legacy, layout=layouts.LEGACY, line=2, raw=b"")))
    with open_store(url) as st:
        for i, line in enumerate(lines):
            incoming, parse = prepare(line + b"\n", "text")
            run_id = st.begin_run(started_at=NOW, params={})
            start = NOW + dt.timedelta(days=i)
            st.write_window(run_id=run_id, start=start, end=start + dt.timedelta(days=1),
                            fmt="text", body=line, sha256=hashlib.sha256(line).hexdigest(),
                            status=200, incoming=incoming, parse=parse, received_at=start)


def test_cli_csv_output_exactly(sqlite_url: str, tmp_path: Path) -> None:
    small_store(sqlite_url)
    args = ["export", "--to", "csv", "--db", sqlite_url, "--columns",
            "registration_number,last_name,first_name,test_date,total,report_date,_first_seen"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8") == (
        "\ufeffregistration_number,last_name,first_name,test_date,total,report_date,_first_seen\r\n"
        '"=""0000123456789012""",Nguyễn,"Thị, Lan","=""2026-01-09""",98,,'
        '"=""2026-03-10T12:00:00Z"""\r\n'
        '"=""0000999""","=""=Ørsted""","Thị, Lan","=""2017-05-02""",98,"=""2017-05-20""",'
        '"=""2026-03-11T12:00:00Z"""\r\n'
    )
    assert result.stderr == ""

    out = tmp_path / "d.jsonl"
    args = ["export", "--to", "jsonl", "--db", sqlite_url, "--since-last", "sis", "-o", str(out),
            "--columns", "registration_number,total"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert out.read_text() == (
        '{"change":"new","registration_number":"0000123456789012","total":98}\n'
        '{"change":"new","registration_number":"0000999","total":98}\n'
    )
    assert result.stderr == (
        f"2 reports written to {out} (2 new, 0 changed, 0 cancelled)\n"
        "Bookmark 'sis' moved (this was its first export).\n"
    )
    # the legacy report keeps the legacy fields only, as `parse` would give them
    result = CliRunner().invoke(main, ["export", "--to", "jsonl", "--db", sqlite_url])
    legacy = json.loads(result.stdout.splitlines()[1])
    assert [k for k in legacy if not k.startswith("_")] == list(
        layouts.builtin(layouts.LEGACY).names)


def test_cli_errors(sqlite_url: str, tmp_path: Path) -> None:
    small_store(sqlite_url)
    result = CliRunner().invoke(main, ["export", "--to", "csv", "--db", sqlite_url,
                                       "--columns", "registration_number,scroe"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown column 'scroe'; valid names: change, ")
    result = CliRunner().invoke(main, ["export", "--to", "csv", "--since-last", "x",
                                       "--db", sqlite_url])
    assert result.exit_code == 1 and "needs -o FILE" in result.stderr
    missing = f"sqlite:///{tmp_path}/missing.db"
    result = CliRunner().invoke(main, ["export", "--to", "csv", "--db", missing])
    assert result.exit_code == 1 and "run `toefl-access sync` first" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_store_rows_for_a_where_on_an_unknown_name_are_refused(
    synced_store: tuple[Store, Recorder]
) -> None:
    store, _ = synced_store
    with pytest.raises(UsageError, match="cannot filter on 'nope'"), \
            store.export_rows(where={"nope": [1]}):
        pass
    with store.engine.connect() as conn:  # nothing was written by any of it
        assert conn.execute(sa.select(sa.func.count()).select_from(s.export_bookmarks)
                            ).scalar_one() == 0


@pytest.mark.parametrize(
    ("value", "protected"),
    [("0123", True), ("1E5", True), ("12-3", True), ("12:30", True), ("(42)", True),
     ("=HYPERLINK(1)", True), ("+1", True), ("@sum", True), ("Smith", False),
     ("STN20555B", False), ("O'Brien", False), ("Calle 5", False)],
)
def test_csv_keeps_what_excel_would_change_as_text(value: str, protected: bool) -> None:
    cell = ex.excel_text(value)
    assert cell == (f'="{value}"' if protected else value)


def test_xlsx_text_that_looks_like_a_formula_stays_text(sqlite_url: str, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    small_store(sqlite_url)
    out = tmp_path / "s.xlsx"
    with open_store(sqlite_url) as st:
        run(st, "xlsx", out, columns=["institution_code", "last_name", "total", "test_date"])
    sheet = openpyxl.load_workbook(out).active
    rows = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)]
    assert rows == [
        [("0042", "s"), ("Nguyễn", "s"), (98, "n"), (dt.datetime(2026, 1, 9), "d")],
        [("0042", "s"), ("=Ørsted", "s"), (98, "n"), (dt.datetime(2017, 5, 2), "d")],
    ]
