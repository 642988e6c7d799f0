"""How fast the mock API produces records, how soon it answers, and how little memory it needs.

Starts ``toefl-access mock-server`` in its own process and reads, with httpx over loopback
and counting bytes only, one UTC day of ``--records`` reports (``--per-day`` = ``--records``)
in text and then in JSON, then the next day in JSON and then in text. The first read of a day
makes its reports (the first one also makes the pools of people and score sets); the second
finds them in the mock's report cache if the day fits in it (131,072 reports). For each read
it prints the time to the first byte, records/s, the server's CPU time (user + system: the
figure that does not depend on what else the machine runs, as records per CPU-second) and
its peak resident memory. Then, in this process, the pieces: the population as records and as
reports, and the two bodies.

    .venv/bin/python bench/bench_mock.py [--records 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from toefl_access.mock import population
from toefl_access.mock.api import _json_body, _text_body
from toefl_access.mock.wire import json_object, text_line

DAY = dt.datetime(2025, 4, 1)
QUERY = {"type": "TOEFL", "reportby": "scorelinkbyreportdate"}


def window(day: int) -> dict[str, str]:
    start = DAY + dt.timedelta(days=day)
    end = start + dt.timedelta(days=1)
    return {"startdate": f"{start:%Y-%m-%dT%H:%M:%S}", "enddate": f"{end:%Y-%m-%dT%H:%M:%S}"}


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        fits = records <= population.cache.chunks * population.cache.CHUNK
        again = "cached" if fits else "again: larger than the cache"
        reads = ((0, "text", "first read"), (0, "json", again), (1, "json", "first read"),
                 (1, "text", again))  # fmt: skip
        client = httpx.Client(timeout=600)  # made once: a new client costs ~50 ms of TLS setup
        for day, fmt, what in reads:
            params = {**window(day), **QUERY, "format": fmt}
            cpu = cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            first = 0.0
            size = 0
            with client.stream("GET", url, params=params, headers={"authcode": key}) as answer:
                for chunk in answer.iter_raw():
                    if not size:
                        first = time.perf_counter() - t0
                    size += len(chunk)
            elapsed = time.perf_counter() - t0
            used = cpu_seconds(proc.pid) - cpu
            print(
                f"{fmt:4s} day {day + 1} ({what}): {records} records, {size / 2**20:.0f} MiB, "
                f"first byte after {first * 1000:.0f} ms, {elapsed:.1f} s, "
                f"{records / elapsed:,.0f} records/s; server CPU {used:.2f} s "
                f"({records / max(used, 0.01):,.0f} records per CPU-second), "
                f"peak RSS {peak_rss_mib(proc.pid):.0f} MiB"
            )
    finally:
        proc.terminate()
        proc.wait(10)


def rate(name: str, records: int, run: Callable[[], object]) -> None:
    t0 = time.process_time()
    run()
    print(f"{name}: {records / (time.process_time() - t0):,.0f} records per CPU-second")


def in_process(records: int) -> None:
    start, end = window(3)["startdate"], window(3)["enddate"]
    population.cache.clear()
    rate("population as records", records,
         lambda: list(population.released(start, end, per_day=records)))  # fmt: skip
    population.cache.clear()
    rate("population as reports (pools made)", records,
         lambda: list(population.reports(start, end, per_day=records)))  # fmt: skip
    reports = list(population.reports(start, end, per_day=records))
    rate(
        "text body of made reports", records, lambda: sum(map(len, _text_body(iter(reports), None)))
    )
    rate(
        "JSON body of made reports", records, lambda: sum(map(len, _json_body(iter(reports), None)))
    )
    built = list(population.released(start, end, per_day=records))
    rate("text line encoder (records)", records, lambda: [text_line(r) for r in built])
    rate("JSON object encoder (records)", records, lambda: [json_object(r) for r in built])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    over_loopback(args.records)
    in_process(min(args.records, 20_000))


if __name__ == "__main__":
    main()
