"""The status page (``toefl-access serve``) against real databases filled by real syncs.

The app is driven in-process with Starlette's TestClient; the database is made by syncing
from the mock API, plus a test taker whose name is ``<script>alert(1)</script>`` and whose
ID number is stored in clear (``sensitive = keep``), reported twice (a rescore with a
warning): see ``tests/webdata.py``. ``tests/test_browser.py`` loads the same pages in
Chromium.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from webdata import (
    HOSTILE,
    ID_NUMBER,
    NOW,
    REG,
    WRONG,
    add_hostile,
    failing_sync,
    fill,
    plain,
    query_plan,
    serving,
    table_rows,
)

from toefl_access.api.hosts import is_loopback
from toefl_access.cli import main
from toefl_access.mock import DEMO_AUTHCODE
from toefl_access.ops.health import iso
from toefl_access.store import AlertEvent, Store, open_store
from toefl_access.store import dashboard as board
from toefl_access.store import schema as s
from toefl_access.web import app as web_app
from toefl_access.web import pages
from toefl_access.web.app import COOKIE, SECURITY_HEADERS, TokenLogFilter, create_app

with warnings.catch_warnings():  # Starlette 1.x would rather drive it with httpx2; httpx works
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

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
    answers = {path: client.get(path) for path in ("/", f"/reports/{REG}", "/api/status",
                                                    "/healthz", "/reports/0000000000000001")}
    for path, r in answers.items():
        assert ID_NUMBER not in r.text, path
        assert HOSTILE not in r.text, path
        assert DEMO_AUTHCODE not in r.text, path
    person = answers[f"/reports/{REG}"].text
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
        assert "None recorded" in page.text and 'id="open-alerts"' not in page.text
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


def test_monitors_call_healthz_and_api_status_with_the_token_in_the_query(filled: str) -> None:
    token = "s3cret-Token_x"
    with TestClient(create_app(filled, now=NOW, token=token)) as c:
        r = c.get(f"/healthz?token={token}", follow_redirects=False)
        assert (r.status_code, r.text) == (200, "ok\n") and "set-cookie" not in r.headers
        r = c.get(f"/api/status?token={token}", follow_redirects=False)
        assert r.status_code == 200 and r.json()["healthy"] is True
        assert "set-cookie" not in r.headers and r.headers["cache-control"] == "no-store"
        assert c.head(f"/healthz?token={token}").status_code == 200
        assert c.get("/healthz?token=wrong").status_code == 401
        assert c.get("/healthz").status_code == 401  # no cookie came with those answers
        assert c.get(f"/?token={token}", follow_redirects=False).status_code == 303  # a person


def test_the_cookie_is_secure_when_the_request_came_over_https(filled: str) -> None:
    token = "s3cret-Token_x"
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(create_app(filled, now=NOW, token=token), base_url=base) as c:
            cookie = c.get(f"/?token={token}", follow_redirects=False).headers["set-cookie"]
            assert ("; secure" in cookie.lower()) is secure, base


def test_the_access_log_masks_the_token() -> None:
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"',
                               ("127.0.0.1", "GET", "/?a=1&token=abc&b=2"), None)  # fmt: skip
    TokenLogFilter().filter(record)
    assert "abc" not in record.getMessage() and "token=***&b=2" in record.getMessage()


def test_open_alerts_show_by_the_banner_and_recent_ones_in_a_table(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=5) == 0
    at = dt.datetime(2026, 3, 10, 3, 10, tzinfo=dt.UTC)
    with open_store(sqlite_url) as store:
        for ev in (
            AlertEvent("windows_failing", "open", NOW - dt.timedelta(days=2), "failing",
                       delivered={"webhook": "ok"}),
            AlertEvent("windows_failing", "resolved", NOW - dt.timedelta(days=1), "fine",
                       delivered={"webhook": "ok"}),
            AlertEvent("key_refused", "open", at, "TOEFL Access refused the API key <b>x</b>",
                       delivered={"webhook": "ok", "email": "535 auth failed"}),
            AlertEvent("no_new_reports", "open", at + dt.timedelta(minutes=5), "7 days"),
        ):  # fmt: skip
            store.record_alert(ev)
    with TestClient(create_app(sqlite_url, now=NOW)) as c:
        page = c.get("/").text
        status = c.get("/api/status").json()
    box = re.search(r'<section class="banner alert" id="open-alerts".*?</section>', page, re.S)
    assert box is not None and page.index("open-alerts") < page.index("At a glance")
    text = plain(box.group(0))
    assert text.startswith("2 open alerts")
    assert ("key_refused open since 2026-03-10 03:10 UTC — webhook: ok / email: 535 auth "
            "failed TOEFL Access refused the API key <b>x</b>") in text
    assert "no_new_reports open since 2026-03-10 03:15 UTC — recorded, no channel configured"\
        in text
    assert "windows_failing" not in text  # resolved
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert table_rows(page, "alerts") == [
        ["2026-03-10 03:15", "no_new_reports", "open", "recorded, no channel configured"],
        ["2026-03-10 03:10", "key_refused", "open", "webhook: ok / email: 535 auth failed"],
        ["2026-03-09 12:00", "windows_failing", "resolved", "webhook: ok"],
        ["2026-03-08 12:00", "windows_failing", "open", "webhook: ok"],
    ]
    open_rows = re.findall(r'<tr class="open"><td>([^<]*)</td><td>([^<]*)</td>', page)
    assert open_rows == [("2026-03-10 03:15", "no_new_reports"),
                         ("2026-03-10 03:10", "key_refused")]  # open now: not the older one
    assert [(a["event"], a["delivered"]) for a in status["alerts"]] == [
        ("key_refused", {"webhook": "ok", "email": "535 auth failed"}), ("no_new_reports", {})]


def test_the_alerts_table_shows_the_last_ten_and_names_the_channels(sqlite_url: str) -> None:
    assert fill(sqlite_url, days=2) == 0
    with open_store(sqlite_url) as store:
        for i in range(12):  # the last one resolves it: nothing open
            store.record_alert(AlertEvent("no_new_reports", ("open", "resolved")[i % 2],
                                          NOW - dt.timedelta(hours=12 - i), f"#{i}"))  # fmt: skip
    for channels, says in (([], "No alert channel is configured"),
                           (["webhook", "email"], "Alerts go to: webhook, email"),
                           (None, None)):  # fmt: skip
        with TestClient(create_app(sqlite_url, now=NOW, alert_channels=channels)) as c:
            page = c.get("/").text
        rows = table_rows(page, "alerts")
        assert [r[0] for r in rows] == [f"{NOW - dt.timedelta(hours=h):%Y-%m-%d %H:%M}"
                                        for h in range(1, 11)]  # fmt: skip
        assert 'id="open-alerts"' not in page
        for note in ("No alert channel is configured", "Alerts go to:"):
            wanted = says is not None and says.startswith(note)
            assert (note in plain(page)) is wanted, (channels, note)
        assert says is None or says in plain(page)
    with open_store(sqlite_url) as store:  # the sync has a channel that serve does not know
        store.record_alert(AlertEvent("no_new_reports", "open", NOW, "#12",
                                      delivered={"webhook": "ok"}))  # fmt: skip
    with TestClient(create_app(sqlite_url, now=NOW, alert_channels=[])) as c:
        assert "No alert channel is configured" not in c.get("/").text


def test_the_overview_and_health_are_cached_until_something_new(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fill(sqlite_url, days=3) == 0
    calls = {"gather": 0, "health": 0}

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(pages, "gather", counted("gather", pages.gather))
    monkeypatch.setattr(web_app, "health", counted("health", web_app.health))
    clock = [NOW]
    with TestClient(create_app(sqlite_url, now=lambda: clock[0])) as c:
        page = c.get("/").text
        assert c.get("/").text == page and c.get("/healthz").text == "ok\n"
        assert c.get("/api/status").json()["alerts"] == []
        clock[0] = NOW + dt.timedelta(seconds=59)
        c.get("/")
        assert calls == {"gather": 1, "health": 1}
        with open_store(sqlite_url) as store:  # a new alert shows at once
            store.record_alert(AlertEvent("key_refused", "open", NOW, "refused"))
        assert "key_refused" in c.get("/").text and calls == {"gather": 2, "health": 2}
        assert c.get("/api/status").json()["alerts"][0]["event"] == "key_refused"
        assert failing_sync(sqlite_url, NOW + dt.timedelta(hours=1)) == 1  # a new run too
        assert c.get("/healthz").status_code == 503 and calls["health"] == 3
        assert "some windows failed" in c.get("/").text and calls["gather"] == 3
        clock[0] += dt.timedelta(seconds=1)  # a minute after the first view
        c.get("/api/status")
        c.get("/")
        assert calls == {"gather": 3, "health": 3}
        clock[0] = NOW + dt.timedelta(seconds=60 + 59 + 1)  # 60 s after the last one
        c.get("/")
        assert calls == {"gather": 4, "health": 4}
    with TestClient(create_app(sqlite_url, now=NOW, cache_for=dt.timedelta(0))) as c:
        c.get("/")
        c.get("/")
        assert calls == {"gather": 6, "health": 6}


def test_the_overview_does_not_run_the_status_check(
    filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store.status checks every report's revision order: the page uses lighter counts."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Store.status was called")

    monkeypatch.setattr(Store, "status", refuse)
    with TestClient(create_app(filled, now=NOW)) as c:
        page = c.get("/")
    assert page.status_code == 200 and "Healthy" in page.text


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
    # what the page counts without Store.status (and its whole-table ordering check)
    tallies = board.tallies(store)
    assert (tallies.by_scale, tallies.by_department) == (st.by_scale, st.by_department)
    assert (tallies.schema, tallies.revisions, tallies.archived_responses) == (
        st.revision, st.revisions, st.archived_responses)


def released_by_hand(store: Store, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """What :func:`board.released_per_day` counts, report by report in Python."""
    out: dict[dt.date, int] = {}
    for report in store.reports():
        start = store.revisions(report["report_key"])[0]["window_start"]
        day = report["report_date"] or start.astimezone(dt.UTC).date()
        if first <= day <= last:
            out[day] = out.get(day, 0) + 1
    return out


def test_released_per_day_counts_only_its_period(store_url: str) -> None:
    """The period is filtered on stored (indexed) columns before grouping: the same counts
    as by hand, for a backfilled report (first seen today, released 20 days ago) and for
    reports with a report date (the legacy layout's), which decides their day."""
    assert fill(store_url, days=20) == 0
    add_hostile(store_url, now=NOW)
    today = NOW.date()
    with open_store(store_url) as store:
        t = s.score_reports
        with store._write() as conn:  # two reports as the legacy layout has them
            keys = conn.execute(sa.select(t.c.report_key).order_by(t.c.id).limit(2)).scalars()
            for key, back in zip(list(keys), (3, 300), strict=True):
                conn.execute(t.update().where(t.c.report_key == key)
                             .values(report_date=today - dt.timedelta(days=back)))  # fmt: skip
        for days in (1, 5, 10, 21, 30):
            first = today - dt.timedelta(days=days - 1)
            counted = {d: sum(c.values()) for d, c in
                       board.released_per_day(store, last=today, days=days) if sum(c.values())}
            assert counted == released_by_hand(store, first, today), days
        if store.backend == "sqlite":  # it reads the reports first seen since then only
            plan = query_plan(store, lambda: board.released_per_day(store, last=today, days=9),
                              "first_seen")  # fmt: skip
            assert "USING INDEX ix_score_reports_first_seen (first_seen>?)" in plan


def test_the_same_id_number_is_looked_up_by_its_index(filled: str) -> None:
    with open_store(filled) as store:
        plan = query_plan(store, lambda: pages.person(store, REG), "security_id_number IN")
    assert "USING INDEX ix_score_reports_security_id_number (security_id_number=?)" in plan


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
        assert "secrets.token_urlsafe(24)" in r.stderr and "base64" not in r.stderr
        assert "Serving" not in r.stdout


def test_serve_needs_an_existing_database_and_a_free_port(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{tmp_path}/none.db"])
    assert r.exit_code != 0 and "there is no database" in r.stderr
    assert not (tmp_path / "none.db").exists()
    r = CliRunner().invoke(main, ["serve", "--max-age", "soon"])
    assert r.exit_code != 0 and "--max-age" in r.stderr


def test_serve_prints_its_url_and_a_token_guards_it(filled: str, tmp_path: Path) -> None:
    token = "Tok-" + "x" * 20
    err: list[str] = []
    with serving(filled, tmp_path, "--max-age", "3650d", token=token, err=err) as url:
        assert httpx.get(url + "healthz").status_code == 401
        r = httpx.get(url + "healthz", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.text) == (200, "ok\n")
        r = httpx.get(url + f"healthz?token={token}")  # an uptime monitor
        assert (r.status_code, r.text) == (200, "ok\n") and "set-cookie" not in r.headers
        with httpx.Client() as c:
            # without --proxy-headers a forwarded scheme is not believed: plain http
            r = c.get(url + f"?token={token}", headers={"X-Forwarded-Proto": "https"},
                      follow_redirects=True)
            assert r.status_code == 200 and "Healthy" in r.text and str(r.url) == url
            assert "secure" not in r.history[0].headers["set-cookie"].lower()
            assert c.get(url + "api/status").json()["reports"] > 0  # the cookie, now
    assert token not in err[0] and "warning" not in err[0]


def test_serve_behind_a_tls_proxy_marks_the_cookie_secure(filled: str, tmp_path: Path) -> None:
    token = "a+b/c=" * 4  # what base64 makes: + and / change in a URL
    err: list[str] = []
    with serving(filled, tmp_path, "--proxy-headers", "--max-age", "3650d", token=token,
                 err=err) as url:
        for proto, secure in (("https", True), ("http", False)):
            r = httpx.get(url, params={"token": token}, headers={"X-Forwarded-Proto": proto})
            cookie = r.headers["set-cookie"].lower()
            assert r.status_code == 303 and ("; secure" in cookie) is secure, proto
        assert httpx.get(url + f"healthz?token={token}").status_code == 401  # + is a space
        assert httpx.get(url + "healthz", params={"token": token}).status_code == 200
    assert "warning: TOEFL_ACCESS_SERVE_TOKEN holds characters" in err[0]
    assert "secrets.token_urlsafe" in err[0] and token not in err[0]
