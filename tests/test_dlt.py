"""The dlt source (toefl_access.dlt): end to end into dlt's DuckDB destination, against the
mock server on loopback, read back from the DuckDB file directly.

Faults, reruns, a rescore arriving later, a backfill arriving after newer windows, a process
killed at five points of a load, a refused key: the warehouse ends with the rows of one
clean run, and the current row of a report is the latest reported one, as in the store.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import importlib
import logging
import pickle
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")

import toefl_access.dlt as tad  # noqa: E402
from toefl_access.api.client import Client  # noqa: E402
from toefl_access.api.dates import UTC  # noqa: E402
from toefl_access.dlt import source as src  # noqa: E402
from toefl_access.dlt.columns import position  # noqa: E402
from toefl_access.errors import (  # noqa: E402
    AuthenticationError,
    MissingExtraError,
    UsageError,
)
from toefl_access.formats.sensitive import Protector  # noqa: E402
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve  # noqa: E402
from toefl_access.mock import population as pop  # noqa: E402
from toefl_access.store import open_store, report_key  # noqa: E402
from toefl_access.sync import SyncSettings, sync  # noqa: E402

D = dt.timedelta
SINCE = dt.datetime(2026, 2, 1, tzinfo=UTC)
FAULTS = ["500:0.1", "429:0.1:0", "reset:0.05", "truncate:0.05"]
HASH_KEY = "hash-key-for-the-tests-0123456789"
KEY_COLUMNS = "registration_number, test_date, institution_code, department_code"
CURRENT = f"{KEY_COLUMNS}, _reported_pos, _raw, total, security_id_number"
HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def dlt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no stray config: the key and the hash key from dlt's env secrets."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__AUTHCODE", DEMO_AUTHCODE)
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__HASH_KEY", HASH_KEY)
    for name in ("TOEFL_ACCESS_AUTHCODE", "TOEFL_ACCESS_AUTHCODE_FILE", "TOEFL_ACCESS_BASE_URL",
                 "TOEFL_ACCESS_HASH_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def pipeline(tmp_path: Path, name: str, db: str = "warehouse") -> Any:
    return dlt.pipeline(name, pipelines_dir=str(tmp_path / "pipelines"), dataset_name=name,
                        destination=dlt.destinations.duckdb(str(tmp_path / f"{db}.duckdb")))


def query(tmp_path: Path, sql: str, db: str = "warehouse") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / f"{db}.duckdb"), read_only=True) as con:
        rows: list[tuple[Any, ...]] = con.execute(sql).fetchall()
        return rows


def loaded(tmp_path: Path, name: str, db: str = "warehouse") -> tuple[set[Any], list[Any]]:
    """The current rows (as a set) and every revision row (as a list: doubles show)."""
    current = query(tmp_path, f"select {CURRENT} from {name}.score_reports", db)
    revisions = query(tmp_path, f"select {KEY_COLUMNS}, _reported_pos, _raw "
                                f"from {name}.report_revisions", db)
    assert len(set(current)) == len(current)
    return set(current), sorted(revisions)


def day(n: int) -> str:
    return (SINCE + D(days=n)).isoformat()


def run(tmp_path: Path, name: str, url: str, since: int | None, until: int, **kw: Any) -> Any:
    p = pipeline(tmp_path, name, kw.pop("db", "warehouse"))
    return tad.run(p, tad.scores(since=None if since is None else day(since), until=day(until),
                                 base_url=url, **kw))


# -- end to end ----------------------------------------------------------------------------


def test_faulty_runs_load_what_one_clean_run_loads_with_typed_columns(tmp_path: Path) -> None:
    with serve(MockApi(seed=1, per_day=30)) as url:
        run(tmp_path, "clean", url, 0, 10)
    faulty = MockApi(seed=1, per_day=30, faults=FAULTS)
    with serve(faulty) as url:
        run(tmp_path, "faulty", url, 0, 10, retries=12)
        run(tmp_path, "faulty", url, 0, 10, retries=12)
    assert sum(1 for s in faulty.served if s.fault) > 0, "the mock injected no fault"
    clean, faulted = loaded(tmp_path, "clean"), loaded(tmp_path, "faulty")
    assert len(clean[0]) > 250 and len(clean[1]) == 300
    assert faulted == clean
    types = dict(query(tmp_path, "select column_name, data_type from information_schema.columns "
                                 "where table_schema = 'faulty' and table_name = 'score_reports'"))
    assert types["total"] == "SMALLINT" and types["listening"] == "SMALLINT"
    assert types["ibt26_total"] == "DOUBLE" and types["mybest26_total"] == "DOUBLE"
    assert types["test_date"] == "DATE" and types["date_of_birth"] == "DATE"
    assert types["registration_number"] == "VARCHAR" and types["_raw"] == "BLOB"
    assert types["_warnings"] == "JSON" and types["_reported_pos"] == "BIGINT"
    tables = {t for (t,) in query(tmp_path, "select table_name from information_schema.tables "
                                            "where table_schema = 'faulty'")}
    assert {"score_reports", "report_revisions"} <= tables
    assert not any(t.startswith("score_reports__") for t in tables)  # no nested tables


def test_rescore_later_replaces_the_row_and_an_older_backfill_does_not(tmp_path: Path) -> None:
    first: set[str] = set()
    rescored: set[str] = set()
    for r in pop.releases(SINCE, SINCE + D(days=26), seed=0, per_day=20):
        key = report_key(*r.record.identity)
        if r.kind == "rescore" and key in first and r.at >= SINCE + D(days=12):
            rescored.add(key)
        first.add(key)
    assert len(rescored) >= 3, "the population should rescore reports of the first 12 days"
    key_file = tmp_path / "hash.key"
    key_file.write_bytes(HASH_KEY.encode())
    key_file.chmod(0o600)

    def current(name: str) -> dict[str, tuple[Any, ...]]:
        rows = query(tmp_path, f"select {CURRENT} from {name}.score_reports")
        return {report_key(r[0] or None, r[1], r[2] or None, r[3] or None): r for r in rows}

    api = MockApi(seed=0, per_day=20)
    with serve(api) as url:
        run(tmp_path, "in_order", url, 0, 12)
        before = current("in_order")
        run(tmp_path, "in_order", url, None, 26)  # on from the watermark, minus the lookback
        after = current("in_order")
        run(tmp_path, "backfill", url, 12, 26)  # the newer windows first ...
        newer = current("backfill")
        run(tmp_path, "backfill", url, 0, 12)  # ... then the older ones
        backfilled = current("backfill")
        with open_store(f"sqlite:///{tmp_path}/store.db") as store, \
                Client(authcode=DEMO_AUTHCODE, base_url=url) as client:
            settings = SyncSettings(since=SINCE, until=SINCE + D(days=26),
                                    hash_key_file=str(key_file))
            assert sync(client, store, settings).exit_code == 0
            stored = {r["report_key"]: r for r in store.reports()}
    split = position(SINCE + D(days=12), 0, 0)
    for key in rescored:
        assert before[key][4] < split <= after[key][4]  # the original, then the rescore
        assert after[key][5] != before[key][5]
        assert backfilled[key] == newer[key] == after[key]  # the rescore stays current
    assert backfilled == after
    assert loaded(tmp_path, "backfill")[1] == loaded(tmp_path, "in_order")[1]
    # the store's ordering rule and the store's protection of ID numbers, row for row
    assert set(stored) == set(after)
    for key, row in stored.items():
        assert (row["raw"], row["security_id_number"]) == (after[key][5], after[key][7])
    assert sum(1 for r in after.values() if r[7]) > 0


KILL_POINTS = [
    "extract",  # no package: the state rolls back, the windows are read again
    "before_load",  # a normalized package pending
    "after_commit:report_revisions*.parquet",  # the staging copy committed, not marked done
    "after_commit:score_reports*.sql",  # the merge committed, not marked done
    "complete_package",  # every job done, the load not recorded
]


@pytest.fixture(scope="module")
def kill_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[Any], list[Any]]:
    tmp = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("SOURCES__TOEFL_ACCESS__AUTHCODE", DEMO_AUTHCODE)
        mp.setenv("SOURCES__TOEFL_ACCESS__HASH_KEY", HASH_KEY)
        with serve(MockApi(seed=2, per_day=40)) as url:
            run(tmp, "k", url, 0, 8)
        return loaded(tmp, "k")


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_mid_load_and_rerun_loses_nothing_and_doubles_nothing(
    tmp_path: Path, point: str, kill_reference: tuple[set[Any], list[Any]]
) -> None:
    with serve(MockApi(seed=2, per_day=40)) as url:
        child = subprocess.run(
            [sys.executable, str(HERE / "dlt_kill.py"), point, str(tmp_path / "pipelines"),
             str(tmp_path / "warehouse.duckdb"), "k", url, day(0), day(8)],
            capture_output=True, text=True, timeout=300,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
        p = pipeline(tmp_path, "k")
        assert p.has_pending_data == (point != "extract")
        covered = p.state.get("sources", {}).get("toefl_access", {}).get("windows", {})
        assert bool(covered.get("covered")) == (point != "extract")  # state travels with data
        tad.run(p, tad.scores(since=day(0), until=day(8), base_url=url))  # the next task run
        assert not p.has_pending_data
    assert loaded(tmp_path, "k") == kill_reference


# -- failures --------------------------------------------------------------------------------


def test_failed_windows_are_reported_after_the_rest_is_loaded_and_read_again(
    tmp_path: Path,
) -> None:
    flaky = MockApi(seed=3, per_day=10, faults=["500:0.4"])
    with serve(flaky) as url, pytest.raises(tad.FailedWindowsError) as failed:
        run(tmp_path, "f", url, 0, 8, retries=1, concurrency=1)
    last = tad.last_run(pipeline(tmp_path, "f"), "toefl_access")
    assert 0 < len(last["failed"]) < 8 and last["done"] == 8 - len(last["failed"])
    assert str(len(last["failed"])) in str(failed.value)
    assert query(tmp_path, "select count(*) from f.score_reports")[0][0] == last["records"]
    with serve(MockApi(seed=3, per_day=10)) as url:
        run(tmp_path, "f", url, None, 8)  # without since: the failed windows again
        run(tmp_path, "clean", url, 0, 8)
    assert loaded(tmp_path, "f") == loaded(tmp_path, "clean")


def test_a_refused_key_fails_the_run_and_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__AUTHCODE",
                       base64.b64encode(b"other-client:other-secret").decode())
    with serve(MockApi(seed=1, per_day=5)) as url, pytest.raises(AuthenticationError) as exc:
        run(tmp_path, "refused", url, 0, 3)
    assert "refused the key" in str(exc.value)
    p = pipeline(tmp_path, "refused")
    assert not p.has_pending_data
    assert "windows" not in p.state.get("sources", {}).get("toefl_access", {})


def test_hash_needs_a_key_and_says_how_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__TOEFL_ACCESS__HASH_KEY")
    with serve(MockApi(seed=1, per_day=5)) as url, pytest.raises(UsageError) as exc:
        run(tmp_path, "nokey", url, 0, 2)
    message = str(exc.value)
    assert "sources.toefl_access.hash_key" in message and "TOEFL_ACCESS_HASH_KEY_FILE" in message
    with pytest.raises(UsageError, match="at least 16"):
        src.protector_for("hash", "short")
    assert src.protector_for("drop", None).mode == "drop"
    with serve(MockApi(seed=1, per_day=5)) as url:
        run(tmp_path, "dropped", url, 0, 2, sensitive="drop")
        run(tmp_path, "kept", url, 0, 2, sensitive="keep")
    dropped = query(tmp_path, "select security_id_number, _raw from dropped.score_reports")
    kept = query(tmp_path, "select security_id_number, _raw from kept.score_reports")
    assert all(ident is None and b"*" not in raw for ident, raw in dropped)
    clear = [ident for ident, _ in kept if ident]
    assert clear and all(len(ident) < 40 for ident in clear)  # in clear, not a 64-digit hash


def test_each_integration_has_its_own_name_key_and_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = base64.b64encode(b"shared-client:shared-secret").decode()
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__AUTHCODE", wrong)  # the shared key: refused
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__UNI_A__AUTHCODE", DEMO_AUTHCODE)
    with serve(MockApi(seed=1, per_day=5)) as url:
        source = tad.scores(since=day(0), until=day(2), base_url=url, integration="Uni-A")
        assert source.name == "uni_a"
        p = pipeline(tmp_path, "uni_a")
        tad.run(p, source)
    assert "uni_a" in p.state["sources"]
    assert query(tmp_path, "select distinct _integration from uni_a.score_reports") == [("Uni-A",)]


def test_the_key_from_the_usual_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__TOEFL_ACCESS__AUTHCODE")
    monkeypatch.delenv("SOURCES__TOEFL_ACCESS__HASH_KEY")
    key_file, hash_file = tmp_path / "key", tmp_path / "hash-key"
    key_file.write_text(DEMO_AUTHCODE + "\n")
    hash_file.write_text(HASH_KEY + "\n")
    for f in (key_file, hash_file):
        f.chmod(0o600)
    monkeypatch.setenv("TOEFL_ACCESS_AUTHCODE_FILE", str(key_file))
    monkeypatch.setenv("TOEFL_ACCESS_HASH_KEY_FILE", str(hash_file))
    with serve(MockApi(seed=1, per_day=5)) as url:
        run(tmp_path, "env", url, 0, 2)
        monkeypatch.setenv("SOURCES__TOEFL_ACCESS__HASH_KEY", HASH_KEY)  # the same key
        run(tmp_path, "secrets", url, 0, 2)
    hashed = "select security_id_number from {}.score_reports order by _reported_pos"
    assert query(tmp_path, hashed.format("env")) == query(tmp_path, hashed.format("secrets"))


# -- the key never lands anywhere ----------------------------------------------------------


def _views(path: Path, data: bytes) -> Iterator[bytes]:
    """A file's bytes, and what is packed inside: gzip, parquet, pickles, dlt's state."""
    from dlt.common.versioned_state import decompress_state

    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield repr(pq.read_table(path).to_pylist()).encode()
    if path.suffix == ".pickle":
        yield repr(pickle.loads(data)).encode()
    for chunk in re.findall(rb"[A-Za-z0-9+/=_-]{40,}", data):  # compressed state strings
        with contextlib.suppress(Exception):
            yield repr(decompress_state(chunk.decode())).encode()


def test_the_keys_appear_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ident, secret = "leakclientXYZZY", "leaksecretPLUGH"
    key = base64.b64encode(f"{ident}:{secret}".encode()).decode()
    wrong = base64.b64encode(b"wrongclientQWERT:wrongsecretASDFG").decode()
    hash_key = "hashkeyMARKERzorkmid-0123456789"
    markers = [key, ident, secret, wrong, "wrongclientQWERT", "wrongsecretASDFG", hash_key]
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__AUTHCODE", key)
    monkeypatch.setenv("SOURCES__TOEFL_ACCESS__HASH_KEY", hash_key)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    with serve(MockApi(authcode=key, seed=1, per_day=20, faults=["500:0.2"])) as url:
        run(tmp_path, "leak", url, 0, 4, retries=12)
        run(tmp_path, "leak", url, None, 5, retries=12)
        with pytest.raises(AuthenticationError) as refused:  # an explicit, refused key
            run(tmp_path, "leak", url, None, 6, authcode=wrong)
    out, err = capfd.readouterr()
    texts = [caplog.text, out, err, str(refused.value), repr(refused.value)]
    hits = [m for m in markers for text in texts if m in text]
    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert len(files) > 10
    for f in files:
        for view in _views(f, f.read_bytes()):
            hits += [f"{m} in {f}" for m in markers if m.encode() in view]
    from dlt.common.versioned_state import decompress_state

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables")
        for schema, table in tables.fetchall():
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            blob = repr(rows)
            if table == "_dlt_pipeline_state":
                blob += "".join(repr(decompress_state(r[3])) for r in rows)
            hits += [f"{m} in {schema}.{table}" for m in markers if m in blob]
    assert query(tmp_path, "select count(*) from leak.score_reports")[0][0] > 0
    assert hits == []


# -- the pieces ----------------------------------------------------------------------------


def test_the_window_state() -> None:
    t = [SINCE + D(days=i) for i in range(6)]
    st = src.ledger({})
    for a, b in [(t[2], t[3]), (t[0], t[1]), (t[1], t[2]), (t[4], t[5])]:
        src.cover(st["covered"], a, b)
    assert st["covered"] == [[t[0].isoformat(), t[3].isoformat()],
                             [t[4].isoformat(), t[5].isoformat()]]
    assert src.watermark(st) == t[5]
    st["failed"] = {t[1].isoformat(): [t[2].isoformat(), "500"],
                    t[3].isoformat(): [t[4].isoformat(), "500"]}
    assert src.failed_windows(st) == [(t[3], t[4])]

    def version(body: bytes) -> int:
        return src.answer_version(st, t[0], body, hashlib.sha256(body).hexdigest())

    assert version(b"") == 0
    assert version(b"A\nB\n") == 0  # a window read before its end had passed, then grown
    assert version(b"A\nB\n") == 0  # read again unchanged
    assert version(b"A\nB\nC\n") == 0  # grown again: A and B keep their lines
    assert version(b"A\nX\nC\n") == 1  # changed: the vendor's later word on the window
    assert version(b"A\nB\nC\n") == 2
    assert position(t[1], 0, 1) > position(t[0], 999, 999_999)
    assert position(t[0], 1, 1) > position(t[0], 0, 999_999)
    assert position(t[0], 0, 2) > position(t[0], 0, 1)


def test_the_source_is_made_without_keys_and_checks_its_arguments() -> None:
    source = tad.scores(since="2026-02-01", until="2026-02-03")
    assert source.name == "toefl_access"
    assert set(source.resources) == {"score_reports", "report_revisions", "unkeyed_records"}
    assert source.resources["score_reports"].write_disposition == {
        "disposition": "merge", "strategy": "delete-insert"}
    with pytest.raises(Exception, match="not one of"):
        tad.scores(since="2026-02-01", sensitive="maybe")
    assert Protector("keep").mode == "keep"


def test_a_missing_dlt_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "toefl_access.dlt" or
                 m.startswith("toefl_access.dlt.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dlt", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'toefl-access\[dlt\]'"):
        importlib.import_module("toefl_access.dlt")


def test_the_first_run_needs_a_start_and_initial_since_is_only_the_first(
    tmp_path: Path,
) -> None:
    with serve(MockApi(seed=1, per_day=5)) as url:
        with pytest.raises(UsageError, match="initial_since"):
            tad.run(pipeline(tmp_path, "first"), tad.scores(until=day(3), base_url=url))
        p = pipeline(tmp_path, "first")
        tad.run(p, tad.scores(initial_since=day(0), until=day(3), base_url=url))
        assert tad.last_run(p, "toefl_access")["planned"] == 3
        tad.run(p, tad.scores(initial_since=day(0), until=day(4), base_url=url))
        # on from the watermark (day 3) minus the 3-day lookback, not from initial_since again
        assert tad.last_run(p, "toefl_access")["planned"] == 4
        tad.run(p, tad.scores(initial_since=day(0), until=day(9), lookback="1d", base_url=url))
        assert tad.last_run(p, "toefl_access")["planned"] == 6
