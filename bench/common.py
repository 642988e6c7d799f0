"""What the benchmarks share: a mock server in its own process, peak memory, result lines.

Each benchmark prints its figures, and one ``RESULT`` line per headline figure
(``RESULT | what | value | target | met``) that ``bench/run_all.py`` gathers into a table.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mock_server(*args: str) -> Iterator[str]:
    """``toefl-access mock-server ARGS`` in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "mock-server", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the mock server did not start")
        yield f"http://127.0.0.1:{port}/scores"
    finally:
        proc.terminate()
        proc.wait(10)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM: unlike ru_maxrss, not inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status")


def result(what: str, value: str, target: str, met: bool | None) -> None:
    """Print one headline figure for run_all.py."""
    mark = "n/a" if met is None else ("yes" if met else "NO")
    print(f"RESULT | {what} | {value} | {target} | {mark}", flush=True)
