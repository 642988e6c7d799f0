"""How fast toefl-access parses ScoreLink files, next to pandas, and in how much memory.

    .venv/bin/python bench/bench_parse.py [--records 100000] [--repeat 3]

Generates N records of the current (1600-byte) layout with the tests' generator
(tests/gen.py: mixed 0-120 and 1-6 scales, MyBest, rPDT, names in UTF-8 and Latin-1) into
a temporary file, then prints records per second, best of --repeat interleaved runs, for:

  (a) the library's record iteration, ``for r in parse(path)``, reading 5 fields a record
      (typed and validated; records are views on Arrow batches);
  (t) ``parse_table(path)``: the whole file as one typed Arrow table;
  (b) ``toefl-access parse FILE --to csv -o out.csv``, called in-process through click;
  (q) ``toefl-access parse FILE --to parquet -o out.parquet``, the same way;
  (c) ``pandas.read_fwf`` on the same file with the same column specs (encoding latin-1,
      so that pandas' character positions are the file's byte positions);
  (d) ``pandas.read_fwf(...).to_csv(...)``;
  (e) ``pandas.read_fwf(...).to_parquet(...)``;

and the peak RSS (in a fresh process each) of (a) and (b) on N and on 4N records (640 MB
for the default N), to show that memory does not grow with the file. Targets (issue 11):
(b) >= 6x (d); (t) >= 8x (c); (q) >= 6x (e); (a) >= 100,000 records/s and >= 4x (c); peak
RSS < 200 MB. pandas is a benchmark dependency only (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import gen  # noqa: E402
from common import result  # noqa: E402

from toefl_access import parse, parse_table  # noqa: E402
from toefl_access.cli import main as cli  # noqa: E402
from toefl_access.formats import layout as layouts  # noqa: E402


def generate(path: Path, n: int, seed: int) -> None:
    g = gen.Gen(seed)
    with path.open("wb") as fh:
        for _ in range(n):
            fh.write(g.report(gen.CURRENT).line() + b"\n")


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one call of ``fn``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, count


def library(path: Path) -> int:
    """(a): every record, 5 of its fields read."""
    count = 0
    for r in parse(path):
        r["registration_number"], r["last_name"], r["test_date"], r["total"], r["ibt26_total"]
        count += 1
    return count


def table(path: Path) -> int:
    return parse_table(path).num_rows  # type: ignore[no-any-return]


def command(path: Path, out: Path, to: str = "csv") -> int:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # "N records written to ..."
        cli.main(["parse", str(path), "--to", to, "-o", str(out)], standalone_mode=False)
    return int(err.getvalue().split()[0])


def pandas_specs() -> tuple[list[tuple[int, int]], list[str]]:
    fields = layouts.builtin(layouts.CURRENT).data_fields
    return [(f.start - 1, f.end) for f in fields], [f.name for f in fields]


def read_fwf(path: Path) -> object:
    import pandas as pd

    colspecs, names = pandas_specs()
    return pd.read_fwf(path, colspecs=colspecs, names=names, header=None, encoding="latin-1")


def peak_rss_mb(what: str, path: Path, out: Path) -> float:
    """Peak RSS of a fresh process doing ``what`` (library or command) on ``path``.

    Linux's VmHWM is the process's own high-water mark (ru_maxrss can carry over the
    parent's across fork and exec); elsewhere ru_maxrss is used.
    """
    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[4]); import bench_parse as b; "
        "from pathlib import Path; "
        "n = b.library(Path(sys.argv[2])) if sys.argv[1] == 'library' "
        "else b.command(Path(sys.argv[2]), Path(sys.argv[3])); "
        "print(b.own_peak_kib())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, what, str(path), str(out), str(Path(__file__).parent)],
        capture_output=True, text=True, check=True,
    )
    return int(proc.stdout.split()[-1]) / 1024


def own_peak_kib() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timing (best is shown)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    n = args.records

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        path, big, out = Path(tmp) / "scores.txt", Path(tmp) / "scores4.txt", Path(tmp) / "o"
        start = time.perf_counter()
        generate(path, n, args.seed)
        with big.open("wb") as fh:
            for _ in range(4):
                with path.open("rb") as part:
                    shutil.copyfileobj(part, fh)
        print(f"generated {n:,} records ({path.stat().st_size / 1e6:.0f} MB) with tests/gen.py "
              f"in {time.perf_counter() - start:.1f} s; the 4N file is that file 4 times")
        out_csv = out.with_suffix(".csv")
        rss = {}
        for what in ("library", "command"):  # first, while this process is still small
            rss[what] = (peak_rss_mb(what, path, out_csv), peak_rss_mb(what, big, out_csv))

        runs: dict[str, Callable[[], int]] = {
            "a": lambda: library(path),
            "t": lambda: table(path),
            "b": lambda: command(path, out_csv),
            "q": lambda: command(path, out.with_suffix(".parquet"), "parquet"),
        }
        try:
            import pandas  # noqa: F401

            def fwf(to: str) -> int:
                frame: Any = read_fwf(path)
                if to == "csv":
                    frame.to_csv(out.with_suffix(".pandas.csv"), index=False)
                elif to == "parquet":
                    frame.to_parquet(out.with_suffix(".pandas.parquet"), index=False)
                return len(frame)

            runs["c"] = lambda: fwf("")
            runs["d"] = lambda: fwf("csv")
            runs["e"] = lambda: fwf("parquet")
        except ImportError:
            print("pandas is not installed: pip install -e '.[bench]' for (c), (d) and (e)")
        # Interleaved, so that every contender meets the same load on a shared machine;
        # the best of --repeat runs, by wall clock and by CPU time of this process.
        wall = dict.fromkeys(runs, float("inf"))
        cpu = dict.fromkeys(runs, float("inf"))
        for _ in range(args.repeat):
            for key, fn in runs.items():
                w, c, count = timed(fn)
                assert count == n, (key, count)
                wall[key], cpu[key] = min(wall[key], w), min(cpu[key], c)
        labels = {
            "a": "(a) for r in parse(path), 5 fields read",
            "t": "(t) parse_table(path)",
            "b": "(b) toefl-access parse --to csv",
            "q": "(q) toefl-access parse --to parquet",
            "c": "(c) pandas.read_fwf",
            "d": "(d) pandas.read_fwf(...).to_csv(...)",
            "e": "(e) pandas.read_fwf(...).to_parquet(...)",
        }
        nan = float("nan")
        rate = {k: n / wall[k] if k in runs else nan for k in labels}
        per_cpu = {k: n / cpu[k] if k in runs else nan for k in labels}
        print(f"\n{'records/s, best of ' + str(args.repeat):<46}{'wall clock':>12}"
              f"{'CPU time':>12}{'seconds':>10}")
        for key, label in labels.items():
            print(f"{label:<46}{rate[key]:>12,.0f}{per_cpu[key]:>12,.0f}"
                  f"{wall.get(key, nan):>10.2f}")
        print()
        checks = [
            ("parse --to csv vs read_fwf+to_csv", "b", "d", 6),
            ("parse_table vs read_fwf", "t", "c", 8),
            ("parse --to parquet vs read_fwf+to_parquet", "q", "e", 6),
            ("for r in parse() vs read_fwf", "a", "c", 4),
        ]
        for what, mine, theirs, times in checks:
            ratio = rate[mine] / rate[theirs]
            print(f"{what:<44} {ratio:5.1f}x (CPU {per_cpu[mine] / per_cpu[theirs]:.1f}x), "
                  f"target >= {times}x")
            result(what, f"{ratio:.1f}x", f">= {times}x", ratio >= times)
        print(f"{'for r in parse(), records/s':<44} {rate['a']:,.0f}, target >= 100,000")
        result("for r in parse(), records/s", f"{rate['a']:,.0f}", ">= 100,000",
               rate["a"] >= 100_000)
        print()
        for what, (small, large) in rss.items():
            print(f"peak RSS, {what:<8} {n:>9,} records: {small:6.1f} MB   "
                  f"{4 * n:>9,} records ({4 * n * 1600 / 1e6:.0f} MB): {large:6.1f} MB   "
                  f"({large / small:.2f}x)")
            result(f"peak RSS of parse ({what}), 4N records", f"{large:.0f} MB", "< 200 MB",
                   large < 200)
    print(f"(this process, which also held pandas' frame: {own_peak_kib() / 1024:.0f} MB peak)")


if __name__ == "__main__":
    main()
