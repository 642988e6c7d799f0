"""The store side of matching applicants (issue 14) on SQLite and PostgreSQL: decisions
(validated all or nothing, idempotent, append-only), match runs and their proposals, which
applicant a test is handed off with, the reports the matcher reads; then `show` and
`export --applicant-id` on the command line."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.formats import layout as layouts
from toefl_access.formats.record import Record
from toefl_access.formats.textformat import render
from toefl_access.handoff import export as ex
from toefl_access.store import MatchDecision, MatchProposal, MatchRun, Store, open_store
from toefl_access.store import schema as s
from toefl_access.store.history import CancelRequest
from toefl_access.store.matching import MATCH_COLUMNS
from toefl_access.sync.preparing import prepare

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
D1, D2, D3, D4 = (dt.date(2026, 1, 9), dt.date(2026, 1, 10), dt.date(2026, 1, 11),
                  dt.date(2026, 2, 1))
R1, R2, R3, R4 = "0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"
BASE: dict[str, Any] = {
    "institution_code": "0042", "department_code": "07", "last_name": "Nguyễn",
    "first_name": "Lan", "date_of_birth": dt.date(2001, 2, 3), "listening": 25,
    "reading": 27, "speaking": 22, "writing": 24, "total": 98,
}
REPORTS: list[dict[str, Any]] = [
    {**BASE, "registration_number": R1, "test_date": D1},
    {**BASE, "registration_number": R1, "test_date": D1, "department_code": "08"},  # a copy
    {**BASE, "registration_number": R2, "test_date": D2, "last_name": "Okafor",
     "first_name": "Chidi", "email": "chidi@example.org", "country_code": "NGA",
     "date_of_birth": dt.date(1999, 12, 31)},
    {**BASE, "registration_number": R3, "test_date": D3, "last_name": "Silva"},
    {**BASE, "registration_number": R4, "test_date": D4, "last_name": "Kowalski",
     "institution_code": "0001"},
]  # fmt: skip


def fill(store: Store, reports: list[dict[str, Any]], *, at: dt.datetime = NOW) -> None:
    """Store these reports (current layout), as a sync of one window would."""
    body = b"".join(render(Record(values=r, layout=layouts.CURRENT, line=i, raw=b"")) + b"\n"
                    for i, r in enumerate(reports, 1))  # fmt: skip
    incoming, parse = prepare(body, "text")
    run_id = store.begin_run(started_at=at, params={})
    store.write_window(run_id=run_id, start=at, end=at + dt.timedelta(days=1), fmt="text",
                       body=body, sha256=hashlib.sha256(body).hexdigest(), status=200,
                       incoming=incoming, parse=parse, received_at=at)  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as st:
        fill(st, REPORTS)
        yield st


def confirm(applicant: str, reg: str, date: dt.date, **kw: Any) -> MatchDecision:
    return MatchDecision(applicant, reg, date, "confirmed", **kw)


def reject(applicant: str, reg: str, date: dt.date, **kw: Any) -> MatchDecision:
    return MatchDecision(applicant, reg, date, "rejected", **kw)


def proposal(applicant: str, reg: str, date: dt.date, decision: str = "match",
             score: float = 0.97, reasons: tuple[str, ...] = ("last_name exact",)
             ) -> MatchProposal:  # fmt: skip
    return MatchProposal(applicant, reg, date, score, decision, reasons)


def rows_of(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- what the matcher reads ---------------------------------------------------------------


def test_match_reports_has_typed_columns_and_leaves_cancelled_reports_out(store: Store) -> None:
    store.cancel([CancelRequest(R3, D3)], source="test")
    table = store.match_reports()
    assert table.column_names == list(MATCH_COLUMNS)
    for name in MATCH_COLUMNS:
        kind = pa.date32() if name in ("test_date", "date_of_birth") else pa.string()
        assert table.schema.field(name).type == kind, name
    got = table.to_pylist()
    assert [(r["registration_number"], r["test_date"], r["department_code"]) for r in got] == [
        (R1, D1, "07"), (R1, D1, "08"), (R2, D2, "07"), (R4, D4, "07")]
    okafor = got[2]
    assert okafor["last_name"] == "Okafor" and okafor["date_of_birth"] == dt.date(1999, 12, 31)
    assert okafor["email"] == "chidi@example.org" and okafor["country_code"] == "NGA"
    assert got[0]["last_name"] == "Nguyễn" and got[0]["middle_name"] is None
    assert store.match_report_counts() == (4, 1)
    # read in chunks, the same table
    assert store.match_reports(chunk=1).to_pylist() == got


def test_match_reports_of_an_empty_store(store_url: str) -> None:
    with open_store(store_url) as st:
        table = st.match_reports()
        assert table.num_rows == 0 and table.column_names == list(MATCH_COLUMNS)
        assert st.match_report_counts() == (0, 0)
        assert st.latest_match_run() is None and st.applicant_ids() == {}


# -- decisions ----------------------------------------------------------------------------


def test_a_decision_on_no_stored_report_is_refused_with_what_to_do(store: Store) -> None:
    with pytest.raises(UsageError) as info:
        store.decide([confirm("A1", R1, D2)])
    assert info.value.message == (
        f"no report with registration number {R1} and test date 2026-01-10 in {store.url}; "
        f"check the number and date (toefl-access show {R1}). Nothing was recorded."
    )
    assert rows_of(store, s.match_decisions) == 0


def test_one_bad_decision_in_a_batch_means_nothing_is_written(store: Store) -> None:
    batch = [
        confirm("A1", R1, D1, source="csv:decisions.csv:2"),
        reject("A2", R2, D2, source="csv:decisions.csv:3"),
        confirm("A3", "0000000000000999", D1, source="csv:decisions.csv:4"),
    ]
    with pytest.raises(UsageError) as info:
        store.decide(batch)
    assert info.value.message == (
        "1 of 3 decisions cannot be recorded, so none was (fix or remove them and run "
        "again):\n  decisions.csv line 4: no report with registration number "
        f"0000000000000999 and test date 2026-01-09 in {store.url}; check the number and "
        "date (toefl-access show 0000000000000999)"
    )
    assert rows_of(store, s.match_decisions) == 0
    with pytest.raises(UsageError, match="the decision 'maybe' is not one of confirmed, "
                                         "rejected"):
        store.decide([confirm("A1", R1, D1), MatchDecision("A1", R2, D2, "maybe")])
    with pytest.raises(UsageError, match="the applicant_id of a confirmed decision is empty"):
        store.decide([confirm(" ", R1, D1)])
    assert rows_of(store, s.match_decisions) == 0
    # the same batch without the bad line goes in whole
    done = store.decide(batch[:2])
    assert [(d.applicant_id, d.decision, d.source) for d in done] == [
        ("A1", "confirmed", "csv:decisions.csv:2"), ("A2", "rejected", "csv:decisions.csv:3")]
    assert all(d.id is not None and d.decided_at is not None for d in done)
    assert done[0].id is not None and done[1].id == done[0].id + 1


def test_decisions_are_idempotent_and_the_history_is_kept(store: Store) -> None:
    first = store.decide([confirm("A1", R1, D1, decided_at=NOW)])
    assert first == [confirm("A1", R1, D1, decided_at=NOW, id=first[0].id)]
    assert store.decide([confirm("A1", R1, D1)]) == []  # the same again: nothing appended
    assert store.decide([confirm("A1", R1, D1, source="csv:x.csv:9")]) == []
    noted = store.decide([confirm("A1", R1, D1, note="passport seen")])  # a new note is kept
    assert len(noted) == 1
    assert store.decide([confirm("A1", R1, D1, note="passport seen")]) == []
    later = NOW + dt.timedelta(hours=1)
    store.decide([reject("A1", R1, D1, decided_at=later, note="wrong person")])
    (current,) = store.match_decisions()
    assert (current.decision, current.note, current.decided_at) == (
        "rejected", "wrong person", later)
    history = store.match_decisions(current=False)
    assert [d.decision for d in history] == ["confirmed", "confirmed", "rejected"]
    assert store.match_decisions(registration_number=R2) == []
    assert store.match_decisions(applicant_id="A1") == [current]
    assert store.match_decisions(applicant_id="A2", current=False) == []


def test_a_test_confirmed_for_one_applicant_cannot_be_confirmed_for_another(
    store: Store
) -> None:
    store.decide([confirm("A1", R1, D1)])
    with pytest.raises(UsageError) as info:
        store.decide([confirm("A2", R1, D1)])
    assert info.value.message == (
        f"registration number {R1}, test date 2026-01-09 is confirmed for applicant A1; "
        f"reject that first: toefl-access match reject A1 {R1} 2026-01-09. Nothing was "
        "recorded."
    )
    # later rows of a batch see the earlier ones: two confirmations of one test conflict...
    with pytest.raises(UsageError, match="is confirmed for applicant A 3; reject that "
                                         r"first: toefl-access match reject 'A 3'"):
        store.decide([confirm("A 3", R2, D2), confirm("A4", R2, D2)])
    assert len(store.match_decisions(current=False)) == 1
    # ...and a rejection followed by another applicant's confirmation works
    done = store.decide([reject("A1", R1, D1), confirm("A2", R1, D1)])
    assert [(d.applicant_id, d.decision) for d in done] == [("A1", "rejected"),
                                                             ("A2", "confirmed")]
    assert store.applicant_ids() == {(R1, D1): "A2"}
    # one applicant may hold several tests (retakes), and a cancelled test can be decided
    store.cancel([CancelRequest(R3, D3)], source="test")
    assert len(store.decide([confirm("A2", R2, D2), confirm("A2", R3, D3)])) == 2


def test_two_people_confirming_one_test_at_once_cannot_both_succeed(
    store: Store, store_url: str
) -> None:
    import threading

    start = threading.Barrier(4)
    outcomes: list[str] = []

    def confirm_it(applicant: str) -> None:
        with open_store(store_url) as st:
            start.wait()
            try:
                st.decide([confirm(applicant, R1, D1)])
                outcomes.append("ok")
            except UsageError as exc:
                assert "is confirmed for applicant" in exc.message
                outcomes.append("refused")

    threads = [threading.Thread(target=confirm_it, args=(f"A{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert len(store.match_decisions()) == 1


# -- runs and proposals -------------------------------------------------------------------


def test_a_match_run_replaces_the_proposals_of_the_previous_one(store: Store) -> None:
    first = store.record_match_run(
        roster="/home/office/applicants 2026.csv", applicants=3, reports=5,
        settings={"match_at": 0.9}, at=NOW,
        proposals=[proposal("A1", R1, D1), proposal("A2", R1, D1, "review", 0.61, ()),
                   proposal("A3", R2, D2, "review", 0.7, ("dob exact", "first/last swapped"))],
    )  # fmt: skip
    assert first == MatchRun(id=first.id, at=NOW, roster="applicants 2026.csv", applicants=3,
                             reports=5, counts={"match": 1, "review": 2},
                             settings={"match_at": 0.9})  # fmt: skip
    assert store.latest_match_run() == first
    assert store.match_proposals(registration_number=R1) == [
        proposal("A1", R1, D1), proposal("A2", R1, D1, "review", 0.61, ())]
    assert store.match_proposals(applicant_id="A3") == [
        proposal("A3", R2, D2, "review", 0.7, ("dob exact", "first/last swapped"))]
    later = NOW + dt.timedelta(days=1)
    second = store.record_match_run(
        roster="C:\\admissions\\roster.csv", applicants=2, reports=5, settings={},
        counts={"confirmed": 4, "match": 99}, at=later,
        proposals=iter([proposal("A4", R4, D4, score=0.99)]),
    )  # fmt: skip
    assert second.id > first.id and second.roster == "roster.csv"
    assert second.counts == {"confirmed": 4, "match": 1, "review": 0}  # proposals count
    assert store.latest_match_run() == second
    assert store.match_proposals() == [proposal("A4", R4, D4, score=0.99)]
    assert store.match_changes_since(later) == (0, 1)
    empty = store.record_match_run(roster="r.csv", applicants=0, reports=5, settings={},
                                   proposals=[])  # fmt: skip
    assert empty.counts == {"match": 0, "review": 0} and store.match_proposals() == []


@pytest.mark.parametrize(("proposals", "message"), [
    ([proposal("A1", R1, D1, "confirmed")], "decision is match or review, not 'confirmed'"),
    ([proposal("A1", R1, D1), proposal("A1", R1, D1, "review")], "is proposed twice"),
    ([proposal("A1", R1, D1), proposal("A2", R1, D1)],
     f"registration number {R1}, test date 2026-01-09 is proposed at match for two applicants "
     r"\(A1 and A2\); a tie belongs in review"),
])  # fmt: skip
def test_a_match_run_with_impossible_proposals_changes_nothing(
    store: Store, proposals: list[MatchProposal], message: str
) -> None:
    store.record_match_run(roster="r.csv", applicants=1, reports=5, settings={},
                           proposals=[proposal("A9", R4, D4)])  # fmt: skip
    before = store.latest_match_run()
    with pytest.raises(ValueError, match=message):
        store.record_match_run(roster="r.csv", applicants=2, reports=5, settings={},
                               proposals=proposals)  # fmt: skip
    assert store.latest_match_run() == before
    assert store.match_proposals() == [proposal("A9", R4, D4)]


# -- the hand-off -------------------------------------------------------------------------


def test_which_applicant_a_test_is_handed_off_with(store: Store) -> None:
    store.record_match_run(
        roster="r.csv", applicants=4, reports=5, settings={},
        proposals=[proposal("A1", R1, D1), proposal("A2", R2, D2), proposal("A3", R3, D3),
                   proposal("A4", R4, D4, "review")],
    )  # fmt: skip
    assert store.applicant_ids() == {(R1, D1): "A1", (R2, D2): "A2", (R3, D3): "A3"}
    store.decide([
        confirm("A9", R1, D1),  # a confirmation beats the run's match
        reject("A2", R2, D2),  # a rejection takes the match away
        confirm("A4", R4, D4),  # a review pair, confirmed
        reject("A7", R3, D3),  # another applicant's rejection changes nothing
    ])  # fmt: skip
    ids = store.applicant_ids()
    assert ids == {(R1, D1): "A9", (R3, D3): "A3", (R4, D4): "A4"}
    assert store.applicant_ids(R1) == {(R1, D1): "A9"}
    assert store.applicant_ids("0000000000000999") == {}
    # a rejected confirmation falls back to nothing, not to another applicant's review
    store.decide([reject("A4", R4, D4)])
    assert (R4, D4) not in store.applicant_ids()
    # never two: a test confirmed for two applicants (by hand, in the database) gets none,
    # and the run's match does not stand in for them
    with store.engine.begin() as conn:
        conn.execute(s.match_decisions.insert().values(
            applicant_id="A8", registration_number=R1, test_date=D1, decision="confirmed",
            decided_at=NOW, source="sql"))  # fmt: skip
    assert (R1, D1) not in store.applicant_ids()
    assert store.applicant_ids(R3) == {(R3, D3): "A3"}


# -- show ---------------------------------------------------------------------------------


def cli(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(main, list(args))


def test_show_prints_the_applicant_after_what_it_printed_before(store_url: str) -> None:
    with open_store(store_url) as st:
        fill(st, REPORTS[:3])
    before = cli("show", R1, "--db", store_url)
    assert before.exit_code == 0, before.output
    assert "Applicant" not in before.output
    with open_store(store_url) as st:
        st.record_match_run(
            roster="applicants.csv", applicants=2, reports=2, settings={}, at=NOW,
            proposals=[proposal("A-1001", R1, D1, score=0.97312,
                                reasons=("last_name exact", "dob exact")),
                       proposal("A-2002", R2, D2, "review")],
        )  # fmt: skip
        st.decide([confirm("A-1001", R1, D1, decided_at=NOW + dt.timedelta(hours=1),
                           note="passport [checked]"),
                   reject("B-7", R1, D1, decided_at=NOW + dt.timedelta(hours=2),
                          source="csv:review.csv:3")])  # fmt: skip
    after = cli("show", R1, "--db", store_url)
    assert after.exit_code == 0, after.output
    assert after.output == before.output + (
        "\n"
        "Applicant\n"
        "  test date 2026-01-09: applicant A-1001 (export --applicant-id writes it)\n"
        "  confirmed A-1001 for test date 2026-01-09, 2026-03-10 13:00 UTC (cli): "
        "passport [checked]\n"
        "  rejected B-7 for test date 2026-01-09, 2026-03-10 14:00 UTC (csv:review.csv:3)\n"
        "  proposed by match run 1 (2026-03-10 12:00 UTC, roster applicants.csv):\n"
        "    match A-1001 for test date 2026-01-09, score 0.973: last_name exact; dob exact\n"
    )
    data = json.loads(cli("show", R1, "--db", store_url, "--format", "json").output)
    matches = data["matches"]
    assert matches["applicants"] == [{"test_date": "2026-01-09", "applicant_id": "A-1001"}]
    assert [(d["applicant_id"], d["decision"], d["source"], d["note"])
            for d in matches["decisions"]] == [
        ("A-1001", "confirmed", "cli", "passport [checked]"),
        ("B-7", "rejected", "csv:review.csv:3", None)]  # fmt: skip
    assert matches["run"]["roster"] == "applicants.csv" and matches["run"]["counts"] == {
        "match": 1, "review": 1}
    assert matches["proposals"] == [{
        "applicant_id": "A-1001", "registration_number": R1, "test_date": "2026-01-09",
        "score": 0.97312, "decision": "match", "reasons": ["last_name exact", "dob exact"]}]
    plain = json.loads(cli("show", R2, "--db", store_url, "--format", "json").output)
    assert plain["matches"]["applicants"] == [] and plain["matches"]["decisions"] == []


def test_show_of_a_test_with_only_review_proposals(sqlite_url: str) -> None:
    with open_store(sqlite_url) as st:
        fill(st, REPORTS[2:3])
        st.record_match_run(roster="r.csv", applicants=2, reports=1, settings={}, at=NOW,
                            proposals=[proposal("X", R2, D2, "review", 0.7, ()),
                                       proposal("Y", R2, D2, "review", 0.65, ("dob exact",))])
    out = cli("show", R2, "--db", sqlite_url).output
    assert out.endswith(
        "\nApplicant\n"
        "  test date 2026-01-10: no applicant attached\n"
        "  proposed by match run 1 (2026-03-10 12:00 UTC, roster r.csv):\n"
        "    review X for test date 2026-01-10, score 0.7\n"
        "    review Y for test date 2026-01-10, score 0.65: dob exact\n"
    )


# -- export --applicant-id ----------------------------------------------------------------


@pytest.fixture
def matched(store: Store) -> Store:
    """R1 (two copies) confirmed for A1, R2 matched to A2 by the run, R4 in review."""
    store.record_match_run(roster="r.csv", applicants=3, reports=5, settings={},
                           proposals=[proposal("A2", R2, D2), proposal("A4", R4, D4, "review")])
    store.decide([confirm("A1", R1, D1)])
    return store


def test_export_csv_with_applicant_ids(matched: Store, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    args = ["export", "--to", "csv", "--plain", "--db", matched.url, "-o", str(out),
            "--applicant-id", "--columns", "registration_number,department_code,total"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().decode("utf-8") == (
        "applicant_id,registration_number,department_code,total\r\n"
        f"A1,{R1},07,98\r\nA1,{R1},08,98\r\nA2,{R2},07,98\r\n,{R3},07,98\r\n,{R4},07,98\r\n"
    )
    # the default columns, Excel-safe: applicant_id first, every field after it
    buf = io.BytesIO()
    ex.export(matched, to="csv", stdout=buf, applicant_id=True)
    rows = list(csv.reader(io.StringIO(buf.getvalue().decode("utf-8-sig"))))
    default = list(csv.reader(io.StringIO(_export(matched, "csv").decode("utf-8-sig"))))
    assert rows[0] == ["applicant_id", *default[0]]
    assert [r[0] for r in rows[1:]] == ["A1", "A1", "A2", "", ""]
    assert [r[1:] for r in rows] == default
    # --columns may place it; then the flag is not even needed
    placed = _export(matched, "csv", excel=False,
                     columns=["registration_number", "applicant_id"]).decode()
    assert placed.splitlines()[:2] == ["registration_number,applicant_id", f"{R1},A1"]


def test_export_jsonl_and_parquet_with_applicant_ids(matched: Store, tmp_path: Path) -> None:
    lines = _export(matched, "jsonl", applicant_id=True).decode().splitlines()
    objs = [json.loads(line) for line in lines]
    assert [next(iter(o.items())) for o in objs] == [
        ("applicant_id", "A1"), ("applicant_id", "A1"), ("applicant_id", "A2"),
        ("applicant_id", None), ("applicant_id", None)]
    plain = [json.loads(line) for line in _export(matched, "jsonl").decode().splitlines()]
    assert [{k: v for k, v in o.items() if k != "applicant_id"} for o in objs] == plain
    labelled = json.loads(_export(matched, "jsonl", applicant_id=True,
                                  headers="labels").decode().splitlines()[0])
    assert next(iter(labelled)) == "Applicant ID"

    out = tmp_path / "scores.parquet"
    ex.export(matched, to="parquet", output=out, applicant_id=True)
    table = pq.read_table(out)
    assert table.column_names[0] == "applicant_id"
    assert table.schema.field("applicant_id").type == pa.string()
    assert table.column("applicant_id").to_pylist() == ["A1", "A1", "A2", None, None]


def test_applicant_ids_in_a_delta_and_the_refusal_of_scorelink(
    matched: Store, tmp_path: Path
) -> None:
    out = tmp_path / "d.csv"
    first = ex.export(matched, to="csv", output=out, since_last="crm", applicant_id=True,
                      columns=["registration_number"], excel=False)
    assert out.read_text().splitlines()[:2] == ["applicant_id,change,registration_number",
                                                f"A1,new,{R1}"]
    assert first.notes == []
    # a decision after that export: the next delta has no report to carry it, and says so
    matched.decide([confirm("A4", R4, D4)])
    second = ex.export(matched, to="csv", output=out, since_last="crm", applicant_id=True)
    assert second.rows == 0
    assert second.notes == [
        "1 match decision since the previous export under 'crm': a delta holds the reports "
        "that changed, not those whose applicant changed; to send every report's current "
        "applicant, export once without --since-last (with --applicant-id)"
    ]
    with pytest.raises(UsageError, match="--to scorelink writes the original ScoreLink lines, "
                                         "which have no place for an applicant ID"):
        ex.export(matched, to="scorelink", stdout=io.BytesIO(), applicant_id=True)
    result = CliRunner().invoke(main, ["export", "--to", "scorelink", "--applicant-id",
                                       "--db", matched.url])
    assert result.exit_code == 1 and "no place for an applicant ID" in result.stderr


def _export(store: Store, to: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    ex.export(store, to=to, stdout=buf, **kw)
    return buf.getvalue()


def test_the_structs_encode_as_json() -> None:
    d = confirm("A1", R1, D1, decided_at=NOW, id=3)
    assert msgspec.json.decode(msgspec.json.encode(d)) == {
        "applicant_id": "A1", "registration_number": R1, "test_date": "2026-01-09",
        "decision": "confirmed", "source": "cli", "note": None,
        "decided_at": "2026-03-10T12:00:00Z", "id": 3}
