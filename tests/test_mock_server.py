"""The mock on a real loopback socket: serve(), the vendor's own example, and the CLI."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from toefl_access.api.hosts import is_loopback
from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.formats.parse import parse
from toefl_access.mock import DEMO_AUTHCODE, MockApi, population, serve
from toefl_access.mock.server import bind

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WINDOW = {
    "startdate": "2025-04-21T16:45:03",
    "enddate": "2025-04-22T16:52:13",
    "type": "TOEFL",
    "reportby": "scorelinkbyreportdate",
}
KEY = {"authcode": DEMO_AUTHCODE}

# The Python example of the vendor's article (seed/toefl-access-custom-integration.txt),
# verbatim but for the indentation its web page lost. The test changes only the base URL
# and fills in the key placeholder.
VENDOR_EXAMPLE = """
import requests
import json
from datetime import datetime

# Set up parameters
base_url = "https://toeflaccess-api.ets.org/scores"
headers = {
"authcode": "YOUR_AUTH_CODE_HERE"
}

# For JSON response
json_params = {
"startdate": "2025-04-21T16:45:03",
"enddate": "2025-04-22T16:52:13",
"type": "TOEFL",
"reportby": "scorelinkbyreportdate",
"format": "json"
}

json_response = requests.get(base_url, headers=headers, params=json_params)
if json_response.status_code == 200:
    data = json_response.json()
    print("JSON Success:", data)

# For fixed-length string response
fixed_params = {
"startdate": "2025-04-21T16:45:03",
"enddate": "2025-04-22T16:52:13",
"type": "TOEFL",
"reportby": "scorelinkbyreportdate"
}

fixed_response = requests.get(base_url, headers=headers, params=fixed_params)
if fixed_response.status_code == 200:
    fixed_data = fixed_response.text
    print("Fixed-length Success:", fixed_data)
    # Parse fixed-length string according to score link layout
"""


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(MockApi(now=NOW)) as base:
        yield base


def test_serve_yields_a_loopback_scores_url(url: str) -> None:
    assert url.startswith("http://127.0.0.1:") and url.endswith("/scores")
    assert int(url.split(":")[2].split("/")[0]) > 0


def test_both_formats_over_loopback_give_equal_records(url: str) -> None:
    text = httpx.get(url, params=WINDOW, headers=KEY)
    data = httpx.get(url, params={**WINDOW, "format": "json"}, headers=KEY)
    assert text.status_code == data.status_code == 200
    a, b = list(parse(text.content)), list(parse(data.content))
    assert len(a) == len(b) > 20
    assert all(x.same_report(y) for x, y in zip(a, b, strict=True))
    assert (
        httpx.get(url, params={**WINDOW, "type": ""}, headers=KEY).text
        == "type/program is required"
    )
    assert httpx.get(url, params=WINDOW).status_code == 401


def test_the_vendors_python_example_runs_unchanged(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = VENDOR_EXAMPLE.replace("https://toeflaccess-api.ets.org/scores", url)
    code = code.replace("YOUR_AUTH_CODE_HERE", DEMO_AUTHCODE)
    scope: dict[str, object] = {}
    exec(compile(code, "vendor_example.py", "exec"), scope)
    json_response, fixed_response = scope["json_response"], scope["fixed_response"]
    assert json_response.status_code == 200 and fixed_response.status_code == 200  # type: ignore[attr-defined]
    data, fixed_data = scope["data"], scope["fixed_data"]
    assert isinstance(data, dict) and len(data["data"]) > 20
    assert isinstance(fixed_data, str) and len(fixed_data.encode()) == 1601 * len(data["data"])
    assert "JSON Success:" in capsys.readouterr().out


def test_many_requests_at_the_same_time(url: str) -> None:
    days = [(f"2025-03-{d:02d}T00:00:00", f"2025-03-{d + 1:02d}T00:00:00") for d in range(1, 17)]

    def one(window: tuple[str, str]) -> bytes:
        params = {**WINDOW, "startdate": window[0], "enddate": window[1]}
        answer = httpx.get(url, params=params, headers=KEY, timeout=30)
        assert answer.status_code == 200
        return answer.content

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        bodies = list(pool.map(one, days))
    want = [list(population.released(lo, hi)) for lo, hi in days]
    for body, records in zip(bodies, want, strict=True):
        assert [r.values for r in parse(body)] == [r.values for r in records]


def test_faults_over_the_socket() -> None:
    api = MockApi(faults=["reset:1"], now=NOW, per_day=400)
    with serve(api) as base:
        with pytest.raises(httpx.TransportError):  # noqa: SIM117 (the error comes from the body)
            with httpx.stream("GET", base, params=WINDOW, headers=KEY) as r:
                for _ in r.iter_raw():
                    pass
        # the server survives a dropped connection
        assert httpx.get(base.replace("/scores", "/nope")).status_code == 404
    assert [s.fault for s in api.served] == ["reset", None]


def test_serve_refuses_a_busy_port(url: str) -> None:
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(UsageError, match="--port 0"):
        bind("127.0.0.1", port)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


# -- the command ----------------------------------------------------------------------------


def test_mock_server_command_serves_until_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "mock-server", "--port", "0", "--per-day", "5",
         "--seed", "3", "--fault", "429:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a silent server
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("export TOEFL_ACCESS_BASE_URL=http://127.0.0.1:")
        settings = dict(part.split("=", 1) for part in line.split()[1:])
        base, key = settings["TOEFL_ACCESS_BASE_URL"], settings["TOEFL_ACCESS_AUTHCODE"]
        assert key == DEMO_AUTHCODE
        answer = httpx.get(base, params=WINDOW, headers={"authcode": key}, timeout=10)
        assert answer.status_code == 200
        want = population.released(WINDOW["startdate"], WINDOW["enddate"], seed=3, per_day=5)
        assert [r.values for r in parse(answer.content)] == [r.values for r in want]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        watchdog.cancel()
    assert proc.returncode == 0, err
    assert "accepts the API key" in err and "stopped after 1 requests" in err


def test_mock_server_command_refuses_bad_settings() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["mock-server", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--public" in result.output
    result = runner.invoke(main, ["mock-server", "--fault", "explode:1"])
    assert result.exit_code == 1 and "unknown kind 'explode'" in result.output
    result = runner.invoke(main, ["mock-server", "--authcode", "not-a-key"])
    assert result.exit_code == 2 and "Base64" in result.output
