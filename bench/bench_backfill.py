"""A 365-day backfill against a mock with 200 ms latency per request: concurrency 8 vs 1.

    .venv/bin/python bench/bench_backfill.py [--days 365] [--latency 200] [--per-day 5]

Both runs sync the same range into fresh SQLite files from the same mock server (its own
process). Target: concurrency 8 at least 5x faster than concurrency 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

from common import mock_server, result

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync


def timed(
    base_url: str, db: str, concurrency: int, since: dt.datetime, until: dt.datetime
) -> float:
    settings = SyncSettings(since=since, until=until, concurrency=concurrency)
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client, open_store(db) as store:
        started = time.perf_counter()
        outcome = sync(client, store, settings, now=until + dt.timedelta(hours=1))
        elapsed = time.perf_counter() - started
    assert outcome.exit_code == 0, outcome.failures[:3]
    n = outcome.counts.new + outcome.counts.changed + outcome.counts.unchanged
    print(
        f"concurrency {concurrency}: {len(outcome.windows)} windows, {n:,} reports "
        f"in {elapsed:6.1f} s",
        flush=True,
    )
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--latency", type=int, default=200, help="ms per request")
    ap.add_argument("--per-day", type=int, default=5)
    args = ap.parse_args()
    since = dt.datetime(2025, 3, 1, tzinfo=UTC)
    until = since + dt.timedelta(days=args.days)
    print(f"# {args.days}-day backfill, {args.latency} ms latency, {args.per_day} reports a day")
    with (
        mock_server("--latency", str(args.latency), "--per-day", str(args.per_day)) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        one = timed(url, f"sqlite:///{tmp}/c1.db", 1, since, until)
        eight = timed(url, f"sqlite:///{tmp}/c8.db", 8, since, until)
    print(f"concurrency 8 is {one / eight:.1f}x faster than concurrency 1")
    result(
        "365-day backfill, 200 ms latency: concurrency 8 vs 1",
        f"{one / eight:.1f}x",
        ">= 5x",
        one / eight >= 5,
    )


if __name__ == "__main__":
    main()
