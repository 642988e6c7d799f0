"""``toefl-access match`` end to end on a real database (SQLite and PostgreSQL): the files
it writes, people's decisions and how later runs respect them, bad rosters, ID numbers
never kept in clear, and the quality figures on a small generated roster."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from gen import Gen
from matchgen import fill_store, generate, score, write_roster

from toefl_access.cli import main
from toefl_access.store import open_store

HEADER = "applicant_id,registration_number,test_date,institution_code,department_code," \
         "score,decision,reasons"
R1, R2, R3, R4 = ("0000000000001111", "0000000000002222", "0000000000003333",
                  "0000000000004444")


def cli(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(main, list(args))


def line(seed: int, reg: str, test_date: dt.date, first: str, last: str, born: dt.date, *,
         department: str = "99", email: str | None = None, id_number: str | None = None) -> bytes:
    report = Gen(seed).report(encoding="utf-8", scale="0-120", mybest=False)
    report.values.update(
        registration_number=reg, test_date=test_date, institution_code="1234",
        department_code=department, first_name=first, last_name=last, middle_name=None,
        date_of_birth=born, email=email, security_id_number=id_number, country_code=None,
        country_name=None, native_country_code=None, native_country_name=None,
    )
    return report.line()


@pytest.fixture
def db(store_url: str) -> str:
    fill_store(store_url, [
        line(1, R1, dt.date(2025, 5, 1), "Ana", "Silva", dt.date(2001, 3, 4),
             email="ana@example.com"),
        line(2, R1, dt.date(2025, 5, 1), "Ana", "Silva", dt.date(2001, 3, 4),
             email="ana@example.com", department="98"),
        line(3, R2, dt.date(2025, 6, 1), "Wei", "Wang", dt.date(1999, 1, 2),
             id_number="E12345678"),
        line(4, R3, dt.date(2025, 6, 2), "Wei", "Wang", dt.date(1999, 1, 2)),
        line(5, R4, dt.date(2025, 7, 1), "José", "García Márquez", dt.date(2000, 11, 12)),
    ])
    return store_url


ROSTER = ("applicant_id,first_name,last_name,date_of_birth,id_number\n"
          "A1,Ana,Silva,2001-03-04,\n"
          "A2,Wei,Wang,01/02/1999,e 1234 5678\n"
          "A3,WEI,WANG,1999-01-02,\n"
          "A4,Jose,Garcia,1999-12-11,\n"
          "A4b,Jose,Garcia,2000-12-11,\n"
          "A5,Nobody,Here,2000-01-01,\n")


def run_match(db: str, tmp_path: Path, *extra: str, roster: str = ROSTER) -> Result:
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")
    return cli("match", "--roster", str(tmp_path / "roster.csv"), "-o",
               str(tmp_path / "matches.csv"), "--review", str(tmp_path / "review.csv"),
               "--plain", "--db", db, *extra)


def rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()


def test_match_files_and_summary(db: str, tmp_path: Path) -> None:
    result = run_match(db, tmp_path)
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "matches.csv") == [
        HEADER,
        f"A1,{R1},2025-05-01,1234,98,85,match,key: names + dob; last_name exact; "
        "first_name exact; dob exact",
        f"A1,{R1},2025-05-01,1234,99,85,match,key: names + dob; last_name exact; "
        "first_name exact; dob exact",
        f"A2,{R2},2025-06-01,1234,99,125,match,key: id_number + dob; id_number exact; "
        "last_name exact; first_name exact; dob exact",
        f"A2,{R3},2025-06-02,1234,99,85,review,key: names + dob; last_name exact; "
        "first_name exact; dob exact; tie with 1 other applicant",
        f"A3,{R3},2025-06-02,1234,99,85,review,key: names + dob; last_name exact; "
        "first_name exact; dob exact; tie with 1 other applicant",
        f"A4b,{R4},2025-07-01,1234,99,62,review,last_name part of compound; first_name exact; "
        "dob day-month swapped",
    ]
    review = list(csv.DictReader(io.StringIO((tmp_path / "review.csv").read_text("utf-8"))))
    assert [(r["applicant_id"], r["candidates"]) for r in review] == [
        ("A2", "2"), ("A3", "2"), ("A4b", "1")]
    assert review[2]["roster_last_name"] == "Garcia"
    assert review[2]["report_last_name"] == "García Márquez"
    assert (review[2]["roster_date_of_birth"], review[2]["report_date_of_birth"]) == (
        "2000-12-11", "2000-11-12")
    assert review[2]["decision"] == review[2]["note"] == ""
    summary = result.stderr.splitlines()
    assert summary[:2] == [
        "6 applicants in roster.csv, 5 reports (4 tests) in the database.",
        "2 match, 3 to review, 0 confirmed (pairs of an applicant and a test); 2 applicants "
        "without a candidate.",
    ]
    assert re.fullmatch(r"6 rows written to .*matches\.csv; 3 pairs to review in "
                        r".*review\.csv \(\d+\.\d s\)\.", summary[2])
    with open_store(db) as store:
        run = store.latest_match_run()
        assert run is not None and run.roster == "roster.csv" and run.applicants == 6
        assert len(store.match_proposals()) == 5


def test_people_decide_and_later_runs_respect_it(db: str, tmp_path: Path) -> None:
    assert run_match(db, tmp_path).exit_code == 0
    said = cli("match", "confirm", "A3", R3, "2025-06-02", "--note", "passport", "--db", db)
    assert said.exit_code == 0, said.output
    assert said.stdout == f"confirmed applicant A3 for registration {R3}, test date 2025-06-02\n"
    again = cli("match", "confirm", "A3", R3, "2025-06-02", "--db", db)
    assert again.stdout == "1 decision(s) already recorded; nothing changed for them.\n"
    clash = cli("match", "confirm", "A2", R3, "2025-06-02", "--db", db)
    assert clash.exit_code == 1
    assert "is confirmed for applicant A3; reject that first" in clash.stderr
    assert cli("match", "reject", "A4b", R4, "2025-07-01", "--db", db).exit_code == 0

    assert run_match(db, tmp_path).exit_code == 0
    assert rows(tmp_path / "matches.csv")[4:] == [
        f"A3,{R3},2025-06-02,1234,99,85,confirmed,confirmed by a person; last_name exact; "
        "first_name exact; dob exact",
    ]
    shown = cli("show", R3, "--db", db)
    assert shown.exit_code == 0 and "A3" in shown.stdout and "confirmed" in shown.stdout
    exported = cli("export", "--to", "csv", "--plain", "--applicant-id", "--columns",
                   "registration_number", "--db", db)
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines() == [
        "applicant_id,registration_number", f"A1,{R1}", f"A1,{R1}", f"A2,{R2}", f"A3,{R3}",
        f",{R4}"]


def test_import_a_filled_in_review_file(db: str, tmp_path: Path) -> None:
    result = run_match(db, tmp_path)
    assert result.exit_code == 0
    text = (tmp_path / "review.csv").read_text(encoding="utf-8")
    reader = list(csv.reader(io.StringIO(text)))
    at = reader[0].index("decision")
    reader[1][at], reader[2][at], reader[3][at] = "reject", "confirm", ""
    with (tmp_path / "decided.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(reader)
    imported = cli("match", "import", str(tmp_path / "decided.csv"), "--db", db)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == "1 confirmed, 1 rejected from decided.csv; 0 already recorded.\n"
    again = cli("match", "import", str(tmp_path / "decided.csv"), "--db", db)
    assert again.stdout == "0 confirmed, 0 rejected from decided.csv; 2 already recorded.\n"
    with open_store(db) as store:
        current = {(d.applicant_id, d.registration_number): (d.decision, d.source)
                   for d in store.match_decisions()}
    assert current == {("A2", R3): ("rejected", "csv:decided.csv:2"),
                       ("A3", R3): ("confirmed", "csv:decided.csv:3")}


def test_a_bad_decisions_file_records_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "decided.csv"
    path.write_text("applicant_id,registration_number,test_date,decision\n"
                    f"A1,{R1},2025-05-01,confirm\nA2,0000000000009999,2025-05-01,confirm\n",
                    encoding="utf-8")
    result = cli("match", "import", str(path), "--db", db)
    assert result.exit_code == 1
    assert "0000000000009999" in result.stderr
    with open_store(db) as store:
        assert store.match_decisions() == []


def test_a_bad_roster_writes_nothing(db: str, tmp_path: Path) -> None:
    result = run_match(db, tmp_path, roster=ROSTER + "A6,Ana,Silva,31/12/2001,\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: roster.csv, line 8: column 'date_of_birth': '31/12/2001' is not a date read as "
        "MM/DD/YYYY; for DD/MM/YYYY use --day-first\n")
    assert not (tmp_path / "matches.csv").exists() and not (tmp_path / "review.csv").exists()
    with open_store(db) as store:
        assert store.latest_match_run() is None
    assert run_match(db, tmp_path, "--day-first",
                     roster=ROSTER.replace("01/02/1999", "02/01/1999")
                     + "A6,Ana,Silva,31/12/2001,\n").exit_code == 0


def test_usage_errors(db: str, tmp_path: Path) -> None:
    assert "name the roster" in cli("match", "--db", db).stderr
    assert "--review-at 90 is above --match-at 80" in run_match(db, tmp_path,
                                                                "--review-at", "90").stderr
    bad = cli("match", "confirm", "A1", R1, "2025-13-01", "--db", db)
    assert bad.exit_code != 0 and "2025-13-01" in bad.stderr
    missing = cli("match", "confirm", "A1", R1, "2025-05-02", "--db", db)
    assert missing.exit_code == 1 and "no report with registration number" in missing.stderr


def test_id_numbers_are_never_kept_in_clear(sqlite_url: str, tmp_path: Path) -> None:
    fill_store(sqlite_url, [line(3, R2, dt.date(2025, 6, 1), "Wei", "Wang",
                                 dt.date(1999, 1, 2), id_number="E12345678")])
    roster = ("applicant_id,first_name,last_name,date_of_birth,id_number\n"
              "A2,Wei,Wong,1999-02-01,E 12345678\n")
    result = run_match(sqlite_url, tmp_path, roster=roster)
    assert result.exit_code == 0, result.output
    assert "id_number exact" in (tmp_path / "matches.csv").read_text("utf-8")
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    files = [*database.parent.glob(database.name + "*"), tmp_path / "matches.csv",
             tmp_path / "review.csv"]  # the database, its -wal and -shm, the outputs
    for path in files:
        data = path.read_bytes()
        assert b"12345678" not in data, path


def test_quality_on_a_generated_roster(sqlite_url: str, tmp_path: Path) -> None:
    """The issue's figures, on a small roster of the benchmark's generator (same seed)."""
    made = generate(reports=3000, applicants=1500, seed=7)
    fill_store(sqlite_url, made.lines)
    write_roster(tmp_path / "applicants.csv", made.roster)
    result = cli("match", "--roster", str(tmp_path / "applicants.csv"), "-o",
                 str(tmp_path / "matches.csv"), "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    figures = score(tmp_path / "matches.csv", made.truth)
    assert figures["precision"] >= 0.995
    assert figures["recall_any"] >= 0.97
    assert figures["recall_match"] >= 0.85
    assert figures["multi_match_reports"] == 0


def test_cancelled_reports_are_left_out(db: str, tmp_path: Path) -> None:
    assert cli("cancel", "add", R4, "2025-07-01", "--db", db).exit_code == 0
    result = run_match(db, tmp_path)
    assert result.exit_code == 0, result.output
    assert ("Note: 1 cancelled report left out (a cancelled score is attached to nobody)."
            in result.stderr.splitlines())
    assert R4 not in (tmp_path / "matches.csv").read_text("utf-8")


def test_id_numbers_unusable_without_a_key(sqlite_url: str, tmp_path: Path) -> None:
    fill_store(sqlite_url, [line(3, R2, dt.date(2025, 6, 1), "Wei", "Wang",
                                 dt.date(1999, 1, 2), id_number="E12345678")],
               sensitive="drop")
    roster = ("applicant_id,first_name,last_name,date_of_birth,id_number\n"
              "A2,Wei,Wang,1999-01-02,E12345678\n")
    result = run_match(sqlite_url, tmp_path, roster=roster)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "Note: the database does not keep ID numbers (sensitive = drop): id_number not used")
    assert "id_number" not in (tmp_path / "matches.csv").read_text("utf-8")


def test_a_smaller_roster_does_not_drop_attachments_silently(db: str, tmp_path: Path) -> None:
    assert run_match(db, tmp_path).exit_code == 0
    only_a1 = "applicant_id,first_name,last_name,date_of_birth\nA1,Ana,Silva,2001-03-04\n"
    refused = run_match(db, tmp_path, roster=only_a1)
    assert refused.exit_code == 1
    assert ("matched 1 test to 1 applicant who are not in this roster; this run replaces its "
            "proposals, so `export --applicant-id` would lose them") in refused.stderr
    assert run_match(db, tmp_path, "--replace", roster=only_a1).exit_code == 0

    def exported() -> list[str]:
        out = cli("export", "--to", "csv", "--plain", "--applicant-id", "--columns",
                  "registration_number", "--db", db)
        return out.stdout.splitlines()[1:]

    assert exported() == [f"A1,{R1}", f"A1,{R1}", f",{R2}", f",{R3}", f",{R4}"]
    assert run_match(db, tmp_path).exit_code == 0
    assert cli("match", "confirm", "A2", R2, "2025-06-01", "--db", db).exit_code == 0
    assert run_match(db, tmp_path, roster=only_a1).exit_code == 0  # A2's test is confirmed
    assert exported() == [f"A1,{R1}", f"A1,{R1}", f"A2,{R2}", f",{R3}", f",{R4}"]


def test_the_roster_and_the_outputs_are_different_files(db: str, tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    same = cli("match", "--roster", str(tmp_path / "roster.csv"), "-o",
               str(tmp_path / "roster.csv"), "--db", db)
    assert same.exit_code == 1 and "-o and --roster name the same file" in same.stderr
    assert (tmp_path / "roster.csv").read_text(encoding="utf-8") == ROSTER


def test_files_appear_only_once_the_run_is_recorded(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toefl_access.errors import StoreError
    from toefl_access.store import Store

    def fail(self: Store, **kwargs: object) -> None:
        raise StoreError("the database stayed locked; try again")

    monkeypatch.setattr(Store, "record_match_run", fail)
    result = run_match(db, tmp_path)
    assert result.exit_code == 1 and "stayed locked" in result.stderr
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("toefl-access.db"))
    assert left == ["roster.csv"]  # no output file, no temporary one


def test_a_confirmation_nobody_proposed_gets_a_note(db: str, tmp_path: Path) -> None:
    assert run_match(db, tmp_path).exit_code == 0
    said = cli("match", "confirm", "A9", R4, "2025-07-01", "--db", db)
    assert said.exit_code == 0
    assert said.stderr == (
        f"Note: the latest match run did not propose applicant A9 for {R4} on 2025-07-01; "
        "check the applicant ID (`toefl-access match reject` undoes a confirmation).\n")
    assert cli("match", "confirm", "A1", R1, "2025-05-01", "--db", db).exit_code == 0
    assert run_match(db, tmp_path).exit_code == 0  # A1's test is confirmed: not a proposal
    assert cli("match", "reject", "A1", R1, "2025-05-01", "--db", db).exit_code == 0
    again = cli("match", "confirm", "A1", R1, "2025-05-01", "--db", db)
    assert again.exit_code == 0 and again.stderr == ""


def test_id_numbers_kept_in_clear_compare_in_normal_form(sqlite_url: str, tmp_path: Path) -> None:
    fill_store(sqlite_url, [line(3, R2, dt.date(2025, 6, 1), "Wei", "Wang",
                                 dt.date(1999, 1, 2), id_number="e1234 5678")],
               sensitive="keep")
    roster = ("applicant_id,first_name,last_name,date_of_birth,id_number\n"
              "A2,Wei,Wong,1999-02-01,E12345678\n")
    result = run_match(sqlite_url, tmp_path, roster=roster)
    assert result.exit_code == 0, result.output
    assert "id_number exact" in (tmp_path / "matches.csv").read_text("utf-8")
