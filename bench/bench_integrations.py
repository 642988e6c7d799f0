"""20 integrations x 90 days against one mock with 200 ms latency per request: `sync --all`
with one pool of 16 requests against the 20 syncs run one after the other.

    .venv/bin/python bench/bench_integrations.py [--integrations 20] [--days 90]
        [--latency 200] [--per-day 20] [--pool 16] [--also-pool 32] [--skip-serial-1]

One mock server (its own process, ``toefl-access mock-server --keys N``) serves every
integration its own reports under its own key; every run writes fresh SQLite files, one per
integration. Measured, each from empty databases:

- ``sync_all`` (what ``sync --all --pool 16`` runs), each integration at its default
  concurrency (4 windows fetched ahead), at most ``--pool`` requests in flight in all;
- the same 20 syncs one after the other at the default concurrency (4), then at
  concurrency 1.

Target (issue 13): ``sync --all`` with a pool of 16 at least 8x faster than one after the
other. With 200 ms a request the time is the latency's: one after the other at concurrency
4 cannot be more than 16 / 4 = 4x slower than a pool of 16, at concurrency 1 up to 16x.
``sync_all`` syncs pool / concurrency integrations at a time by default (4); ``--also-pool``
and ``--also-workers`` measure other designs next to it (a larger pool; more integrations at
a time, e.g. all 20 at once, hence more threads, with the same pool).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from common import mock_server, result

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import numbered_authcode
from toefl_access.settings import Integration
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync
from toefl_access.sync.many import sync_all

SINCE = dt.datetime(2025, 3, 1, tzinfo=UTC)


def integrations(folder: Path, n: int, url: str) -> list[Integration]:
    out = []
    for number in range(1, n + 1):
        key = folder / f"i{number}.key"
        key.write_text(numbered_authcode(number))
        key.chmod(0o600)
        out.append(Integration(name=f"i{number}", authcode_file=str(key), base_url=url,
                               db=f"sqlite:///{folder}/i{number}.db", since=SINCE))  # fmt: skip
    return out


def report(label: str, elapsed: float, reports: int, windows: int) -> None:
    print(f"{label:<44} {elapsed:7.1f} s  {reports:>8,} reports  {reports / elapsed:8,.0f} "
          f"reports/s  {windows / elapsed:6.1f} windows/s", flush=True)  # fmt: skip


def all_at_once(
    url: str, n: int, until: dt.datetime, pool: int, concurrency: int, workers: int | None = None
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        todo = integrations(Path(tmp), n, url)
        settings = SyncSettings(until=until, concurrency=concurrency)
        started = time.perf_counter()
        out = sync_all(todo, pool=pool, settings_for=lambda i: settings, workers=workers,
                       now=until + dt.timedelta(hours=1))  # fmt: skip
        elapsed = time.perf_counter() - started
    assert out.exit_code == 0, {k: (o.error, o.result and o.result.failures[:2])
                                for k, o in out.outcomes.items() if o.exit_code}  # fmt: skip
    windows = sum(len(o.result.windows) for o in out.outcomes.values() if o.result)
    at_once = f"{workers or -(-pool // concurrency)} at a time"
    report(f"sync_all, pool {pool}, concurrency {concurrency}, {at_once}", elapsed,
           out.reports, windows)  # fmt: skip
    print(f"  most requests in flight at once: {out.peak_requests}", flush=True)
    return elapsed


def one_after_another(url: str, n: int, until: dt.datetime, concurrency: int) -> float:
    reports = windows = 0
    with tempfile.TemporaryDirectory() as tmp:
        todo = integrations(Path(tmp), n, url)
        started = time.perf_counter()
        for i in todo:
            key = Path(i.authcode_file).read_text()
            with Client(authcode=key, base_url=url) as client, open_store(i.db) as store:
                out = sync(client, store, SyncSettings(since=SINCE, until=until,
                           concurrency=concurrency), now=until + dt.timedelta(hours=1))  # fmt: skip
            assert out.exit_code == 0, out.failures[:2]
            reports += out.counts.new + out.counts.changed + out.counts.unchanged
            windows += len(out.windows)
        elapsed = time.perf_counter() - started
    report(f"one after the other, concurrency {concurrency}", elapsed, reports, windows)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--integrations", type=int, default=20)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--latency", type=int, default=200, help="ms per request")
    ap.add_argument("--per-day", type=int, default=20)
    ap.add_argument("--pool", type=int, default=16)
    ap.add_argument("--also-pool", type=int, default=0,
                    help="also measure sync_all with this pool (a second design)")
    ap.add_argument("--also-workers", type=int, default=0,
                    help="also measure sync_all syncing this many integrations at a time "
                    "(default: pool / 4 of them)")
    ap.add_argument("--skip-serial-1", action="store_true",
                    help="skip the slowest run (one after the other at concurrency 1)")
    args = ap.parse_args()
    n, until = args.integrations, SINCE + dt.timedelta(days=args.days)
    print(f"# {n} integrations x {args.days} days, {args.latency} ms latency, {args.per_day} "
          f"reports a day each, {os.cpu_count()} CPUs", flush=True)  # fmt: skip
    with mock_server("--latency", str(args.latency), "--per-day", str(args.per_day),
                     "--keys", str(n)) as url:  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:  # imports, first connections: not timed
            sync_all(integrations(Path(tmp), 1, url), settings_for=lambda i: SyncSettings(
                until=SINCE + dt.timedelta(days=1)))  # fmt: skip
        pooled = all_at_once(url, n, until, args.pool, 4)
        extra = all_at_once(url, n, until, args.also_pool, 4) if args.also_pool else None
        other = (all_at_once(url, n, until, args.pool, 4, args.also_workers)
                 if args.also_workers else None)  # fmt: skip
        serial4 = one_after_another(url, n, until, 4)
        serial1 = None if args.skip_serial_1 else one_after_another(url, n, until, 1)
    print(f"sync_all (pool {args.pool}) is {serial4 / pooled:.1f}x faster than one after the "
          f"other at concurrency 4 (at most {args.pool / 4:g}x: the latency bounds both)")
    result(f"{n} integrations x {args.days} days, {args.latency} ms: sync --all pool "
           f"{args.pool} vs one after the other (concurrency 4)", f"{serial4 / pooled:.1f}x",
           f"<= {args.pool / 4:g}x possible", None)  # fmt: skip
    if extra is not None:
        print(f"sync_all (pool {args.also_pool}) is {serial4 / extra:.1f}x faster than one "
              "after the other at concurrency 4")
        result(f"{n} integrations: sync --all pool {args.also_pool} vs one after the other "
               "(concurrency 4)", f"{serial4 / extra:.1f}x", ">= 8x", serial4 / extra >= 8)
    if other is not None:
        print(f"sync_all (pool {args.pool}, {args.also_workers} integrations at a time) is "
              f"{serial4 / other:.1f}x faster than one after the other at concurrency 4")
    if serial1 is not None:
        print(f"sync_all (pool {args.pool}) is {serial1 / pooled:.1f}x faster than one after the "
              "other at concurrency 1")
        result(f"{n} integrations x {args.days} days, {args.latency} ms: sync --all pool "
               f"{args.pool} vs one after the other (concurrency 1)", f"{serial1 / pooled:.1f}x",
               ">= 8x", serial1 / pooled >= 8)  # fmt: skip


if __name__ == "__main__":
    main()
