"""The sync engine end to end, on both backends: mock API (in-process) -> store."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support import snapshot

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.errors import LockedError, ServerError
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import released
from toefl_access.store import Store, open_store, report_key
from toefl_access.sync import SyncSettings, sync

D = dt.timedelta
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 2, 20, tzinfo=UTC)
PER_DAY = 20


def client_for(api: MockApi) -> Client:
    return Client(
        authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores", transport=api.transport()
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def expected_keys(start: dt.datetime, end: dt.datetime) -> set[str]:
    return {report_key(*r.identity) for r in released(start, end, seed=0, per_day=PER_DAY)}


def test_first_sync_stores_every_report_once(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    with client_for(api) as client:
        result = sync(client, store, SyncSettings(since=SINCE), now=NOW)
    assert result.exit_code == 0 and not result.failures
    end = result.windows[-1].end
    keys = {r["report_key"] for r in store.reports()}
    assert keys == expected_keys(SINCE, end)
    assert result.counts.new == len(keys)
    assert store.watermark() == end


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_second_sync_writes_nothing(store: Store, fmt: str) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    settings = SyncSettings(since=SINCE, format=fmt)
    with client_for(api) as client:
        sync(client, store, settings, now=NOW)
        before = snapshot(store)
        again = sync(client, store, settings, now=NOW)
    assert again.counts.new == 0 and again.counts.changed == 0
    assert again.counts.unchanged > 0
    assert snapshot(store) == before


def test_a_second_sync_does_not_compress_what_the_archive_holds(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toefl_access.sync.run as sync_module

    compressed: list[int] = []
    real = sync_module.compress_body
    monkeypatch.setattr(sync_module, "compress_body",
                        lambda body: compressed.append(len(body)) or real(body))
    api = MockApi(seed=0, per_day=PER_DAY)
    settings = SyncSettings(since=SINCE)
    with client_for(api) as client:
        first = sync(client, store, settings, now=NOW)
        assert len(compressed) == len(first.windows)
        second = sync(client, store, settings, now=NOW)
    assert len(compressed) == len(first.windows)  # nothing compressed again
    assert second.counts.unchanged == first.counts.new + first.counts.changed
    bodies = [store.archived_body(entry.id) for entry in store.archive_entries()]
    assert len(bodies) == 2 * len(first.windows) and all(bodies)


def test_rescore_creates_one_revision_and_updates_the_current_row(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    since = SINCE - D(days=30)
    with client_for(api) as client:
        result = sync(client, store, SyncSettings(since=since), now=NOW)
    versions: dict[str, list[dict[str, Any]]] = {}
    for r in released(since, result.windows[-1].end, seed=0, per_day=PER_DAY):
        contents = versions.setdefault(report_key(*r.identity), [])
        if not contents or contents[-1] != r.values:
            contents.append(r.values)
    rescored = {k for k, contents in versions.items() if len(contents) > 1}
    assert rescored, "the mock population should hold rescores in 48 days"
    rows = {r["report_key"]: r for r in store.reports()}
    for key in rescored:
        revs = store.revisions(key)
        assert len(revs) == rows[key]["revisions"] == len(versions[key])
        assert revs[-1]["content_hash"] == rows[key]["content_hash"]
    unchanged = set(versions) - rescored
    assert all(rows[k]["revisions"] == 1 for k in unchanged)


class Flaky:
    """A body source that fails or hides reports in chosen windows, over a real client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.fail: set[dt.datetime] = set()
        self.drop_last_line: set[dt.datetime] = set()
        self.calls: list[dt.datetime] = []
        self.lock = threading.Lock()

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        with self.lock:
            self.calls.append(start)
        if start in self.fail:
            raise ServerError("500 from the test", status=500)
        body = self.client.fetch_body(start, end, format=format)
        if start in self.drop_last_line:
            lines = body.content.splitlines(keepends=True)
            body.content = b"".join(lines[:-1])
        return body


def test_failed_window_is_retried_by_the_next_run(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    with client_for(api) as client:
        flaky = Flaky(client)
        bad = dt.datetime(2026, 2, 25, tzinfo=UTC)
        flaky.fail.add(bad)
        first = sync(flaky, store, SyncSettings(since=SINCE), now=NOW)
        assert first.exit_code == 1
        assert [f.window.start for f in first.failures] == [bad]
        # the watermark is where the runs got to; the hole is a gap, and a failed window
        assert store.watermark() == first.windows[-1].end
        assert store.status().gaps == [(bad, bad + D(days=1))]
        assert store.failed_windows() == [(bad, bad + D(days=1))]
        flaky.fail.clear()
        flaky.calls.clear()
        second = sync(flaky, store, SyncSettings(), now=NOW)
    assert second.exit_code == 0
    assert second.windows[0].start == bad  # the failed window first, then the lookback
    assert second.windows[1].start == first.windows[-1].end - D(days=3)
    assert min(flaky.calls) == bad
    assert store.status().gaps == [] and store.failed_windows() == []
    assert store.watermark() == second.windows[-1].end
    assert {r["report_key"] for r in store.reports()} == expected_keys(
        SINCE, second.windows[-1].end
    )


def test_late_report_inside_the_lookback_is_caught(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    late_day = NOW.replace(hour=0) - D(days=2)
    with client_for(api) as client:
        flaky = Flaky(client)
        flaky.drop_last_line.add(late_day)
        sync(flaky, store, SyncSettings(since=SINCE), now=NOW)
        missing = expected_keys(SINCE, NOW - D(minutes=5)) - {
            r["report_key"] for r in store.reports()
        }
        assert len(missing) == 1
        flaky.drop_last_line.clear()
        result = sync(flaky, store, SyncSettings(), now=NOW)
    assert result.counts.new == 1
    assert missing <= {r["report_key"] for r in store.reports()}


def test_key_refused_stops_the_run(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    with Client(
        authcode="d3Jvbmc6a2V5", base_url="http://127.0.0.1/scores", transport=api.transport()
    ) as client:
        result = sync(client, store, SyncSettings(since=SINCE), now=NOW)
    assert result.exit_code == 2
    assert result.done == 0 and len(result.failures) == 1
    assert "Generate" in (result.stopped or "")
    assert store.watermark() is None


class Crash(BaseException):
    """Stands for the process dying: nothing in sync catches it."""


def test_crash_between_fetch_and_commit_loses_nothing(store_url: str, tmp_path: Any) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    crash_at = dt.datetime(2026, 3, 1, tzinfo=UTC)
    with open_store(store_url) as store, client_for(api) as client:
        real = store.write_window

        def dying_write(**kw: Any) -> Any:
            if kw["start"] == crash_at:
                parse = kw["parse"]
                calls = [0]

                def parse_then_die(item: Any) -> Any:
                    calls[0] += 1
                    if calls[0] == 5:
                        raise Crash
                    return parse(item)

                parse_many = kw["parse_many"]

                def parse_many_then_die(items: Any) -> Any:
                    parse_many(items[:4])  # a few parsed, then the crash
                    raise Crash

                kw["parse"], kw["parse_many"] = parse_then_die, parse_many_then_die
            return real(**kw)

        store.write_window = dying_write  # type: ignore[method-assign]
        with pytest.raises(Crash):
            sync(client, store, SyncSettings(since=SINCE), now=NOW)
        store.write_window = real  # type: ignore[method-assign]
        assert store.watermark() == crash_at
        assert sync(client, store, SyncSettings(), now=NOW).exit_code == 0
        after_crash = snapshot(store)
    reference_url = "sqlite:///" + str(tmp_path / "reference.db")
    with open_store(reference_url) as ref, client_for(api) as client:
        sync(client, ref, SyncSettings(since=SINCE), now=NOW)
        assert snapshot(ref)[0] == after_crash[0]


def test_a_second_sync_on_the_same_database_exits_or_waits(store_url: str) -> None:
    api = MockApi(seed=0, per_day=PER_DAY, latency_ms=50)
    results: dict[str, Any] = {}
    with open_store(store_url) as one, open_store(store_url) as two, client_for(api) as client:
        started = threading.Event()

        def first() -> None:
            def on_plan(windows: Any) -> None:
                started.set()

            results["first"] = sync(
                client, one, SyncSettings(since=SINCE), now=NOW, on_plan=on_plan
            )

        t = threading.Thread(target=first)
        t.start()
        assert started.wait(10)
        with pytest.raises(LockedError, match="--wait"):
            sync(client, two, SyncSettings(since=SINCE), now=NOW)
        results["second"] = sync(client, two, SyncSettings(since=SINCE, wait=True), now=NOW)
        t.join()
        assert results["first"].counts.new > 0
        assert results["second"].counts.new == 0
        keys = [r["report_key"] for r in one.reports()]
        assert len(keys) == len(set(keys))


def test_a_backfill_earlier_than_coverage_leaves_the_watermark(store: Store) -> None:
    api = MockApi(seed=0, per_day=PER_DAY)
    with client_for(api) as client:
        recent = sync(client, store, SyncSettings(since=SINCE), now=NOW)
        watermark = store.watermark()
        assert watermark == recent.windows[-1].end
        old = dt.datetime(2026, 1, 10, tzinfo=UTC)
        back = sync(client, store, SyncSettings(since=old, until=old + D(days=5)), now=NOW)
        assert back.exit_code == 0
        assert store.watermark() == watermark  # not moved back to the backfill's end
        assert store.status().gaps == [(old + D(days=5), SINCE)]  # never asked: a gap
        nxt = sync(client, store, SyncSettings(), now=NOW + D(hours=6))
    assert nxt.windows[0].start == watermark - D(days=3)
