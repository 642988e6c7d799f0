"""The status page over several integrations: an index of their health, each one's pages
under ``/i/NAME/``, and ``/api/status`` and ``/healthz`` for all of them."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from webdata import NOW, REG, WRONG, add_hostile, fill, table_rows

from toefl_access.web.app import create_app

with warnings.catch_warnings():  # Starlette 1.x would rather drive it with httpx2; httpx works
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("site")
    good, refused = f"sqlite:///{folder}/good.db", f"sqlite:///{folder}/refused.db"
    assert fill(good, days=5) == 0
    add_hostile(good, now=NOW)
    assert fill(refused, days=5) == 0
    assert fill(refused, days=None, authcode=WRONG) == 2
    app = create_app({"good": good, "refused": refused, "new": None},
                     now=NOW + dt.timedelta(minutes=5))  # fmt: skip
    with TestClient(app) as client:
        yield client


def test_the_index_shows_every_integration_with_its_health(site: TestClient) -> None:
    page = site.get("/")
    assert page.status_code == 200
    rows = table_rows(page.text, "integrations")
    assert [r[0] for r in rows] == ["good", "refused", "new"]
    good, refused, new = rows
    assert good[1] == "ok" and good[3] == "ok" and good[4] == "exit 0"
    assert refused[1].startswith("NOT OK: the last run") and refused[3] == "refused"
    assert refused[4] == "exit 2"
    assert new[1].startswith("NOT OK: never synced") and new[2] == "none yet"
    assert 'href="/i/good/"' in page.text and "Needs attention" in page.text


def test_each_integration_has_its_pages_under_its_prefix(site: TestClient) -> None:
    page = site.get("/i/good/")
    assert page.status_code == 200 and "TOEFL Access feed: good" in page.text
    assert 'action="/i/good/reports"' in page.text and 'href="/i/good/healthz"' in page.text
    assert 'href="/static/style.css"' in page.text and site.get("/static/style.css").is_success
    found = site.get("/i/good/reports", params={"reg": REG}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/i/good/reports/{REG}"
    report = site.get(f"/i/good/reports/{REG}")
    assert report.status_code == 200 and "&lt;script&gt;" in report.text
    assert site.get(f"/i/refused/reports/{REG}").status_code == 404
    assert site.get("/i/good/healthz").text == "ok\n"
    assert site.get("/i/refused/healthz").status_code == 503
    assert site.get("/i/nobody/").status_code == 404


def test_api_status_and_healthz_cover_every_integration(site: TestClient) -> None:
    body = site.get("/api/status").json()
    assert body["healthy"] is False
    assert list(body["integrations"]) == ["good", "refused", "new"]
    assert body["integrations"]["good"]["healthy"] is True
    assert body["integrations"]["refused"]["key"] == "refused"
    assert body["integrations"]["new"]["reasons"][0].startswith("never synced")
    health = site.get("/healthz")
    assert health.status_code == 503
    lines = health.text.splitlines()
    assert lines[0].startswith("unhealthy: refused: the last run")
    assert any(line.startswith("new: never synced") for line in lines)
    assert not any(line.startswith("good:") for line in lines)


def test_a_token_guards_every_integration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/one.db"
    assert fill(url, days=2) == 0
    app = create_app({"one": url}, token="s3cret-token", now=NOW + dt.timedelta(minutes=5))
    with TestClient(app) as client:
        assert client.get("/i/one/").status_code == 401
        assert client.get("/healthz").status_code == 401
        assert client.get("/i/one/healthz?token=s3cret-token").text == "ok\n"
        assert client.get("/healthz", headers={"Authorization": "Bearer s3cret-token"}).text \
            == "ok\n"


def test_serve_shows_the_integrations_of_the_settings_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    import httpx
    from webdata import clean_env, first_line

    filled = f"sqlite:///{tmp_path}/east.db"
    assert fill(filled, days=2) == 0
    key = tmp_path / "key"
    key.write_text("ZGVtbzprZXk=\n")
    (tmp_path / "toefl-access.toml").write_text(
        f'db = "sqlite:///{tmp_path}/{{name}}.db"\n'
        f'[[integration]]\nname = "east"\nauthcode_file = "{key}"\n'
        f'[[integration]]\nname = "west"\nauthcode_file = "{key}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "serve", "--port", "0"], cwd=tmp_path,
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = first_line(proc).split()[1]
        body = httpx.get(url + "api/status").json()
        assert list(body["integrations"]) == ["east", "west"]
        assert body["integrations"]["west"]["reasons"][0].startswith("never synced")
        assert httpx.get(url + "i/east/").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert not (tmp_path / "west.db").exists()  # serving creates no database
