"""XLSX export of N stored reports: the xlsxwriter writer against openpyxl (write-only mode,
the same rows and cell types), side by side in one run.

    .venv/bin/python bench/bench_xlsx.py [--reports 24000]

The reports come from the mock (in process) into a temporary SQLite file. Also prints the CSV
export of the same rows, as the floor of reading them from the store.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.handoff.export import _prepared, export, getter, select_columns
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings, sync


def openpyxl_dump(store: object, path: Path) -> int:
    """The same rows through openpyxl's write-only workbook (the writer before)."""
    import openpyxl

    cols = select_columns(None, change=False)
    get = getter(cols)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("reports")
    sheet.append([c.name for c in cols])
    count = 0
    with store.export_rows() as batch:  # type: ignore[attr-defined]
        for row in _prepared(batch.rows, Counter()):
            values = [
                v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, dt.datetime) else
                (None if isinstance(v, list | dict) else v) for v in get(row)
            ]
            sheet.append(values)
            count += 1
    book.save(path)
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=24_000)
    args = ap.parse_args()
    days = 10
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        api = MockApi(seed=3, per_day=max(1, args.reports // days))
        with open_store(url) as store, Client(authcode=DEMO_AUTHCODE, transport=api.transport(),
                                              base_url="http://127.0.0.1/scores") as client:
            sync(client, store, SyncSettings(since=start, until=start + dt.timedelta(days=days)),
                 now=start + dt.timedelta(days=days + 1))
            n = store.status(runs=0).reports
            print(f"# {n:,} reports, {dt.date.today()}")
            for to in ("csv", "xlsx"):
                t = time.perf_counter()
                export(store, to=to, output=f"{tmp}/out.{to}")
                took = time.perf_counter() - t
                print(f"export --to {to:<5} {took:7.2f} s = {n / took:9,.0f} rows/s")
                if to == "xlsx":
                    ours = took
            t = time.perf_counter()
            openpyxl_dump(store, Path(tmp) / "openpyxl.xlsx")
            theirs = time.perf_counter() - t
            print(f"openpyxl write-only {theirs:7.2f} s = {n / theirs:9,.0f} rows/s "
                  f"(xlsxwriter is {theirs / ours:.1f}x faster)")


if __name__ == "__main__":
    main()
