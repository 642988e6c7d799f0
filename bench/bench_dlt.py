"""The dlt source into DuckDB next to the store into SQLite, on the same mock data.

    .venv/bin/python bench/bench_dlt.py [--reports 100000] [--days 10] [--concurrency 4]

The mock runs in its own process (as a real API would, warmed first); both runs here, one
after the other, over the same windows: ``sync`` into a fresh SQLite store, and
``toefl_access.dlt.scores`` through a fresh dlt pipeline into DuckDB (extract, normalize to
Parquet, load with the merges of ``score_reports`` and ``report_revisions``). Both keep ID
numbers as keyed hashes. Prints reports/s of a first run and the time of a second run of the
same range (the store writes nothing; dlt stages and merges every row again, keeping one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import mock_server, result

SINCE = dt.datetime(2025, 3, 1, tzinfo=UTC)
HASH_KEY = "bench-hash-key-0123456789abcdef"


def store_run(url: str, db: str, until: dt.datetime, concurrency: int) -> float:
    with open_store(db) as store, Client(authcode=DEMO_AUTHCODE, base_url=url) as client:
        started = time.perf_counter()
        done = sync(client, store, SyncSettings(since=SINCE, until=until,
                                                concurrency=concurrency))
        assert done.exit_code == 0, done.failures
        return time.perf_counter() - started


def dlt_run(url: str, folder: Path, until: dt.datetime, concurrency: int) -> tuple[float, int]:
    import dlt

    import toefl_access.dlt

    pipeline = dlt.pipeline("bench", pipelines_dir=str(folder / "pipelines"), dataset_name="toefl",
                            destination=dlt.destinations.duckdb(str(folder / "bench.duckdb")))
    source = toefl_access.dlt.scores(since=SINCE, until=until, base_url=url,
                                     authcode=DEMO_AUTHCODE, hash_key=HASH_KEY,
                                     concurrency=concurrency)
    started = time.perf_counter()
    toefl_access.dlt.run(pipeline, source)
    elapsed = time.perf_counter() - started
    return elapsed, int(toefl_access.dlt.last_run(pipeline, "toefl_access")["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    per_day = args.reports // args.days
    until = SINCE + dt.timedelta(days=args.days)
    n = per_day * args.days
    with mock_server("--per-day", str(per_day)) as url, \
            tempfile.TemporaryDirectory(prefix="bench-dlt-") as tmp:
        folder = Path(tmp)
        with Client(authcode=DEMO_AUTHCODE, base_url=url) as client:  # warm the mock
            for day in range(args.days):
                client.fetch_body(SINCE + dt.timedelta(days=day),
                                  SINCE + dt.timedelta(days=day + 1))
        db = f"sqlite:///{folder}/store.db"
        first_store = store_run(url, db, until, args.concurrency)
        again_store = store_run(url, db, until, args.concurrency)
        first_dlt, records = dlt_run(url, folder, until, args.concurrency)
        again_dlt, _ = dlt_run(url, folder, until, args.concurrency)
        assert records == n, (records, n)
    print(f"{n:,} reports, {args.days} daily windows, text, concurrency {args.concurrency}")
    print(f"{'':34} {'first run':>22} {'second run (same range)':>26}")
    print(f"{'store (sync) into SQLite':34} {first_store:7.2f} s = {n / first_store:7,.0f}/s"
          f" {again_store:17.2f} s")
    print(f"{'dlt source into DuckDB':34} {first_dlt:7.2f} s = {n / first_dlt:7,.0f}/s"
          f" {again_dlt:17.2f} s")
    result("dlt source into DuckDB, first run", f"{n / first_dlt:,.0f} reports/s", "", None)
    result("store into SQLite, same data", f"{n / first_store:,.0f} reports/s", "", None)


if __name__ == "__main__":
    main()
