"""The status page (``toefl-access serve``) against real databases filled by real syncs.

The app is driven in-process with Starlette's TestClient; the database is made by syncing
from the mock API, plus a test taker whose name is ``<script>alert(1)</script>`` and whose
ID number is stored in clear (``sensitive = keep``), reported twice (a rescore with a
warning). ``tests/test_browser.py`` loads the same pages in Chromium.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import select
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.api.hosts import is_loopback
from toefl_access.cli import main
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import sample_reports, values_of
from toefl_access.ops.health import iso
from toefl_access.store import Store, open_store
from toefl_access.store import dashboard as board
from toefl_access.sync import SyncSettings, sync
from toefl_access.web.app import COOKIE, SECURITY_HEADERS, TokenLogFilter, create_app

with warnings.catch_warnings():  # Starlette 1.x would rather drive it with httpx2; httpx works
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"
ID_NUMBER = "ZX98765432"
REG = "0000762424339444"
WRONG = "d3Jvbmc6a2V5"  # base64 of "wrong:key": well formed, refused


def hostile_values(**changes: Any) -> dict[str, Any]:
    """A report of :data:`REG` named :data:`HOSTILE`, with :data:`ID_NUMBER`."""
    values = {k: v for k, v in values_of(sample_reports()[0]).items() if v is not None}
    values.update(registration_number=REG, last_name=HOSTILE, first_name='"Bobby" & <b>',
                  security_id_number=ID_NUMBER, test_date=dt.date(2026, 2, 14))  # fmt: skip
    values.update(changes)
    return values


def add_report(url: str, day: dt.datetime, values: dict[str, Any], *, now: dt.datetime) -> int:
    """Sync the one UTC day from ``day`` (a backfill) from an API answering only ``values``
    (as JSON), keeping ID numbers in clear. Returns the run's exit code."""
    body = msgspec.json.encode({"data": [values]})

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    settings = SyncSettings(since=day, until=day + dt.timedelta(days=1), format="json",
                            sensitive="keep")  # fmt: skip
    with (
        Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
               transport=httpx.MockTransport(answer)) as client,
        open_store(url) as store,
    ):  # fmt: skip
        return sync(client, store, settings, now=now).exit_code


def add_hostile(url: str, *, now: dt.datetime) -> None:
    """The hostile test taker, reported twice: speaking 23 -> 27 and a total that no
    longer adds up (a warning)."""
    assert add_report(url, now - dt.timedelta(days=20), hostile_values(), now=now) == 0
    rescored = hostile_values(speaking=27, total=99)
    assert add_report(url, now - dt.timedelta(days=12), rescored, now=now) == 0


def fill(url: str, *, now: dt.datetime = NOW, days: int | None = 40,
         authcode: str = DEMO_AUTHCODE, per_day: int = 12) -> int:  # fmt: skip
    """Sync ``days`` days up to ``now`` from the mock API (None: a regular run, from the
    watermark, retrying failed windows)."""
    api = MockApi(seed=11, per_day=per_day)
    with (
        Client(authcode=authcode, base_url="http://127.0.0.1/scores",
               transport=api.transport()) as client,
        open_store(url) as store,
    ):  # fmt: skip
        since = None if days is None else now - dt.timedelta(days=days)
        return sync(client, store, SyncSettings(since=since), now=now).exit_code


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database with 40 days of reports and the hostile test taker (read only)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web')}/scores.db"
    assert fill(url) == 0
    add_hostile(url, now=NOW)
    return url


@pytest.fixture(scope="module")
def client(filled: str) -> Iterator[TestClient]:
    with TestClient(create_app(filled, now=NOW)) as c:
        yield c


def test_the_overview_shows_health_key_runs_and_charts(client: TestClient, filled: str) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    with open_store(filled) as store:
        st = store.status(runs=5)
        fingerprint = store.key_history().fingerprint
    assert st.watermark is not None and fingerprint
    assert "Healthy" in page and "Needs attention" not in page
    assert st.watermark.strftime("%Y-%m-%d %H:%M UTC") in page
    assert fingerprint in page and 'class="badge key-ok">ok<' in page
    assert f"{st.reports:,}" in page
    for run in st.runs:  # the runs table: one row per run with its counts
        assert re.search(rf"<td>{run.id}</td><td>sync</td>\s*<td>{run.started_at:%Y-%m-%d %H:%M}",
                         page)  # fmt: skip
    # four charts, each an accessible SVG with drawn parts
    for ident in ("chart-released", "chart-coverage", "chart-total", "chart-band"):
        svg = re.search(rf'<svg [^>]*id="{ident}"[^>]*>.*?</svg>', page, re.S)
        assert svg is not None, ident
        assert 'role="img"' in svg.group(0) and f'id="{ident}-title"' in svg.group(0)
        assert "<rect" in svg.group(0)
    # counts by department, as status has them
    top = st.by_department[0]
    assert re.search(rf"<td>{top.institution_code}</td><td>{top.department_code}</td>"
                     rf'<td class="num">{top.reports:,}</td>', page)  # fmt: skip


def test_feed_values_are_escaped_and_id_numbers_never_shown(client: TestClient) -> None:
    pages = {path: client.get(path) for path in ("/", f"/reports/{REG}", "/api/status",
                                                  "/healthz", "/reports/0000000000000001")}
    for path, r in pages.items():
        assert ID_NUMBER not in r.text, path
        assert HOSTILE not in r.text, path
        assert DEMO_AUTHCODE not in r.text, path
    person = pages[f"/reports/{REG}"].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in person
    assert "&#34;Bobby&#34; &amp; &lt;b&gt;" in person
    assert "security_id_number" not in person  # not even the row


def test_a_report_page_shows_revisions_side_by_side(client: TestClient) -> None:
    r = client.get(f"/reports/{REG}")
    assert r.status_code == 200
    page = r.text
    assert f"Registration number {REG}" in page
    assert "<th scope=\"col\">revision 1</th>" in page
    assert "<th scope=\"col\">revision 2 (current)</th>" in page
    # the changed values are highlighted in the revision that changed them
    speaking = re.search(r'<tr class="moved"><th scope="row"[^>]*>speaking</th>\s*'
                         r"<td>23</td><td class=\"changed\">27</td></tr>", page)  # fmt: skip
    assert speaking, page
    assert re.search(r">total</th>\s*<td>88</td><td class=\"changed\">99</td>", page)
    assert re.search(r">listening</th>\s*<td>24</td><td>24</td>", page)  # unchanged: plain
    assert "speaking: 23 → 27" in page and "total: 88 → 99" in page
    assert re.search(r"revision 2: total: [^<]*", page), "the warning of revision 2"
    assert "Every other field" in page  # address, e-mail, ... folded away


def test_unknown_pages_and_numbers_are_404_pages(client: TestClient) -> None:
    for path in ("/reports/1234567890123456", "/reports/not%20a%20number", "/nothing-here"):
        r = client.get(path)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], path
        assert "<h1>" in r.text and r.headers["x-frame-options"] == "DENY"
    assert "<strong>1234567890123456</strong>" in client.get("/reports/1234567890123456").text
    r = client.get("/reports/%3Cscript%3E")
    assert r.status_code == 404 and "<script>" not in r.text and "&lt;script&gt;" in r.text


def test_the_lookup_form_redirects_to_the_report(client: TestClient) -> None:
    r = client.get("/reports", params={"reg": f" {REG} "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{REG}"
    r = client.get("/reports", params={"reg": "a/b"}, follow_redirects=False)
    assert r.headers["location"] == "/reports/a%2Fb"


def test_api_status_is_the_health_as_json(client: TestClient, filled: str) -> None:
    r = client.get("/api/status")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    with open_store(filled) as store:
        st = store.status(runs=1)
    assert body["watermark"] == iso(st.watermark) and body["watermark"].endswith("Z")
    assert body["reports"] == st.reports and isinstance(body["reports"], int)
    last = body["last_run"]
    assert last["exit_code"] == 0 and last["failed_windows"] == []
    assert last["started"] == iso(st.runs[0].started_at) and last["finished"].endswith("Z")
    assert body["gaps"] == [] and body["key"] == "ok"
    assert body["healthy"] is True and body["reasons"] == []
    assert client.head("/api/status").status_code == 200


def test_every_answer_has_the_security_headers_and_only_get_and_head_pass(
    client: TestClient,
) -> None:
    paths = ["/", f"/reports/{REG}", "/api/status", "/healthz", "/static/style.css", "/nope"]
    for path in paths:
        for method in ("GET", "HEAD"):
            r = client.request(method, path)
            for name, value in SECURITY_HEADERS.items():
                assert r.headers[name] == value, (method, path, name)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            r = client.request(method, path)
            assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", (method, path)
            assert r.headers["content-security-policy"] == SECURITY_HEADERS[
                "Content-Security-Policy"]
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_pages_carry_no_inline_script_or_style(client: TestClient) -> None:
    for path in ("/", f"/reports/{REG}", "/reports/1"):
        page = client.get(path).text
        assert "<script" not in page and " style=" not in page and "<style" not in page
        assert re.findall(r'(?:href|src)="(https?:)?//', page) == []  # nothing from elsewhere
        assert 'href="/static/style.css"' in page


def test_healthz_is_503_after_a_refused_run_and_200_after_a_good_one(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=5) == 0
    with TestClient(create_app(sqlite_url, now=NOW)) as c:
        assert (c.get("/healthz").status_code, c.get("/healthz").text) == (200, "ok\n")
        assert fill(sqlite_url, days=5, authcode=WRONG) == 2
        r = c.get("/healthz")
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/plain")
        assert "exit code 2" in r.text and "Generate" in r.text
        status = c.get("/api/status").json()
        assert status["healthy"] is False and status["key"] == "refused"
        assert status["last_run"]["exit_code"] == 2
        page = c.get("/").text
        assert "Needs attention" in page and 'class="badge key-refused">refused<' in page
        assert fill(sqlite_url, days=5) == 0
        assert c.get("/healthz").status_code == 200


def test_an_old_watermark_is_unhealthy_after_max_age(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=5) == 0
    later = NOW + dt.timedelta(hours=30)
    with TestClient(create_app(sqlite_url, now=later, max_age=dt.timedelta(days=1))) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and "watermark" in r.text and "30 h old" in r.text
    with TestClient(create_app(sqlite_url, now=later)) as c:  # default: 2 days
        assert c.get("/healthz").status_code == 200


def test_an_empty_database_renders_and_is_unhealthy(sqlite_url: str) -> None:
    with TestClient(create_app(sqlite_url, now=NOW)) as c:
        page = c.get("/")
        assert page.status_code == 200 and "no sync has run yet" in page.text
        assert "no reports released in this period" in page.text
        assert c.get("/healthz").status_code == 503
        body = c.get("/api/status").json()
        assert body["watermark"] is None and body["last_run"] is None and body["key"] == "unknown"


def test_a_failed_window_shows_with_its_error(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=3) == 0
    later = NOW + dt.timedelta(days=1)
    assert failing_sync(sqlite_url, later) == 1
    with open_store(sqlite_url) as store:
        failures = store.status(runs=1).runs[0].failures
    assert failures
    with TestClient(create_app(sqlite_url, now=later)) as c:
        page = c.get("/").text
        assert "Needs attention" in page and "some windows failed" in page
        assert f"{failures[0].start:%Y-%m-%d %H:%M} .. {failures[0].end:%Y-%m-%d %H:%M}" in page
        body = c.get("/api/status").json()
        assert body["last_run"]["failed_windows"][0]["error"] == failures[0].error
        assert 'fill="#dc2626"><title>' in page  # a failed day in the calendar


def test_a_token_guards_every_request(filled: str) -> None:
    token = "s3cret-Token"
    with TestClient(create_app(filled, now=NOW, token=token)) as c:
        for path in ("/", "/healthz", "/api/status", "/static/style.css", f"/reports/{REG}"):
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/healthz", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/healthz", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.text) == (200, "ok\n")
        assert c.get("/?token=wrong", follow_redirects=False).status_code == 401
        r = c.get(f"/reports/{REG}?x=1&token={token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/reports/{REG}?x=1"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and token not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert c.get("/").status_code == 200  # the cookie now stands for the token
        c.cookies.set(COOKIE, "forged")
        assert c.get("/").status_code == 401


def test_the_access_log_masks_the_token() -> None:
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"',
                               ("127.0.0.1", "GET", "/?a=1&token=abc&b=2"), None)  # fmt: skip
    TokenLogFilter().filter(record)
    assert "abc" not in record.getMessage() and "token=***&b=2" in record.getMessage()


def test_dashboard_queries(store_url: str) -> None:
    """Released per day, the coverage calendar and the distributions, on both backends."""
    assert fill(store_url, days=20) == 0
    add_hostile(store_url, now=NOW)
    with open_store(store_url) as store:
        check_dashboard(store)


def check_dashboard(store: Store) -> None:
    today = NOW.date()
    per_day = board.released_per_day(store, last=today, days=30)
    assert len(per_day) == 30 and per_day[-1][0] == today
    assert per_day[0][0] == today - dt.timedelta(days=29)
    assert all(set(counts) == set(board.SCALES) for _, counts in per_day)
    st = store.status()
    counted = sum(sum(c.values()) for _, c in per_day)
    assert counted == st.reports  # every report was released inside the 30 days
    by_scale = {k: sum(c[k] for _, c in per_day) for k in board.SCALES}
    assert by_scale == st.by_scale
    # the hostile report is filed under the day of the window that first reported it
    hostile_day = (NOW - dt.timedelta(days=20)).date()
    assert dict(per_day)[hostile_day]["0-120"] >= 1
    first = today - dt.timedelta(days=34)
    cal = board.coverage_calendar(store, first=first, last=today, now=NOW)
    assert list(cal) == [first + dt.timedelta(days=i) for i in range(35)]
    since = (NOW - dt.timedelta(days=20)).date()
    assert all(cal[d] == "none" for d in cal if d < since)
    assert cal[since] == "partial"  # the sync began at noon
    assert all(cal[d] == "covered" for d in cal if d > since)
    dist = board.distributions(store)
    totals = sum(dist.total.values()) + sum(dist.ibt26_total.values())
    assert totals == st.by_scale["0-120"] + st.by_scale["1-6"] + 2 * st.by_scale["both"]
    assert dist.total[99] >= 1  # the hostile report's current total
    assert all(v * 2 == int(v * 2) and 1 <= v <= 6 for v in dist.ibt26_total)


def failing_sync(url: str, now: dt.datetime) -> int:
    """A run in which every window fails (HTTP 500, no retry)."""
    api = MockApi(seed=11, per_day=12, faults=["500:1"])
    with (
        Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
               transport=api.transport(), retries=1) as client,
        open_store(url) as store,
    ):  # fmt: skip
        return sync(client, store, SyncSettings(), now=now).exit_code


def test_the_coverage_calendar_marks_failed_days_until_fetched(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=3) == 0
    later = NOW + dt.timedelta(days=1)
    assert failing_sync(sqlite_url, later) == 1
    first, today = NOW.date() - dt.timedelta(days=4), later.date()

    def calendar() -> list[str]:
        with open_store(sqlite_url) as store:
            cal = board.coverage_calendar(store, first=first, last=today, now=later)
        assert list(cal) == [first + dt.timedelta(days=i) for i in range(6)]
        return list(cal.values())

    # re-read days that failed stay covered; the time not covered before failed (also the
    # five minutes before the first sync began at noon, which the lookback asked for)
    assert calendar() == ["none", "failed", "covered", "covered", "failed", "failed"]
    assert fill(sqlite_url, now=later, days=None) == 0  # the next good run fetches them
    assert calendar() == ["none", "partial", "covered", "covered", "covered", "covered"]


def test_the_page_files_are_package_data() -> None:
    import tomllib

    conf = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    data = conf["tool"]["setuptools"]["package-data"]["toefl_access"]
    assert "web/templates/*.html" in data and "web/static/*" in data
    assert json.loads(json.dumps(data))  # plain strings


# -- the command --------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """The environment without settings that would point the commands elsewhere."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("TOEFL_ACCESS_")} | {"COLUMNS": "120"}  # fmt: skip


def first_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The first line the process prints, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"no line within {timeout} s; stderr: {err}")
    return proc.stdout.readline()


def test_loopback() -> None:
    def loopback(host: str) -> bool:
        return is_loopback(host, resolve=True)

    assert all(map(loopback, ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost")))
    assert not any(map(loopback, ("0.0.0.0", "::", "192.0.2.7", "example.invalid")))


def test_serve_refuses_a_public_address_without_a_token(filled: str) -> None:
    env = {"TOEFL_ACCESS_SERVE_TOKEN": ""}
    for host in ("0.0.0.0", "192.0.2.7"):
        r = CliRunner().invoke(main, ["serve", "--db", filled, "--host", host], env=env)
        assert r.exit_code == 64, r.output
        assert "TOEFL_ACCESS_SERVE_TOKEN" in r.stderr and "export" in r.stderr
        assert "Serving" not in r.stdout


def test_serve_needs_an_existing_database_and_a_free_port(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{tmp_path}/none.db"])
    assert r.exit_code != 0 and "there is no database" in r.stderr
    assert not (tmp_path / "none.db").exists()
    r = CliRunner().invoke(main, ["serve", "--max-age", "soon"])
    assert r.exit_code != 0 and "--max-age" in r.stderr


def test_serve_prints_its_url_and_a_token_guards_it(filled: str, tmp_path: Path) -> None:
    token = "Tok-" + "x" * 20
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "serve", "--db", filled, "--port", "0",
         "--max-age", "3650d"],
        cwd=tmp_path, env=clean_env() | {"TOEFL_ACCESS_SERVE_TOKEN": token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = first_line(proc)
        match = re.fullmatch(r"Serving (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)\n", line)
        assert match and int(match.group(2)) > 0, line
        url = match.group(1)
        assert httpx.get(url + "healthz").status_code == 401
        r = httpx.get(url + "healthz", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.text) == (200, "ok\n")
        with httpx.Client() as c:
            r = c.get(url + f"?token={token}", follow_redirects=True)
            assert r.status_code == 200 and "Healthy" in r.text and str(r.url) == url
            assert c.get(url + "api/status").json()["reports"] > 0  # the cookie, now
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert token not in err
