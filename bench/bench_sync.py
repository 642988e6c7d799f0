"""Sync N reports from the mock server on loopback into SQLite and PostgreSQL, then again.

    .venv/bin/python bench/bench_sync.py [--reports 100000] [--days 10] [--concurrency 4]

The mock runs in its own process (as a real API would); the sync runs here. PostgreSQL is
used when TOEFL_ACCESS_TEST_PG_URL is set, else started with scripts/pg.sh when available.
Prints reports/s of the first sync and the time of an immediate second sync of the same range
(which must write nothing), and, in the same run, the rate of a *bare* bulk write of the same
report rows into the same table of a fresh database: SQLite ``executemany`` in one
transaction, PostgreSQL binary ``COPY`` (the store's own bulk paths, with nothing around
them). Targets (issue 11): first sync >= 50 % of the bare write; second sync >= 3x faster
than the first, writing no report row.
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

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import result  # noqa: E402


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


def run(
    label: str, db_url: str, bare_url: str, base_url: str, settings: SyncSettings,
    now: dt.datetime,
) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client, open_store(db_url) as store:
        t0 = time.perf_counter()
        first = sync(client, store, settings, now=now)
        t1 = time.perf_counter()
        second = sync(client, store, settings, now=now)
        t2 = time.perf_counter()
    n = first.counts.new + first.counts.changed + first.counts.unchanged
    first_s, second_s = t1 - t0, t2 - t1
    written = second.counts.new + second.counts.changed
    bare_s = bare_write(db_url, bare_url)
    rate, bare = n / first_s, n / bare_s
    bulk = "executemany" if label == "SQLite" else "binary COPY"
    print(
        f"{label:<11} first sync {n:>7,} reports in {first_s:6.2f} s = {rate:>8,.0f} reports/s"
        f" | bare {bulk} of the same rows {bare_s:5.2f} s = {bare:>8,.0f} rows/s: the sync "
        f"runs at {rate / bare:.0%} of it\n{'':<11} second sync {second_s:6.2f} s "
        f"({first_s / second_s:4.1f}x faster), wrote {written} reports, "
        f"exit {first.exit_code}/{second.exit_code}"
    )
    result(f"{label} first sync vs bare {bulk}", f"{rate / bare:.0%}", ">= 50%",
           rate >= 0.5 * bare)
    result(f"{label} second sync speed-up", f"{first_s / second_s:.1f}x, wrote {written}",
           ">= 3x, wrote 0", first_s >= 3 * second_s and written == 0)


def bare_write(synced_url: str, bare_url: str) -> float:
    """Seconds to write the report rows of the synced database into the same table of a
    fresh one with the store's bulk path alone (one transaction, nothing else)."""
    from toefl_access.store.writing import INSERT_COLUMNS, quoted

    with open_store(bare_url):
        pass  # the schema, created the store's way
    columns = quoted(INSERT_COLUMNS)
    if synced_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(synced_url.split("///", 1)[1])) as src:
            rows = src.execute(f"SELECT {columns} FROM score_reports ORDER BY id").fetchall()
        with contextlib.closing(sqlite3.connect(bare_url.split("///", 1)[1])) as dst:
            dst.execute("PRAGMA journal_mode=WAL")
            t0 = time.perf_counter()
            dst.executemany(f"INSERT INTO score_reports ({columns}) VALUES "
                            f"({', '.join('?' * len(INSERT_COLUMNS))})", rows)
            dst.commit()
            return time.perf_counter() - t0
    import psycopg

    from toefl_access.store.postgres import REPORT_TYPES

    with psycopg.connect(synced_url) as src:
        rows = src.execute(f"SELECT {columns} FROM score_reports ORDER BY id").fetchall()
    with psycopg.connect(bare_url) as dst:
        t0 = time.perf_counter()
        with dst.cursor() as cur, cur.copy(
            f"COPY score_reports ({columns}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(REPORT_TYPES)
            for row in rows:
                copy.write_row(row)
        dst.commit()
        return time.perf_counter() - t0


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
            rate = args.reports / (time.perf_counter() - t0)
            print(f"mock warm-up (fetch only): {rate:,.0f} reports/s")
        run("SQLite", f"sqlite:///{tmp}/bench.db", f"sqlite:///{tmp}/bare.db", base_url,
            settings, now)
        with postgres_url() as admin:
            if admin is None:
                print(
                    "PostgreSQL: not available (set TOEFL_ACCESS_TEST_PG_URL or install PostgreSQL)"
                )
            else:
                run("PostgreSQL", fresh_pg_database(admin), fresh_pg_database(admin), base_url,
                    settings, now)


if __name__ == "__main__":
    main()
