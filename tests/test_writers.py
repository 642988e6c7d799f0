"""The bulk outputs of ``parse`` (Arrow batches) write what the record writers write.

``writers.py`` builds CSV cells with numpy and Arrow kernels and JSON Lines from batch
columns; ``output.py`` writes the same formats a record at a time with the csv module and
msgspec. They must agree byte for byte on every input, damaged or hostile; the typed
tables must agree between the two wire formats; Parquet must read back as written.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import gen
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_batch import NASTY, damaged_lines

from toefl_access import parse_batches, parse_table
from toefl_access.formats import layout as layouts
from toefl_access.formats import output, writers
from toefl_access.formats.parse import batches
from toefl_access.formats.textformat import codec

GOLDEN = Path(__file__).resolve().parent / "golden"


def both(data: bytes, **options: Any) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Each format written from batches and from records, for the same input."""
    out_batches: dict[str, bytes] = {}
    out_records: dict[str, bytes] = {}
    for name in ("csv", "jsonl", "json"):
        fh = io.BytesIO()
        if name == "csv":
            writers.write_csv(batches(data, size=5, **options), fh)
        else:
            writers.WRITERS[name](batches(data, size=5, **options), fh)
        out_batches[name] = fh.getvalue()
        records = list(output_records(data, **options))
        fh = io.BytesIO()
        if name == "csv":
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
            lay = options.get("layout")
            output.write_csv(records, text, layout=layouts.load(lay) if lay else None)
            text.flush()
            text.detach()
        else:
            {"jsonl": output.write_jsonl, "json": output.write_json}[name](records, fh)
        out_records[name] = fh.getvalue()
    return out_batches, out_records


def output_records(data: bytes, **options: Any) -> Any:
    from toefl_access import parse

    return parse(data, **options)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), layout=st.sampled_from(gen.LAYOUTS), seed=st.integers(0, 10_000))
def test_damaged_lines_are_written_alike(data: st.DataObject, layout: str, seed: int) -> None:
    fields = layouts.builtin(layout).data_fields
    lines = damaged_lines(data, layout, seed, fields, NASTY, count=12, trim=True)
    lines = [line.replace(b"\x00", b"?") for line in lines]  # (a NUL line is an error)
    got, expected = both(gen.file_bytes(lines), layout=layout)
    assert got == expected


TEXT = st.sampled_from(["", "0123", "=HYPERLINK(1)", "+1", "-", "@SUM", 'a"b', "a,b",
                        "line\rbreak", "١٢٣", "²", "½", "Zoë", " 12", "12 ", "x=1", '"'])


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=8))
def test_text_that_excel_or_csv_would_misread_is_written_alike(
    cells: list[tuple[str, str, str]],
) -> None:
    """Quotes, commas, line breaks, formulas, Unicode digits: the CSV cells of the batch
    writer are the csv module's, with the same ``="..."`` protection."""
    lay = layouts.builtin(gen.CURRENT)
    c = codec(lay)
    base = gen.Gen(1).report(gen.CURRENT).line()
    lines = []
    for last, city, code in cells:
        line = base
        for name, text in (("last_name", last), ("city", city), ("department_code", code)):
            f = lay.field(name)
            raw = text.encode()[: f.size].ljust(f.size)
            line = line[: f.start - 1] + raw + line[f.end :]
        lines.append(line)
    body = b"\n".join(lines) + b"\n"
    assert c.length == len(lines[0])
    got, expected = both(body, layout=gen.CURRENT)
    assert got == expected


def test_golden_files_through_the_batch_writers() -> None:
    fh = io.BytesIO()
    writers.write_csv(batches(GOLDEN / "scorelink-1600.txt"), fh)
    assert fh.getvalue() == (GOLDEN / "scorelink-1600.csv").read_bytes()
    for source, expected in [("scorelink-1600.txt", "scorelink-1600.jsonl"),
                             ("scorelink-1600-crlf.txt", "scorelink-1600-crlf.jsonl"),
                             ("scorelink-900.txt", "scorelink-900.jsonl"),
                             ("scorelink-1600.json", "scorelink-1600.json.jsonl")]:
        fh = io.BytesIO()
        writers.write_jsonl(batches(GOLDEN / source, size=3), fh)
        assert fh.getvalue() == (GOLDEN / expected).read_bytes(), source


def test_json_and_fixed_length_give_the_same_typed_table() -> None:
    text = parse_table(GOLDEN / "scorelink-1600.txt")
    json = parse_table(GOLDEN / "scorelink-1600.json")
    fields = [n for n in text.schema.names if not n.startswith("_")]
    assert text.select(fields).equals(json.select(fields))
    assert text.column("_line").equals(json.column("_line"))
    assert "_extra" in json.schema.names and "_extra" not in text.schema.names
    assert json.column("_extra").to_pylist()[0] == '{"ScoreReportId":"SR-0000","flags":["x"]}'


def test_the_table_is_typed_by_kind() -> None:
    table = parse_table(GOLDEN / "scorelink-1600.txt")
    types = {f.name: f.type for f in table.schema}
    assert types["total"] == pa.int16() and types["ibt26_total"] == pa.float64()
    assert types["test_date"] == pa.date32() and types["last_name"] == pa.string()
    assert types["_line"] == pa.int64() and types["_warnings"] == pa.list_(pa.string())
    assert types["_raw"] == pa.binary()
    assert table.schema.metadata[b"toefl_access.layout"] == b"scorelink-1600"
    records = list(__import__("toefl_access").parse(GOLDEN / "scorelink-1600.txt"))
    assert table.column("_raw").to_pylist() == [r.raw for r in records]
    assert table.column("test_date").to_pylist() == [r["test_date"] for r in records]
    assert all(isinstance(d, dt.date) for d in table.column("test_date").to_pylist())
    assert table.num_rows == 16 == len(records)


def test_batches_stream_in_the_size_asked_for() -> None:
    sizes = [b.num_rows for b in parse_batches(GOLDEN / "scorelink-1600.txt", size=5)]
    assert sizes == [5, 5, 5, 1]


def test_parquet_reads_back_as_the_table(tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    with out.open("wb") as fh:
        count = writers.write_parquet(batches(GOLDEN / "scorelink-1600.txt", size=7), fh)
    assert count == 16
    back = pq.read_table(out)
    table = parse_table(GOLDEN / "scorelink-1600.txt")
    assert back.column_names == [*(n for n in table.column_names if n[0] != "_"),
                                 "_layout", "_line", "_warnings"]
    for name in table.column_names:
        if name != "_raw":
            assert back.column(name).to_pylist() == table.column(name).to_pylist(), name
    assert set(back.column("_layout").to_pylist()) == {"scorelink-1600"}


def test_strict_stops_a_batch_before_the_first_warning() -> None:
    lines = [r.line() for r in gen.Gen(3).reports(6, scale="0-120")]
    f = layouts.builtin(gen.CURRENT).field("listening")
    lines[3] = lines[3][: f.start - 1] + b"4X" + lines[3][f.end :]
    seen: list[int] = []
    with pytest.raises(Exception, match="line 4") as info:
        for batch in parse_batches(gen.file_bytes(lines), strict=True):
            seen += batch.column("_line").to_pylist()
    assert seen == [1, 2, 3] and getattr(info.value, "field", None) == "listening"


def test_decoding_ahead_keeps_order_errors_and_early_exits() -> None:
    from toefl_access.formats.ahead import ahead

    def numbers(fail_at: int | None = None) -> Any:
        for i in range(10):
            if i == fail_at:
                raise ValueError(f"bad item {i}")
            yield i

    assert list(ahead(numbers())) == list(range(10))
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 4"):
        for i in ahead(numbers(fail_at=4)):
            got.append(i)
    assert got == [0, 1, 2, 3]  # every item before the error first
    early = ahead(numbers())
    assert next(early) == 0
    early.close()  # the worker stops; nothing hangs
    import threading

    assert not any(t.name == "toefl-access-decode" and t.is_alive()
                   for t in threading.enumerate() if t is not threading.current_thread())
