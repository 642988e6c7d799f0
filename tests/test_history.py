"""History and people on both backends: `show`, cancellations, and replay with a corrected
layout. Databases are built by syncing from the in-process mock, as tests/test_sync.py does."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.cli import main
from toefl_access.handoff.history import changes, read_cancellations
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import releases
from toefl_access.store import open_store, report_key, schema
from toefl_access.sync import SyncResult, SyncSettings, sync

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 1, 20, tzinfo=UTC)
PER_DAY = 15
LAYOUTS = Path(__file__).resolve().parents[1] / "src/toefl_access/formats/layouts"
LAYOUT_CSV = LAYOUTS / "scorelink-1600.csv"


class LateSend:
    """A body source that adds, to the first text window, a copy of its first report sent
    to another institution (a late send of the same test: same registration and date)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.done = False

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        body = self.client.fetch_body(start, end, format=format)
        if not self.done and format == "text" and body.content.strip():
            first = body.content.split(b"\n", 1)[0]
            body.content += b"9999" + first[4:] + b"\n"
            self.done = True
        return body


def run_sync(url: str, *, until: dt.datetime | None = None, since: dt.datetime | None = SINCE,
             late_send: bool = False, **kw: Any) -> SyncResult:
    api = MockApi(seed=0, per_day=PER_DAY)
    with Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
                transport=api.transport()) as client, open_store(url) as store:
        source: Any = LateSend(client) if late_send else client
        return sync(source, store, SyncSettings(since=since, until=until, **kw), now=NOW)


def cli(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(main, list(args))


def current(url: str) -> dict[str, dict[str, Any]]:
    with open_store(url) as store:
        return {r["report_key"]: r for r in store.reports()}


def all_revisions(url: str) -> list[tuple[Any, ...]]:
    """Every row of report_revisions, as stored."""
    with open_store(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.report_revisions).order_by("id")).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def synced(store_url: str) -> str:
    result = run_sync(store_url, late_send=True)
    assert result.exit_code == 0
    return store_url


# -- show ---------------------------------------------------------------------------------


def test_show_prints_revisions_side_by_side_with_changes(synced: str) -> None:
    rows = current(synced)
    rescored = next(r for r in rows.values() if r["revisions"] > 1)
    reg = rescored["registration_number"]
    with open_store(synced) as store:
        revs = store.revisions(rescored["report_key"])
    diff = changes(revs[0], revs[1])
    assert diff, "a rescore changes some field"
    result = cli("show", reg, "--db", synced)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Registration number {reg}" in out
    assert "revision 1" in out and "revision 2 (current)" in out
    for c in diff:
        assert f"{c.field} {c.old} -> {c.new}" in out
    window = f"{revs[1]['window_start']:%Y-%m-%d %H:%M}..{revs[1]['window_end']:%Y-%m-%d %H:%M}"
    assert window in out
    assert f"received {revs[1]['received_at']:%Y-%m-%d %H:%M} UTC" in out
    assert "(sync)" in out
    # every report of the registration number is listed, one block each
    mine = [r for r in rows.values() if r["registration_number"] == reg]
    assert out.count("Report test date") == len(mine)


def test_show_json_and_unknown_number(synced: str) -> None:
    rows = current(synced)
    row = next(iter(rows.values()))
    result = cli("show", row["registration_number"], "--db", synced, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    keys = {r["report_key"] for r in data["reports"]}
    assert row["report_key"] in keys
    first = data["reports"][0]["revisions"][0]
    assert first["run"] == "sync" and first["changes"] == []
    assert first["fields"]["registration_number"] == row["registration_number"]
    missing = cli("show", "9999999999999999", "--db", synced)
    assert missing.exit_code == 1
    assert "no report with registration number 9999999999999999" in missing.output
    if synced.startswith("sqlite:///"):
        nowhere = synced + ".missing"
        for args in (["show", "1234567"], ["replay"], ["cancel", "add", "1234567", "2026-01-01"]):
            result = cli(*args, "--db", nowhere)
            assert result.exit_code == 1 and "there is no database at" in result.output
        assert not Path(nowhere.removeprefix("sqlite:///")).exists()


def test_show_lists_the_same_person_under_another_registration(synced: str) -> None:
    by_hash: dict[str, set[str]] = {}
    for r in current(synced).values():
        if r["security_id_number"]:
            by_hash.setdefault(r["security_id_number"], set()).add(r["registration_number"])
    regs = next((sorted(v) for v in by_hash.values() if len(v) > 1), None)
    if regs is None:
        pytest.skip("no person with two registrations in this range")
    out = cli("show", regs[0], "--db", synced).output
    assert "The same ID number" in out and f"registration number {regs[1]}" in out


# -- cancellations ------------------------------------------------------------------------


def test_cancel_add_marks_every_copy_and_is_idempotent(synced: str) -> None:
    rows = current(synced)
    copies = Counter((r["registration_number"], r["test_date"]) for r in rows.values())
    (reg, day), n = copies.most_common(1)[0]
    assert n >= 2, "a late send gives a second copy of one test"
    result = cli("cancel", "add", reg, day.isoformat(), "--reason", "ETS notice 42",
                 "--db", synced)
    assert result.exit_code == 0, result.output
    assert f"{n} report(s) cancelled now" in result.output
    after = current(synced)
    for r in after.values():
        if (r["registration_number"], r["test_date"]) == (reg, day):
            assert r["cancelled_at"] is not None and r["cancel_reason"] == "ETS notice 42"
        else:
            assert r["cancelled_at"] is None
    assert len(after) == len(rows)  # nothing deleted
    again = cli("cancel", "add", reg, day.strftime("%Y%m%d"), "--reason", "other", "--db", synced)
    assert again.exit_code == 0 and f"0 report(s) cancelled now, {n} already" in again.output
    with open_store(synced) as store:
        rows_c = store.cancellations()
    assert len(rows_c) == n
    assert {c["reason"] for c in rows_c} == {"ETS notice 42"}
    assert all(c["source"] == "cancel add" for c in rows_c)
    shown = cli("show", reg, "--db", synced).output
    assert "CANCELLED" in shown and "ETS notice 42" in shown


def test_cancel_remove_reinstates_and_the_delta_says_so(synced: str, tmp_path: Path) -> None:
    rows = current(synced)
    row = next(iter(rows.values()))
    reg, day = row["registration_number"], row["test_date"]
    mine = {k for k, r in rows.items() if (r["registration_number"], r["test_date"]) == (reg, day)}
    out = str(tmp_path / "delta.jsonl")
    assert cli("export", "--to", "jsonl", "--since-last", "crm", "-o", out, "--db", synced
               ).exit_code == 0  # fmt: skip
    assert cli("cancel", "add", reg, day.isoformat(), "--db", synced).exit_code == 0
    result = cli("cancel", "remove", reg, day.isoformat(), "--reason", "withdrawn by ETS",
                 "--db", synced)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"{len(mine)} report(s) reinstated now, 0 not cancelled.\n")
    after = current(synced)
    assert all(after[k]["cancelled_at"] is None and after[k]["cancel_reason"] is None
               for k in mine)  # fmt: skip
    again = cli("cancel", "remove", reg, day.isoformat(), "--db", synced)
    assert again.output == f"0 report(s) reinstated now, {len(mine)} not cancelled.\n"
    assert cli("export", "--to", "jsonl", "--since-last", "crm", "-o", out, "--db", synced
               ).exit_code == 0  # fmt: skip
    delta = [json.loads(line) for line in Path(out).read_text().splitlines()]
    assert {(d["registration_number"], d["change"]) for d in delta} == {(reg, "reinstated")}
    assert len(delta) == len(mine)
    with open_store(synced) as store:
        actions = [(c["action"], c["reason"]) for c in store.cancellations() if c["report_key"]
                   in mine]  # fmt: skip
    assert sorted(actions) == sorted([("cancel", None), ("reinstate", "withdrawn by ETS")]
                                     * len(mine))  # fmt: skip
    shown = cli("show", reg, "--db", synced).output
    assert "CANCELLED" not in shown and "reinstated" in shown and "withdrawn by ETS" in shown
    missing = cli("cancel", "remove", "9999999999999999", "2026-01-01", "--db", synced)
    assert missing.exit_code == 1 and "Nothing was reinstated" in missing.output


@pytest.mark.postgres
def test_cancellations_on_postgresql_wait_for_each_other(pg_url: str) -> None:
    # Serialised, so that cancellations rows commit in id order (export bookmarks rely on it)
    import threading

    import psycopg

    from toefl_access.store.history import CancelRequest
    from toefl_access.store.postgres import CANCEL_LOCK, LOCK_NAMESPACE

    run_sync(pg_url)
    row = next(iter(current(pg_url).values()))
    request = CancelRequest(row["registration_number"], row["test_date"], "notice")
    done = threading.Event()
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, CANCEL_LOCK))
        with open_store(pg_url) as store:
            worker = threading.Thread(
                target=lambda: (store.cancel([request], source="test"), done.set())
            )
            worker.start()
            assert not done.wait(1.0)  # the other cancellation holds the lock
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, CANCEL_LOCK))
            assert done.wait(30)
            worker.join()
            assert len(store.cancellations()) >= 1


def test_cancel_add_unknown_report_is_an_error(synced: str) -> None:
    row = next(iter(current(synced).values()))
    result = cli("cancel", "add", row["registration_number"], "2001-01-01", "--db", synced)
    assert result.exit_code == 1
    assert f"no report with registration number {row['registration_number']}" in result.output
    assert "2001-01-01" in result.output
    bad = cli("cancel", "add", row["registration_number"], "01/02/2026", "--db", synced)
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output
    with open_store(synced) as store:
        assert store.cancellations() == []


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> str:
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return str(path)


def test_cancel_import(synced: str, tmp_path: Path) -> None:
    rows = list(current(synced).values())
    a, b = rows[0], rows[5]
    good = write_csv(tmp_path / "c.csv", [
        ["registration_number", "test_date", "reason"],
        [a["registration_number"], a["test_date"].isoformat(), "score review"],
        [f'="{b["registration_number"]}"', b["test_date"].strftime("%Y%m%d"), ""],
    ])
    result = cli("cancel", "import", good, "--db", synced)
    assert result.exit_code == 0, result.output
    after = current(synced)
    assert after[a["report_key"]]["cancel_reason"] == "score review"
    assert after[b["report_key"]]["cancelled_at"] is not None
    again = cli("cancel", "import", good, "--db", synced)
    assert again.exit_code == 0 and "0 report(s) cancelled now" in again.output
    with open_store(synced) as store:
        sources = {c["source"] for c in store.cancellations()}
    assert sources == {"cancel import c.csv"}


def test_cancel_import_errors_name_the_line_and_cancel_nothing(
    synced: str, tmp_path: Path
) -> None:
    rows = list(current(synced).values())
    a = rows[0]
    bad_date = write_csv(tmp_path / "bad.csv", [
        [a["registration_number"], a["test_date"].isoformat()],
        [a["registration_number"], "2026-02-30"],
        ["1.23457E+15", "2026-02-01"],
    ], delimiter=";")
    result = cli("cancel", "import", bad_date, "--db", synced)
    assert result.exit_code == 1
    assert "line 2: test date '2026-02-30'" in result.output
    assert "line 3: registration number '1.23457E+15' looks like a number Excel" in result.output
    unknown = write_csv(tmp_path / "unknown.csv", [
        ["test_date", "registration_number"],
        [a["test_date"].isoformat(), a["registration_number"]],
        ["2026-02-01", "1111111111111111"],
    ])
    result = cli("cancel", "import", unknown, "--db", synced)
    assert result.exit_code == 1
    assert "line 3: no report with registration number 1111111111111111" in result.output
    assert "nothing was cancelled" in result.output
    with open_store(synced) as store:
        assert store.cancellations() == []
    assert all(r["cancelled_at"] is None for r in current(synced).values())
    empty = write_csv(tmp_path / "empty.csv", [["registration_number", "test_date"]])
    assert cli("cancel", "import", empty, "--db", synced).exit_code == 1
    assert cli("cancel", "import", str(tmp_path / "nope.csv"), "--db", synced).exit_code == 1


def test_read_cancellations_without_heading_and_with_reason(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [["1234567", "2025-06-01", "paper test, void"]])
    (req,) = read_cancellations(path)
    assert (req.registration_number, req.test_date, req.reason, req.where) == (
        "1234567", dt.date(2025, 6, 1), "paper test, void", "line 1")


def test_a_cancelled_report_stays_cancelled_after_a_rescore_with_a_warning(
    store_url: str,
) -> None:
    split = dt.datetime(2026, 2, 25, tzinfo=UTC)
    originals: dict[str, dt.datetime] = {}
    target = None
    for rel in releases(SINCE, NOW, seed=0, per_day=PER_DAY):
        key = report_key(*rel.record.identity)
        if rel.kind == "rescore" and rel.at >= split and originals.get(key, NOW) < split:
            target = rel.record
            break
        originals.setdefault(key, rel.at)
    assert target is not None, "the mock should rescore a report released before the split"
    key = report_key(*target.identity)
    assert run_sync(store_url, until=split).exit_code == 0
    reg, day = target["registration_number"], target["test_date"]
    assert cli("cancel", "add", reg, day.isoformat(), "--reason", "void", "--db",
               store_url).exit_code == 0
    before = current(store_url)[key]
    result = run_sync(store_url, since=None)
    assert result.exit_code == 0
    assert result.counts.warnings >= 1
    row = current(store_url)[key]
    assert row["revisions"] == before["revisions"] + 1
    assert row["cancelled_at"] == before["cancelled_at"] and row["cancel_reason"] == "void"
    warnings = [w for w in row["warnings"] if w["field"] == "cancelled"]
    assert warnings and "stays cancelled" in warnings[0]["message"]
    with open_store(store_url) as store:
        revs = store.revisions(key)
    assert not any(w["field"] == "cancelled" for w in revs[0]["warnings"])
    assert any(w["field"] == "cancelled" for w in revs[-1]["warnings"])


# -- replay -------------------------------------------------------------------------------


def corrected_layout(tmp_path: Path) -> Path:
    """The current layout with the provisional iBT26 listening and reading bands swapped
    (as a correction of the 1-6 block's inner split would move fields)."""
    lines = LAYOUT_CSV.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.startswith("832,834,3,ibt26_listening"):
            line = line.replace("ibt26_listening", "ibt26_reading").replace(
                "iBT26 Listening", "iBT26 Reading")
        elif line.startswith("835,837,3,ibt26_reading"):
            line = line.replace("ibt26_reading", "ibt26_listening").replace(
                "iBT26 Reading", "iBT26 Listening")
        out.append(line)
    path = tmp_path / "scorelink-1600-fixed.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_replay_with_the_same_layout_changes_nothing(synced: str) -> None:
    before, revs = current(synced), all_revisions(synced)
    result = cli("replay", "--db", synced)
    assert result.exit_code == 0, result.output
    assert "revisions created: 0" in result.output and "Reports updated: 0" in result.output
    after = current(synced)
    assert {k: (r["content_hash"], r["revisions"]) for k, r in after.items()} == {
        k: (r["content_hash"], r["revisions"]) for k, r in before.items()}
    assert all_revisions(synced) == revs


def test_replay_with_a_corrected_layout(store_url: str, tmp_path: Path) -> None:
    fmt = "text"
    assert run_sync(store_url, format=fmt).exit_code == 0
    before = current(store_url)
    swapped = {k for k, r in before.items()
               if r["ibt26_listening"] is not None and r["ibt26_listening"] != r["ibt26_reading"]}
    assert swapped, "1-6 reports in range"
    fixed = corrected_layout(tmp_path)
    started = dt.datetime.now(UTC)
    result = cli("replay", "--layout", str(fixed), "--db", store_url)
    assert result.exit_code == 0, result.output
    assert f"Reports updated: {len(swapped)}" in result.output
    assert f"revisions created: {len(swapped)}" in result.output
    after = current(store_url)
    assert set(after) == set(before)
    for key, row in after.items():
        old = before[key]
        assert row["ibt26_listening"] == old["ibt26_reading"]
        assert row["ibt26_reading"] == old["ibt26_listening"]
        assert row["raw"] == old["raw"] and row["content_hash"] == old["content_hash"]
        assert row["security_id_number"] == old["security_id_number"]  # kept, not re-read
        assert row["revisions"] == old["revisions"] + (key in swapped)
        assert row["cancelled_at"] is None
    with open_store(store_url) as store:
        key = sorted(swapped)[0]
        revs = store.revisions(key)
        runs = store.run_params([revs[-1]["run_id"]])
    assert runs[revs[-1]["run_id"]]["replay"] is True
    assert revs[-1]["fields"]["ibt26_listening"] == before[key]["ibt26_reading"]
    assert revs[-2]["fields"]["ibt26_listening"] == before[key]["ibt26_listening"]
    assert revs[-2]["raw"] == revs[-1]["raw"]
    assert revs[-1]["received_at"] >= started > revs[-2]["received_at"]
    assert revs[-1]["archive_id"] is not None and revs[-1]["window_start"] < NOW
    # the correction is placed right after the reading it corrects (the ordering rule):
    # nothing is out of order, and recomputing the order changes nothing
    assert (revs[-1]["window_start"], revs[-1]["line"]) == (
        revs[-2]["window_start"], revs[-2]["line"]
    )  # fmt: skip
    with open_store(store_url) as store:
        assert store.status().misordered == 0
        assert store.repair_order().reordered == 0
    # The same corrected layout again: nothing left to correct.
    again = cli("replay", "--layout", str(fixed), "--db", store_url)
    assert again.exit_code == 0 and "revisions created: 0" in again.output
    # A later sync of the same answers finds the bytes it knows: nothing reverts.
    resync = run_sync(store_url, since=SINCE, format=fmt, layout=str(fixed))
    assert resync.counts.new == 0 and resync.counts.changed == 0
    assert {k: r["ibt26_listening"] for k, r in current(store_url).items()} == {
        k: r["ibt26_listening"] for k, r in after.items()}
    shown = cli("show", before[key]["registration_number"], "--db", store_url).output
    assert "(replay)" in shown and "ibt26_listening" in shown


def test_replay_of_json_answers(store_url: str, tmp_path: Path) -> None:
    """JSON answers are read by key, not by position: moving fields changes nothing, and
    the masked ID numbers in the archive keep their stored hashes."""
    assert run_sync(store_url, format="json").exit_code == 0
    before = current(store_url)
    result = cli("replay", "--layout", str(corrected_layout(tmp_path)), "--db", store_url)
    assert result.exit_code == 0, result.output
    assert "revisions created: 0" in result.output
    assert f"{sum(1 for _ in before)}" in result.output or "records" in result.output
    after = current(store_url)
    assert {k: (r["revisions"], r["security_id_number"]) for k, r in after.items()} == {
        k: (r["revisions"], r["security_id_number"]) for k, r in before.items()}
    assert all(r["security_id_number"] for r in after.values())


def test_replay_of_an_unreadable_layout_is_an_error(synced: str, tmp_path: Path) -> None:
    bad = tmp_path / "short.csv"
    bad.write_text("start,end,size,name,kind,label,source\n1,4,4,institution_code,code,x,y\n")
    result = cli("replay", "--layout", str(bad), "--db", synced)
    assert result.exit_code == 1
    assert "registration_number" in result.output
