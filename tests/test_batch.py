"""The Arrow batch decoder gives exactly the records of the one-line decoder.

``Codec.decode_batch`` (batch.py) is the fast path of every parse; ``Codec.decode`` is the
careful one. They must agree on every line, typed value for typed value and warning for
warning, whatever the line holds: valid reports, damaged numbers, impossible dates,
Latin-1 and UTF-8 text, tabs and non-breaking spaces, NUL bytes and trimmed lines; both in
the Arrow columns themselves and in the record views on them.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import gen
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toefl_access.errors import InputError
from toefl_access.formats import layout as layouts
from toefl_access.formats.batch import schema
from toefl_access.formats.decoder import Decoder
from toefl_access.formats.layout import Field, Layout
from toefl_access.formats.record import Record
from toefl_access.formats.textformat import codec
from toefl_access.formats.textread import BATCH, parse_lines, text_batches
from toefl_access.sync.preparing import _key_of_line, identity_spans, keys_of_lines

TODAY = dt.date(2026, 11, 28)


def typed(record: Record) -> list[Any]:
    """Everything a record holds, with each value's type (1 == 1.0 must not pass)."""
    return [
        [(k, type(v).__name__, v) for k, v in record.values.items()],
        record.layout, record.line, record.raw, record.format, record.warnings, record.extra,
    ]


def agree(layout: str | Layout, lines: list[bytes], *, check: bool = True) -> list[Record]:
    c = codec(layout)
    numbers = list(range(1, len(lines) + 1))
    batch = c.decode_batch(lines, numbers, check=check, today=TODAY)
    many = batch.records()
    pairs = zip(lines, numbers, strict=True)
    one = [c.decode(line, k, check=check, today=TODAY) for line, k in pairs]
    assert [typed(r) for r in many] == [typed(r) for r in one]
    # the Arrow columns themselves hold the same values, typed by kind
    assert batch.data.schema == schema(c.layout)
    arrow = [
        [(k, type(v).__name__, v) for k, v in row.items()]
        for row in batch.data.to_pylist()
    ]
    expected = [
        [*((k, type(v).__name__, v) for k, v in r.values.items()),
         ("_line", "int", r.line), ("_warnings", "list", [w.describe() for w in r.warnings]),
         ("_raw", "bytes", r.raw)]
        for r in one
    ]
    assert arrow == expected
    return many


def put(line: bytes, layout: str, name: str, data: bytes) -> bytes:
    f = next(f for f in layouts.builtin(layout).fields if f.name == name)
    data = data[: f.size].ljust(f.size)
    return line[: f.start - 1] + data + line[f.end :]


@pytest.mark.parametrize("layout", gen.LAYOUTS)
@pytest.mark.parametrize("encoding", gen.ENCODINGS)
def test_generated_reports_agree(layout: str, encoding: str) -> None:
    g = gen.Gen(11)
    reports = [g.report(layout, encoding=encoding) for _ in range(300)]
    lines = [r.line(trim=i % 3 == 0) for i, r in enumerate(reports)]
    records = agree(layout, lines)
    for record, report in zip(records, reports, strict=False):  # and both are right, not only equal
        assert record.values == report.values and record.warnings == []


# Bytes that make a field unusual: digits in the wrong place, letters, blanks of other
# kinds (tab, NBSP as Latin-1 and as UTF-8), a cut UTF-8 character, NUL, a dot.
NASTY = [b"0", b"9", b"5", b" ", b"X", b".", b"\t", b"\xa0", b"\xc2\xa0", b"\xc3", b"\xe9",
         b"\x00", b"-", b"3", b"\x85", b"\x1f", b"C1", b"B2", b"\xe2\x80\x83"]


def damaged_lines(
    data: st.DataObject, layout: str, seed: int, fields: Sequence[Field], junk: list[bytes],
    *, count: int, trim: bool,
) -> list[bytes]:
    """Generated lines, each with up to 4 ``junk`` bytes written into ``fields``."""
    g = gen.Gen(seed)
    lines = []
    for _ in range(data.draw(st.integers(1, count))):
        line = g.report(layout, encoding=data.draw(st.sampled_from(gen.ENCODINGS))).line()
        for _ in range(data.draw(st.integers(0, 4))):
            f = data.draw(st.sampled_from(fields))
            at = data.draw(st.integers(f.start - 1, f.end - 1))
            piece = data.draw(st.sampled_from(junk))
            line = (line[:at] + piece + line[at + len(piece) :])[: len(line)]
        if trim and data.draw(st.booleans()):
            line = line.rstrip(b" ")
        lines.append(line)
    return lines


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    layout=st.sampled_from(gen.LAYOUTS),
    seed=st.integers(0, 10_000),
)
def test_damaged_lines_agree(data: st.DataObject, layout: str, seed: int) -> None:
    fields = layouts.builtin(layout).data_fields
    lines = damaged_lines(data, layout, seed, fields, NASTY, count=20, trim=True)
    agree(layout, lines)
    agree(layout, lines, check=False)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("test_date", b"00000000"), ("test_date", b"20251341"), ("test_date", b"20250229"),
        ("test_date", b"2025 101"), ("test_date", b" 2025101"), ("test_date", b"20991231"),
        ("listening", b" 7"), ("listening", b"7 "), ("listening", b"31"),
        ("total", b"999"), ("ibt26_total", b" 4.5"), ("ibt26_total", b"4  "),
        ("ibt26_total", b"4.3"), ("ibt26_total", b"9.9"), ("ibt26_reading", b".5 "),
        ("ibt26_total_cefr", b"C3"), ("ibt26_total_cefr", b"c1"), ("ibt26_total_cefr", b"\xe9 "),
        ("last_name", b"\t"), ("last_name", b"Nguy\xe1\xbb\x85n \t "), ("last_name", b"\xa0"),
        ("first_name", b"Ren\xe9e"), ("first_name", b"\xff\xfe"),
    ],
)
def test_each_unusual_value_agrees(name: str, data: bytes) -> None:
    g = gen.Gen(5)
    lines = [g.report(gen.CURRENT, scale="both").line() for _ in range(6)]
    lines[2] = put(lines[2], gen.CURRENT, name, data)
    lines[4] = put(lines[4], gen.CURRENT, name, data)
    agree(gen.CURRENT, lines)


def test_blank_lines_and_whole_batches_agree() -> None:
    g = gen.Gen(3)
    lines = [g.report(gen.CURRENT).line() for _ in range(BATCH + 7)]
    lines[5] = b" " * 1600
    lines[6] = b"1"
    agree(gen.CURRENT, lines)
    assert agree(gen.CURRENT, []) == []


def test_parse_lines_gives_batches_in_order_and_stops_at_a_long_line() -> None:
    g = gen.Gen(4)
    lines = [g.report(gen.CURRENT).line() for _ in range(BATCH + 3)]
    got = parse_lines([*lines, b"x" * 1601, *lines], layout=gen.CURRENT)
    seen = []
    with pytest.raises(Exception, match="longer than") as info:
        for record in got:
            seen.append(record.line)
    assert seen == list(range(1, BATCH + 4))  # every line before the long one
    assert getattr(info.value, "line", None) == BATCH + 4


def test_a_layout_it_does_not_cover_goes_line_by_line() -> None:
    fields = (
        Field(start=1, end=6, size=6, name="test_date", kind="date", label="d"),
        Field(start=7, end=9, size=3, name="total", kind="score", label="t"),
    )
    custom = Layout(name="custom", fields=fields)
    assert not Decoder(codec(custom)).usable
    agree(custom, [b"250101123", b"      120", b"20250X 12"])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), layout=st.sampled_from(gen.LAYOUTS), seed=st.integers(0, 10_000))
def test_report_keys_of_a_whole_answer_are_those_of_each_line(
    data: st.DataObject, layout: str, seed: int
) -> None:
    lay = layouts.builtin(layout)
    spans = identity_spans(lay)
    identity = [f for f in lay.data_fields if (f.start, f.end) in spans]
    junk = [*NASTY, b"00000000", b"20251341", b"  "]
    lines = damaged_lines(data, layout, seed, identity, junk, count=15, trim=False)
    assert keys_of_lines(spans, lines) == [_key_of_line(spans, line) for line in lines]


CUSTOM = Layout(name="custom", fields=(
    Field(start=1, end=16, size=16, name="registration_number", kind="code"),
    Field(start=17, end=24, size=8, name="test_date", kind="date"),
    Field(start=25, end=26, size=2, name="listening", kind="score"),
    Field(start=27, end=28, size=2, name="reading", kind="text"),  # a score kept as text
    Field(start=29, end=31, size=3, name="total", kind="score"),
    Field(start=32, end=34, size=3, name="filler_32", kind="filler"),
    Field(start=35, end=38, size=4, name="ibt26_total", kind="band"),
    Field(start=39, end=48, size=10, name="last_name", kind="text"),
    Field(start=49, end=54, size=6, name="big", kind="score"),
    Field(start=55, end=56, size=2, name="ibt26_total_cefr", kind="cefr"),
))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.sampled_from([*NASTY, b"2026", b"0312", b"12", b"4.5", b"C1", b"9" * 6,
                                  b"Jos\xc3\xa9", b"  ", b"1"]), min_size=0, max_size=14),
        min_size=1, max_size=12,
    ),
    trim=st.booleans(),
)
def test_damaged_lines_of_a_custom_layout_agree(rows: list[list[bytes]], trim: bool) -> None:
    """A custom layout (text where a score would be, a 4-byte band, a 6-digit score)."""
    lines = []
    for pieces in rows:
        line = (b"".join(pieces) + b" " * 56)[:56]
        lines.append(line.rstrip(b" ") or b"x" if trim else line)
    assert Decoder(codec(CUSTOM)).usable
    agree(CUSTOM, lines)
    agree(CUSTOM, lines, check=False)


def _outcome(source: Any, *, size: int, layout: str | None, pad: bool = True) -> Any:
    """Every record (line, bytes, values, warnings) a reading gives, then its error."""
    got: list[Any] = []
    try:
        for batch in text_batches(source, layout=layout, size=size, pad=pad):
            got += [(r.line, r.raw, r.values, r.warnings) for r in batch.records()]
    except InputError as exc:
        return got, (str(exc), exc.line)
    return got, None


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    layout=st.sampled_from([*gen.LAYOUTS, None]),
    size=st.integers(1, 7),
    pad=st.booleans(),
)
def test_a_stream_read_in_blocks_gives_what_its_lines_give(
    data: st.DataObject, layout: str | None, size: int, pad: bool
) -> None:
    """The block reader of binary streams (whole blocks of full lines as one matrix) and
    the line-by-line reader agree on every file: short, long and blank lines, CRLF, a BOM,
    NUL bytes, a last line without a line end, and blocks cut anywhere."""
    g = gen.Gen(data.draw(st.integers(0, 1000)))
    kind = layout or gen.CURRENT
    pieces = []
    for _ in range(data.draw(st.integers(1, 14))):
        line = g.report(kind).line()
        change = data.draw(st.sampled_from(
            ["", "", "", "short", "long", "blank", "spaces", "nul", "cr"]))
        line = {"short": line[:-7], "long": line + b"9", "blank": b"", "spaces": b" " * len(line),
                "nul": line[:5] + b"\x00" + line[6:], "cr": line + b"\r"}.get(change, line)
        pieces.append(line + data.draw(st.sampled_from([b"\n", b"\r\n"])))
    body = b"".join(pieces)
    if data.draw(st.booleans()):
        body = body.rstrip(b"\n")
    if data.draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    by_lines = _outcome(iter(list(io.BytesIO(body))), size=size, layout=layout, pad=pad)
    by_blocks = _outcome(io.BufferedReader(io.BytesIO(body)), size=size, layout=layout,
                         pad=pad)
    assert by_blocks == by_lines
