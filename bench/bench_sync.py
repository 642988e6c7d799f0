"""Sync N reports from the mock server on loopback into SQLite and PostgreSQL, then again.

    .venv/bin/python bench/bench_sync.py [--reports 100000] [--days 10] [--concurrency 4]

The mock runs in its own process (as a real API would); the sync runs here. PostgreSQL is
used when TOEFL_ACCESS_TEST_PG_URL is set, else started with scripts/pg.sh when available.
Prints reports/s of the first sync and the time of an immediate second sync of the same range
(which must write nothing). Targets: >= 20,000 reports/s into SQLite, >= 15,000 into
PostgreSQL, second sync >= 3x faster than the first.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from toefl_access.client import Client
from toefl_access.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mock_server(per_day: int) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toefl_access",
            "mock-server",
            "--port",
            str(port),
            "--per-day",
            str(per_day),
            "--seed",
            "7",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/scores"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def postgres_url() -> Iterator[str | None]:
    url = os.environ.get("TOEFL_ACCESS_TEST_PG_URL")
    if url:
        yield url
        return
    script = ROOT / "scripts" / "pg.sh"
    out = subprocess.run(
        ["bash", "-c", f". {script}; pg_start && echo $TOEFL_ACCESS_TEST_PG_URL $PG_DIR"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        yield None
        return
    url, pg_dir = out.stdout.split()
    try:
        yield url
    finally:
        subprocess.run(["bash", "-c", f". {script}; PG_DIR={pg_dir}; pg_stop"], check=False)


def fresh_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def run(label: str, db_url: str, base_url: str, settings: SyncSettings, now: dt.datetime) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client, open_store(db_url) as store:
        t0 = time.perf_counter()
        first = sync(client, store, settings, now=now)
        t1 = time.perf_counter()
        second = sync(client, store, settings, now=now)
        t2 = time.perf_counter()
    n = first.counts.new + first.counts.changed + first.counts.unchanged
    first_s, second_s = t1 - t0, t2 - t1
    written = second.counts.new + second.counts.changed
    print(
        f"{label:<11} first sync {n:>7,} reports in {first_s:6.2f} s = {n / first_s:>8,.0f} reports/s"
        f" | second sync {second_s:6.2f} s ({first_s / second_s:4.1f}x faster), "
        f"wrote {written} reports, exit {first.exit_code}/{second.exit_code}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--format", default="text", choices=["text", "json"])
    args = ap.parse_args()
    per_day = args.reports // args.days
    since = dt.datetime(2026, 3, 1, tzinfo=UTC)
    now = since + dt.timedelta(days=args.days, minutes=5)
    settings = SyncSettings(since=since, concurrency=args.concurrency, format=args.format)
    print(
        f"# {args.reports:,} reports over {args.days} daily windows, format {args.format}, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs, {dt.date.today()}"
    )
    with mock_server(per_day) as base_url, tempfile.TemporaryDirectory() as tmp:
        # Warm the mock's day cache so the figures measure the sync, not the generator.
        with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client:
            t0 = time.perf_counter()
            for day in range(args.days):
                start = since + dt.timedelta(days=day)
                client.fetch_body(start, start + dt.timedelta(days=1), format=args.format)
            print(
                f"mock warm-up (fetch only): {args.reports / (time.perf_counter() - t0):,.0f} reports/s"
            )
        run("SQLite", f"sqlite:///{tmp}/bench.db", base_url, settings, now)
        with postgres_url() as admin:
            if admin is None:
                print(
                    "PostgreSQL: not available (set TOEFL_ACCESS_TEST_PG_URL or install PostgreSQL)"
                )
            else:
                run("PostgreSQL", fresh_pg_database(admin), base_url, settings, now)


if __name__ == "__main__":
    main()
