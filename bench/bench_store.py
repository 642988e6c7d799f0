"""Store write speed: 100,000 reports in 10 windows of 10,000, then the same windows again.

    . scripts/pg.sh; pg_start              # optional: PostgreSQL (sets TOEFL_ACCESS_TEST_PG_URL)
    .venv/bin/python bench/bench_store.py [--reports 100000] [--windows 10] [--backend all]
    pg_stop

For each backend it prints the first pass (every report new) in reports/s, and the second
pass (the same windows again: nothing written but ``last_seen``) as a speed-up; wall time,
and this process's CPU time (for SQLite that is all the work, which makes the figure
comparable on a busy machine; PostgreSQL's work is in the server). The first line rates the
machine, to compare figures taken elsewhere.
Two variants: ``store`` hands ``write_window`` records parsed beforehand (the store's own
cost), ``+parse`` parses each new record inside the write as a sync does (the parse is the
library's fixed-length decoder). Targets: >= 20,000 reports/s into SQLite, >= 15,000 into
PostgreSQL, the second pass >= 3x faster than the first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gen import Gen

from toefl_access.formats.record import Record
from toefl_access.formats.textformat import codec
from toefl_access.store import Incoming, Store, open_store

UTC = dt.UTC
START = dt.datetime(2026, 3, 1, tzinfo=UTC)


def make_windows(n_reports: int, n_windows: int) -> list[list[bytes]]:
    """``n_windows`` lists of distinct 1600-byte lines (unique registration numbers)."""
    g = Gen(42)
    base = [g.report("scorelink-1600").line() for _ in range(1000)]
    per = n_reports // n_windows
    windows = []
    serial = 0
    for _ in range(n_windows):
        lines = []
        for _ in range(per):
            line = base[serial % len(base)]
            reg = f"{serial:016d}".encode()
            lines.append(line[:26] + reg + line[42:])
            serial += 1
        windows.append(lines)
    return windows


def prepare(
    lines: list[bytes], parse_now: bool
) -> tuple[list[Incoming], Callable[[Incoming], Record]]:
    c = codec("scorelink-1600")
    items = []
    parsed: dict[int, Record] = {}
    for number, line in enumerate(lines, start=1):
        rec = c.decode(line, number, check=False)
        reg, date, inst, dept = (rec["registration_number"], rec["test_date"],
                                 rec["institution_code"], rec["department_code"])
        key = f"{reg or ''}|{date.isoformat() if date else ''}|{inst or ''}|{dept or ''}"
        items.append(Incoming(key=key, digest=hashlib.blake2b(line, digest_size=16).digest(),
                              raw=line, line=number))
        if not parse_now:
            parsed[number] = rec
    if parse_now:
        return items, lambda item: c.decode(item.raw, item.line)
    return items, lambda item: parsed[item.line]


def one_pass(
    store: Store, windows: list[list[bytes]], run_id: int, parse_now: bool
) -> tuple[float, float, int, int]:
    """Write every window once; wall and CPU seconds spent in ``write_window``, counts."""
    total = cpu = 0.0
    new = unchanged = 0
    for i, lines in enumerate(windows):
        items, parse = prepare(lines, parse_now)
        body = b"\n".join(lines) + b"\n"
        sha = hashlib.sha256(body).hexdigest()
        start = START + dt.timedelta(days=i)
        t, c = time.perf_counter(), time.process_time()
        counts = store.write_window(
            run_id=run_id, start=start, end=start + dt.timedelta(days=1), fmt="text",
            body=body, sha256=sha, status=200, incoming=items, parse=parse,
            received_at=dt.datetime.now(UTC),
        )
        total += time.perf_counter() - t
        cpu += time.process_time() - c
        new += counts.new
        unchanged += counts.unchanged
    return total, cpu, new, unchanged


def bench(name: str, url: str, windows: list[list[bytes]], parse_now: bool) -> None:
    n = sum(len(w) for w in windows)
    with open_store(url) as store:
        run = store.begin_run(started_at=dt.datetime.now(UTC), params={"bench": True})
        first, cpu1, new, _ = one_pass(store, windows, run, parse_now)
        second, cpu2, new2, unchanged = one_pass(store, windows, run, parse_now)
        assert new == n and new2 == 0 and unchanged == n, (new, new2, unchanged)
    variant = "+parse" if parse_now else "store"
    print(
        f"{name:<10} {variant:<6} first: {n:,} new in {first:5.2f} s = {n / first:7,.0f}/s "
        f"(this process's CPU {cpu1:5.2f} s = {n / cpu1:7,.0f}/s) | again: {second:5.2f} s, "
        f"{first / second:4.1f}x faster (CPU {cpu2:5.2f} s, {cpu1 / cpu2:4.1f}x)",
        flush=True,
    )


def machine_speed() -> float:
    """Microseconds for ``sum(range(1000))``: to compare figures across machines."""
    best = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5))
    return best / 2000 * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--backend", choices=("all", "sqlite", "postgresql"), default="all")
    ap.add_argument("--variant", choices=("both", "store", "parse"), default="both")
    args = ap.parse_args()
    windows = make_windows(args.reports, args.windows)
    print(f"machine: {machine_speed():.1f} us for sum(range(1000)) (compare across machines); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    variants = {"both": (False, True), "store": (False,), "parse": (True,)}[args.variant]
    if args.backend in ("all", "sqlite"):
        for parse_now in variants:
            with tempfile.TemporaryDirectory() as tmp:
                bench("sqlite", f"sqlite:///{tmp}/bench.db", windows, parse_now)
    if args.backend in ("all", "postgresql"):
        base = os.environ.get("TOEFL_ACCESS_TEST_PG_URL")
        if not base:
            print("postgresql: skipped (set TOEFL_ACCESS_TEST_PG_URL: . scripts/pg.sh; pg_start)")
            return
        import psycopg

        for parse_now in variants:
            db = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db}"')
            try:
                bench("postgresql", base.rsplit("/", 1)[0] + f"/{db}", windows, parse_now)
            finally:
                with psycopg.connect(base, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
