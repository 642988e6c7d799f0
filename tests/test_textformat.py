"""Fixed-length ScoreLink lines: detection, bytes and encodings, typed values, rendering."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gen
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toefl_access import parse, render
from toefl_access.errors import InputError, RecordError
from toefl_access.formats import layout as layouts
from toefl_access.formats import textformat as tf
from toefl_access.formats.record import Record
from toefl_access.formats.textread import parse_lines

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

import make_golden  # noqa: E402

HYPOTHESIS = settings(max_examples=150, deadline=None)


def one(data: bytes, **kw: Any) -> Record:
    records = list(parse(data, **kw))
    assert len(records) == 1
    return records[0]


def spec_of(layout: str, name: str) -> gen.Spec:
    return next(s for s in gen.spec(layout) if s.name == name)


def put(line: bytes, layout: str, name: str, data: bytes) -> bytes:
    """``line`` with field ``name`` replaced by ``data`` (blank-padded to the field size)."""
    s = spec_of(layout, name)
    assert len(data) <= s.size
    return line[: s.start - 1] + data.ljust(s.size) + line[s.end :]


def report(seed: int = 1, layout: str = gen.CURRENT, **kw: Any) -> gen.Report:
    return gen.Gen(seed).report(layout, **kw)


# -- golden files --------------------------------------------------------------------------


def test_golden_files_are_what_make_golden_builds() -> None:
    """The committed files are exactly the generator's (rerun make_golden.py after changes)."""
    for name, data in make_golden.build().items():
        assert (GOLDEN / name).read_bytes() == data, f"{name} is stale: run make_golden.py"


def test_golden_inputs_cover_what_the_issue_asks_for() -> None:
    main = (GOLDEN / "scorelink-1600.txt").read_bytes().split(b"\n")[:-1]
    assert any(len(line) < 1600 for line in main) and any(len(line) == 1600 for line in main)
    latin1 = utf8 = 0
    for line in main:
        for s in gen.data_specs(gen.CURRENT):
            field = line[s.start - 1 : s.end]
            if not field.isascii():
                try:
                    field.decode("utf-8")
                    utf8 += 1
                except UnicodeDecodeError:
                    latin1 += 1
    assert latin1 and utf8
    reports = make_golden.reports()["scorelink-1600.txt"]
    assert {r.scales for r in reports} == {("0-120",), ("1-6",), ("0-120", "1-6")}
    for name in ("mybest_total", "mybest26_total", "rpdt_listening", "essentials_total"):
        assert any(r.values[name] is not None for r in reports), name
    crlf = (GOLDEN / "scorelink-1600-crlf.txt").read_bytes()
    assert crlf.startswith(tf.BOM) and b"\r\n\r\n" in crlf and not crlf.endswith(b"\n")
    assert (GOLDEN / "scorelink-900.txt").read_bytes().count(b"\r\n") == 8


@pytest.mark.parametrize("name", ["scorelink-1600.txt", "scorelink-1600-crlf.txt",
                                  "scorelink-900.txt"])
def test_golden_records_are_the_generated_reports(name: str) -> None:
    expected = make_golden.reports()[name]
    records = list(parse(GOLDEN / name))
    assert [r.values for r in records] == [r.values for r in expected]
    assert [r.line for r in records] == make_golden.LINES[name]
    assert {r.layout for r in records} == {expected[0].layout}
    assert all(r.warnings == [] and r.format == "text" for r in records)


def test_golden_lines_render_back_byte_for_byte() -> None:
    for name in ("scorelink-1600.txt", "scorelink-900.txt"):
        data = (GOLDEN / name).read_bytes()
        lines = data.replace(b"\r\n", b"\n").split(b"\n")[:-1]
        for line, record in zip(lines, parse(data), strict=True):
            length = layouts.load(record.layout).record_length
            assert render(record) == line.ljust(length)


# -- detection, padding, line handling -------------------------------------------------


def test_all_900_byte_records_are_legacy_anything_else_current() -> None:
    legacy = [r.line() for r in gen.Gen(2).reports(3, gen.LEGACY)]
    assert {r.layout for r in parse(gen.file_bytes(legacy))} == {"scorelink-900"}
    current = [r.line() for r in gen.Gen(2).reports(2, gen.CURRENT)]
    assert {r.layout for r in parse(gen.file_bytes(current))} == {"scorelink-1600"}
    assert tf.detect_layout([900, 900]) == "scorelink-900"
    assert tf.detect_layout([900, 899]) == "scorelink-1600"
    assert tf.detect_layout([]) == "scorelink-1600"


def test_trimmed_legacy_lines_are_read_as_legacy_and_said_to_be_a_guess(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Trimmed 900-byte lines are not all 900 bytes: their content decides."""
    rs = gen.Gen(4).reports(3, gen.LEGACY)
    data = gen.file_bytes([r.line(trim=True) for r in rs])
    with caplog.at_level("WARNING", logger="toefl_access.parse"):
        records = list(parse(data))
    assert {r.layout for r in records} == {"scorelink-900"}
    assert [r.values for r in records] == [r.values for r in rs]
    (message,) = [rec.getMessage() for rec in caplog.records]
    assert "read as scorelink-900 (trimmed legacy records)" in message
    assert "--layout scorelink-1600" in message
    assert [r.values for r in parse(data, layout="scorelink-900")] == [r.values for r in rs]


def test_guess_layout_reads_content_past_the_legacy_fields() -> None:
    blank = b" " * 700
    assert tf.guess_layout([blank + b"20250102"]) == ("scorelink-900", True)
    assert tf.guess_layout([blank.ljust(900)]) == ("scorelink-900", False)  # exact length
    # data after byte 774 (a current record's MyBest dates): current, however short
    assert tf.guess_layout([blank + b"20250102", b" " * 780 + b"20250102"]) == (
        "scorelink-1600", False
    )  # fmt: skip
    assert tf.guess_layout([b"x" * 901]) == ("scorelink-1600", False)
    assert tf.guess_layout([b"x" * 1600]) == ("scorelink-1600", False)
    assert tf.guess_layout([]) == ("scorelink-1600", False)


def test_trimmed_lines_are_padded() -> None:
    rs = gen.Gen(5).reports(20, gen.CURRENT)
    records = list(parse(gen.file_bytes([r.line(trim=True) for r in rs])))
    assert [r.values for r in records] == [r.values for r in rs]
    assert all(len(r.raw) < 1600 for r in records)
    assert [render(r) for r in records] == [r.line() for r in rs]


@pytest.mark.parametrize("layout", gen.LAYOUTS)
def test_each_field_alone_is_read_whatever_byte_it_fills(layout: str) -> None:
    """A line whose only data is one byte of one field: at the field's first or last byte,
    trimmed after it or padded to full length."""
    c = tf.codec(layout)
    for s in gen.data_specs(layout):
        for pos in {s.start, s.end}:
            for trimmed in (True, False):
                line = b" " * (pos - 1) + b"7"
                if not trimmed:
                    line = line.ljust(gen.length(layout))
                r = c.decode(line, check=False)
                present = {k for k, v in r.values.items() if v is not None}
                present |= {w.field for w in r.warnings}
                assert present == {s.name}, (s.name, pos, trimmed)


def test_a_line_of_only_the_first_field() -> None:
    r = one(b"0123\n")
    assert r["institution_code"] == "0123"
    assert sum(v is not None for v in r.values.values()) == 1


def test_longer_lines_are_an_error_naming_the_line() -> None:
    lines = [r.line() for r in gen.Gen(6).reports(3)]
    lines[2] += b"X"
    with pytest.raises(InputError) as info:
        list(parse(gen.file_bytes(lines)))
    assert info.value.line == 3
    assert "1601 bytes, longer than the 1600-byte scorelink-1600 layout" in str(info.value)
    legacy = [r.line() for r in gen.Gen(6).reports(2, gen.LEGACY)]
    with pytest.raises(InputError, match=r"line 2: the line is 1600 bytes, longer than the 900"):
        list(parse(gen.file_bytes([legacy[0], lines[0]]), layout="900"))


@pytest.mark.parametrize(
    "options",
    [
        {"crlf": True},
        {"bom": True},
        {"blank_lines": True},
        {"final_newline": False},
        {"crlf": True, "bom": True, "blank_lines": True, "final_newline": False},
    ],
)
def test_line_endings_bom_blank_lines_and_last_line(options: dict[str, bool]) -> None:
    for layout in gen.LAYOUTS:
        rs = gen.Gen(7).reports(4, layout)
        records = list(parse(gen.file_bytes([r.line() for r in rs], **options)))
        assert [r.values for r in records] == [r.values for r in rs]
        assert {r.layout for r in records} == {layout}
        assert all(r.raw == x.line() for r, x in zip(records, rs, strict=True))


def test_blank_lines_keep_line_numbers() -> None:
    rs = gen.Gen(8).reports(2)
    data = b"\n   \n" + rs[0].line() + b"\r\n\r\n" + rs[1].line(trim=True)
    assert [r.line for r in parse(data)] == [3, 5]


def test_empty_input_and_only_blank_lines() -> None:
    with pytest.raises(InputError, match="the input is empty"):
        list(parse(b""))
    with pytest.raises(InputError, match="only blank lines"):
        list(parse(b"\n  \r\n\n", format="text"))


def test_nul_bytes_mean_a_binary_file() -> None:
    line = report().line()
    with pytest.raises(InputError, match="binary file") as info:
        list(parse(line + b"\n" + line[:100] + b"\x00" + line[101:] + b"\n", format="text"))
    assert info.value.line == 2


def test_parsing_streams_lines_lazily() -> None:
    """An endless input yields records one at a time: memory does not grow with the input."""
    line = report().line() + b"\n"

    def endless() -> Iterator[bytes]:
        while True:
            yield line

    first = list(itertools.islice(parse_lines(endless()), 500))
    assert len(first) == 500 and first[-1].line == 500


def test_the_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf._Cache, "LIMIT", 50)
    c = tf.Codec(layouts.builtin(gen.CURRENT))
    base = report().line()
    for i in range(400):
        c.decode(put(base, gen.CURRENT, "test_center_code", f"{i:05d}".encode()))
    sizes = [len(get.__self__) for _, get, _ in c._plan if get is not None]
    assert sizes and max(sizes) <= 50


# -- bytes and encodings ---------------------------------------------------------------


def test_positions_are_bytes_and_each_field_is_decoded_alone() -> None:
    line = report(encoding="ascii").line()
    line = put(line, gen.CURRENT, "last_name", "Müller".encode("latin-1"))
    line = put(line, gen.CURRENT, "first_name", "Łukasz".encode())
    line = put(line, gen.CURRENT, "middle_name", "王小明".encode())
    line = put(line, gen.CURRENT, "city", "Malmö".encode("latin-1"))
    r = one(line)
    assert (r["last_name"], r["first_name"], r["middle_name"], r["city"]) == (
        "Müller", "Łukasz", "王小明", "Malmö")
    assert r["address_line1"] == report(encoding="ascii").values["address_line1"]


def test_a_multibyte_character_cut_by_a_field_end_falls_back_to_latin1() -> None:
    line = report(encoding="ascii").line()
    s = spec_of(gen.CURRENT, "last_name")
    name = ("x" * (s.size - 1)).encode() + "é".encode()  # 31 bytes: the é is cut in two
    line = line[: s.start - 1] + name + line[s.start - 1 + len(name) :]
    r = one(line)
    assert r["last_name"] == "x" * (s.size - 1) + "\xc3"
    assert r["first_name"] is not None and r["first_name"].startswith("\xa9")


def test_typed_values() -> None:
    r = report(3, scale="both", mybest=True, encoding="ascii")
    line = put(r.line(), gen.CURRENT, "institution_code", b"0012")
    v = one(line).values
    assert v["institution_code"] == "0012"
    assert isinstance(v["listening"], int) and isinstance(v["total"], int)
    assert isinstance(v["ibt26_total"], float) and (v["ibt26_total"] * 2).is_integer()
    assert isinstance(v["test_date"], dt.date) and isinstance(v["mybest_listening_date"], dt.date)
    assert v["ibt26_total_cefr"] in {"A1", "A2", "B1", "B2", "C1", "C2"}
    assert v["pb_total"] is None and v["address_line4"] is None


def test_text_keeps_leading_and_inner_blanks_and_drops_trailing_ones() -> None:
    line = put(report().line(), gen.CURRENT, "address_line1", b"  12  Main St  ")
    assert one(line)["address_line1"] == "  12  Main St"


@pytest.mark.parametrize(
    ("name", "data", "value"),
    [("listening", b"07", 7), ("listening", b" 7", 7), ("listening", b"7 ", 7),
     ("total", b"120", 120), ("total", b"   ", None), ("ibt26_listening", b"4.5", 4.5),
     ("ibt26_listening", b"5", 5.0), ("ibt26_listening", b" 5 ", 5.0),
     ("test_date", b"20250115", dt.date(2025, 1, 15)), ("test_date", b"        ", None)],
)
def test_wire_forms(name: str, data: bytes, value: Any) -> None:
    r = one(put(report(scale="0-120").line(), gen.CURRENT, name, data), check=False)
    assert r[name] == value
    assert r.warnings == []


# -- values that cannot be converted ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "start", "end"),
    [("listening", b"4X", 559, 560), ("total", b"1.5", 567, 569),
     ("test_date", b"20251341", 539, 546), ("date_of_birth", b"2025011", 530, 537),
     ("ibt26_total", b"4,5", 844, 846), ("ibt26_reading", b"nan", 835, 837),
     ("mybest_total_date", b"2025-1-1", 816, 823), ("listening", "٣".encode(), 559, 560)],
)
def test_unconvertible_value_is_none_with_a_warning(
    name: str, data: bytes, start: int, end: int
) -> None:
    line = put(report(scale="0-120").line(), gen.CURRENT, name, data)
    r = one(line)
    assert r[name] is None
    w = [x for x in r.warnings if x.field == name]
    assert len(w) == 1
    assert (w[0].start, w[0].end, w[0].value) == (start, end, data.decode().rstrip())
    assert "cannot be read as a" in w[0].message
    assert r.raw == line  # nothing received is lost
    assert render(r) == line  # and it renders back unchanged


def test_strict_raises_with_file_line_field_bytes_and_value() -> None:
    lines = [r.line() for r in gen.Gen(3).reports(3, scale="0-120")]
    lines[1] = put(lines[1], gen.CURRENT, "listening", b"4X")
    with pytest.raises(RecordError) as info:
        list(parse(gen.file_bytes(lines), strict=True))
    e = info.value
    assert (e.line, e.field, e.start, e.end, e.value) == (2, "listening", 559, 560, "4X")
    assert str(e) == (
        "<bytes>, line 2: field listening (bytes 559-560), value '4X': cannot be read as a score"
    )


def test_strict_also_fails_on_rule_warnings_which_keep_their_bytes() -> None:
    r = report(scale="0-120")
    line = put(r.line(), gen.CURRENT, "total", f"{r.values['total'] + 1:03d}".encode())
    assert [w.field for w in one(line).warnings] == ["total"]
    with pytest.raises(RecordError, match=r"line 1: field total \(bytes 567-569\)"):
        list(parse(line, strict=True))


def test_future_dates_warn() -> None:
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).strftime("%Y%m%d")
    line = put(report().line(), gen.CURRENT, "test_date", tomorrow.encode())
    w = one(line).warnings
    assert [(x.field, x.start, x.end, x.value) for x in w] == [
        ("test_date", 539, 546, f"{tomorrow[:4]}-{tomorrow[4:6]}-{tomorrow[6:]}")]


# -- the fast path agrees with a plain reading of the spec ---------------------------------


def reference(line: bytes, layout: str) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    """The spec read literally, field by field: values and (field, start, text) failures."""
    padded = line.ljust(gen.length(layout))
    values: dict[str, Any] = {}
    bad: list[tuple[str, int, str]] = []
    for s in gen.data_specs(layout):
        raw = padded[s.start - 1 : s.end]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        t = text.strip(" ")
        value: Any = None
        if t:
            try:
                if s.kind == "score":
                    assert t.isascii() and t.isdigit()
                    value = int(t)
                elif s.kind == "band":
                    assert t.isascii() and t.replace(".", "", 1).isdigit()
                    value = float(t)
                elif s.kind == "date":
                    assert text.isascii() and text.isdigit() and len(text) == 8
                    value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
                else:
                    value = text.rstrip(" ")
            except (AssertionError, ValueError):
                bad.append((s.name, s.start, text.rstrip(" ")))
        values[s.name] = value
    return values, bad


FIELD_BYTES = st.tuples(
    st.one_of(
        st.binary(max_size=80),
        st.sampled_from([b"", b" ", b"4X", b"4.5", b"05", b"20250230", b"20240229", b"\xc3",
                         b"\xa9", "é".encode(), "Ł".encode(), b"\xe9t\xe9", b"\x00", b"1e3",
                         b".5", b"5.", b" 7", b"Ab  c"]),
        st.text(max_size=20).map(lambda t: t.encode("utf-8")),
    ),
    # what a field may end with: other blanks than the space, and control bytes
    st.sampled_from([b"", b"", b"\t", b"\x0b", b"\x0c", b"\x1f", b"\xa0", b"\x85",
                     "\u3000".encode(), "\xa0".encode()]),
).map(b"".join)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), layout=st.sampled_from(gen.LAYOUTS),
       changes=st.lists(st.tuples(st.integers(0, 200), FIELD_BYTES), max_size=6),
       trim=st.integers(0, 1600))
def test_decode_agrees_with_the_spec_read_literally(
    seed: int, layout: str, changes: list[tuple[int, bytes]], trim: int
) -> None:
    specs = gen.data_specs(layout)
    line = gen.Gen(seed).report(layout).line()
    for index, data in changes:
        s = specs[index % len(specs)]
        data = data.replace(b"\n", b"").replace(b"\r", b"")[: s.size]
        line = line[: s.start - 1] + data.ljust(s.size) + line[s.end :]
    line = line[: len(line) - trim % 400]  # sometimes a trimmed or cut line
    record = tf.codec(layout).decode(line, 4, check=False)
    values, bad = reference(line, layout)
    assert record.values == values
    assert [(w.field, w.start, w.value) for w in record.warnings] == bad
    assert (record.line, record.raw, record.layout) == (4, line, layout)


# -- rendering ---------------------------------------------------------------------------


@st.composite
def reports(draw: st.DrawFn, *, utf8_only: bool = False) -> gen.Report:
    """A generated report, some of its text replaced with arbitrary Unicode text."""
    layout = draw(st.sampled_from(gen.LAYOUTS))
    encodings = ("ascii", "utf-8") if utf8_only else gen.ENCODINGS
    r = gen.Gen(draw(st.integers(0, 2**32 - 1))).report(
        layout, encoding=draw(st.sampled_from(encodings))
    )
    for name in ("last_name", "first_name", "city", "address_line2", "email"):
        if not draw(st.booleans()):
            continue
        size = spec_of(layout, name).size
        text = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=size))
        while len(text.encode()) > size:
            text = text[:-1]
        r.values[name] = text.rstrip(" ") or None
        r.latin1.discard(name)
    return r


@HYPOTHESIS
@given(r=reports(), trim=st.booleans())
def test_render_parse_is_the_line_byte_for_byte(r: gen.Report, trim: bool) -> None:
    line = r.line()
    record = one(r.line(trim=trim) + b"\n", layout=r.layout)
    assert record.values == r.values
    assert render(record) == line


@HYPOTHESIS
@given(r=reports(utf8_only=True))
def test_render_from_values_alone_gives_the_canonical_line(r: gen.Report) -> None:
    record = one(r.line(), layout=r.layout)
    bare = Record(values=dict(record.values), layout=record.layout, line=1, raw=b"")
    assert render(bare) == r.line()


def test_render_writes_changed_values_canonically_and_keeps_the_rest() -> None:
    r = report(encoding="latin-1", scale="0-120")
    record = one(r.line())
    record.values["listening"] = 7
    record.values["total"] = None
    record.values["last_name"] = "Nguyễn"
    out = render(record)
    assert out[558:560] == b"07" and out[566:569] == b"   "
    assert out[42:72] == "Nguyễn".encode().ljust(30)
    assert out[72:102] == r.line()[72:102]  # untouched Latin-1 bytes stay as received


def test_render_a_json_record_or_into_another_layout() -> None:
    r = report(layout=gen.LEGACY, encoding="utf-8")
    record = one(r.line())
    as_json = Record(values=dict(record.values), layout=record.layout, line=1, raw=b"{}",
                     format="json")
    assert render(as_json) == r.line()
    current = render(record, "scorelink-1600")
    assert len(current) == 1600 and current[:766] == r.line()[:766]


def test_render_refuses_values_that_do_not_fit() -> None:
    record = one(report().line())
    record.values["department_code"] = "123"
    with pytest.raises(InputError, match="department_code value '123' cannot be written"):
        render(record)
    record.values["department_code"] = "1\n"
    with pytest.raises(InputError, match="a line break"):
        render(record)


@pytest.mark.parametrize(
    ("kind", "size", "value", "text"),
    [("score", 2, 7, "07"), ("score", 3, 120, "120"), ("band", 3, 4.5, "4.5"),
     ("band", 3, 5, "5.0"), ("date", 8, dt.date(2025, 1, 2), "20250102"),
     ("text", 5, "ab", "ab"), ("code", 2, None, "")],
)
def test_format_value(kind: str, size: int, value: Any, text: str) -> None:
    f = layouts.Field(1, size, size, "x", kind)
    assert tf.format_value(f, value) == text


# -- custom layouts ------------------------------------------------------------------------


def test_a_custom_layout_with_one_field() -> None:
    lay = layouts.parse_layout_csv("start,end,size,name,kind,label,source\n1,8,8,name,text,,\n",
                                   name="tiny")
    records = list(parse("Zoë\nMüller".encode("latin-1") + b"\n", layout=lay))
    assert [r["name"] for r in records] == ["Zoë", "Müller"]
    assert [r.layout for r in records] == ["tiny", "tiny"]
    assert render(records[1], lay) == "Müller  ".encode("latin-1")
    with pytest.raises(InputError, match="layout 'tiny', which is not built in"):
        render(records[1])


def test_codec_of_a_builtin_layout_is_shared() -> None:
    assert tf.codec("scorelink-1600") is tf.codec(layouts.builtin("scorelink-1600"))
    assert tf.codec("1600") is tf.codec("scorelink-1600")


def test_parse_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    r = report()

    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(r.line() + b"\n"))

    monkeypatch.setattr(sys, "stdin", Stdin)
    records = list(parse("-"))
    assert [x.values for x in records] == [r.values]


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown format 'xml'"):
        list(parse(b"x", format="xml"))
