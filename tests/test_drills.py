"""Fault drills: the database after faults, kills and an expiring key equals a fault-free one.

The quick variants run in the normal suite; the long ones (90 days, 20 kills, a PostgreSQL
restart) run with ``scripts/test.sh -m drill``.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from support import snapshot

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC, api_format
from toefl_access.errors import StoreError
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync

D = dt.timedelta
SINCE = dt.datetime(2026, 2, 1, tzinfo=UTC)
FAULTS = ["500:0.1", "429:0.1:0", "reset:0.05", "truncate:0.05"]
NEW_KEY = "bmV3LWNsaWVudDpuZXctc2VjcmV0"  # Base64 of new-client:new-secret


def in_process(api: MockApi, **kw: Any) -> Client:
    return Client(
        authcode=kw.pop("authcode", DEMO_AUTHCODE),
        base_url="http://127.0.0.1/scores",
        transport=api.transport(),
        **kw,
    )


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def reference(days: int, per_day: int, tmp_path: Path) -> tuple[set[Any], set[Any]]:
    url = f"sqlite:///{tmp_path}/reference.db"
    with open_store(url) as store, in_process(MockApi(seed=1, per_day=per_day)) as client:
        until = SINCE + D(days=days)
        result = sync(client, store, SyncSettings(since=SINCE, until=until), now=until + D(hours=1))
        assert result.exit_code == 0
        return snapshot(store)


def faulty_sync(store_url: str, days: int, per_day: int) -> tuple[set[Any], set[Any]]:
    api = MockApi(seed=1, per_day=per_day, faults=FAULTS)
    until = SINCE + D(days=days)
    with open_store(store_url) as store, in_process(api, retries=12) as client:
        result = sync(client, store, SyncSettings(since=SINCE, until=until), now=until + D(hours=1))
        assert result.exit_code == 0, result.failures
        assert sum(1 for s in api.served if s.fault) > 0, "the drill injected no fault"
        return snapshot(store)


def test_all_faults_at_once_give_the_fault_free_database(store_url: str, tmp_path: Path) -> None:
    assert faulty_sync(store_url, 20, 15) == reference(20, 15, tmp_path)


@pytest.mark.drill
def test_ninety_days_of_faults_over_loopback(store_url: str, tmp_path: Path) -> None:
    api = MockApi(seed=1, per_day=40, faults=FAULTS)
    until = SINCE + D(days=90)
    with (
        serve(api) as base,
        open_store(store_url) as store,
        Client(authcode=DEMO_AUTHCODE, base_url=base, retries=12) as client,
    ):
        result = sync(
            client,
            store,
            SyncSettings(since=SINCE, until=until, concurrency=8),
            now=until + D(hours=1),
        )
        assert result.exit_code == 0
        got = snapshot(store)
    assert got == reference(90, 40, tmp_path)


def test_key_expiring_mid_run_stops_with_code_2_and_the_next_key_continues(
    store_url: str, tmp_path: Path
) -> None:
    expiry = SINCE + D(days=5)
    clock = [SINCE + D(days=30)]
    api = MockApi(
        seed=1,
        per_day=15,
        faults=[f"expire-key-at:{api_format(expiry + D(days=30))}"],
        now=lambda: clock[0],
    )
    until = SINCE + D(days=12)
    done: list[dt.datetime] = []

    def on_window(w: Any, counts: Any, records: int) -> None:
        if counts is not None:
            done.append(w.end)
        if len(done) == 5:
            clock[0] = expiry + D(days=31)  # the key expires while the run is under way

    with open_store(store_url) as store:
        with in_process(api) as client:
            first = sync(
                client,
                store,
                SyncSettings(since=SINCE, until=until, concurrency=1),
                now=until + D(hours=1),
                on_window=on_window,
            )
        assert first.exit_code == 2
        assert "Generate" in (first.stopped or "")
        assert store.watermark() == done[-1] == SINCE + D(days=5)
        renewed = MockApi(seed=1, per_day=15, authcode=NEW_KEY)
        with in_process(renewed, authcode=NEW_KEY) as client:
            second = sync(client, store, SyncSettings(until=until), now=until + D(hours=1))
        assert second.exit_code == 0
        assert second.windows[0].start == SINCE + D(days=2)  # the watermark minus the lookback
        assert snapshot(store) == reference(12, 15, tmp_path)


def _sync_process(db: str, base_url: str, days: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE, "TOEFL_ACCESS_BASE_URL": base_url}
    env.pop("TOEFL_ACCESS_AUTHCODE_FILE", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toefl_access",
            "sync",
            "--db",
            db,
            "--since",
            api_format(SINCE),
            "--until",
            api_format(SINCE + D(days=days)),
            "--concurrency",
            "4",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_drill(trials: int, tmp_path: Path, db_url: str | None = None) -> None:
    days, per_day = 6, 80
    expected = reference(days, per_day, tmp_path)
    rng = random.Random(20261128)
    api = MockApi(seed=1, per_day=per_day)
    with serve(api) as base:
        clean = _sync_process(f"sqlite:///{tmp_path}/timing.db", base, days)
        started = time.monotonic()
        assert clean.wait(120) == 0, clean.stderr.read() if clean.stderr else ""
        duration = time.monotonic() - started
        for trial in range(trials):
            db = db_url or f"sqlite:///{tmp_path}/killed-{trial}.db"
            victim = _sync_process(db, base, days)
            time.sleep(rng.uniform(0.1, duration))
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            rerun = _sync_process(db, base, days)
            _out, err = rerun.communicate(timeout=120)
            assert rerun.returncode == 0, err.decode()
            with open_store(db) as store:
                assert snapshot(store) == expected, f"trial {trial} differs"


def test_sigkill_then_rerun_equals_the_clean_database(tmp_path: Path) -> None:
    kill_drill(3, tmp_path)


@pytest.mark.drill
def test_twenty_sigkills(tmp_path: Path) -> None:
    kill_drill(20, tmp_path)


@pytest.mark.drill
@pytest.mark.postgres
def test_postgresql_restart_during_a_sync(pg_url: str, tmp_path: Path) -> None:
    pg_dir, pg_bin = os.environ.get("PG_DIR"), os.environ.get("PG_BIN")
    if not (pg_dir and pg_bin):
        pytest.skip("needs the server started by scripts/pg.sh (PG_DIR, PG_BIN)")
    api = MockApi(seed=1, per_day=150, latency_ms=100)
    until = SINCE + D(days=30)
    settings = SyncSettings(since=SINCE, until=until, concurrency=2)
    outcome: list[BaseException | int] = []

    def run() -> None:
        try:
            with open_store(pg_url) as store, in_process(api) as client:
                outcome.append(sync(client, store, settings, now=until + D(hours=1)).exit_code)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.0)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # The restarted server must not inherit a pipe of ours (run() would wait for it forever):
    # its output goes to the log file, ours to /dev/null.
    subprocess.run(
        [
            *as_postgres,
            f"{pg_bin}/pg_ctl",
            "-D",
            f"{pg_dir}/data",
            "-l",
            f"{pg_dir}/log",
            "-m",
            "fast",
            "-w",
            "restart",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        timeout=120,
    )
    worker.join(120)
    assert outcome and isinstance(outcome[0], StoreError), outcome
    assert "database" in str(outcome[0])
    with open_store(pg_url) as store, in_process(MockApi(seed=1, per_day=150)) as client:
        assert sync(client, store, settings, now=until + D(hours=1)).exit_code == 0
        assert snapshot(store) == reference(30, 150, tmp_path)
