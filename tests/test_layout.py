"""Layouts as data: the shipped tables, loading, validation errors, the spreadsheet heading."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import gen
import pytest

from toefl_access.errors import LayoutError
from toefl_access.formats import layout as layouts
from toefl_access.formats.layout import Field

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"
HEAD = "start,end,size,name,kind,label,source\n"


def table(*rows: str, head: str = HEAD) -> str:
    return head + "".join(r + "\n" for r in rows)


GOOD = (
    "1,4,4,institution_code,code,Institution Code,ets",
    "5,9,5,filler_5,filler,Filler,ets",
    "10,11,2,listening,score,Listening,ets",
)


# -- the built-in layouts -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "length"), [("scorelink-1600", 1600), ("scorelink-900", 900)])
def test_builtin_layouts_are_contiguous_and_sized(name: str, length: int) -> None:
    lay = layouts.builtin(name)
    assert lay.record_length == length
    assert lay.fields[0].start == 1
    for before, after in zip(lay.fields, lay.fields[1:], strict=False):
        assert after.start == before.end + 1
    assert sum(f.size for f in lay.fields) == length
    assert len(set(lay.names)) == len(lay.names)
    assert all(f.kind != "filler" for f in lay.data_fields)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("1600", "scorelink-1600"), ("current", "scorelink-1600"), ("900", "scorelink-900"),
     ("legacy", "scorelink-900"), ("scorelink-900", "scorelink-900")],
)
def test_aliases(alias: str, name: str) -> None:
    assert layouts.load(alias).name == name


def test_provisional_rows_are_the_ibt26_block_and_the_gaps() -> None:
    lay = layouts.builtin("scorelink-1600")
    provisional = [f for f in lay.fields if f.provisional]
    assert {f.name for f in provisional} >= {"ibt26_total", "mybest26_total", "filler_938"}
    block = [f for f in provisional if f.source == "provisional"]
    assert min(f.start for f in block) == 832 and max(f.end for f in block) == 937
    assert not layouts.builtin("scorelink-1600").field("registration_number").provisional


def test_field_lookup() -> None:
    lay = layouts.builtin("scorelink-1600")
    f = lay.field("total")
    assert (f.start, f.end, f.kind, f.span) == (567, 569, "score", "567-569")
    assert lay.has("total") and not lay.has("nope")
    with pytest.raises(KeyError):
        lay.field("nope")


def test_shipped_layouts_match_the_generator_reading() -> None:
    """gen.py reads the package CSVs with the csv module: both readings agree."""
    for name in gen.LAYOUTS:
        mine = [(f.start, f.end, f.size, f.name, f.kind) for f in layouts.builtin(name).fields]
        theirs = [(s.start, s.end, s.size, s.name, s.kind) for s in gen.spec(name)]
        assert mine == theirs


@pytest.mark.skipif(not SPEC.is_dir(), reason="the shared spec folder is not next to the repo")
@pytest.mark.parametrize("name", ["scorelink-1600", "scorelink-900"])
def test_shipped_layouts_carry_the_spec_facts(name: str) -> None:
    spec = list(csv.DictReader((SPEC / f"{name}.csv").open(encoding="utf-8")))
    lay = layouts.builtin(name)
    assert [
        (int(r["start"]), int(r["end"]), int(r["size"]), r["name"], r["kind"], r["label"],
         r["source"]) for r in spec
    ] == [(f.start, f.end, f.size, f.name, f.kind, f.label, f.source) for f in lay.fields]


def test_unknown_builtin_name() -> None:
    with pytest.raises(LayoutError, match="no built-in layout named 'nope'"):
        layouts.builtin("nope")


# -- validation: every error names the offending row ------------------------------------


@pytest.mark.parametrize(
    ("rows", "row", "words"),
    [
        (("1,4,4,a,code,,", "6,9,4,b,code,,"), 3, "leaves a gap"),
        (("1,4,4,a,code,,", "4,9,6,b,code,,"), 3, "overlaps the previous field"),
        (("1,4,4,a,code,,", "5,9,4,b,code,,"), 3, "give 5 bytes, but size says 4"),
        (("1,4,4,a,code,,", "5,9,5,a,code,,"), 3, "'a' appears twice"),
        (("1,4,4,a,code,,", "5,9,5,b,number,,"), 3, "unknown kind 'number'"),
        (("1,4,4,a,code,,", "5,9,5,Bad Name,code,,"), 3, "not snake_case"),
        (("2,4,3,a,code,,",), 2, "leaves a gap"),
        (("1,4,4,a,code,,", "5,x,5,b,code,,"), 3, "column 'end' must be a whole number"),
        (("1,4,4,a,code,,", "5,9,5,b,code,,", "10,8,-1,c,code,,"), 4, "give -1 bytes"),
    ],
)
def test_validation_names_the_row(rows: tuple[str, ...], row: int, words: str) -> None:
    with pytest.raises(LayoutError) as info:
        layouts.parse_layout_csv(table(*rows), name="mine", source="mine.csv")
    assert info.value.row == row
    assert str(info.value).startswith(f"mine.csv, row {row}: ")
    assert words in str(info.value)


def test_row_numbers_count_the_heading_and_blank_rows() -> None:
    text = table("1,4,4,a,code,,", "", "5,9,4,b,code,,")
    with pytest.raises(LayoutError, match="row 4: "):
        layouts.parse_layout_csv(text, name="mine")


def test_empty_file_and_unknown_heading_and_no_fields() -> None:
    with pytest.raises(LayoutError, match="the layout file is empty"):
        layouts.parse_layout_csv("", name="x")
    with pytest.raises(LayoutError, match="unrecognised heading"):
        layouts.parse_layout_csv("from,to,what\n1,2,x\n", name="x")
    with pytest.raises(LayoutError, match="has no fields"):
        layouts.parse_layout_csv(HEAD, name="x")


def test_a_good_table_loads_with_its_facts() -> None:
    lay = layouts.parse_layout_csv(table(*GOOD), name="mine")
    assert lay.record_length == 11
    assert lay.names == ("institution_code", "listening")
    assert lay.fields[1] == Field(5, 9, 5, "filler_5", "filler", "Filler", "ets")


# -- user layout files ---------------------------------------------------------------------


def test_load_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text(table(*GOOD), encoding="utf-8")
    lay = layouts.load(path)
    assert lay.name == "custom" and lay.record_length == 11
    assert layouts.load(str(path)) == lay


def test_load_a_latin1_file_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    text = table("1,4,4,code,code,Institución,user", "5,9,5,name,text,Straße,user")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert layouts.load(path).fields[1].label == "Straße"
    path.write_bytes(text.encode("latin-1"))
    assert layouts.load(path).fields[0].label == "Institución"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match=r"neither a built-in layout .* nor an existing file"):
        layouts.load(tmp_path / "missing.csv")
    with pytest.raises(LayoutError, match="cannot read the layout file"):
        layouts.load(tmp_path)
    broken = tmp_path / "broken.csv"
    broken.write_text(table("1,4,4,a,code,,", "5,9,5,a,code,,"))
    with pytest.raises(LayoutError, match=r"broken\.csv, row 3: field name 'a' appears twice"):
        layouts.load(broken)


# -- the vendor spreadsheet heading --------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "name"),
    [
        ("Last Name", "last_name"),
        ("Date of Birth (YYYYMMDD)", "date_of_birth"),
        ("iBT Listening (0-30)", "i_bt_listening"),
        ("MyBest  Total As-Of Date", "my_best_total_as_of_date"),
        ("Address Line 1", "address_line_1"),
    ],
)
def test_snake_case(heading: str, name: str) -> None:
    assert layouts.snake_case(heading) == name


def test_spreadsheet_heading_gives_canonical_names_and_kinds() -> None:
    text = (
        "Start, End, Size, Field Name\n"
        "1,4,4,Institution Code (DI code)\n"
        "5,9,5,Filler\n"
        "10,11,2,Department Code\n"
        "12,26,15,Filler (future Test Taker ID)\n"
        "27,42,16,Registration or Appointment Number\n"
        "43,72,30,LAST NAME\n"
        "73,80,8,Date of Birth (YYYYMMDD)\n"
        "81,82,2,iBT Listening (0-30)\n"
        "83,85,3,iBT26 Total\n"
        "86,95,10,Campus Note (our own)\n"
    )
    lay = layouts.parse_layout_csv(text, name="sheet")
    got = [(f.name, f.kind) for f in lay.fields]
    assert got == [
        ("institution_code", "code"), ("filler_5", "filler"), ("department_code", "code"),
        ("filler_12", "filler"), ("registration_number", "code"), ("last_name", "text"),
        ("date_of_birth", "date"), ("listening", "score"), ("ibt26_total", "band"),
        ("campus_note", "text"),
    ]
    assert all(f.source == "user" for f in lay.fields)


@pytest.mark.parametrize("name", ["scorelink-1600", "scorelink-900"])
def test_the_vendor_spreadsheet_of_a_builtin_layout_reads_as_that_layout(name: str) -> None:
    """Start, End, Size and the labels of a built-in layout give back its names and kinds."""
    lay = layouts.builtin(name)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Start", "End", "Size", "Field Name"])
    for f in lay.fields:
        w.writerow([f.start, f.end, f.size, f.label])
    sheet = layouts.parse_layout_csv(buf.getvalue(), name="sheet")
    assert [(f.name, f.kind) for f in sheet.data_fields] == [
        (f.name, f.kind) for f in lay.data_fields
    ]
