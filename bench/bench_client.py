"""How fast the client streams records, and how little memory it needs.

Each reading runs in a fresh process (its peak RSS is its own), against a server in another
process, over a window of 100,000 reports (160 MB of fixed-length text, 107 MB of JSON):

* ``mock``: ``toefl-access mock-server`` itself, which generates the reports as it answers
  (the pace a user sees from the mock; the generator, not the client, sets it);
* ``static``: the same bodies, saved once and served by a bare loopback HTTP server, so the
  client's own pace shows.

Modes: the raw bytes only, ``Client.fetch`` in text and JSON (records parsed as the body
arrives), ``Client.fetch_body`` (the whole body held in memory).

    .venv/bin/python bench/bench_client.py [--per-day 10000] [--days 10]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("raw-text", "fetch-text", "fetch-json", "fetch-body-text", "fetch-body-json")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, url: str, key: str, start: str, end: str) -> dict[str, float]:
    from toefl_access.api.client import Client

    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    records = nbytes = 0
    with Client(authcode=key, base_url=url, timeout=300) as client:
        if mode == "raw-text":
            with client.fetch_raw(start, end, format="text") as raw:
                for chunk in raw.iter_bytes():
                    nbytes += len(chunk)
            records = nbytes // 1601
        elif mode.startswith("fetch-body-"):
            body = client.fetch_body(start, end, format=mode.removeprefix("fetch-body-"))
            nbytes = body.nbytes
            records = body.content.count(b"\n") if body.format == "text" else 100_000
        else:
            stream = client.fetch(start, end, format=mode.removeprefix("fetch-"))
            for _ in stream:
                records += 1
            nbytes = stream.nbytes
    seconds = time.perf_counter() - t0
    return {
        "records": records, "bytes": nbytes, "seconds": seconds,
        "records_per_s": records / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
    }


def serve_files(folder: str) -> None:
    """Answer GET /scores with body.json (format=json) or body.text, at full speed."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            name = "body.json" if "format=json" in self.path else "body.text"
            path = Path(folder, name)
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.wfile.write(chunk)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"export TOEFL_ACCESS_BASE_URL=http://127.0.0.1:{server.server_port}/scores "
          "TOEFL_ACCESS_AUTHCODE=ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ=", flush=True)
    server.serve_forever()


def start_server(argv: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    server = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()  # export TOEFL_ACCESS_BASE_URL=... TOEFL_ACCESS_AUTHCODE=...
    env = dict(part.split("=", 1) for part in line.split()[1:])
    return server, env["TOEFL_ACCESS_BASE_URL"], env["TOEFL_ACCESS_AUTHCODE"]


def run_modes(label: str, url: str, key: str, args: argparse.Namespace, start: str,
              end: str) -> None:
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--url", url, "--key", key,
             "--per-day", str(args.per_day), "--days", str(args.days)],
            capture_output=True, text=True, check=True,
        ).stdout
        r = json.loads(out)
        print(f"{label:6} {mode:16} {r['records']:>8,} records {r['bytes'] / 1e6:7.1f} MB "
              f"{r['seconds']:6.2f} s {r['records_per_s']:>9,.0f} records/s "
              f"peak RSS {r['peak_rss_mb']:6.1f} MB (at start {r['rss_before_mb']:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--mode", choices=MODES)
    ap.add_argument("--serve", metavar="FOLDER")
    ap.add_argument("--url")
    ap.add_argument("--key")
    args = ap.parse_args()
    start, end = "2025-03-01T00:00:00", f"2025-03-{1 + args.days:02d}T00:00:00"
    if args.serve:
        serve_files(args.serve)
        return
    if args.mode:
        print(json.dumps(measure(args.mode, args.url, args.key, start, end)))
        return
    print(f"window {start}..{end}, {args.per_day:,} reports a day; server in its own process")
    server, url, key = start_server(["-m", "toefl_access", "mock-server", "--port", "0",
                                     "--per-day", str(args.per_day)])
    with tempfile.TemporaryDirectory() as folder:
        try:
            run_modes("mock", url, key, args, start, end)
            from toefl_access.api.client import Client

            with Client(authcode=key, base_url=url, timeout=300) as client:
                for fmt in ("text", "json"):
                    body = client.fetch_body(start, end, format=fmt).content
                    Path(folder, f"body.{fmt}").write_bytes(body)
                    del body
        finally:
            server.terminate()
            server.wait(10)
        server, url, key = start_server([__file__, "--serve", folder])
        try:
            run_modes("static", url, key, args, start, end)
        finally:
            server.terminate()
            server.wait(10)
    print(f"(cpu: {os.cpu_count()} cores, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
