"""How fast toefl-access parses ScoreLink files, next to pandas, and in how much memory.

    .venv/bin/python bench/bench_parse.py [--records 100000] [--repeat 2]

Generates N records of the current (1600-byte) layout with the tests' generator
(tests/gen.py: mixed 0-120 and 1-6 scales, MyBest, rPDT, names in UTF-8 and Latin-1) into
a temporary file, then prints records per second, best of --repeat runs, for:

  (a) the library's typed-record iteration, ``for r in parse(path)`` (with validation);
  (b) ``toefl-access parse FILE --to csv -o out.csv``, called in-process through click
      (the same code path as the command, without the interpreter start-up);
  (c) ``pandas.read_fwf`` on the same file with the same column specs (encoding latin-1,
      so that pandas' character positions are the file's byte positions);
  (d) ``pandas.read_fwf(...).to_csv(...)``;

and the peak RSS (resource.getrusage, in a fresh process each) of (a) and (b) on N and on
4N records, to show that memory does not grow with the file. Targets (issue 2): (a) at
least 100,000 records/s and at least 4x (c); (b) at least 3x (d). pandas is a benchmark
dependency only (``pip install -e '.[bench]'``).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import gen  # noqa: E402

from toefl_access import layout as layouts  # noqa: E402
from toefl_access import parse  # noqa: E402
from toefl_access.cli import main as cli  # noqa: E402


def generate(path: Path, n: int, seed: int) -> None:
    g = gen.Gen(seed)
    with path.open("wb") as fh:
        for _ in range(n):
            fh.write(g.report(gen.CURRENT).line() + b"\n")


def best(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    """The shortest wall time of ``runs`` calls of ``fn`` and what it returned."""
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    return min(times), count


def library(path: Path) -> int:
    count = 0
    for _record in parse(path):
        count += 1
    return count


def command(path: Path, out: Path) -> int:
    with contextlib.redirect_stderr(io.StringIO()):  # "N records written to ..."
        cli.main(["parse", str(path), "--to", "csv", "-o", str(out)], standalone_mode=False)
    with out.open("rb") as fh:
        return sum(1 for _ in fh) - 1


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
    ap.add_argument("--repeat", type=int, default=2, help="runs of each timing (best is shown)")
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

        t_a, c_a = best(args.repeat, lambda: library(path))
        t_b, c_b = best(args.repeat, lambda: command(path, out_csv))
        assert c_a == c_b == n, (c_a, c_b)
        try:
            t_c, _ = best(args.repeat, lambda: len(read_fwf(path)))  # type: ignore[arg-type]

            def fwf_csv() -> int:
                frame = read_fwf(path)
                frame.to_csv(out.with_suffix(".pandas.csv"), index=False)  # type: ignore[attr-defined]
                return n

            t_d, _ = best(args.repeat, fwf_csv)
        except ImportError:
            t_c = t_d = float("nan")
            print("pandas is not installed: pip install -e '.[bench]' for (c) and (d)")

        rate = {k: n / t for k, t in {"a": t_a, "b": t_b, "c": t_c, "d": t_d}.items()}
        print()
        print(f"(a) library: for r in parse(path)         {rate['a']:>10,.0f} records/s")
        print(f"(b) toefl-access parse --to csv (in-proc) {rate['b']:>10,.0f} records/s")
        print(f"(c) pandas.read_fwf                       {rate['c']:>10,.0f} records/s")
        print(f"(d) pandas.read_fwf(...).to_csv(...)      {rate['d']:>10,.0f} records/s")
        print()
        verdict = {True: "met", False: "MISSED"}
        print(f"target (a) >= 100,000 records/s: {verdict[rate['a'] >= 100_000]} "
              f"({rate['a'] / 100_000:.2f}x of it)")
        print(f"target (a) >= 4x (c):             {verdict[rate['a'] >= 4 * rate['c']]} "
              f"({rate['a'] / rate['c']:.1f}x)")
        print(f"target (b) >= 3x (d):             {verdict[rate['b'] >= 3 * rate['d']]} "
              f"({rate['b'] / rate['d']:.1f}x)")
        print()
        for what, (small, large) in rss.items():
            print(f"peak RSS, {what:<8} {n:>9,} records: {small:6.1f} MB   "
                  f"{4 * n:>9,} records: {large:6.1f} MB   ({large / small:.2f}x)")
    print(f"(this process, which also held pandas' frame: {own_peak_kib() / 1024:.0f} MB peak)")


if __name__ == "__main__":
    main()
