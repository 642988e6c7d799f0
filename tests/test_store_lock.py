"""The sync lock: one sync per database; the second fails fast or waits; a dead holder's
lock does not outlive it."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from toefl_access.errors import LockedError
from toefl_access.store import Store, open_store

UTC = dt.UTC

HOLDER = """
import sys, time
from toefl_access.store import open_store
store = open_store(sys.argv[1])
with store.sync_lock():
    print("locked", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def two(store_url: str) -> Iterator[tuple[Store, Store]]:
    with open_store(store_url) as one, open_store(store_url) as other:
        yield one, other


def test_a_second_holder_fails_fast(two: tuple[Store, Store]) -> None:
    one, other = two
    with one.sync_lock():
        with pytest.raises(LockedError) as info, other.sync_lock():
            pass
        message = str(info.value)
        assert message.startswith("another toefl-access sync is running on this database (pid ")
        assert f"pid {os.getpid()} since " in message
        assert message.endswith("; wait for it or use --wait")
    with other.sync_lock():  # free again
        pass


def test_wait_blocks_until_the_holder_releases(two: tuple[Store, Store]) -> None:
    one, other = two
    events: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with one.sync_lock():
            events.append("first holds")
            holding.set()
            release.wait(30)
            events.append("first releases")

    def waiter() -> None:
        with other.sync_lock(wait=True):
            events.append("second holds")

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=waiter)
    second.start()
    second.join(1.0)
    assert second.is_alive()  # still waiting while the first holds the lock
    release.set()
    first.join(30)
    second.join(30)
    assert events == ["first holds", "first releases", "second holds"]


def test_the_lock_is_released_when_the_run_raises(two: tuple[Store, Store]) -> None:
    one, other = two
    with pytest.raises(RuntimeError), one.sync_lock():
        raise RuntimeError("the run failed")
    with other.sync_lock():
        pass
    assert one.lock_holder() is None


def test_readers_and_writers_work_while_the_lock_is_held(two: tuple[Store, Store]) -> None:
    one, other = two
    with one.sync_lock():
        run = one.begin_run(started_at=dt.datetime.now(UTC), params={})
        one.record_failure(run_id=run, start=dt.datetime(2026, 3, 1, tzinfo=UTC),
                           end=dt.datetime(2026, 3, 2, tzinfo=UTC), error="x", status=500)
        status = other.status()
        assert status.lock is not None and status.lock.pid == os.getpid()
        assert [r.id for r in status.runs] == [run]


def test_a_killed_holder_does_not_keep_the_lock(store_url: str) -> None:
    with open_store(store_url) as store:  # migrate before the child opens it
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            with pytest.raises(LockedError, match=f"pid {proc.pid} "), store.sync_lock():
                pass
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        deadline = time.monotonic() + 30  # PostgreSQL notices the closed connection
        while True:
            try:
                with store.sync_lock():
                    break
            except LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def test_sqlite_lock_of_another_host_expires_with_its_heartbeat(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        fresh = dt.datetime.now(UTC)
        old = fresh - dt.timedelta(hours=1)
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO sync_locks (name, token, pid, host, since, heartbeat) "
                    "VALUES ('sync', 't', 1, 'elsewhere', :since, :beat)"
                ),
                {"since": old.replace(tzinfo=None), "beat": fresh.replace(tzinfo=None)},
            )
        with pytest.raises(LockedError, match="pid 1 on elsewhere since"), store.sync_lock():
            pass
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE sync_locks SET heartbeat = :beat"),
                {"beat": old.replace(tzinfo=None)},
            )
        assert store.lock_holder() is None
        with store.sync_lock():
            holder = store.lock_holder()
            assert holder is not None and holder.pid == os.getpid()
