"""``toefl-access parse`` and ``toefl-access layouts``: exact output, and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import gen
import pytest
from click.testing import CliRunner, Result

from toefl_access.cli import main

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

import make_golden  # noqa: E402

LAYOUT_HEAD = "start,end,size,name,kind,label,source\n"


def run(*args: str | Path, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def ok(*args: str | Path, input: bytes | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result


def failed(*args: str | Path) -> str:
    """The command fails with exit code 1 and one line on stderr; that line."""
    result = run(*args)
    assert result.exit_code == 1, (result.stdout, result.exception)
    assert isinstance(result.exception, SystemExit)  # our message, not an escaped exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- the golden files, byte for byte ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("scorelink-1600.txt", "scorelink-1600.jsonl"),
     ("scorelink-1600-crlf.txt", "scorelink-1600-crlf.jsonl"),
     ("scorelink-900.txt", "scorelink-900.jsonl"),
     ("scorelink-1600.json", "scorelink-1600.json.jsonl")],
)
def test_jsonl_output_is_exact(source: str, expected: str) -> None:
    assert ok("parse", GOLDEN / source).stdout_bytes == (GOLDEN / expected).read_bytes()


def test_csv_output_is_exact() -> None:
    result = ok("parse", GOLDEN / "scorelink-1600.txt", "--to", "csv")
    assert result.stdout_bytes == (GOLDEN / "scorelink-1600.csv").read_bytes()


def test_text_output_is_the_canonical_lines() -> None:
    result = ok("parse", GOLDEN / "scorelink-1600-crlf.txt", "--to", "text")
    assert result.stdout_bytes == (GOLDEN / "scorelink-1600-crlf.out.txt").read_bytes()


def test_output_file_and_standard_input(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = ok("parse", GOLDEN / "scorelink-1600.txt", "--to", "csv", "-o", out)
    assert out.read_bytes() == (GOLDEN / "scorelink-1600.csv").read_bytes()
    assert result.stdout_bytes == b""
    assert result.stderr.strip() == f"16 records written to {out}"
    piped = ok("parse", "-", input=(GOLDEN / "scorelink-900.txt").read_bytes())
    assert piped.stdout_bytes == (GOLDEN / "scorelink-900.jsonl").read_bytes()


# -- the JSON Lines contract --------------------------------------------------------------


def test_jsonl_contract() -> None:
    rows = [json.loads(x) for x in ok("parse", GOLDEN / "scorelink-1600.txt").stdout.splitlines()]
    assert len(rows) == 16
    names = list(gen.names(gen.CURRENT))
    for number, row in enumerate(rows, start=1):
        assert list(row) == [*names, "_layout", "_line", "_warnings"]
        assert (row["_layout"], row["_line"], row["_warnings"]) == ("scorelink-1600", number, [])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["test_date"])
        assert row["pb_total"] is None  # blank is null
        assert isinstance(row["institution_code"], str)
    assert any(isinstance(r["total"], int) for r in rows)
    assert any(isinstance(r["ibt26_total"], float) for r in rows)


def test_warnings_in_jsonl(tmp_path: Path) -> None:
    line = gen.Gen(2).report(scale="0-120").line()
    line = line[:558] + b"4X" + line[560:]
    rows = ok("parse", write(tmp_path, "w.txt", line)).stdout.splitlines()
    row = json.loads(rows[0])
    assert row["listening"] is None
    assert row["_warnings"] == [{"field": "listening", "message": "cannot be read as a score",
                                 "value": "4X", "start": 559, "end": 560}]


def test_json_array_output_has_the_same_rows() -> None:
    array = json.loads(ok("parse", GOLDEN / "scorelink-900.txt", "--to", "json").stdout)
    lines = (GOLDEN / "scorelink-900.jsonl").read_text("utf-8").splitlines()
    assert array == [json.loads(x) for x in lines]


# -- CSV for Excel ----------------------------------------------------------------------------


def test_csv_opens_in_excel_intact() -> None:
    data = ok("parse", GOLDEN / "scorelink-1600.txt", "--to", "csv").stdout_bytes
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    names = list(gen.names(gen.CURRENT))
    assert rows[0] == [*names, "_layout", "_line", "_warnings"]
    reports = make_golden.reports()["scorelink-1600.txt"]
    col = {n: i for i, n in enumerate(rows[0])}
    for row, r in zip(rows[1:], reports, strict=True):
        code = r.values["institution_code"]
        assert row[col["institution_code"]] == f'="{code}"'  # leading zeros kept
        assert row[col["registration_number"]].startswith('="') or r.values[
            "registration_number"].startswith("R")
        assert row[col["last_name"]] == (r.values["last_name"] or "")
        assert row[col["test_date"]] == r.values["test_date"].isoformat()
    assert any(r.values["institution_code"].startswith("0") for r in reports)
    latin1 = [r for r in reports if r.latin1]
    assert latin1, "the golden file has Latin-1 names"
    text = data.decode("utf-8-sig")
    for r in latin1:
        for name in r.latin1:
            assert r.values[name] in text  # Latin-1 input, intact UTF-8 output


def test_csv_quotes_cells_with_commas_and_quotes(tmp_path: Path) -> None:
    rs = gen.Gen(6).reports(4, encoding="utf-8")
    rs[0].values["last_name"] = 'O"Neil, Jr.'
    rs[1].values["address_line1"] = "12 Main St, Apt 4"
    rs[2].values["city"] = "Łódź"
    path = write(tmp_path, "q.txt", gen.file_bytes([r.line() for r in rs]))
    data = ok("parse", path, "--to", "csv").stdout_bytes
    assert data == gen.expected_csv(rs, [1, 2, 3, 4])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1][rows[0].index("last_name")] == 'O"Neil, Jr.'


# -- options ---------------------------------------------------------------------------------


def test_layout_by_name_for_trimmed_legacy_lines(tmp_path: Path) -> None:
    rs = gen.Gen(3).reports(2, gen.LEGACY)
    path = write(tmp_path, "legacy.txt", gen.file_bytes([r.line(trim=True) for r in rs]))
    rows = [json.loads(x) for x in ok("parse", path, "--layout", "900").stdout.splitlines()]
    assert [r["_layout"] for r in rows] == ["scorelink-900"] * 2
    assert [r["report_date"] for r in rows] == [r.values["report_date"].isoformat() for r in rs]


def test_layout_by_path_with_the_spreadsheet_heading(tmp_path: Path) -> None:
    sheet = write(tmp_path, "sheet.csv", (
        b"Start, End, Size, Field Name\n1,4,4,Institution Code\n5,9,5,Filler\n"
        b"10,11,2,Campus\n12,19,8,Date of Birth (YYYYMMDD)\n"
    ))
    data = write(tmp_path, "data.txt", b"0042     X 19991231\n0043\n")
    rows = [json.loads(x) for x in ok("parse", data, "--layout", sheet).stdout.splitlines()]
    assert rows == [
        {"institution_code": "0042", "campus": "X", "date_of_birth": "1999-12-31",
         "_layout": "sheet", "_line": 1, "_warnings": []},
        {"institution_code": "0043", "campus": None, "date_of_birth": None,
         "_layout": "sheet", "_line": 2, "_warnings": []},
    ]
    text = ok("parse", data, "--layout", sheet, "--to", "text").stdout_bytes
    assert text == b"0042     X 19991231\n0043               \n"
    out = ok("parse", data, "--layout", sheet, "--to", "csv").stdout_bytes.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(out)))[1] == ['="0042"', "X", "1999-12-31", "sheet",
                                                     "1", ""]


def test_from_forces_the_format(tmp_path: Path) -> None:
    path = write(tmp_path, "x.dat", b'  {"data": [{"LastName": "Ng"}]}')
    assert json.loads(ok("parse", path, "--from", "json").stdout)["last_name"] == "Ng"
    as_text = json.loads(ok("parse", path, "--from", "text").stdout)  # one short, odd line
    assert as_text["institution_code"] == '  {"' and as_text["last_name"] is None


def test_strict_fails_naming_file_line_field_bytes_and_value(tmp_path: Path) -> None:
    lines = [r.line() for r in gen.Gen(4).reports(3, scale="0-120")]
    lines[2] = lines[2][:529] + b"20251341" + lines[2][537:]
    path = write(tmp_path, "scores.txt", gen.file_bytes(lines))
    out = tmp_path / "out.jsonl"
    assert failed("parse", path, "--strict", "-o", out) == (
        f"Error: {path}, line 3: field date_of_birth (bytes 530-537), value '20251341': "
        "cannot be read as a date"
    )
    assert not out.exists()  # no half-written output
    assert len(ok("parse", path).stdout.splitlines()) == 3  # without --strict: a warning


# -- bad input: one sentence, file and line, exit 1 ---------------------------------------------


def test_bad_input(tmp_path: Path) -> None:
    good = gen.Gen(5).report().line()
    missing = tmp_path / "missing.txt"
    assert failed("parse", missing) == f"Error: {missing}: no such file; check the path"
    empty = write(tmp_path, "empty.txt", b"")
    assert failed("parse", empty) == (
        f"Error: {empty}: the input is empty: there are no records to read")
    binary = write(tmp_path, "photo.jpg", bytes(range(256)) * 20)
    assert failed("parse", binary).startswith(f"Error: {binary}: this looks like a binary file")
    nul = write(tmp_path, "nul.txt", good + b"\n" + good[:10] + b"\x00" + good[11:] + b"\n")
    assert failed("parse", nul).startswith(f"Error: {nul}, line 2: this looks like a binary")
    long = write(tmp_path, "long.txt", good + b"\n" + good + b"   X\n")
    assert failed("parse", long) == (
        f"Error: {long}, line 2: the line is 1604 bytes, longer than the 1600-byte "
        "scorelink-1600 layout; check the file, or pass --layout")
    bad_json = write(tmp_path, "answer.json", b'{"data": [\n  {"a": 1},\n  {"b": 2,}\n]}')
    assert failed("parse", bad_json).startswith(f"Error: {bad_json}, line 3: invalid JSON (")
    blank = write(tmp_path, "blank.txt", b"\n \n")
    assert failed("parse", blank) == (
        f"Error: {blank}: the input holds only blank lines: there are no records")


def test_broken_layout_file(tmp_path: Path) -> None:
    data = write(tmp_path, "data.txt", b"0042\n")
    broken = write(tmp_path, "mine.csv",
                   (LAYOUT_HEAD + "1,4,4,a,code,,\n5,8,4,a,code,,\n").encode())
    assert failed("parse", data, "--layout", broken) == (
        f"Error: {broken}, row 3: field name 'a' appears twice")
    assert failed("parse", data, "--layout", "nope") == (
        "Error: 'nope' is neither a built-in layout (scorelink-1600, scorelink-900) "
        "nor an existing file")


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", b'{"data": [\n{]}')
    proc = subprocess.run([sys.executable, "-m", "toefl_access", "parse", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {bad}, line 2: invalid JSON (")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    good = subprocess.run(
        [sys.executable, "-m", "toefl_access", "parse", str(GOLDEN / "scorelink-900.txt")],
        capture_output=True, timeout=60,
    )
    assert good.returncode == 0
    assert good.stdout == (GOLDEN / "scorelink-900.jsonl").read_bytes()


# -- layouts --------------------------------------------------------------------------------


def test_layouts_lists_both() -> None:
    out = ok("layouts").stdout
    assert "scorelink-1600" in out and "scorelink-900" in out
    assert "1600" in out and "900" in out


def test_layouts_shows_a_field_table_with_provisional_rows(tmp_path: Path) -> None:
    out = ok("layouts", "scorelink-1600").stdout
    for word in ("registration_number", "ibt26_total", "provisional", "567", "569"):
        assert word in out
    path = write(tmp_path, "mine.csv", (LAYOUT_HEAD + "1,4,4,campus_code,code,Campus,user\n"
                                        ).encode())
    assert "campus_code" in ok("layouts", path).stdout
    assert failed("layouts", "nope").startswith("Error: 'nope' is neither a built-in layout")


def test_parse_says_on_stderr_when_the_layout_was_a_guess(tmp_path: Path) -> None:
    reports = gen.Gen(4).reports(3, gen.LEGACY)
    path = write(tmp_path, "trimmed.txt", gen.file_bytes([r.line(trim=True) for r in reports]))
    done = subprocess.run([sys.executable, "-m", "toefl_access", "parse", str(path)],
                          capture_output=True, check=True)  # fmt: skip
    lines = done.stdout.decode().splitlines()
    assert [json.loads(line)["_layout"] for line in lines] == ["scorelink-900"] * 3
    assert done.stderr.decode() == (
        f"WARNING toefl_access.parse: {path}: no line is longer than 900 bytes and none holds "
        "data after byte 774, so the lines are read as scorelink-900 (trimmed legacy records); "
        "if they are current records, give --layout scorelink-1600\n"
    )
    exact = write(tmp_path, "full.txt", gen.file_bytes([r.line() for r in reports]))
    quiet = subprocess.run([sys.executable, "-m", "toefl_access", "parse", str(exact)],
                           capture_output=True, check=True)  # fmt: skip
    assert quiet.stderr == b""
