"""Hostile and careless use of the command line: output paths that are not plain files,
interrupted writes, mistyped databases, absurd options, broken settings files, full disks.

The rule: one clear sentence and an exit code, never a traceback; nothing already stored or
already at an output path is lost or half-written.
"""

from __future__ import annotations

import http.server
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from toefl_access.cli import main
from toefl_access.mock import DEMO_AUTHCODE

GOLDEN = Path(__file__).resolve().parent / "golden"
SAMPLE = GOLDEN / "scorelink-1600.txt"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args))


def one_error(result: Result, code: int = 1) -> str:
    """The command failed with ``code`` and one sentence on stderr, no traceback."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- output files ---------------------------------------------------------------------------


def test_parse_output_is_owner_only_and_replaces_a_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o644)
    assert cli("parse", str(SAMPLE), "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes() == (GOLDEN / "scorelink-1600.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_failed_parse_leaves_the_previous_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("previous export\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x" * 1601 + b"\n")
    result = cli("parse", str(bad), "--to", "csv", "-o", str(out))
    assert result.exit_code == 1
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "out.csv"]


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert cli("parse", str(SAMPLE), "-o", str(link)).exit_code == 0
    assert link.is_symlink() and link.resolve() == real
    assert real.read_bytes() == (GOLDEN / "scorelink-1600.jsonl").read_bytes()


def test_dev_null_stays_a_device() -> None:
    assert cli("parse", str(SAMPLE), "-o", os.devnull).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert cli("parse", str(SAMPLE), "-o", str(fifo)).exit_code == 0
    reader.join(10)
    assert got == [(GOLDEN / "scorelink-1600.jsonl").read_bytes()]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_full_disk_is_one_sentence() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    message = one_error(cli("parse", str(SAMPLE), "-o", "/dev/full"))
    assert "No space left on device" in message


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A loopback server that sends a few records a second, for a long time."""
    line = SAMPLE.read_bytes().splitlines(keepends=True)[0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(600):
                    self.wfile.write(line)
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/scores"
    server.shutdown()
    server.server_close()


def test_an_interrupted_fetch_leaves_no_file(tmp_path: Path, slow_server: str) -> None:
    env = {**os.environ, "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE, "TOEFL_ACCESS_BASE_URL":
           slow_server, "TOEFL_ACCESS_AUTHCODE_FILE": ""}  # fmt: skip
    out = tmp_path / "scores.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "fetch", "--start", "2026-03-01", "--end",
         "2026-03-02", "--format", "text", "-o", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the temporary file exists: the fetch is under way
    assert list(tmp_path.iterdir()), "the fetch never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# -- databases ------------------------------------------------------------------------------


def test_status_of_a_mistyped_database_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/typo.db"
    message = one_error(cli("status", "--db", url))
    assert "there is no database at" in message
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_a_database_it_did_not_create(tmp_path: Path) -> None:
    from toefl_access.store import open_store

    real = tmp_path / "real.db"
    with open_store(f"sqlite:///{real}") as store:
        store.meta_set("anything", "x")
        store.begin_run(started_at=__import__("datetime").datetime.now(), params={})
    before = real.read_bytes()
    message = one_error(cli("demo", "--db", str(real), "--days", "2", "--per-day", "2"))
    assert "is not a database the demo created" in message
    assert real.read_bytes() == before


def test_demo_takes_its_own_database_again(tmp_path: Path) -> None:
    own = tmp_path / "demo.db"
    for _ in range(2):
        result = cli("demo", "--db", str(own), "--days", "2", "--per-day", "3")
        assert result.exit_code == 0, result.output


# -- exit codes and terminals ---------------------------------------------------------------


def test_usage_errors_exit_64_not_2() -> None:
    assert cli("sync", "--no-such-option").exit_code == 64
    assert cli("cancel", "add").exit_code == 64
    assert cli("no-such-command").exit_code == 64


def test_server_text_cannot_drive_the_terminal() -> None:
    from toefl_access.errors import printable

    assert printable("bad\x1b[2J\x1b]0;pwned\x07 key\r\x00") == "bad key"
    assert printable("line one\nline\ttwo") == "line one\nline\ttwo"


def test_standard_output_on_a_full_disk_is_one_sentence() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    for args in (["parse", str(SAMPLE)], ["layouts"]):
        with open("/dev/full", "wb") as full:
            done = subprocess.run([sys.executable, "-m", "toefl_access", *args], stdout=full,
                                  stderr=subprocess.PIPE, timeout=60)  # fmt: skip
        assert done.returncode == 1
        assert done.stderr == b"Error: cannot write the output: No space left on device\n"


# -- absurd values: one sentence each -------------------------------------------------------

ENV = {
    "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE,
    "TOEFL_ACCESS_BASE_URL": "http://127.0.0.1:9/scores",  # nothing listens there
    "TOEFL_ACCESS_AUTHCODE_FILE": "",
    "TOEFL_ACCESS_DB": "",
}


@pytest.mark.parametrize(
    ("args", "says", "code"),
    [
        (["sync", "--since", "2026-01-01", "--window", "99999999d"], "longer than 3650 days", 1),
        (["sync", "--lookback", "999999999999d"], "longer than 3650 days", 1),
        (["sync", "--since", "2026-01-01", "--lag", "99999999999d"], "longer than 3650 days", 1),
        (["sync", "--since", "9999-12-31"], "outside 1970..2199", 1),
        (["fetch", "--start", "9999-12-31T23:59:58", "--end", "9999-12-31T23:59:59.5"],
         "outside 1970..2199", 1),
        (["fetch", "--start", "0001-01-01", "--end", "0001-01-02"], "outside 1970..2199", 1),
        (["status", "--runs", "99999999999999999999"], "not in the range 0<=x<=1000", 64),
        (["status", "--db", "postgresql://u@127.0.0.1:abc/db"], "is not a database URL", 1),
    ],
)  # fmt: skip
def test_absurd_values_are_one_sentence(
    tmp_path: Path, args: list[str], says: str, code: int
) -> None:
    if "--db" not in args and args[0] in ("sync", "status"):
        args = [*args, "--db", f"sqlite:///{tmp_path}/t.db"]
    result = cli(*args, env=ENV)
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output


def test_a_nul_in_the_database_url_is_one_sentence(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('db = "postgresql://u@h/a\\u0000b"\n')
    message = one_error(cli("status", "--config", str(settings), env=ENV))
    assert "is not a database URL" in message and "\x00" not in message


def test_a_settings_file_that_is_not_utf8(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_bytes(b'db = "\xff\xfe"\n')
    message = one_error(cli("status", "--config", str(settings), env=ENV))
    assert "is not UTF-8 text" in message


def test_a_csv_field_over_the_csv_limit(tmp_path: Path) -> None:
    big = tmp_path / "cancel.csv"
    big.write_text("registration_number,test_date,reason\n1234567890123456,2026-01-01,"
                   + "x" * 140_000 + "\n")  # fmt: skip
    db = f"sqlite:///{tmp_path}/db.db"
    from toefl_access.store import open_store

    open_store(db).close()
    message = one_error(cli("cancel", "import", str(big), "--db", db))
    assert "line 2: cannot read the line: field larger than field limit" in message
    layout = tmp_path / "layout.csv"
    layout.write_text("start,end,size,name,kind,label,source\n1,4,4,institution_code,code,"
                      + "L" * 140_000 + ",ets\n")  # fmt: skip
    message = one_error(cli("parse", str(SAMPLE), "--layout", str(layout)))
    assert "row 2: cannot read the row: field larger than field limit" in message


def test_a_layout_declaring_a_giant_field(tmp_path: Path) -> None:
    layout = tmp_path / "giant.csv"
    layout.write_text("start,end,size,name,kind,label,source\n1,4,4,institution_code,code,I,ets\n"
                      "5,1000000004,1000000000,huge,text,H,ets\n")  # fmt: skip
    for args in (["parse", str(SAMPLE), "--layout", str(layout)], ["layouts", str(layout)]):
        message = one_error(cli(*args))
        assert "past the 65,536 bytes a record may have" in message


def test_export_to_dev_null_and_through_a_symlink(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert cli("demo", "--db", str(db), "--days", "2", "--per-day", "3").exit_code == 0
    url = f"sqlite:///{db}"
    assert cli("export", "--to", "csv", "-o", os.devnull, "--db", url).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert cli("export", "--to", "csv", "-o", str(link), "--db", url).exit_code == 0
    assert link.is_symlink() and real.read_text(encoding="utf-8-sig").startswith("institution")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_a_loop_of_symbolic_links_is_one_sentence(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    message = one_error(cli("parse", str(SAMPLE), "-o", str(loop)))
    assert "cannot write" in message and "loop of symbolic links" in message
