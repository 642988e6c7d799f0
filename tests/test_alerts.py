"""Alerts end to end: runs of the real sync against the mock API, the ledger in a real
database, and delivery to a real local webhook receiver and SMTP server."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from receivers import Mailbox, Webhook, free_port, smtp_receiver, webhook_receiver

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC, api_format
from toefl_access.errors import ServerError, StoreError
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import released
from toefl_access.ops.alerts import Failure, Ledger, assess, evaluate, trial_message
from toefl_access.ops.notify import channels_for, deliver
from toefl_access.settings import AlertSettings
from toefl_access.store import AlertEvent, RunSummary, Store, WindowCounts, open_store
from toefl_access.sync import SyncSettings, sync

D = dt.timedelta
SINCE = dt.datetime(2026, 2, 20, tzinfo=UTC)
UNTIL = SINCE + D(days=8)
NEW_KEY = base64.b64encode(b"renewed-client:renewed-secret").decode()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook_receiver() as got:
        yield got


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_receiver() as box:
        yield box


def settings_for(hook: Webhook | None, mailbox: Mailbox | None, **kw: Any) -> AlertSettings:
    mail: dict[str, Any] = {}
    if mailbox is not None:
        mail = dict(email_to=("oncall@example.edu",), smtp_host="127.0.0.1",
                    smtp_port=mailbox.port, email_from="toefl@example.edu")  # fmt: skip
    return AlertSettings(webhook=hook.url if hook else None, **mail, **kw)


def client(api: MockApi, key: str = DEMO_AUTHCODE) -> Client:
    return Client(authcode=key, base_url="http://127.0.0.1/scores", transport=api.transport())


def secrets(*keys: str) -> list[bytes]:
    """Every form of a key that must never appear: Base64, decoded, the secret alone."""
    out = []
    for key in keys:
        decoded = base64.b64decode(key).decode()
        out += [key.encode(), decoded.encode(), decoded.split(":", 1)[1].encode()]
    return out


def id_numbers(per_day: int, seed: int) -> list[bytes]:
    ids = {str(r["security_id_number"]).strip() for r in
           released(SINCE, UNTIL, seed=seed, per_day=per_day)}  # fmt: skip
    return [i.encode() for i in ids if len(i) >= 5]


def test_a_key_refused_mid_run_alerts_once_and_resolves_once(
    store: Store, hook: Webhook, mailbox: Mailbox
) -> None:
    clock = [UNTIL + D(days=30)]
    expiry = UNTIL + D(days=60)
    api = MockApi(seed=1, per_day=15, faults=[f"expire-key-at:{api_format(expiry)}"],
                  now=lambda: clock[0])  # fmt: skip
    settings = settings_for(hook, mailbox)
    done: list[Any] = []

    def on_window(w: Any, counts: Any, records: int) -> None:
        if counts is not None:
            done.append(w)
        if len(done) == 3:
            clock[0] = expiry + D(days=1)  # the key expires while the run is under way

    plan = SyncSettings(since=SINCE, until=UNTIL, concurrency=1)
    now = UNTIL + D(hours=1)
    with client(api) as c:
        first = sync(c, store, plan, now=now, on_window=on_window)
    assert first.exit_code == 2 and first.done == 3
    sent = evaluate(store, settings)
    assert [(e.event, e.status) for e in sent] == [("key_refused", "open")]
    assert sent[0].delivered == {"webhook": "ok", "email": "ok"}
    assert hook.events() == [("key_refused", "open")]
    post = hook.posts[0]
    assert set(post) == {"event", "status", "text", "database", "details"}
    assert "Integrations" in post["text"] and "Generate" in post["text"]
    assert "GRE" in post["text"] and post["details"]["run_id"] == first.run_id
    assert post["details"]["key_fingerprint"] == c.key_fingerprint
    assert post["database"] == store.url
    assert mailbox.subjects() == ["[toefl-access] key refused (open)"]
    mail = mailbox.messages[0]
    assert mailbox.envelopes[0] == ("toefl@example.edu", ["oncall@example.edu"])
    assert "Generate" in mail.get_payload() and '"run_id"' in mail.get_payload()

    # the key stays refused: nothing more is sent, run after run
    with client(api) as c:
        again = sync(c, store, plan, now=now)
    assert again.exit_code == 2
    assert evaluate(store, settings) == [] and evaluate(store, settings) == []
    assert len(hook.raw) == 1 and len(mailbox.raw) == 1

    # a new key: one "resolved", then silence
    renewed = MockApi(seed=1, per_day=15, authcode=NEW_KEY, now=lambda: clock[0])
    with client(renewed, NEW_KEY) as c:
        good = sync(c, store, plan, now=now)
    assert good.exit_code == 0
    sent = evaluate(store, settings)
    assert [(e.event, e.status) for e in sent] == [("key_refused", "resolved")]
    assert hook.events() == [("key_refused", "open"), ("key_refused", "resolved")]
    assert mailbox.subjects()[-1] == "[toefl-access] key refused (resolved)"
    assert "accepts the API key" in hook.posts[1]["text"]
    assert evaluate(store, settings) == []
    assert len(hook.raw) == 2 and len(mailbox.raw) == 2

    # never the key, never an ID number, in any post or e-mail
    sent_bytes = b"\n".join(hook.raw + mailbox.raw)
    for secret in secrets(DEMO_AUTHCODE, NEW_KEY) + id_numbers(15, 1):
        assert secret not in sent_bytes
    assert [(a.event, a.status) for a in store.alerts()] == [
        ("key_refused", "resolved"), ("key_refused", "open")]
    assert store.open_alerts() == {}


def test_an_alert_no_channel_took_is_sent_by_a_later_run(store: Store) -> None:
    port = free_port()
    dead = AlertSettings(webhook=f"http://127.0.0.1:{port}/hooks/s3cr3t")
    api = MockApi(seed=0, per_day=5)
    wrong = base64.b64encode(b"old-client:old-secret").decode()
    with client(api, wrong) as c:
        assert sync(c, store, SyncSettings(since=SINCE, until=UNTIL), now=UNTIL).exit_code == 2
    sent = evaluate(store, dead)  # nothing listens on the port
    assert [(e.event, e.status) for e in sent] == [("key_refused", "open")]
    said = sent[0].delivered["webhook"]
    assert said != "ok" and "s3cr3t" not in said and f"127.0.0.1:{port}" in said
    assert store.open_alerts()["key_refused"].delivered == sent[0].delivered
    with webhook_receiver(port=port, path="/hooks/s3cr3t") as hook:
        again = evaluate(store, dead)  # the receiver is up: the same alert, once
        assert [(e.event, e.status, e.id) for e in again] == [
            ("key_refused", "open", sent[0].id)]
        assert hook.events() == [("key_refused", "open")]
        assert evaluate(store, dead) == [] and len(hook.raw) == 1
    assert store.open_alerts()["key_refused"].delivered == {"webhook": "ok"}
    assert len(store.alerts()) == 1  # one event, one row


def test_alerts_without_a_channel_are_recorded_and_sent_once_one_is_set(store: Store) -> None:
    api = MockApi(seed=0, per_day=5)
    wrong = base64.b64encode(b"old-client:old-secret").decode()
    with client(api, wrong) as c:
        sync(c, store, SyncSettings(since=SINCE, until=UNTIL), now=UNTIL)
    recorded = evaluate(store, AlertSettings())
    assert [(e.event, e.delivered) for e in recorded] == [("key_refused", {})]
    assert evaluate(store, AlertSettings()) == []
    with webhook_receiver() as hook:
        evaluate(store, AlertSettings(webhook=hook.url))
        assert hook.events() == [("key_refused", "open")]


class Flaky:
    """A body source failing chosen windows with a 500, over a real client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.fail: set[dt.datetime] = set()
        self.lock = threading.Lock()

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        if start in self.fail:
            raise ServerError("the API answered 500 (from the test)", status=500)
        return self.client.fetch_body(start, end, format=format)


def test_windows_failing_opens_after_n_runs_and_resolves(store: Store, hook: Webhook) -> None:
    api = MockApi(seed=0, per_day=5)
    settings = settings_for(hook, None, failing_runs=3)
    bad = SINCE + D(days=2)
    now = UNTIL + D(hours=1)
    with client(api) as c:
        flaky = Flaky(c)
        flaky.fail.add(bad)
        runs = []
        for n in range(4):
            plan = SyncSettings(since=SINCE) if n == 0 else SyncSettings()
            runs.append(sync(flaky, store, plan, now=now))
            evaluate(store, settings)
            assert runs[-1].exit_code == 1
            if n < 2:
                assert hook.raw == [], f"run {n + 1} of 3 must not alert yet"
        assert hook.events() == [("windows_failing", "open")]  # after the third, only once
        details = hook.posts[0]["details"]
        assert details["windows"] == [{
            "start": "2026-02-22T00:00:00Z", "end": "2026-02-23T00:00:00Z", "failed_runs": 3,
            "status": 500, "last_error": "the API answered 500 (from the test)",
        }]  # fmt: skip
        assert "2026-02-22 00:00 UTC" in hook.posts[0]["text"]
        flaky.fail.clear()
        assert sync(flaky, store, SyncSettings(), now=now).exit_code == 0
        evaluate(store, settings)
    assert hook.events() == [("windows_failing", "open"), ("windows_failing", "resolved")]


def test_no_new_reports_only_in_the_configured_months(store: Store, hook: Webhook) -> None:
    api = MockApi(seed=0, per_day=5)
    with client(api) as c:
        sync(c, store, SyncSettings(since=SINCE, until=UNTIL), now=UNTIL)
    last = store.status(runs=1).last_new_report
    assert last is not None
    later = last + D(days=8)
    watched = tuple(sorted({last.month, later.month}))  # the 8 days, whatever the date
    other = [m for m in range(1, 13) if m != later.month]
    assert evaluate(store, settings_for(hook, None, months=tuple(other)), now=later) == []
    assert evaluate(store, settings_for(hook, None), now=last + D(days=6)) == []
    assert hook.raw == []
    opened = evaluate(store, settings_for(hook, None, months=watched), now=later)
    assert [(e.event, e.status) for e in opened] == [("no_new_reports", "open")]
    assert hook.posts[0]["details"]["days"] == 8.0
    assert "No new score report for 8 days" in hook.posts[0]["text"]
    assert evaluate(store, settings_for(hook, None), now=later + D(days=1)) == []
    # the month is no longer watched: the event clears
    closed = evaluate(store, settings_for(hook, None, months=tuple(other)), now=later)
    assert [(e.event, e.status) for e in closed] == [("no_new_reports", "resolved")]
    assert hook.events() == [("no_new_reports", "open"), ("no_new_reports", "resolved")]


def ledger_run(store: Store, *, records: int, warnings: int, at: dt.datetime) -> int:
    run = store.begin_run(started_at=at, params={"since": None})
    store.finish_run(run, finished_at=at + D(minutes=1), windows_done=1, windows_failed=0,
                     counts=WindowCounts(new=records, warnings=warnings), nbytes=0,
                     statuses={200: 1}, error=None, exit_code=0)  # fmt: skip
    return run


def test_a_jump_in_records_with_warnings_alerts_a_layout_change(
    store: Store, hook: Webhook
) -> None:
    settings = settings_for(hook, None)
    t = dt.datetime(2026, 3, 1, tzinfo=UTC)
    for i, warned in enumerate([1, 2, 0, 1, 2, 1]):
        ledger_run(store, records=100, warnings=warned, at=t + D(hours=i))
    assert evaluate(store, settings, now=t + D(days=1)) == []
    small = ledger_run(store, records=10, warnings=9, at=t + D(hours=7))  # too few records
    assert small and evaluate(store, settings, now=t + D(days=1)) == []
    jump = ledger_run(store, records=100, warnings=40, at=t + D(hours=8))
    sent = evaluate(store, settings, now=t + D(days=1))
    assert [(e.event, e.status, e.run_id) for e in sent] == [("layout_warnings", "open", jump)]
    details = hook.posts[0]["details"]
    assert details["share"] == 0.4 and details["usual_share"] == 0.01
    assert "40% of the 100" in hook.posts[0]["text"]
    # the vendor's new layout stays: still open, however many runs look like it (more than
    # any window of recent runs: the baseline is the runs before the jump, queried as such)
    for i in range(40):
        ledger_run(store, records=100, warnings=38, at=t + D(hours=9 + i))
        assert evaluate(store, settings, now=t + D(days=3)) == []
    fixed = ledger_run(store, records=100, warnings=2, at=t + D(hours=50))  # corrected layout
    sent = evaluate(store, settings, now=t + D(days=3))
    assert [(e.event, e.status, e.run_id) for e in sent] == [
        ("layout_warnings", "resolved", fixed)]
    assert hook.posts[1]["details"]["usual_share"] == 0.01  # still the runs before the jump
    assert hook.events() == [("layout_warnings", "open"), ("layout_warnings", "resolved")]


def test_a_layout_jump_after_quiet_runs_compares_with_the_last_runs_with_records(
    store: Store, hook: Webhook
) -> None:
    """Most hourly runs bring nothing new: the usual share comes from the runs that did."""
    settings = settings_for(hook, None)
    t = dt.datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(12):
        ledger_run(store, records=100, warnings=1, at=t + D(hours=i))
    for i in range(60):  # two and a half quiet days
        ledger_run(store, records=0, warnings=0, at=t + D(hours=12 + i))
    # a replay (no sync: it re-reads the archive) with its own share does not count
    replayed = store.begin_run(started_at=t + D(hours=80), params={"replay": True})
    store.finish_run(replayed, finished_at=t + D(hours=80), windows_done=0, windows_failed=0,
                     counts=WindowCounts(new=100, warnings=90), nbytes=0, statuses={},
                     error=None, windows_planned=0)  # fmt: skip
    assert evaluate(store, settings, now=t + D(days=4)) == []
    jump = ledger_run(store, records=100, warnings=40, at=t + D(hours=81))
    sent = evaluate(store, settings, now=t + D(days=4))
    assert [(e.event, e.status, e.run_id) for e in sent] == [("layout_warnings", "open", jump)]
    details = hook.posts[0]["details"]
    assert details["runs_compared"] == 10 and details["usual_share"] == 0.01


def run(id: int, exit_code: int | None, *, done: int = 1, since: str | None = None,
        failures: list[Any] | None = None) -> RunSummary:
    t = dt.datetime(2026, 3, 1, tzinfo=UTC) + D(hours=id)
    return RunSummary(
        id=id, started_at=t, finished_at=t, pid=1, params={"since": since},
        windows_planned=done, windows_done=done, windows_failed=len(failures or []),
        statuses={}, counts=WindowCounts(), nbytes=0, duration_s=1.0, error=None,
        failures=failures or [], exit_code=exit_code, key_fingerprint="abc",
    )  # fmt: skip


def verdicts(runs: list[RunSummary], **kw: Any) -> dict[str, bool | None]:
    now = dt.datetime(2026, 3, 2, tzinfo=UTC)
    return {v.event: v.state for v in assess(
        Ledger(runs), open_alerts=kw.pop("open_alerts", {}),
        settings=AlertSettings(**kw), now=now)}  # fmt: skip


def test_which_runs_tell_about_the_key() -> None:
    assert verdicts([run(3, 3), run(2, 2)])["key_refused"] is True  # unreachable: no news
    assert verdicts([run(3, 1, done=0), run(2, 2)])["key_refused"] is True  # all 500s
    assert verdicts([run(3, 1, done=2), run(2, 2)])["key_refused"] is False
    assert verdicts([run(3, None), run(2, 0)])["key_refused"] is False  # killed: no news
    assert verdicts([])["key_refused"] is None


def test_a_backfill_does_not_break_a_failing_streak() -> None:
    from toefl_access.store import FailedWindow

    t = dt.datetime(2026, 2, 1, tzinfo=UTC)
    w = FailedWindow(t, t + D(days=1), 500, "500", t)
    other = FailedWindow(t + D(days=5), t + D(days=6), 500, "500", t)
    streak = [run(5, 1, failures=[w]), run(4, 1, since="x", failures=[other]),
              run(3, 2, failures=[w]), run(2, 1, failures=[w]), run(1, 1, failures=[w])]
    assert verdicts(streak)["windows_failing"] is True  # the refused run does not count
    assert verdicts(streak, failing_runs=4)["windows_failing"] is False
    broken = [run(5, 1, failures=[w]), run(4, 0), run(3, 1, failures=[w]),
              run(2, 1, failures=[w])]
    assert verdicts(broken, failing_runs=2)["windows_failing"] is False
    assert verdicts(broken, failing_runs=1)["windows_failing"] is True


def test_a_run_that_died_before_trying_every_window_does_not_break_a_streak() -> None:
    from toefl_access.store import FailedWindow

    t = dt.datetime(2026, 2, 1, tzinfo=UTC)
    w = FailedWindow(t, t + D(days=1), 500, "500", t)
    died = run(4, 1, done=1)
    died.windows_planned = 6  # a StoreError after the first window: exit code 1, no failures
    streak = [died, run(3, 1, failures=[w]), run(2, 1, failures=[w]), run(1, 1, failures=[w])]
    assert verdicts(streak)["windows_failing"] is True
    finished = run(4, 0, done=6)
    assert verdicts([finished, *streak[1:]])["windows_failing"] is False


def test_a_channel_error_never_shows_the_webhook_token() -> None:
    with webhook_receiver(path="/services/T1/B1/t0p-s3cret") as hook:
        hook.status = 404
        (channel,) = channels_for(AlertSettings(webhook=hook.url))
        said = deliver(trial_message("sqlite:///x.db"), [channel])
    assert "HTTP 404" in said["webhook"] and "t0p-s3cret" not in said["webhook"]
    assert "t0p-s3cret" not in repr(channel)


def test_alert_event_round_trip(store: Store) -> None:
    ev = AlertEvent(event="key_refused", status="open", at=dt.datetime(2026, 3, 1, tzinfo=UTC),
                    text="t", details={"a": [1]})  # fmt: skip
    ev.id = store.record_alert(ev)
    assert store.open_alerts()["key_refused"].details == {"a": [1]}


def test_a_replay_is_not_a_sync_run(store: Store, hook: Webhook) -> None:
    """A replay re-reads the stored answers: it retries no window and asks nothing of the
    key, so it clears nothing."""
    from toefl_access.handoff.history import replay

    api = MockApi(seed=0, per_day=5)
    settings = settings_for(hook, None, failing_runs=2)
    now = UNTIL + D(hours=1)
    with client(api) as c:
        flaky = Flaky(c)
        flaky.fail.add(SINCE + D(days=2))
        for plan in (SyncSettings(since=SINCE), SyncSettings()):
            assert sync(flaky, store, plan, now=now).exit_code == 1
        evaluate(store, settings)
        assert hook.events() == [("windows_failing", "open")]
        replayed = replay(store)
        (last,) = store.runs(1)
        assert last.id == replayed.run_id and last.kind == "replay" and last.exit_code is None
        assert evaluate(store, settings) == []  # the window still fails: no "Resolved"
        assert store.open_alerts().keys() == {"windows_failing"}
        flaky.fail.clear()
        assert sync(flaky, store, SyncSettings(), now=now).exit_code == 0
        sent = evaluate(store, settings)
    assert [(e.event, e.status) for e in sent] == [("windows_failing", "resolved")]
    assert hook.events() == [("windows_failing", "open"), ("windows_failing", "resolved")]


def months_after(t: dt.datetime, n: int) -> dt.datetime:
    """The first day of the month ``n`` months after ``t``'s."""
    year, month = divmod(t.month - 1 + n, 12)
    return dt.datetime(t.year + year, month + 1, 1, tzinfo=UTC)


def test_no_new_reports_counts_only_days_of_the_watched_months(
    store: Store, hook: Webhook
) -> None:
    api = MockApi(seed=0, per_day=5)
    with client(api) as c:
        sync(c, store, SyncSettings(since=SINCE, until=UNTIL), now=UNTIL)
    _, last = store.counts()
    assert last is not None
    season = months_after(last, 2)  # watched from its first day; the months before are not
    settings = settings_for(hook, None, months=(season.month,))
    assert evaluate(store, settings, now=season + D(days=3)) == []  # 3 days, not 30 or more
    assert hook.raw == []
    opened = evaluate(store, settings, now=season + D(days=8))
    assert [(e.event, e.status) for e in opened] == [("no_new_reports", "open")]
    details = hook.posts[0]["details"]
    assert details["days"] == 8.0 and details["calendar_days"] > 38
    assert "No new score report for 8 days of the watched months" in hook.posts[0]["text"]


def test_a_resolved_alert_no_channel_took_is_sent_by_a_later_run(store: Store) -> None:
    port = free_port()
    settings = AlertSettings(webhook=f"http://127.0.0.1:{port}/hooks/s3cr3t")
    api = MockApi(seed=0, per_day=5)
    wrong = base64.b64encode(b"old-client:old-secret").decode()
    plan = SyncSettings(since=SINCE, until=UNTIL)

    def run_with(key: str) -> int:
        with client(api, key) as c:
            return sync(c, store, plan, now=UNTIL).exit_code

    with webhook_receiver(port=port, path="/hooks/s3cr3t") as hook:
        assert run_with(wrong) == 2
        evaluate(store, settings)
        assert hook.events() == [("key_refused", "open")]
    assert run_with(DEMO_AUTHCODE) == 0  # the key works again; nothing listens
    (resolved,) = evaluate(store, settings)
    assert resolved.status == "resolved" and resolved.delivered["webhook"] != "ok"
    with webhook_receiver(port=port, path="/hooks/s3cr3t") as hook:
        again = evaluate(store, settings)
        assert [(e.event, e.status, e.id) for e in again] == [
            ("key_refused", "resolved", resolved.id)]
        assert evaluate(store, settings) == [] and hook.events() == [("key_refused", "resolved")]
    # refused, then accepted, both while nothing listens: only the newer row goes out
    assert run_with(wrong) == 2
    (opened,) = evaluate(store, settings)
    assert run_with(DEMO_AUTHCODE) == 0
    (cleared,) = evaluate(store, settings)
    assert (opened.status, cleared.status) == ("open", "resolved")
    with webhook_receiver(port=port, path="/hooks/s3cr3t") as hook:
        assert [e.id for e in evaluate(store, settings)] == [cleared.id]
        assert evaluate(store, settings) == [] and hook.events() == [("key_refused", "resolved")]
    assert not store.alerts(limit=1)[0].delivered.keys() - {"webhook"}


class Dying(Flaky):
    """Raises a database error on one window: the sync stops there."""

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        if start in self.fail:
            raise StoreError("the database refused the write (from the test)")
        return self.client.fetch_body(start, end, format=format)


def test_a_sync_that_dies_alerts_once_and_clears_after_the_next_run(
    store: Store, hook: Webhook
) -> None:
    api = MockApi(seed=0, per_day=5)
    settings = settings_for(hook, None)
    now = UNTIL + D(hours=1)
    with client(api) as c:
        dying = Dying(c)
        dying.fail.add(SINCE + D(days=2))
        with pytest.raises(StoreError) as died:
            sync(dying, store, SyncSettings(since=SINCE), now=now)
        (failed_run,) = store.runs(1)
        sent = evaluate(store, settings, failure=died.value)
        assert [(e.event, e.status) for e in sent] == [("sync_failed", "open")]
        post = hook.posts[0]
        assert post["text"].startswith(
            "The sync could not run: the database refused the write (from the test).")
        assert post["details"] == {
            "error": "the database refused the write (from the test)", "error_type": "StoreError",
            "exit_code": 1, "last_run_id": failed_run.id}  # fmt: skip
        # the same failure again, or an evaluation with no sync since: nothing new
        assert evaluate(store, settings, failure=died.value) == []
        assert evaluate(store, settings) == []
        dying.fail.clear()
        good = sync(dying, store, SyncSettings(), now=now)
    sent = evaluate(store, settings)
    assert [(e.event, e.status, e.run_id) for e in sent] == [
        ("sync_failed", "resolved", good.run_id)]
    assert f"sync run {good.run_id} finished" in hook.posts[1]["text"]
    assert hook.events() == [("sync_failed", "open"), ("sync_failed", "resolved")]


def test_which_errors_are_a_sync_that_could_not_run() -> None:
    from toefl_access.errors import AuthenticationError, LockedError, UsageError

    assert Failure.of(LockedError("another sync holds the database")) is None
    assert Failure.of(AuthenticationError("the API refused the key", status=401)) is None
    assert Failure.of(UsageError("x" * 900)) == Failure("x" * 499 + "…", "UsageError", 1)
    odd = Failure.of(RuntimeError("/home/me/s3cr3t"))
    assert odd is not None and "s3cr3t" not in odd.error and "RuntimeError" in odd.error
