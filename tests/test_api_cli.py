"""``toefl-access fetch`` and ``check-key`` against the mock API on loopback."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
from click.testing import CliRunner, Result

from toefl_access.api.client import SANDBOX_URL, Client
from toefl_access.cli import main
from toefl_access.cli.api_cmds import make_client
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve

SECRET = base64.b64decode(DEMO_AUTHCODE).decode().partition(":")[2]
WINDOW = ["--start", "2025-04-01", "--end", "2025-04-03T12:00:00Z"]


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture(scope="module")
def api() -> MockApi:
    return MockApi(seed=4, per_day=60)


@pytest.fixture(scope="module")
def url(api: MockApi) -> Iterator[str]:
    with serve(api) as base_url:
        yield base_url


@pytest.fixture
def env(url: str, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("TOEFL_ACCESS_AUTHCODE_FILE", raising=False)
    monkeypatch.setenv("TOEFL_ACCESS_AUTHCODE", DEMO_AUTHCODE)
    monkeypatch.setenv("TOEFL_ACCESS_BASE_URL", url)
    return monkeypatch


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/scores"


def test_fetch_writes_the_same_records_from_json_and_from_text(env: pytest.MonkeyPatch) -> None:
    rows = {}
    for fmt in ("json", "text"):
        result = run("fetch", *WINDOW, "--format", fmt, "--sensitive", "keep")
        assert result.exit_code == 0, result.output
        assert result.stderr == ""  # no progress when stderr is not a terminal
        rows[fmt] = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows["json"]) == len(rows["text"]) > 100  # 2.5 days of 60 a day
    assert rows["json"] == rows["text"]
    assert all(row["_layout"] == "scorelink-1600" for row in rows["json"])


def test_fetch_raw_writes_the_body_exactly(env: pytest.MonkeyPatch, url: str,
                                          tmp_path: Path) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=url) as client:
        for fmt in ("text", "json"):
            body = client.fetch_body(*WINDOW[1::2], format=fmt).content
            out = tmp_path / f"body.{fmt}"
            keep = ("--sensitive", "keep")
            result = run("fetch", *WINDOW, "--format", fmt, "--raw", *keep, "-o", str(out))
            assert result.exit_code == 0, result.output
            assert out.read_bytes() == body
            assert f"{len(body):,} bytes" in result.stderr and str(out) in result.stderr
            assert run("fetch", *WINDOW, "--format", fmt, "--raw", *keep).stdout_bytes == body


def test_fetch_writes_no_id_number_in_clear_by_default(
    env: pytest.MonkeyPatch, url: str, tmp_path: Path
) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=url) as client:
        clear = [r["security_id_number"] for r in client.fetch(*WINDOW[1::2])]
    clear = [c for c in clear if c]
    assert len(clear) > 50
    env.delenv("TOEFL_ACCESS_SENSITIVE", raising=False)
    for args in (["--format", "text", "--raw"], ["--format", "json", "--raw"], ["--to", "csv"],
                 ["--to", "jsonl"]):  # fmt: skip
        out = tmp_path / "out"
        result = run("fetch", *WINDOW, *args, "-o", str(out))
        assert result.exit_code == 0, result.output
        data = out.read_bytes()
        assert not any(c.encode() in data for c in clear), args
        assert "ID numbers are left out: sensitive = hash needs hash_key_file" in result.stderr
        assert oct(out.stat().st_mode & 0o777) == "0o600"
    rows = [json.loads(line) for line in run("fetch", *WINDOW).stdout.splitlines()]
    assert {row["security_id_number"] for row in rows} == {None}
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    env.setenv("TOEFL_ACCESS_HASH_KEY_FILE", str(key))
    hashed = [json.loads(line)["security_id_number"] for line in run("fetch", *WINDOW).stdout
              .splitlines()]  # fmt: skip
    assert all(h is None or len(h) == 64 for h in hashed) and any(hashed)
    assert not set(hashed) & set(clear)


def test_fetch_to_a_csv_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = run("fetch", *WINDOW, "--to", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("institution_code,") and len(lines) > 100
    assert "records" in result.stderr and not (tmp_path / "scores.csv.part").exists()


def test_a_cut_answer_fails_and_leaves_no_file(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("TOEFL_ACCESS_AUTHCODE", DEMO_AUTHCODE)
    out = tmp_path / "scores.jsonl"
    with serve(MockApi(seed=4, per_day=60, faults=["truncate-short:1"])) as cut_url:
        monkeypatch.setenv("TOEFL_ACCESS_BASE_URL", cut_url)
        for extra in ([], ["--raw"]):
            result = run("fetch", *WINDOW, "--format", "text", *extra, "-o", str(out))
            assert result.exit_code == 1
            assert "cut short at byte" in result.stderr
            assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--start", "2025-04-03", "--end", "2025-04-01"], "is not before"),
        (["--start", "yesterday-ish", "--end", "2025-04-01"], "yesterday-ish"),
    ],
)
def test_bad_dates_fail_before_any_request(env: pytest.MonkeyPatch, api: MockApi,
                                           args: list[str], says: str) -> None:
    before = api.requests
    result = run("fetch", *args)
    assert result.exit_code == 1 and says in result.stderr
    assert api.requests == before


def test_raw_and_to_do_not_mix(env: pytest.MonkeyPatch) -> None:
    result = run("fetch", *WINDOW, "--raw", "--to", "csv")
    assert result.exit_code == 1 and "--raw" in result.stderr


def test_the_key_cannot_be_given_on_the_command_line(env: pytest.MonkeyPatch) -> None:
    for command in ("fetch", "check-key", "sync"):
        for flag in ("--authcode", f"--key={DEMO_AUTHCODE}"):
            result = run(command, flag, DEMO_AUTHCODE)
            assert result.exit_code == 64  # a usage error: 2 means only "key refused"
            assert "TOEFL_ACCESS_AUTHCODE_FILE" in result.stderr
            assert DEMO_AUTHCODE not in result.stderr + result.stdout


def test_without_a_key_the_error_says_where_to_put_one(env: pytest.MonkeyPatch) -> None:
    env.delenv("TOEFL_ACCESS_AUTHCODE")
    result = run("fetch", *WINDOW)
    assert result.exit_code == 1
    assert "TOEFL_ACCESS_AUTHCODE" in result.stderr and "mock-server" in result.stderr


def test_check_key_accepted_is_exit_0(env: pytest.MonkeyPatch) -> None:
    result = run("check-key")
    assert result.exit_code == 0 and result.stdout.startswith("OK:")


def test_check_key_refused_is_exit_2_with_the_advice(env: pytest.MonkeyPatch) -> None:
    other = base64.b64encode(b"someone:else-secret").decode()
    env.setenv("TOEFL_ACCESS_AUTHCODE", other)
    result = run("check-key")
    assert result.exit_code == 2 and result.stdout.startswith("REFUSED:")
    assert "Generate" in result.stdout and "GRE" in result.stdout
    assert other not in result.output and "else-secret" not in result.output
    env.setenv("TOEFL_ACCESS_AUTHCODE", "not-a-key")
    result = run("check-key")
    assert result.exit_code == 2 and "nothing was sent" in result.stdout


def test_check_key_unreachable_is_exit_3(env: pytest.MonkeyPatch) -> None:
    env.setenv("TOEFL_ACCESS_BASE_URL", closed_port_url())
    result = run("check-key")
    assert result.exit_code == 3 and result.stdout.startswith("UNREACHABLE:")
    assert "cannot connect" in result.stdout


def test_make_client_picks_the_sandbox(env: pytest.MonkeyPatch) -> None:
    assert make_client(sandbox=True).base_url == SANDBOX_URL
    assert make_client(retries=2).retries == 2


@pytest.mark.parametrize(
    ("args", "accepted", "exits"),
    [
        (["fetch", *WINDOW, "--format", "text"], True, (0, 1)),
        (["fetch", *WINDOW, "--raw"], True, (0, 1)),
        (["check-key"], True, (0, 3)),
        (["fetch", *WINDOW], False, (2,)),
        (["check-key"], False, (2,)),
    ],
)
def test_debug_output_never_shows_the_key(args: list[str], accepted: bool,
                                          exits: tuple[int, ...]) -> None:
    """`-vv` turns on DEBUG for everything, httpx and httpcore included: no key anywhere.

    The mock injects faults (so retries are logged), or accepts another key (so the key is
    refused and the advice printed).
    """
    faults = ["500:0.3", "truncate-short:0.3", "429:0.2:0"]
    mock_key = DEMO_AUTHCODE if accepted else base64.b64encode(b"other:key").decode()
    with serve(MockApi(authcode=mock_key, seed=9, per_day=30, faults=faults)) as base_url:
        env = dict(os.environ, TOEFL_ACCESS_AUTHCODE=DEMO_AUTHCODE,
                   TOEFL_ACCESS_BASE_URL=base_url)
        env.pop("TOEFL_ACCESS_AUTHCODE_FILE", None)
        done = subprocess.run([sys.executable, "-m", "toefl_access", "-vv", *args], env=env,
                              capture_output=True, timeout=120)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert "DEBUG httpcore" in stderr and "DEBUG toefl_access.api.client" in stderr
    assert done.returncode in exits, stderr[-2000:]
    for text in (stdout, stderr):
        assert DEMO_AUTHCODE not in text and SECRET not in text
