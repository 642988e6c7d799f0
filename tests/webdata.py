"""What the status page's tests share (``test_web.py``, ``test_browser.py``): databases
filled by real syncs from the mock API, the hostile test taker, and running ``serve``.

The hostile test taker (:data:`REG`) is named ``<script>alert(1)</script>``, has the ID
number :data:`ID_NUMBER` stored in clear (``sensitive = keep``) and is reported twice (a
rescore with a warning).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import sample_reports, values_of
from toefl_access.store import Store, open_store
from toefl_access.sync import SyncSettings, sync

__all__ = [
    "HOSTILE", "ID_NUMBER", "NOW", "REG", "WRONG", "add_hostile", "add_report", "clean_env",
    "failing_sync", "fill", "first_line", "hostile_values", "plain", "query_plan", "serving",
    "table_rows",
]  # fmt: skip

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



def failing_sync(url: str, now: dt.datetime) -> int:
    """A run in which every window fails (HTTP 500, no retry)."""
    api = MockApi(seed=11, per_day=12, faults=["500:1"])
    with (
        Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
               transport=api.transport(), retries=1) as client,
        open_store(url) as store,
    ):  # fmt: skip
        return sync(client, store, SyncSettings(), now=now).exit_code



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


@contextmanager
def serving(db: str, cwd: Path, *args: str, token: str | None = None,
            err: list[str] | None = None) -> Iterator[str]:  # fmt: skip
    """``toefl-access serve --db DB --port 0 ARGS`` (with ``token`` in its environment)
    running while in the block: its URL, from the line it prints. ``err`` gets what it
    wrote to stderr once stopped."""
    env = clean_env() | ({"TOEFL_ACCESS_SERVE_TOKEN": token} if token else {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "toefl_access", "serve", "--db", db, "--port", "0", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = first_line(proc)
        match = re.fullmatch(r"Serving (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)\n", line)
        assert match and int(match.group(2)) > 0, line
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        if err is not None:
            err.append(stderr)


# -- reading what came back ---------------------------------------------------------------


def plain(markup: str) -> str:
    """The text of some HTML, as a browser shows it (tags dropped, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def table_rows(page: str, css: str) -> list[list[str]]:
    """The body rows of ``<table class="css">``, as lists of cell texts."""
    table = re.search(rf'<table class="{css}">.*?</table>', page, re.S)
    assert table is not None, css
    body = table.group(0).split("<tbody>")[1]
    return [[plain(cell) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]  # fmt: skip


def query_plan(store: Store, call: Callable[[], object], marker: str) -> str:
    """SQLite's plan of the statement ``call`` runs that contains ``marker``."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    statement, parameters = next((q, p) for q, p in seen if marker in q)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)
