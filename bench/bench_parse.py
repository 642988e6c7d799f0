"""How fast toefl-access parses ScoreLink files, next to pandas, and in how much memory.

    .venv/bin/python bench/bench_parse.py [--records 100000] [--repeat 2]

Generates N records of the current (1600-byte) layout with the tests' generator
(tests/gen.py: mixed 0-120 and 1-6 scales, MyBest, rPDT, names in UTF-8 and Latin-1) into
a temporary file, then prints records per second, best of --repeat runs, for:

  (a) the library's typed-record iteration, ``for r in parse(path)`` (with validation),
      and the same without the batch decoder (``Codec.decode`` a line at a time);
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


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one call of ``fn``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, count


def library(path: Path) -> int:
    count = 0
    for _record in parse(path):
        count += 1
    return count


def one_line_at_a_time(path: Path) -> int:
    """(a) without the batch decoder: ``Codec.decode`` line by line, as before it."""
    from toefl_access.textformat import codec, utc_today

    c, today, count = codec(layouts.CURRENT), utc_today(), 0
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            c.decode(line.rstrip(b"\r\n"), lineno, today=today)
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
            "a1": lambda: one_line_at_a_time(path),
            "b": lambda: command(path, out_csv),
        }
        try:
            import pandas  # noqa: F401

            def fwf_csv() -> int:
                frame = read_fwf(path)
                frame.to_csv(out.with_suffix(".pandas.csv"), index=False)  # type: ignore[attr-defined]
                return n

            runs["c"] = lambda: len(read_fwf(path))  # type: ignore[arg-type]
            runs["d"] = fwf_csv
        except ImportError:
            print("pandas is not installed: pip install -e '.[bench]' for (c) and (d)")
        # Interleaved, so that every contender meets the same load on a shared machine;
        # the best of --repeat runs, by wall clock and by CPU time of this process.
        wall = dict.fromkeys(runs, float("inf"))
        cpu = dict.fromkeys(runs, float("inf"))
        for _ in range(args.repeat):
            for key, fn in runs.items():
                w, c, count = timed(fn)
                assert count == n, (key, count)
                wall[key], cpu[key] = min(wall[key], w), min(cpu[key], c)
        nan = float("nan")
        rate = {k: n / wall[k] if k in runs else nan for k in ("a", "a1", "b", "c", "d")}
        per_cpu = {k: n / cpu[k] if k in runs else nan for k in ("a", "a1", "b", "c", "d")}
        labels = {
            "a": "(a) library: for r in parse(path)",
            "a1": "    the same, one line at a time (Codec.decode)",
            "b": "(b) toefl-access parse --to csv (in-process)",
            "c": "(c) pandas.read_fwf",
            "d": "(d) pandas.read_fwf(...).to_csv(...)",
        }
        print(f"\n{'records/s, best of ' + str(args.repeat):<46}{'wall clock':>12}{'CPU time':>12}")
        for key, label in labels.items():
            print(f"{label:<46}{rate[key]:>12,.0f}{per_cpu[key]:>12,.0f}")
        print()
        verdict = {True: "met", False: "MISSED"}
        for clock, r in (("wall clock", rate), ("CPU time", per_cpu)):
            print(f"targets by {clock}: (a) >= 100,000/s: {verdict[r['a'] >= 100_000]} "
                  f"({r['a'] / 100_000:.2f}x of it); (a) >= 4x (c): "
                  f"{verdict[r['a'] >= 4 * r['c']]} ({r['a'] / r['c']:.1f}x); "
                  f"(b) >= 3x (d): {verdict[r['b'] >= 3 * r['d']]} ({r['b'] / r['d']:.1f}x)")
        print()
        for what, (small, large) in rss.items():
            print(f"peak RSS, {what:<8} {n:>9,} records: {small:6.1f} MB   "
                  f"{4 * n:>9,} records: {large:6.1f} MB   ({large / small:.2f}x)")
    print(f"(this process, which also held pandas' frame: {own_peak_kib() / 1024:.0f} MB peak)")


if __name__ == "__main__":
    main()
