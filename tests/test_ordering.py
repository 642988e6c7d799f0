"""The ordering rule: the current row is the latest *reported* revision, whatever order the
windows arrive in (backfills, lookbacks, retries in a later run), on both backends.

Store level: hand-made windows, and a Hypothesis property over any order of applying them.
Sync level: the mock API, recent weeks first and then a backfill, failing windows retried by
a later run, and a Hypothesis property over runs and failures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from gen import Gen, Report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import canonical
from test_store import key_of, rescored, window

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.cli import main
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.store import Store, WindowCounts, open_store
from toefl_access.store import schema as s
from toefl_access.store.ordering import Sighting, plan, runs_of
from toefl_access.sync import SyncSettings, sync

T0 = dt.datetime(2026, 3, 1, tzinfo=UTC)
DAY = dt.timedelta(days=1)
FIXTURE = HealthCheck.function_scoped_fixture
_DATA_TABLES = (
    "report_sightings", "report_revisions", "score_reports", "response_archive",
    "window_coverage", "window_failures", "cancellations", "export_bookmarks", "sync_runs",
)  # fmt: skip


def write(store: Store, reports: list[Report], day: int, *, run: int | None = None) -> WindowCounts:
    w = window(reports)
    run_id = run or store.begin_run(started_at=dt.datetime.now(UTC), params={"test": True})
    return store.write_window(
        run_id=run_id, start=T0 + day * DAY, end=T0 + (day + 1) * DAY, fmt="text",
        body=w.body, sha256=hashlib.sha256(w.body).hexdigest(), status=200,
        incoming=w.incoming, parse=w.parse, received_at=dt.datetime.now(UTC),
    )  # fmt: skip


def raws(store: Store, key: str) -> list[bytes]:
    return [r["raw"] for r in store.revisions(key)]


def empty(store: Store) -> None:
    with store.engine.begin() as conn:
        for name in _DATA_TABLES:
            conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as st_:
        yield st_


@pytest.fixture(scope="module")
def versions() -> list[Report]:
    """One report in four versions (rescores of listening)."""
    a = Gen(11).report(scale="0-120")
    return [a, *(rescored(a, (a.values["listening"] + n) % 31) for n in (1, 2, 3))]


# -- the rule, by hand ----------------------------------------------------------------------


def test_an_older_revision_arriving_later_joins_the_history(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    write(store, [b], day=5)  # the recent weeks first
    counts = write(store, [a], day=1)  # then the backfill brings the original
    assert counts == WindowCounts(older=1)
    (row,) = store.reports()
    assert row["raw"] == b.line() and row["revisions"] == 2  # the rescore stays current
    revs = store.revisions(key_of(a))
    assert [r["raw"] for r in revs] == [a.line(), b.line()]
    assert [r["window_start"] for r in revs] == [T0 + DAY, T0 + 5 * DAY]
    assert [r["late"] for r in revs] == [True, False]
    assert revs[0]["received_at"] > revs[1]["received_at"]  # arrival kept as provenance


def test_a_newer_revision_arriving_by_backfill_becomes_current(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    write(store, [a], day=1)
    counts = write(store, [b], day=5)
    assert counts == WindowCounts(changed=1)
    (row,) = store.reports()
    assert row["raw"] == b.line()


def test_content_reported_again_after_a_rescore_is_current_again(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    write(store, [a], day=1)
    write(store, [b], day=3)
    counts = write(store, [a], day=6)  # reported again, later: the latest report wins
    assert counts == WindowCounts(changed=1)
    (row,) = store.reports()
    assert row["raw"] == a.line() and row["revisions"] == 3
    assert raws(store, key_of(a)) == [a.line(), b.line(), a.line()]


def test_a_backfill_inside_a_run_of_equal_contents_splits_it(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    write(store, [a], day=1)
    write(store, [a], day=6)  # a resend: same content, one revision
    assert raws(store, key_of(a)) == [a.line()]
    counts = write(store, [b], day=3)  # a rescore between them, fetched last
    assert counts == WindowCounts(older=1)
    (row,) = store.reports()
    assert row["raw"] == a.line() and row["revisions"] == 3
    revs = store.revisions(key_of(a))
    assert [r["raw"] for r in revs] == [a.line(), b.line(), a.line()]
    assert [r["window_start"] for r in revs] == [T0 + DAY, T0 + 3 * DAY, T0 + 6 * DAY]


def test_the_same_content_found_earlier_moves_the_revision_back(
    store: Store, versions: list[Report]
) -> None:
    a = versions[0]
    write(store, [a], day=4)
    counts = write(store, [a], day=2)
    assert counts == WindowCounts(unchanged=1)
    (rev,) = store.revisions(key_of(a))
    assert rev["window_start"] == T0 + 2 * DAY and rev["revision"] == 1


def test_position_in_the_answer_orders_two_versions_of_one_window(
    store: Store, versions: list[Report]
) -> None:
    a, b, c = versions[:3]
    write(store, [c], day=9)
    write(store, [a, b], day=2)  # both older than c, in this order
    assert raws(store, key_of(a)) == [a.line(), b.line(), c.line()]
    (row,) = store.reports()
    assert row["raw"] == c.line()


def test_a_re_read_window_adds_no_sighting(store: Store, versions: list[Report]) -> None:
    a, b = versions[:2]
    write(store, [a], day=1)
    write(store, [b], day=2)
    with store.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(s.report_sightings)).scalar()
    assert write(store, [a], day=1) == WindowCounts(unchanged=1)
    assert write(store, [b], day=2) == WindowCounts(unchanged=1)
    with store.engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(s.report_sightings)).scalar()
    assert before == after == 2


def delta(store: Store, name: str = "crm") -> list[tuple[str, str]]:
    """One ``export --since-last`` delta: (report key, change) of each row; moves the bookmark."""
    with store.export_rows(since_last=name) as batch:
        rows = [(row["report_key"], row["change"]) for row in batch.rows]
        assert batch.until is not None
        store.advance_bookmark(name, since=batch.previous.position if batch.previous else None,
                               until=batch.until, rows=len(rows), target=None)  # fmt: skip
    return rows


def test_a_backfill_of_older_revisions_is_not_news_for_a_delta(
    store: Store, versions: list[Report]
) -> None:
    a, b, c = versions[:3]
    key = key_of(a)
    write(store, [b], day=5)
    assert delta(store) == [(key, "new")]
    write(store, [a], day=1)  # older: history only
    assert delta(store) == []
    (row,) = store.reports()
    assert row["raw"] == b.line()
    write(store, [c], day=8)  # newer: the current row and the delta change
    assert delta(store) == [(key, "changed")]


def test_a_new_report_with_a_late_older_revision_is_still_new(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    delta(store)  # a bookmark before anything
    write(store, [b], day=5)
    write(store, [a], day=1)
    assert delta(store) == [(key_of(a), "new")]


def test_a_window_read_again_with_a_changed_answer_takes_the_newer_answer(
    store: Store, versions: list[Report]
) -> None:
    a, b = versions[:2]
    other = Gen(12).report(scale="0-120")
    write(store, [other, a], day=1)  # a at line 2
    write(store, [b], day=1)  # read again: b (a rescored) at line 1 of the newer answer
    row = next(r for r in store.reports() if r["report_key"] == key_of(a))
    assert row["raw"] == b.line() and row["revisions"] == 2
    assert store.status().misordered == 0  # status checks the same order as the rule


def test_a_key_twice_in_a_changed_re_read_of_an_earlier_window(
    store: Store, versions: list[Report]
) -> None:
    a, b, c = versions[:3]
    other = Gen(13).report(scale="0-120")
    write(store, [other, a], day=1)
    write(store, [c], day=4)  # a newer revision in a later window
    counts = write(store, [b, a], day=1)  # read again: a new record of the key, then a seen one
    assert counts.older == 1 and counts.unchanged == 1
    (row,) = [r for r in store.reports() if r["report_key"] == key_of(a)]
    assert row["raw"] == c.line()
    # (a, seen before, keeps the place of its first answer: the documented limit)
    assert raws(store, key_of(a)) == [a.line(), b.line(), c.line()]


def test_last_seen_moves_when_an_early_record_changes_nothing(
    store: Store, versions: list[Report]
) -> None:
    a = versions[0]
    write(store, [a], day=4)
    (before,) = store.reports()
    write(store, [a], day=2)  # the same content, earlier: the revision moves back
    (after,) = store.reports()
    assert after["last_seen"] > before["last_seen"]


def test_runs_and_plan_are_the_rule() -> None:
    def at(day: int, line: int, digest: bytes, seq: int = 0, answer: int = 0) -> Sighting:
        return Sighting(T0 + day * DAY, line, seq, digest, T0, 1, T0, answer)

    sightings = [at(3, 1, b"A"), at(1, 2, b"A"), at(2, 1, b"B"), at(1, 1, b"A"), at(5, 1, b"B")]
    assert [[x.digest for x in run] for run in runs_of(sightings)] == [
        [b"A", b"A"], [b"B"], [b"A"], [b"B"]
    ]  # fmt: skip
    # two answers of one window: the newer answer comes after the older, whatever the lines
    assert [run[0].digest for run in runs_of([at(1, 1, b"B", answer=9), at(1, 5, b"A",
                                                                           answer=3)])] == [
        b"A", b"B"
    ]  # fmt: skip
    assert plan([], []) == []


# -- any order of windows ends in the same database -----------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[tuple[int, int]]], list[int]]:
    """Windows of (report, version) records, and an order of applying them: every window at
    least once, some again (lookbacks), in any order (backfills, retries)."""
    days = draw(st.integers(min_value=1, max_value=7))
    windows = [
        draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=5))
        for _ in range(days)
    ]
    order = draw(st.permutations(range(days)))
    again = draw(st.lists(st.integers(0, days - 1), max_size=4))
    at = draw(st.lists(st.integers(0, days), min_size=len(again), max_size=len(again)))
    applied = list(order)
    for day, place in zip(again, at, strict=True):
        applied.insert(min(place, len(applied)), day)
    return windows, applied


@pytest.fixture(scope="module")
def people() -> list[list[Report]]:
    """Three reports, each in four versions."""
    g = Gen(21)
    out = []
    for _ in range(3):
        a = g.report(scale="0-120")
        out.append([a, *(rescored(a, (a.values["listening"] + n) % 31) for n in (1, 2, 3))])
    assert len({key_of(p[0]) for p in out}) == 3
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE])
@given(history=histories())
def test_any_order_of_windows_gives_the_in_order_database(
    store: Store, people: list[list[Report]],
    history: tuple[list[list[tuple[int, int]]], list[int]],
) -> None:  # fmt: skip
    windows, applied = history

    def apply(order: list[int]) -> Any:
        empty(store)
        for day in order:
            write(store, [people[p][v] for p, v in windows[day]], day=day)
        return canonical(store)

    assert apply(applied) == apply(list(range(len(windows))))


# -- the sync, with the mock API ------------------------------------------------------------

SEED, PER_DAY = 9, 40
J1 = dt.datetime(2026, 1, 1, tzinfo=UTC)
F10 = dt.datetime(2026, 2, 10, tzinfo=UTC)
M1 = dt.datetime(2026, 3, 1, tzinfo=UTC)


class Failing(httpx.BaseTransport):
    """The mock API, but the windows starting on the given days answer 500."""

    def __init__(self, api: MockApi, days: set[dt.date]) -> None:
        self.inner, self.days = api.transport(), days

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = dt.date.fromisoformat(request.url.params["startdate"][:10])
        if start in self.days:
            return httpx.Response(500, text="internal error", request=request)
        return self.inner.handle_request(request)


@contextlib.contextmanager
def client(api: MockApi, failing: set[dt.date] = frozenset()) -> Iterator[Client]:  # type: ignore[assignment]
    with Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores", retries=1,
                transport=Failing(api, set(failing))) as c:  # fmt: skip
        yield c


def run(store: Store, api: MockApi, since: dt.datetime, until: dt.datetime,
        failing: set[dt.date] = frozenset(), **kw: Any) -> Any:  # type: ignore[assignment]  # fmt: skip
    with client(api, failing) as c:
        return sync(c, store, SyncSettings(since=since, until=until, **kw), now=M1 + 4 * DAY)


@pytest.fixture(scope="module")
def clean_jan_feb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One clean in-order sync of January and February."""
    url = f"sqlite:///{tmp_path_factory.mktemp('clean')}/clean.db"
    with open_store(url) as st_:
        assert run(st_, MockApi(seed=SEED, per_day=PER_DAY), J1, M1).exit_code == 0
        return canonical(st_)


def corrected_by_rule(store: Store) -> int:
    """Reports whose current row is not their last revision (must be none)."""
    return store.status().misordered


def test_recent_weeks_first_then_the_backfill(store: Store, clean_jan_feb: Any) -> None:
    api = MockApi(seed=SEED, per_day=PER_DAY)
    assert run(store, api, F10, M1).exit_code == 0
    backfill = run(store, api, J1, M1)
    assert backfill.exit_code == 0
    assert backfill.counts.older > 0  # the originals of reports rescored after Feb 10
    assert canonical(store) == clean_jan_feb
    assert corrected_by_rule(store) == 0
    # show prints the history in reported order and says which revision came late
    r = s.report_revisions
    with store.engine.connect() as conn:
        key = conn.execute(sa.select(r.c.report_key).where(r.c.late)).scalars().first()
    reg = key.split("|")[0]
    shown = CliRunner().invoke(main, ["show", reg, "--db", store.url])
    assert shown.exit_code == 0, shown.output
    assert "arrived later, by backfill (after revision 2)" in shown.output
    data = json.loads(CliRunner().invoke(main, ["show", reg, "--db", store.url,
                                                "--format", "json"]).output)  # fmt: skip
    (report,) = [rep for rep in data["reports"] if rep["report_key"] == key]
    assert [rev["arrived_after_revision"] for rev in report["revisions"]] == [2, None]


def test_a_window_failed_then_fetched_by_the_next_run(store: Store, clean_jan_feb: Any) -> None:
    api = MockApi(seed=SEED, per_day=PER_DAY)
    failing = {dt.date(2026, 1, d) for d in (3, 9, 15, 20, 28)}
    first = run(store, api, J1, M1, failing, concurrency=3)
    assert first.exit_code == 1 and len(first.failures) == len(failing)
    again = run(store, api, J1, M1)
    assert again.exit_code == 0
    assert canonical(store) == clean_jan_feb


def test_a_faulty_server_then_a_rerun_gives_the_clean_database(
    store: Store, clean_40_days: Any
) -> None:
    """10 % 500s and 10 % 429s, no retries: windows fail; the next run fetches them after
    newer ones are stored. One request at a time, so the mock's fault draws (by seed and
    request number) are the same on every run of the test."""
    faulty = MockApi(seed=SEED, per_day=12, faults=["500:0.1", "429:0.1:0"])
    with Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores", retries=1,
                transport=faulty.transport()) as c:  # fmt: skip
        first = sync(c, store, SyncSettings(since=J1, until=J1 + 40 * DAY, concurrency=1),
                     now=M1 + 4 * DAY)  # fmt: skip
    assert first.exit_code == 1 and len(first.failures) >= 3
    assert run(store, MockApi(seed=SEED, per_day=12), J1, J1 + 40 * DAY).exit_code == 0
    assert canonical(store) == clean_40_days


@st.composite
def sync_plans(draw: st.DrawFn) -> list[tuple[int, int, set[int]]]:
    """Runs over day ranges of a 40-day period, in any order, each with failing days."""
    runs = draw(st.lists(
        st.tuples(st.integers(0, 39), st.integers(1, 20), st.sets(st.integers(0, 39), max_size=4)),
        min_size=1, max_size=4,
    ))  # fmt: skip
    return [(first, min(first + n, 40), fail) for first, n, fail in runs]


@pytest.fixture(scope="module")
def clean_40_days(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('clean40')}/clean.db"
    with open_store(url) as st_:
        assert run(st_, MockApi(seed=SEED, per_day=12), J1, J1 + 40 * DAY).exit_code == 0
        return canonical(st_)


@settings(max_examples=8, deadline=None, suppress_health_check=[FIXTURE])
@given(runs=sync_plans())
def test_any_runs_with_any_failures_give_the_clean_database(
    store: Store, clean_40_days: Any, runs: list[tuple[int, int, set[int]]]
) -> None:
    empty(store)
    api = MockApi(seed=SEED, per_day=12)
    for first, end, fail in runs:
        failing = {(J1 + d * DAY).date() for d in fail}
        run(store, api, J1 + first * DAY, J1 + end * DAY, failing, concurrency=2)
    # the windows that no run fetched, or that failed: a last run fetches what is missing
    covered = store.coverage()
    for day in range(40):
        start = J1 + day * DAY
        if not any(a <= start and start + DAY <= b for a, b in covered):
            assert run(store, api, start, start + DAY).exit_code == 0
    assert canonical(store) == clean_40_days


def test_a_sensitive_mode_change_never_brings_clear_id_numbers_back(store: Store) -> None:
    """keep-mode syncs, a replay under hash, then a hash-mode backfill of an older window:
    the current row keeps the hash (the clear content is not reported later than it)."""
    from toefl_access.formats.sensitive import META_MODE, Protector
    from toefl_access.handoff.history import replay
    from toefl_access.sync.preparing import prepare_answer

    a = Gen(5).report(scale="0-120")
    clear = a.values["security_id_number"]
    assert clear

    def sync_window(day: int, protector: Protector) -> None:
        ready = prepare_answer(a.line() + b"\n", "text", protector=protector)
        run = store.begin_run(started_at=dt.datetime.now(UTC), params={})
        store.write_window(
            run_id=run, start=T0 + day * DAY, end=T0 + (day + 1) * DAY, fmt="text",
            body=ready.body, sha256=hashlib.sha256(ready.body).hexdigest(), status=200,
            incoming=ready.items, parse=ready.parse, received_at=dt.datetime.now(UTC),
        )  # fmt: skip

    store.meta_set(META_MODE, "keep")
    for day in (1, 2, 3):
        sync_window(day, Protector("keep"))
    replay(store, sensitive="hash")
    (row,) = store.reports()
    hashed = row["security_id_number"]
    assert hashed != clear and len(hashed) == 64
    sync_window(0, Protector("hash", b"k" * 32))  # a backfill, in hash mode
    (row,) = store.reports()
    assert row["security_id_number"] == hashed and clear.encode() not in row["raw"]
    assert store.status().misordered == 0
