"""The export's CSV writer (Arrow columns, a chunk of rows at a time) writes exactly what
the csv module writes a row at a time, with the same Excel protection, for any values."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from typing import IO, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from toefl_access.formats.record import RecordWarning
from toefl_access.handoff import export_csv
from toefl_access.handoff.export import select_columns
from toefl_access.handoff.spec import Row, Spec, getter, iso_instant, json_text, warnings_text

# -- the reference: the row-at-a-time writer this project shipped before the Arrow one ----

_EXCEL_CHANGES = re.compile(
    r"[=+\-@\t\r]|[0-9.,:/%$()+\-\s eE]*[0-9][0-9.,:/%$()+\-\s eE]*\Z"
).match


def _excel_text(value: str) -> str:
    if _EXCEL_CHANGES(value):
        return '="' + value.replace('"', '""') + '"'
    return value


def _csv_cell(kind: str, excel: bool) -> Callable[[Any], Any] | None:
    if kind == "bool":
        return lambda v: "true" if v else "false"
    if kind == "warnings":
        return warnings_text
    if kind == "json":
        return json_text
    if kind == "instant":
        return (lambda v: f'="{iso_instant(v)}"') if excel else iso_instant
    if kind == "date":
        return (lambda v: f'="{v.isoformat()}"') if excel else None
    if kind in ("score", "int", "band"):
        return None
    return _excel_text if excel else None


def reference(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig" if spec.excel else "utf-8", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(spec.headers)
    get = getter(spec.columns)
    convert = [(i, f) for i, c in enumerate(spec.columns)
               if (f := _csv_cell(c.kind, spec.excel)) is not None]
    count = 0
    for row in rows:
        cells = list(get(row))
        for i, f in convert:
            if cells[i] is not None:
                cells[i] = f(cells[i])
        writer.writerow(cells)
        count += 1
    text.flush()
    text.detach()
    return count


# -- values of every kind, hostile ones included --------------------------------------------

TEXT = st.one_of(
    st.sampled_from(["", "0123", "=1+1", "+1", "-", "@x", 'a"b', "a,b", "x\r\ny", "1 234,5",
                     "12/03", "1e5", " 12 ", "4.5", "\t", "1\x0b2", "1\u00a02", "١٢", "Zoë",
                     "(1)", "$5", "50%", "x1", "1x", "10:30", "1\x1c", "\rx", "\tx", "@"]),
    st.text(max_size=6),
)
VALUES = {
    "text": st.one_of(st.none(), TEXT),
    "code": st.one_of(st.none(), TEXT),
    "score": st.one_of(st.none(), st.integers(-5, 999)),
    "int": st.one_of(st.none(), st.integers(0, 10**6)),
    "band": st.one_of(st.none(), st.sampled_from([1.0, 4.5, 6.0, 4.33, 0.1, 1e16, 2.5e-5])),
    "date": st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1))),
    "instant": st.one_of(st.none(), st.datetimes(
        dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))),
    "bool": st.one_of(st.none(), st.booleans()),
    "warnings": st.one_of(st.none(), st.just([]), st.lists(st.builds(
        RecordWarning, field=st.sampled_from(["total", "last_name"]), message=TEXT,
        value=TEXT, start=st.integers(0, 3), end=st.integers(0, 3)), max_size=2)),
    "json": st.one_of(st.none(), st.just({}), st.dictionaries(TEXT, TEXT, max_size=2)),
}
NAMES = {"text": "last_name", "code": "department_code", "score": "total", "int": "_revisions",
         "band": "ibt26_total", "date": "test_date", "instant": "_first_seen",
         "bool": "_cancelled", "warnings": "_warnings", "json": "_extra"}


@settings(max_examples=80, deadline=None)
@given(data=st.data(), kinds=st.lists(st.sampled_from(sorted(NAMES)), min_size=1, max_size=5,
                                      unique=True),
       excel=st.booleans())
def test_the_arrow_writer_writes_what_the_csv_module_writes(
    data: st.DataObject, kinds: list[str], excel: bool
) -> None:
    columns = select_columns([NAMES[k] for k in kinds], change=False)
    spec = Spec(columns, chosen=True, excel=excel)
    rows = [{c.source: data.draw(VALUES[k]) for c, k in zip(columns, kinds, strict=True)}
            for _ in range(data.draw(st.integers(0, 9)))]
    mine, theirs = io.BytesIO(), io.BytesIO()
    assert export_csv.write_csv(iter(rows), mine, spec) == reference(rows, theirs, spec)
    assert mine.getvalue() == theirs.getvalue()


def test_rows_are_written_in_chunks(monkeypatch: Any) -> None:
    monkeypatch.setattr(export_csv, "CHUNK", 3)
    columns = select_columns(["last_name", "total"], change=False)
    spec = Spec(columns, chosen=True)
    rows = [{"last_name": f"N{i}", "total": i} for i in range(8)]
    mine, theirs = io.BytesIO(), io.BytesIO()
    assert export_csv.write_csv(iter(rows), mine, spec) == 8
    reference(rows, theirs, spec)
    assert mine.getvalue() == theirs.getvalue()
