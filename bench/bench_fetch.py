"""Fetch one window of 1,000,000 records from the mock server: records/s and peak memory.

    .venv/bin/python bench/bench_fetch.py [--records 1000000] [--format text|json]

The mock runs in its own process; this process streams the answer through
``Client.fetch`` (records parsed while the body arrives) and reports its own peak resident
memory. Target: under 200 MB, whatever the size of the window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from common import mock_server, peak_rss_mb, result

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--format", default="text", choices=["text", "json"])
    args = ap.parse_args()
    start = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with (
        mock_server("--per-day", str(args.records)) as url,
        Client(authcode=DEMO_AUTHCODE, base_url=url, timeout=600) as client,
    ):
        before = peak_rss_mb()
        started = time.perf_counter()
        count = sum(
            1 for _ in client.fetch(start, start + dt.timedelta(days=1), format=args.format)
        )
        elapsed = time.perf_counter() - started
    peak = peak_rss_mb()
    print(
        f"{count:,} records ({args.format}) in {elapsed:.1f} s = {count / elapsed:,.0f} records/s;"
        f" peak RSS {peak:.0f} MB (at start {before:.0f} MB)"
    )
    result(
        f"fetch {count:,} records ({args.format}): peak memory",
        f"{peak:.0f} MB",
        "< 200 MB",
        peak < 200,
    )
    result(
        f"fetch {count:,} records ({args.format}): speed",
        f"{count / elapsed:,.0f} records/s",
        "",
        None,
    )


if __name__ == "__main__":
    main()
