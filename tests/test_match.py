"""Matching, without a database: the roster reader, the pair score and its reasons, the
decisions (ties, one applicant per test, retakes, people's decisions)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toefl_access.errors import InputError, UsageError
from toefl_access.formats.sensitive import normal_id
from toefl_access.match import Thresholds, match, parse_columns, read_roster
from toefl_access.match import compare as c
from toefl_access.match.engine import sittings_from
from toefl_access.match.files import read_decisions
from toefl_access.match.roster import Roster
from toefl_access.match.score import person, score

D = dt.date
HEADER = "applicant_id,first_name,last_name,date_of_birth,middle_name,email,country\n"


def write(tmp_path: Path, text: str | bytes, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# -- the roster ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_roster_encodings(tmp_path: Path, encoding: str) -> None:
    text = HEADER + "A1,José,Müller,2001-03-04,,JOSE@Example.com,DEU\n"
    roster = read_roster(write(tmp_path, text.encode(encoding)))
    assert roster.applicant_ids == ["A1"]
    assert (roster.first_names, roster.last_names) == (["José"], ["Müller"])
    assert roster.dates_of_birth == [D(2001, 3, 4)]
    assert roster.lines == [2]


def test_roster_columns_dates_and_blank_lines(tmp_path: Path) -> None:
    text = ("ID,Given,Family,DOB,Reg\n"
            "A1,Ana,Silva,03/04/2001,0000000012345678\n"
            "\n"
            "A2,Bo,Kim,1999-12-31,\n")
    path = write(tmp_path, text)
    columns = parse_columns("applicant_id=ID, first_name=Given,last_name=Family,"
                            "date_of_birth=DOB,registration_number=Reg")
    roster = read_roster(path, columns=columns)
    assert roster.dates_of_birth == [D(2001, 3, 4), D(1999, 12, 31)]
    assert roster.registration_numbers == ["0000000012345678", ""]
    assert roster.lines == [2, 4]
    assert read_roster(path, columns=columns, day_first=True).dates_of_birth[0] == D(2001, 4, 3)


@pytest.mark.parametrize(("line", "message"), [
    ("A1,Ana,Silva,13/01/2001", "roster.csv, line 3: column 'date_of_birth': '13/01/2001' is "
     "not a date read as MM/DD/YYYY; for DD/MM/YYYY use --day-first"),
    ("A1,Ana,Silva,2001-02-30", "roster.csv, line 3: column 'date_of_birth': '2001-02-30' is "
     "not a date"),
    ("A1,Ana,Silva,yesterday", "roster.csv, line 3: column 'date_of_birth': 'yesterday' is not "
     "a date; write YYYY-MM-DD (or MM/DD/YYYY; DD/MM/YYYY with --day-first)"),
    ("A1,Ana,Silva,", "roster.csv, line 3: column 'date_of_birth': no date of birth"),
    ("A1,Ana,Silva,1850-01-01", "roster.csv, line 3: column 'date_of_birth': '1850-01-01' is "
     "not a plausible date of birth"),
    (",Ana,Silva,2001-01-01", "roster.csv, line 3: column 'applicant_id': no applicant ID"),
    ("A1,,,2001-01-01", "roster.csv, line 3: column 'last_name': no name: a first or a last "
     "name is needed"),
    ("A0,Ana,Silva,2001-01-01", "roster.csv, line 3: column 'applicant_id': applicant 'A0' is "
     "on line 2 already; each applicant once, please"),
    ("A1,Ana,Silva,2001-01-01,x,y", "roster.csv, line 3: 6 values but the header has 4 "
     "columns (a comma inside a value needs double quotes)"),
])
def test_roster_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "applicant_id,first_name,last_name,date_of_birth\n"
                 f"A0,Bo,Kim,1999-12-31\n{line}\n")
    with pytest.raises(InputError) as info:
        read_roster(path)
    assert str(info.value) == message


def test_roster_headings(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_roster(write(tmp_path, "ID,first_name,last_name,dob\nA1,Ana,Silva,2001-01-01\n"))
    assert str(info.value) == (
        "roster.csv, line 1: no column applicant_id, date_of_birth in the header ('ID', "
        "'first_name', 'last_name', 'dob'); name the headings that hold them with --columns, "
        "e.g. --columns applicant_id=YourHeading")
    with pytest.raises(InputError, match="--columns names heading 'Nope' for email"):
        read_roster(write(tmp_path, HEADER), columns={"email": "Nope"})
    with pytest.raises(InputError, match="the file is empty"):
        read_roster(write(tmp_path, ""))
    with pytest.raises(InputError, match="not a text file"):
        read_roster(write(tmp_path, b"\x00\x01PK"))
    with pytest.raises(UsageError, match="there is no file"):
        read_roster(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="'first' is not a roster column"):
        parse_columns("first=Given")
    with pytest.raises(UsageError, match="is not COLUMN=HEADING"):
        parse_columns("applicant_id")


def test_roster_id_numbers_are_hashed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "applicant_id,first_name,last_name,date_of_birth,id_number\n"
                 "A1,Ana,Silva,2001-01-01,e 1234 5678\nA2,Bo,Kim,1999-12-31,\n")
    roster = read_roster(path, hash_id=lambda v: f"H({normal_id(v)})")
    assert roster.id_numbers == ["H(E12345678)", ""]
    assert "1234" not in repr(roster).replace("H(E12345678)", "")
    assert read_roster(path).id_numbers == ["", ""]  # no hasher: the column is not used


# -- comparing and scoring ----------------------------------------------------------------


def test_folding() -> None:
    assert c.name("García-Márquez").key == c.name("GARCIA MARQUEZ").key == "garciamarquez"
    assert c.name("Nguyễn").folded == "nguyen"
    assert c.name("Müller").loose == c.name("MUELLER").loose == c.name("muller").loose
    assert c.name("Дмитрий").folded == "dmitriy"
    assert c.name("  ") == c.EMPTY and c.name(None) == c.EMPTY
    assert [c.dob_relation(D(2000, 3, 4), d) for d in (
        D(2000, 3, 4), D(2000, 4, 3), D(2000, 3, 5), D(2001, 3, 4), D(1999, 3, 4),
        D(1990, 7, 9))] == ["exact", "swapped", "digit", "digit", "year", "differs"]


BORN = D(2001, 3, 4)
TESTED = D(2025, 5, 1)


def someone(first: str = "José", last: str = "García Márquez", dob: D = BORN,
            *, middle: str = "", email: str = "", reg: str = "", id_hash: str = "",
            countries: tuple[str, ...] = ()) -> object:
    return person(first, middle, last, dob, email, reg, id_hash, countries)


REPORT = someone(email="jose.garcia@example.com", reg="0000000012345678",
                 countries=("MEX", "Mexico"))


@pytest.mark.parametrize(("applicant", "reasons", "points"), [
    (someone("JOSE", "GARCIA MARQUEZ"),
     ("last_name exact", "first_name exact", "dob exact"), 85),
    (someone("Jose", "Garcia"),
     ("last_name part of compound", "first_name exact", "dob exact"), 75),
    (someone("José", "García Márquez", email="other@example.com"),
     ("email differs", "last_name exact", "first_name exact", "dob exact"), 80),
    (someone("Ana José", "García Márquez"),
     ("last_name exact", "first_name part of compound", "dob exact"), 73),
    (someone("García Márquez", "José"),
     ("first/last swapped", "last_name exact", "first_name exact", "dob exact"), 83),
    (someone("J", "Garcia-Marquez", D(2001, 4, 3)),
     ("last_name exact", "first_name initial", "dob day-month swapped"), 62),
    (someone("Jsoe", "Garcia Marquez", D(2001, 3, 5), email="Jose.Garcia@example.com"),
     ("email exact", "last_name exact", "first_name close", "dob one digit off"), 89),
    (someone("José", "García Márquez", D(1990, 7, 9), reg="0000000012345678"),
     ("registration_number exact", "last_name exact", "first_name exact", "dob differs"), 60),
    (someone("José", "García Márquez", D(2000, 3, 4), reg="0000000012345679",
             countries=("mexico",)),
     ("registration_number one off", "last_name exact", "first_name exact", "dob one digit off",
      "country exact"), 82),
    (someone("Márquez José", "García"),
     ("names reordered", "dob exact"), 80),
    (someone("Pedro", "Lopez", countries=("IND",)),
     ("last_name differs", "first_name differs", "dob exact", "country differs"), 7),
])
def test_score_reasons(applicant: object, reasons: tuple[str, ...], points: int) -> None:
    found = score(applicant, REPORT)  # type: ignore[arg-type]
    assert (found.reasons, found.points) == (reasons, points)


def test_deterministic_keys() -> None:
    assert score(someone(reg="0000000012345678", first="Joe"), REPORT).key == (  # type: ignore[arg-type]
        "registration_number + dob")
    assert score(someone(), REPORT).key == "names + dob"  # type: ignore[arg-type]
    assert score(someone(dob=D(2001, 4, 3)), REPORT).key == ""  # type: ignore[arg-type]
    both = someone(id_hash="h1")
    assert score(both, someone(id_hash="h1", first="Jo")).key == "id_number + dob"  # type: ignore[arg-type]


names = st.text(st.characters(categories=("L", "Zs", "Pd")), min_size=1, max_size=20).filter(
    lambda s: len(c.name(s).key) > 1)


@given(names, names, st.dates(D(1950, 1, 1), D(2010, 12, 31)))
def test_anyone_matches_themselves(first: str, last: str, dob: D) -> None:
    p = someone(first, last, dob)
    found = score(p, p)  # type: ignore[arg-type]
    assert found.points >= Thresholds().match_at
    assert found.key == "names + dob"


@given(st.text(max_size=30))
def test_folding_is_idempotent(text: str) -> None:
    once = c.name(text)
    assert c.name(once.folded) == once
    assert once.folded.isascii()


# -- decisions ----------------------------------------------------------------------------


def report_row(reg: str, first: str, last: str, dob: D, *, test_date: D = TESTED,
               department: str = "99", email: str | None = None) -> dict[str, object]:
    return dict(
        registration_number=reg, test_date=test_date, institution_code="1234",
        department_code=department, last_name=last, first_name=first, middle_name=None,
        date_of_birth=dob, email=email, country_code="MEX", country_name="Mexico",
        native_country_code="MEX", native_country_name="Mexico", security_id_number=None,
    )


def roster_of(*rows: tuple[str, str, str, D, str]) -> Roster:
    r = Roster("roster.csv")
    for i, (applicant, first, last, dob, reg) in enumerate(rows):
        r.applicant_ids.append(applicant)
        r.first_names.append(first)
        r.last_names.append(last)
        r.middle_names.append("")
        r.dates_of_birth.append(dob)
        r.emails.append("")
        r.registration_numbers.append(reg)
        r.countries.append("")
        r.id_numbers.append("")
        r.lines.append(i + 2)
    return r


def decided(outcome: object) -> list[tuple[str, str, str, int]]:
    o = outcome
    return [(o.roster.applicant_ids[p.applicant], o.sittings.keys[p.sitting][0], p.decision,  # type: ignore[attr-defined]
             p.score) for p in o.pairs]  # type: ignore[attr-defined]


REPORTS = pa.Table.from_pylist([
    report_row("RA1", "Ana", "Silva", D(2001, 3, 4)),
    report_row("RA1", "Ana", "Silva", D(2001, 3, 4), department="98"),
    report_row("RB2", "Ana", "Silva", D(2001, 3, 4), test_date=D(2025, 9, 1)),  # a retake
    report_row("RC3", "Wei", "Wang", D(1999, 1, 2)),
    report_row("RD4", "Wei", "Wang", D(1999, 1, 2), test_date=D(2025, 6, 1)),
])


def test_retakes_and_department_copies() -> None:
    outcome = match(roster_of(("A1", "Ana", "Silva", D(2001, 3, 4), "")), sittings_from(REPORTS))
    assert decided(outcome) == [("A1", "RA1", "match", 85), ("A1", "RB2", "match", 85)]
    assert outcome.sittings.reports[0] == [("1234", "99"), ("1234", "98")]
    assert outcome.counts == {"match": 2, "review": 0, "confirmed": 0}


def test_ties_go_to_review() -> None:
    roster = roster_of(("A1", "Wei", "Wang", D(1999, 1, 2), ""),
                       ("A2", "Wei", "Wang", D(1999, 1, 2), ""))
    outcome = match(roster, sittings_from(REPORTS))
    assert {d for *_, d, _ in decided(outcome)} == {"review"}
    assert len(outcome.pairs) == 4
    assert all(p.reasons[-1] == "tie with 1 other applicant" for p in outcome.pairs)


def test_a_clear_lead_wins_and_people_decide() -> None:
    roster = roster_of(("A1", "Wei", "Wang", D(1999, 1, 2), "RC3"),
                       ("A2", "Wei", "Wang", D(1999, 1, 2), ""))
    outcome = match(roster, sittings_from(REPORTS))
    assert decided(outcome) == [("A1", "RC3", "match", 125), ("A1", "RD4", "review", 85),
                                ("A2", "RD4", "review", 85)]
    assert outcome.pairs[0].reasons[0] == "key: registration_number + dob"
    decisions = {("A2", "RD4", D(2025, 6, 1)): "confirmed",
                 ("A1", "RC3", D(2025, 5, 1)): "rejected"}
    outcome = match(roster, sittings_from(REPORTS), decisions=decisions)
    assert decided(outcome) == [("A2", "RC3", "match", 85), ("A2", "RD4", "confirmed", 85)]
    assert outcome.pairs[1].reasons[0] == "confirmed by a person"


def test_one_birth_date_per_applicant() -> None:
    reports = pa.Table.from_pylist([
        report_row("RA1", "Ana", "Silva", D(2001, 3, 4)),
        report_row("RB2", "Ana", "Silva", D(2001, 3, 5), test_date=D(2025, 9, 1)),
    ])
    roster = roster_of(("A1", "Ana", "Silva", D(2001, 3, 4), "RB2"))
    outcome = match(roster, sittings_from(reports))
    assert decided(outcome) == [("A1", "RA1", "review", 85), ("A1", "RB2", "match", 108)]
    assert outcome.pairs[0].reasons[-1] == "applicant also matches another test taker"


def test_thresholds() -> None:
    roster = roster_of(("A1", "Ana", "Silva", D(2001, 4, 3), ""))
    assert decided(match(roster, sittings_from(REPORTS))) == [
        ("A1", "RA1", "review", 72), ("A1", "RB2", "review", 72)]
    low = Thresholds(match_at=70, review_at=40)
    assert decided(match(roster, sittings_from(REPORTS), thresholds=low))[0][2] == "match"
    assert decided(match(roster, sittings_from(REPORTS), thresholds=Thresholds(review_at=80))) == []
    with pytest.raises(ValueError):
        Thresholds(match_at=50, review_at=60)


# -- decisions files ----------------------------------------------------------------------


def test_read_decisions(tmp_path: Path) -> None:
    path = write(tmp_path, "applicant_id,registration_number,test_date,decision,note\n"
                 'A1,="0000000012345678",2025-05-01,Confirm,checked passport\n'
                 "A2,0000000012345678,2025-05-01,,\n"
                 "A3,0000000012345678,05/01/2025,reject,\n", name="review.csv")
    assert read_decisions(path) == [
        ("A1", "0000000012345678", D(2025, 5, 1), "confirmed", "checked passport", 2),
        ("A3", "0000000012345678", D(2025, 5, 1), "rejected", "", 4),
    ]
    bad = write(tmp_path, "applicant_id,registration_number,test_date,decision\n"
                "A1,0000000012345678,2025-05-01,maybe\n", name="bad.csv")
    with pytest.raises(InputError) as info:
        read_decisions(bad)
    assert str(info.value) == ("bad.csv, line 2: column 'decision': 'maybe' is not a "
                               "decision; write confirm or reject (or leave it blank)")
    with pytest.raises(InputError, match="no column decision"):
        read_decisions(write(tmp_path, "applicant_id,registration_number,test_date\n"))


@given(st.lists(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1,
                        max_size=12).filter(lambda s: s.strip() == s),
                min_size=1, max_size=5, unique=True),
       st.booleans())
def test_decisions_read_back_what_was_written(ids: list[str], excel: bool) -> None:
    """Any applicant ID written to a review file (Excel-protected or plain) reads back as
    it was, with the decision filled in."""
    import io as _io
    import tempfile

    from toefl_access.match.files import write_csv

    header = ("applicant_id", "registration_number", "test_date", "decision", "note")
    rows = [[a, "0000000012345678", "2025-05-01", "confirm", "=cmd|' /C calc'!A0"]
            for a in ids]
    buf = _io.BytesIO()
    write_csv(buf, header, iter(rows), excel=excel)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decided.csv"
        path.write_bytes(buf.getvalue())
        back = read_decisions(path)
    assert [(a, n) for a, _, _, _, n, _ in back] == [(a, "=cmd|' /C calc'!A0") for a in ids]
    if excel:
        assert b'"=""=cmd' in buf.getvalue()  # a formula stays text in Excel


# -- review findings: thresholds for every pair, one person per applicant, big blocks ----


def test_thresholds_apply_to_deterministic_keys_too() -> None:
    roster = roster_of(("A1", "Ana", "Silva", BORN, ""))
    careful = match(roster, sittings_from(REPORTS), thresholds=Thresholds(match_at=90))
    assert {d for *_, d, _ in decided(careful)} == {"review"}
    assert careful.pairs[0].reasons[0] == "key: names + dob"


def test_one_name_people() -> None:
    reports = pa.Table.from_pylist([report_row("RA1", None, "Suharto", BORN)])  # type: ignore[arg-type]
    roster = roster_of(("A1", "Suharto", "", BORN, ""))
    outcome = match(roster, sittings_from(reports))
    assert [(p.decision, p.reasons) for p in outcome.pairs] == [
        ("match", ("single name exact", "dob exact"))]


def test_an_applicant_matches_one_person_whatever_the_roster_order() -> None:
    reports = pa.Table.from_pylist([
        report_row("RA1", "Ana", "Silva", BORN),
        report_row("RB2", "Ana", "Silva", D(2001, 3, 5), test_date=D(2025, 9, 1)),
    ])
    one = roster_of(("A1", "Ana", "Silva", BORN, ""), ("A2", "Ana", "Silva", D(2001, 3, 5), ""))
    two = roster_of(("A2", "Ana", "Silva", D(2001, 3, 5), ""), ("A1", "Ana", "Silva", BORN, ""))
    first, second = match(one, sittings_from(reports)), match(two, sittings_from(reports))
    assert sorted(decided(first)) == sorted(decided(second))


def test_a_huge_block_is_narrowed_not_compared_whole() -> None:
    from toefl_access.match.engine import MOST_IN_BLOCK

    rows = [report_row(f"RX{i:05d}", f"W{chr(97 + i % 26)}{chr(97 + i // 26)}x", "Wang", BORN)
            for i in range(MOST_IN_BLOCK + 50)]  # one birthday, one initial
    rows.append(report_row("RT00001", "Wenqi", "Wong", BORN))
    roster = roster_of(("A1", "Wenqi", "Wang", BORN, ""))
    outcome = match(roster, sittings_from(pa.Table.from_pylist(rows)))
    assert outcome.narrowed > 0
    assert [(outcome.sittings.keys[p.sitting][0], p.decision) for p in outcome.pairs] == [
        ("RT00001", "review")]


@pytest.mark.parametrize(("text", "message"), [
    (b"applicant_id,first_name,last_name,date_of_birth\n",
     "roster.csv: no applicants: the file has a header and no lines; nothing was matched"),
    (b"applicant_id,first_name,last_name,date_of_birth,last_name\nA1,Ana,,2001-01-01,Silva\n"
, "roster.csv, line 1: the heading 'last_name' is in columns 3 and 5; rename or "
     "remove one"),
    ("applicant_id,first_name,last_name,date_of_birth\nA1,José,Silva,2001-01-01\n".encode()
     + b"A2,Fran\xe7ois,Roy,2001-01-01\n",
     "roster.csv, line 3: the file is UTF-8 up to here, then holds a byte that is not (a line "
     "pasted from a file in another encoding?); save the whole file as UTF-8"),
    (b"applicant_id,first_name,last_name,date_of_birth\n" + b"A1,Ana,Silva,2001-01-01\n" * 5000
     + b"A\x002,Bo,Kim,2001-01-01\n",
     "roster.csv, line 5002: this is not a text file (it holds NUL bytes); save it as CSV"),
    (b'applicant_id,first_name,last_name,date_of_birth\n"A\n1",Ana,Silva,2001-01-01\n',
     "roster.csv, line 2: column 'applicant_id': 'A\\n1' holds control characters (a NUL, a "
     "tab or a line break); an applicant ID is one line of text"),
    (b"applicant_id,first_name,last_name,date_of_birth,registration_number\n"
     b"A1,Ana,Silva,2001-01-01,1.23457E+15\n",
     "roster.csv, line 2: column 'registration_number': registration number '1.23457E+15' "
     "looks like a number Excel reformatted; format the column as text and type the number "
     "again (all 16 digits)"),
])
def test_roster_review_findings(tmp_path: Path, text: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        read_roster(write(tmp_path, text))
    assert str(info.value) == message


def test_semicolons_dotted_dates_and_lost_zeros(tmp_path: Path) -> None:
    path = write(tmp_path, "applicant_id;first_name;last_name;date_of_birth;registration_number\n"
                 "A1;Ana;Silva;04.03.2001;12345678\nA2;Bo;Kim;2001-03-04;=\"0000000012345678\"\n")
    roster = read_roster(path)
    assert roster.dates_of_birth == [D(2001, 3, 4), D(2001, 3, 4)]
    assert roster.registration_numbers == ["0000000012345678", "0000000012345678"]
    assert roster.registration_numbers_padded == 1


def person_row(reg: str, first: str, last: str, dob: D, *, email: str | None = None,
               id_hash: str | None = None, test_date: D = TESTED) -> dict[str, object]:
    row = report_row(reg, first, last, dob, test_date=test_date, email=email)
    row["security_id_number"] = id_hash
    return row


def test_two_test_takers_within_the_margin_both_go_to_review() -> None:
    other = person_row("RB2", "Ana", "Silva", D(2001, 4, 3), email="ana@x.com")
    other["country_code"] = other["country_name"] = other["native_country_code"] = None
    other["native_country_name"] = None
    reports = pa.Table.from_pylist([person_row("RA1", "Ana", "Silva", BORN), other])
    roster = roster_of(("A1", "Ana", "Silva", BORN, ""))
    roster.emails[0], roster.countries[0] = "ana@x.com", "MEX"
    outcome = match(roster, sittings_from(reports))  # 89 and 97: within the margin of 10
    assert [(p.score, p.decision, p.reasons[-1]) for p in outcome.pairs] == [
        (89, "review", "applicant also matches another test taker"),
        (97, "review", "applicant also matches another test taker")]


def test_namesakes_with_other_id_numbers_are_two_people() -> None:
    reports = pa.Table.from_pylist([
        person_row("RA1", "Wei", "Wang", BORN, id_hash="h1"),
        person_row("RB2", "Wei", "Wang", BORN, id_hash="h2", test_date=D(2025, 9, 1)),
    ])
    outcome = match(roster_of(("A1", "Wei", "Wang", BORN, "")), sittings_from(reports))
    assert [p.decision for p in outcome.pairs] == ["review", "review"]
    retake = pa.Table.from_pylist([  # the same passport: one person, two tests
        person_row("RA1", "Wei", "Wang", BORN, id_hash="h1"),
        person_row("RB2", "Wei", "Wang", BORN, id_hash="h1", test_date=D(2025, 9, 1)),
    ])
    outcome = match(roster_of(("A1", "Wei", "Wang", BORN, "")), sittings_from(retake))
    assert [p.decision for p in outcome.pairs] == ["match", "match"]


def test_a_match_taken_back_offers_the_tests_other_candidates() -> None:
    reports = pa.Table.from_pylist([
        person_row("RA1", "Ana", "Silva", BORN),
        person_row("RB2", "Ana", "Silva", D(2001, 3, 5), email="ana@x.com"),
    ])
    roster = roster_of(("A1", "Ana", "Silva", BORN, "RA1"),
                       ("A2", "Ana", "Silvia", D(2001, 3, 5), ""))
    roster.emails[0] = "ana@x.com"
    outcome = match(roster, sittings_from(reports))
    assert decided(outcome) == [("A1", "RA1", "match", 125), ("A1", "RB2", "review", 93),
                                ("A2", "RB2", "review", 79)]


def test_decisions_files_with_semicolons_and_quoted_headings(tmp_path: Path) -> None:
    path = write(tmp_path, "applicant_id;registration_number;test_date;decision\n"
                 "A1;0000000012345678;2025-05-01;confirm\n", name="decided.csv")
    assert [d[:4] for d in read_decisions(path)] == [
        ("A1", "0000000012345678", D(2025, 5, 1), "confirmed")]
    roster = write(tmp_path, 'ID,"Given; first",Family,"Born; dd/mm/yyyy"\n'
                   "A1,Ana,Silva,04/03/2001\n")
    columns = parse_columns("applicant_id=ID,first_name=Given; first,last_name=Family,"
                            "date_of_birth=Born; dd/mm/yyyy")
    assert read_roster(roster, columns=columns, day_first=True).dates_of_birth == [BORN]


def test_a_retake_of_the_matched_test_taker_is_a_match_too() -> None:
    reports = pa.Table.from_pylist([
        person_row("RA1", "Ana", "Silva", BORN, email="ana@x.com"),
        person_row("RB2", "Ana", "Silva", BORN, email="ana@x.com", test_date=D(2025, 9, 1)),
    ])
    roster = roster_of(("A1", "Anna", "Silvq", BORN, "RA1"))  # typos: the retake scores low
    outcome = match(roster, sittings_from(reports))
    assert [(p.decision, p.reasons[0]) for p in outcome.pairs] == [
        ("match", "key: registration_number + dob"),
        ("match", "same test taker as RA1 (email)")]
    assert outcome.pairs[1].score < Thresholds().match_at
    third = person_row("RC3", "Ana", "Silva", BORN, email="ana@x.com", test_date=D(2025, 11, 1))
    reports = pa.Table.from_pylist([*reports.to_pylist(), third])
    twice = roster_of(("A1", "Anna", "Silvq", BORN, "RA1"), ("A2", "Anna", "Silvq", BORN, "RB2"))
    outcome = match(twice, sittings_from(reports))  # one person on two roster lines
    assert decided(outcome) == [("A1", "RA1", "match", 108), ("A2", "RB2", "match", 108),
                                ("A1", "RC3", "review", 68), ("A2", "RC3", "review", 68)]


def test_a_shared_e_mail_does_not_join_two_id_numbers() -> None:
    reports = pa.Table.from_pylist([
        person_row("RA1", "Ana", "Silva", BORN, email="ana@x.com", id_hash="h1"),
        person_row("RB2", "Ana", "Silva", BORN, email="ana@x.com", id_hash="h2",
                   test_date=D(2025, 9, 1)),
    ])
    outcome = match(roster_of(("A1", "Anna", "Silvq", BORN, "RA1")), sittings_from(reports))
    assert [(p.decision, p.score) for p in outcome.pairs] == [("match", 108), ("review", 68)]
