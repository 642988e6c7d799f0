"""The feed's health from the ledger: exit codes, the key's story, the watermark's age."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.ops.health import health, iso
from toefl_access.store import AlertEvent, Store, open_store
from toefl_access.sync import SyncSettings, sync

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 3, 5, tzinfo=UTC)
WRONG = "d3Jvbmc6a2V5"  # base64 of "wrong:key": well formed, refused
OTHER = "b3RoZXI6a2V5"  # base64 of "other:key": well formed, a different key


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def run(store: Store, api: MockApi, authcode: str = DEMO_AUTHCODE) -> int:
    with Client(authcode=authcode, base_url="http://127.0.0.1/scores",
                transport=api.transport(), retries=1) as client:
        return sync(client, store, SyncSettings(since=SINCE), now=NOW).exit_code


def fingerprint(authcode: str) -> str:
    with Client(authcode=authcode, base_url="http://127.0.0.1/scores") as client:
        return client.key_fingerprint


def test_an_empty_database_is_not_healthy(store: Store) -> None:
    h = health(store, now=NOW)
    assert not h.healthy
    assert h.reasons == ["no sync has run yet: run `toefl-access sync`", "no time is covered yet"]
    assert h.key.state == "unknown" and h.key.fingerprint is None
    body = h.to_json()
    assert body["watermark"] is None and body["last_run"] is None and body["key"] == "unknown"
    assert body["healthy"] is False and body["reports"] == 0 and body["gaps"] == []


def test_a_good_run_is_healthy_and_the_ledger_keeps_its_exit_code_and_key(store: Store) -> None:
    api = MockApi(seed=0, per_day=5)
    assert run(store, api) == 0
    h = health(store, now=NOW)
    assert h.healthy, h.reasons
    assert h.reasons == []
    run_row = store.status(runs=1).runs[0]
    assert run_row.exit_code == 0 and run_row.key_fingerprint == fingerprint(DEMO_AUTHCODE)
    assert h.key.state == "ok" and h.key.fingerprint == fingerprint(DEMO_AUTHCODE)
    assert h.key.in_use_since == run_row.started_at
    assert h.key.last_accepted == run_row.finished_at and h.key.last_refused is None
    body = h.to_json()
    assert body["watermark"] == iso(store.watermark()) and body["watermark"].endswith("Z")
    assert body["last_run"]["exit_code"] == 0 and body["last_run"]["failed_windows"] == []
    assert body["reports"] == h.reports > 0
    assert DEMO_AUTHCODE not in str(body)


def test_a_refused_key_makes_the_feed_unhealthy_until_a_good_run(store: Store) -> None:
    api = MockApi(seed=0, per_day=5)
    run(store, api)
    assert run(store, api, authcode=WRONG) == 2
    h = health(store, now=NOW)
    assert not h.healthy and h.key.state == "refused"
    assert h.last_run is not None and h.last_run.exit_code == 2
    assert any("Generate" in r for r in h.reasons)
    assert h.to_json()["key"] == "refused"
    # The refused key is a different key: the fingerprint moved, "in use since" with it.
    assert h.key.fingerprint == fingerprint(WRONG)
    assert h.key.in_use_since == store.status(runs=1).runs[0].started_at
    assert run(store, api) == 0
    again = health(store, now=NOW)
    assert again.healthy and again.key.state == "ok"
    assert again.key.last_refused == h.key.last_refused
    assert again.key.last_accepted is not None and again.key.last_refused is not None
    assert again.key.last_accepted > again.key.last_refused


def test_failed_windows_give_exit_code_1_with_their_errors(store: Store) -> None:
    api = MockApi(seed=0, per_day=5, faults=["500:1"])
    code = run(store, api)
    assert code in (1, 3)
    h = health(store, now=NOW)
    assert not h.healthy
    assert h.last_run is not None and h.last_run.exit_code == code
    assert h.last_run.failed_windows and "500" in h.to_json()["last_run"]["failed_windows"][0][
        "error"]


def test_an_old_watermark_is_unhealthy(store: Store) -> None:
    run(store, MockApi(seed=0, per_day=5))
    later = NOW + dt.timedelta(days=3)
    h = health(store, now=later)
    assert not h.healthy
    assert len(h.reasons) == 1 and "days old (more than 2 days)" in h.reasons[0]
    assert health(store, now=later, max_age=dt.timedelta(days=4)).healthy


def test_a_run_that_never_finished_is_unhealthy(store: Store) -> None:
    run(store, MockApi(seed=0, per_day=5))
    store.begin_run(started_at=NOW, params={})  # killed before finish_run, no lock held
    h = health(store, now=NOW)
    assert not h.healthy and "never finished" in h.reasons[0]
    assert h.last_run is not None and h.last_run.finished is None


def test_a_run_holding_the_lock_does_not_count_yet(store: Store) -> None:
    run(store, MockApi(seed=0, per_day=5))
    with store.sync_lock():
        store.begin_run(started_at=NOW, params={})
        h = health(store, now=NOW)
    assert h.healthy and h.running and h.to_json()["running"] is True


def test_the_alert_log_keeps_open_and_resolved_events(store: Store) -> None:
    first = store.record_alert(AlertEvent("key_refused", "open", NOW, "refused", {"run": 1}))
    store.record_alert(AlertEvent("windows_failing", "open", NOW, "failing"))
    assert set(store.open_alerts()) == {"key_refused", "windows_failing"}
    store.set_delivered(first, {"webhook": "ok"})
    store.record_alert(AlertEvent("key_refused", "resolved", NOW, "accepted again"))
    assert set(store.open_alerts()) == {"windows_failing"}
    log = store.alerts()
    assert [(a.event, a.status) for a in log] == [
        ("key_refused", "resolved"), ("windows_failing", "open"), ("key_refused", "open")]
    assert log[-1].delivered == {"webhook": "ok"} and log[-1].details == {"run": 1}
    assert log[-1].at == NOW


def test_runs_from_before_the_ledger_kept_exit_codes_are_read_from_their_totals(
    store: Store,
) -> None:
    import sqlalchemy as sa

    from toefl_access.store import schema

    run(store, MockApi(seed=0, per_day=5))
    with store._write() as conn:  # as schema 0005 left it
        conn.execute(sa.update(schema.sync_runs).values(exit_code=None, key_fingerprint=None))
    h = health(store, now=NOW)
    assert h.healthy and h.last_run is not None and h.last_run.exit_code == 0
    assert h.key.state == "ok" and h.key.fingerprint is None and h.key.in_use_since is None


def test_status_shows_the_health_and_the_key_and_checks_for_monitors(sqlite_url: str) -> None:
    import json

    from click.testing import CliRunner

    from toefl_access.cli import main

    with open_store(sqlite_url) as store:
        run(store, MockApi(seed=0, per_day=5))
        run(store, MockApi(seed=0, per_day=5), authcode=WRONG)
    runner = CliRunner(env={"COLUMNS": "300"})
    out = runner.invoke(main, ["status", "--db", sqlite_url, "--runs", "1"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[1] == "Health: NOT OK"
    assert lines[2].startswith("  - the last run (#2, ") and "exit code 2" in lines[2]
    assert any(line.startswith(f"Key: refused (sha256 {fingerprint(WRONG)}…, in use since ")
               for line in lines)
    assert WRONG not in out.output and DEMO_AUTHCODE not in out.output
    checked = runner.invoke(main, ["status", "--db", sqlite_url, "--check", "--json"])
    assert checked.exit_code == 1
    body = json.loads(checked.stdout)
    assert body["healthy"] is False and body["key"] == "refused"
    assert body["last_run"]["exit_code"] == 2
    with open_store(sqlite_url) as store:
        run(store, MockApi(seed=0, per_day=5))
    # The mock's "now" is NOW; against the real clock the watermark is old: --max-age says.
    good = runner.invoke(main, ["status", "--db", sqlite_url, "--check", "--max-age", "800d"])
    assert good.exit_code == 0, good.output
    assert good.stdout.splitlines()[1] == "Health: ok"
    bad = runner.invoke(main, ["status", "--db", sqlite_url, "--max-age", "soon"])
    assert bad.exit_code == 1 and "--max-age 'soon' is not a duration" in bad.output


def test_a_replay_is_not_a_sync_run_for_the_health_nor_the_key(store: Store) -> None:
    from toefl_access.handoff.history import replay

    run(store, MockApi(seed=0, per_day=5))
    assert run(store, MockApi(seed=0, per_day=5, faults=["500:1"])) in (1, 3)
    before = health(store, now=NOW)
    replay(store)
    ledger = store.runs(5)
    assert [r.kind for r in ledger] == ["replay", "sync", "sync"]
    assert [r.id for r in store.runs(5, kind="sync")] == [r.id for r in ledger[1:]]
    assert store.runs(5, kind="replay")[0].id == ledger[0].id
    after = health(store, now=NOW)
    assert not after.healthy and after.last_run == before.last_run
    assert after.key == before.key
    assert [r.id for r in store.runs(5, with_records=True)] == [ledger[2].id]
    assert store.runs(5, before=ledger[1].id) == [ledger[2]]
