"""How fast the mock API produces records, how soon it answers, and how little memory it needs.

Starts ``toefl-access mock-server`` in its own process, reads one window of ``--records``
reports (one UTC day at ``--per-day`` = ``--records``) in text and in JSON with httpx over
loopback, counting bytes only, and prints the time to the first byte, records/s and the
server's peak resident memory. Then, in this process, the pieces: the population alone
(records/s), and the two wire encoders.

    .venv/bin/python bench/bench_mock.py [--records 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

WINDOW = {
    "startdate": "2025-04-01T00:00:00",
    "enddate": "2025-04-02T00:00:00",
    "type": "TOEFL",
    "reportby": "scorelinkbyreportdate",
}


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def over_loopback(records: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "mock-server", "--port", "0",
         "--per-day", str(records)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        settings = dict(p.split("=", 1) for p in proc.stdout.readline().split()[1:])
        url, key = settings["TOEFL_ACCESS_BASE_URL"], settings["TOEFL_ACCESS_AUTHCODE"]
        print(f"server idle: peak RSS {peak_rss_mib(proc.pid):.0f} MiB")
        for fmt in ("text", "json"):
            params = {**WINDOW, "format": fmt}
            t0 = time.perf_counter()
            first = 0.0
            size = 0
            with httpx.stream("GET", url, params=params, headers={"authcode": key},
                              timeout=600) as answer:  # fmt: skip
                for chunk in answer.iter_raw():
                    if not size:
                        first = time.perf_counter() - t0
                    size += len(chunk)
            elapsed = time.perf_counter() - t0
            print(
                f"{fmt:4s} over loopback: {records} records, {size / 2**20:.0f} MiB, "
                f"first byte after {first * 1000:.0f} ms, {elapsed:.1f} s, "
                f"{records / elapsed:,.0f} records/s, server peak RSS "
                f"{peak_rss_mib(proc.pid):.0f} MiB"
            )
    finally:
        proc.terminate()
        proc.wait(10)


def in_process(records: int) -> None:
    from toefl_access.mock import population
    from toefl_access.mock.wire import json_object, text_line

    t0 = time.perf_counter()
    built = list(population.released(WINDOW["startdate"], WINDOW["enddate"], per_day=records))
    generated = time.perf_counter() - t0
    print(f"population alone: {records / generated:,.0f} records/s")
    for name, encode in (("text line", text_line), ("JSON object", json_object)):
        t0 = time.perf_counter()
        for record in built:
            encode(record)
        print(f"{name} encoder: {records / (time.perf_counter() - t0):,.0f} records/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    over_loopback(args.records)
    in_process(min(args.records, 20_000))


if __name__ == "__main__":
    main()
