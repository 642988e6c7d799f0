"""Run every benchmark on generated data and print one table of the headline figures.

    .venv/bin/python bench/run_all.py [--quick]

Each benchmark runs in its own process (so memory figures are its own) and prints its
details as it goes; the table at the end gathers their ``RESULT`` lines. PostgreSQL is
started with scripts/pg.sh unless TOEFL_ACCESS_TEST_PG_URL is set. ``--quick`` runs smaller
sizes (for a smoke test, not for the record).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = [
    ("bench_parse.py", []),
    ("bench_fetch.py", []),
    ("bench_sync.py", []),
    ("bench_backfill.py", []),
    ("bench_integrations.py", []),
    ("bench_match.py", []),
]
QUICK = [
    ("bench_parse.py", ["--records", "20000", "--repeat", "1"]),
    ("bench_fetch.py", ["--records", "100000"]),
    ("bench_sync.py", ["--reports", "20000"]),
    ("bench_backfill.py", ["--days", "60"]),
    ("bench_integrations.py", ["--integrations", "5", "--days", "20", "--skip-serial-1"]),
    ("bench_match.py", ["--reports", "20000", "--applicants", "10000"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(
        f"# toefl-access benchmarks, {dt.date.today()}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    rows: list[list[str]] = []
    for script, extra in QUICK if args.quick else FULL:
        print(f"\n## {script} {' '.join(extra)}", flush=True)
        proc = subprocess.run(
            [sys.executable, str(HERE / script), *extra],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT |"):
                rows.append([c.strip() for c in line.split("|")[1:]])
            else:
                print(line)
        if proc.returncode:
            print(proc.stderr[-3000:])
            rows.append([script, "FAILED", "", "NO"])
    width = [
        max(len(r[i]) for r in [["figure", "value", "target", "met"], *rows]) for i in range(4)
    ]
    print(
        "\n| "
        + " | ".join(
            h.ljust(w) for h, w in zip(["figure", "value", "target", "met"], width, strict=True)
        )
        + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
