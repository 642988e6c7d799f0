"""The status page in a real browser: headless Chromium (Debian's ``chromium`` package,
never a downloaded one) driven by Playwright, against ``toefl-access serve`` running as a
subprocess over loopback, on a database made by ``toefl-access demo`` plus a test taker
named ``<script>alert(1)</script>`` (see ``tests/webdata.py``).

``scripts/test.sh`` installs ``chromium`` when it is missing (as root); without it these
tests are skipped, saying why, unless ``TOEFL_ACCESS_REQUIRE_BROWSER=1`` (CI sets it): then
they fail. ``TOEFL_ACCESS_CHROMIUM`` names another Chromium than ``/usr/bin/chromium``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webdata import HOSTILE, ID_NUMBER, REG, add_hostile, clean_env, serving

from toefl_access.store import AlertEvent, open_store

#: Set to 1 where the browser tests must run (CI): a missing browser fails them.
REQUIRE = "TOEFL_ACCESS_REQUIRE_BROWSER"
CHROMIUM = os.environ.get("TOEFL_ACCESS_CHROMIUM") or shutil.which("chromium") or \
    "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return (f"the browser tests need Debian's chromium ({CHROMIUM} is not there): "
                "scripts/test.sh installs it when run as root, or `apt-get install "
                "chromium`")  # fmt: skip
    if importlib.util.find_spec("playwright") is None:
        return "the browser tests need playwright (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path; skips the test without it, or fails it when it is required."""
    why = missing()
    if why is not None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {why}", pytrace=False)
        pytest.skip(why)
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of ``toefl-access serve --port 0`` over a demo database."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "demo.db"
    demo = subprocess.run(
        [sys.executable, "-m", "toefl_access", "demo", "--db", str(db), "--days", "45",
         "--per-day", "25"],
        cwd=folder, env=clean_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    add_hostile(f"sqlite:///{db}", now=now)
    with open_store(f"sqlite:///{db}") as store:  # a long answer must not widen the page
        store.record_alert(AlertEvent("layout_warnings", "open", now, "31% of the records "
                                      "carry warnings", delivered={"webhook": "ok", "email":
                                      "535 " + "authentication-failed-" * 8}))  # fmt: skip
    with serving(f"sqlite:///{db}", folder) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page with its console errors, page errors and dialogs recorded."""

    def __init__(self, browser: Any, width: int) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning")
                     and self.errors.append(f"{m.type}: {m.text}"))  # fmt: skip
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", dialog)

    def open(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="load")
        assert response is not None
        return response

    def check_clean(self) -> None:
        assert self.dialogs == [], "a script ran"
        assert self.errors == [], "console errors (a CSP violation?)"

    def scroll_width(self) -> int:
        return int(self.page.evaluate("document.documentElement.scrollWidth"))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


CHARTS = ("chart-released", "chart-coverage", "chart-total", "chart-band")

DRAWN = """ident => {
  const svg = document.getElementById(ident);
  if (!svg) return null;
  const box = svg.getBoundingClientRect();
  const shapes = [...svg.querySelectorAll('rect')].filter(r => {
    const b = r.getBoundingClientRect();
    return b.width > 0 && b.height > 0;
  });
  return {width: box.width, height: box.height, shapes: shapes.length,
          role: svg.getAttribute('role'), title: svg.querySelector('title')?.textContent};
}"""


def test_the_overview_renders_its_charts_without_script(server: str, browser: Any,
                                                        tmp_path: Path) -> None:  # fmt: skip
    w = Watched(browser, 1280)
    response = w.open(server)
    assert response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert w.page.locator("h1").first.inner_text() == "Healthy"
    alert = w.page.locator("#open-alerts li").inner_text()
    assert alert.startswith("layout_warnings open since") and "webhook: ok / email: 535" in alert
    assert w.page.locator("table.alerts tbody tr").count() == 1
    for ident in CHARTS:
        drawn = w.page.evaluate(DRAWN, ident)
        assert drawn is not None, ident
        assert drawn["role"] == "img" and drawn["title"], ident
        assert drawn["width"] > 300 and drawn["height"] > 50, (ident, drawn)
        assert drawn["shapes"] >= 5, (ident, drawn)
    # the calendar: a year of days, the synced ones covered
    days = w.page.locator("#chart-coverage rect").count()
    assert 364 <= days <= 371
    assert w.page.locator('#chart-coverage rect[fill="#2b6cb0"]').count() >= 44
    assert w.page.locator("script").count() == 0
    assert w.scroll_width() <= 1280
    shot = tmp_path / "overview.png"
    w.page.screenshot(path=str(shot), full_page=True)
    width, height = png_size(shot)
    assert width == 1280 and height > 900
    w.check_clean()
    w.page.close()


def test_the_overview_fits_a_phone(server: str, browser: Any, tmp_path: Path) -> None:
    w = Watched(browser, 375)
    w.open(server)
    assert w.scroll_width() <= 375
    for ident in CHARTS:
        drawn = w.page.evaluate(DRAWN, ident)
        assert 250 < drawn["width"] <= 375 and drawn["shapes"] >= 5, (ident, drawn)
    assert w.page.locator("#reg").is_visible()
    shot = tmp_path / "overview-375.png"
    w.page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[0] == 375
    w.check_clean()
    w.page.close()


def test_a_hostile_name_shows_as_text_and_no_script_runs(server: str, browser: Any,
                                                         tmp_path: Path) -> None:  # fmt: skip
    for width in (1280, 375):
        w = Watched(browser, width)
        # through the lookup form, as a person would
        w.open(server)
        w.page.fill("#reg", REG)
        w.page.click("button[type=submit]")
        w.page.wait_for_url(f"**/reports/{REG}")
        assert w.page.locator(".name").inner_text() == f'{HOSTILE}, "Bobby" & <b>'
        assert HOSTILE in w.page.locator("table.revisions").first.inner_text()
        assert w.page.locator("script").count() == 0 and w.page.locator("b").count() == 0
        body = w.page.locator("body").inner_text()
        assert ID_NUMBER not in body and ID_NUMBER not in w.page.content()
        changed = w.page.locator("td.changed").all_inner_texts()
        assert "27" in changed and "99" in changed
        assert w.scroll_width() <= width
        shot = tmp_path / f"report-{width}.png"
        w.page.screenshot(path=str(shot), full_page=True)
        assert png_size(shot)[0] == width
        w.check_clean()
        w.page.close()


def test_unknown_numbers_and_the_machine_endpoints(server: str, browser: Any) -> None:
    w = Watched(browser, 375)
    response = w.open(server + "reports/1234567890123456")
    assert response.status == 404 and "No such report" in w.page.locator("h1").inner_text()
    assert w.scroll_width() <= 375
    response = w.open(server + "api/status")
    assert response.status == 200 and response.json()["healthy"] is True
    response = w.open(server + "healthz")
    assert response.status == 200 and response.text() == "ok\n"
    # the 404 of the page's resources would be console errors too: there are none
    w.errors = [e for e in w.errors if "404" not in e]
    w.check_clean()
    w.page.close()


@pytest.mark.parametrize(("required", "outcome"), [("", "1 skipped"), ("1", "1 error")])
def test_a_missing_browser_skips_unless_required(tmp_path: Path, required: str,
                                                 outcome: str) -> None:  # fmt: skip
    env = os.environ | {"TOEFL_ACCESS_CHROMIUM": str(tmp_path / "no-chromium"),
                        REQUIRE: required}  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
         "machine_endpoints", __file__],
        cwd=Path(__file__).parents[1], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert outcome in run.stdout, run.stdout
    assert run.returncode == (1 if required else 0), run.stdout
    assert "no-chromium is not there" in run.stdout or not required
