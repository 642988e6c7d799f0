"""Alerts: which feed problems open or clear after a sync, recorded once and sent once.

>>> from toefl_access.ops.alerts import evaluate
>>> from toefl_access.settings import load
>>> with open_store(url) as store:                               # doctest: +SKIP
...     sent = evaluate(store, load().alerts)                      # after each sync
...     sent = evaluate(store, load().alerts, failure=exc)         # after a sync that raised

Five events, each judged from the sync runs of the ledger (:meth:`Store.runs` with
``kind="sync"``: a ``replay`` or a ``db upgrade`` repair reads no API and says nothing of
the feed), the clock, and the error that stopped the sync, if one did:

``key_refused``
    the last sync run that got an answer about the key ended with exit code 2 (refused);
    clears when a later run's key is accepted (exit 0, or 1 with some windows done). A run
    that could not reach the API (3) says nothing about the key.
``windows_failing``
    one window failed in ``failing_runs`` (3) consecutive sync runs; clears when no window
    has. Runs that stopped on a refused key do not count (``key_refused`` tells that), and a
    backfill (``--since``) only counts for the windows it failed.
``no_new_reports``
    no new report (the newest ``first_seen``) for ``no_new_reports_days`` (7) days of the
    configured ``months``: only the time inside those months counts, so the first days of
    a watched season do not count the quiet months before it. Checked in those months
    only; clears when a report arrives, or outside those months.
``layout_warnings``
    the newest sync run with new or changed records, when it has at least
    ``layout_warnings_min_records`` (20) of them, had a share with warnings at least
    ``layout_warnings_points`` (5) percentage points above, and twice, the median of the 10
    sync runs with records before it (before the jump, while the event is open): a sign the
    vendor changed the record layout. Clears when a run's share is back to that.
``sync_failed``
    the sync could not run: it stopped on an error of its own (a key file that cannot be
    read, a missing hash key file, the database failing, a broken layout), given to
    :func:`evaluate` as ``failure``. A refused key is ``key_refused``'s, and another sync
    holding the database is no failure. Clears once a later sync run finishes, whatever its
    exit code (the other events tell what it found).

An event is recorded (``alert_events``) and sent when it opens and when it clears, never
while it stays open. The latest row of each event that no channel delivered (a webhook
down, a mail server away) is sent again by the next evaluation until one channel takes it:
an open one always, a resolved one when a channel was tried; a row delivered is never sent
again, and a newer row of the event replaces an older one not yet sent. Nothing here holds
the API key or an ID number: the key appears as its fingerprint, windows as their times,
errors as the project's own messages (which never hold them).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api.dates import UTC
from ..errors import (
    KEY_ADVICE,
    AuthenticationError,
    ForbiddenError,
    LockedError,
    ToeflAccessError,
    printable,
)
from ..settings import MONTHS, AlertSettings
from ..store import AlertEvent, FailedWindow, RunSummary, Store, mask_url
from .notify import Channel, Message, channels_for, deliver

__all__ = ["EVENTS", "Failure", "Ledger", "Verdict", "assess", "evaluate", "message_for",
           "read_ledger", "trial_message"]  # fmt: skip

log = logging.getLogger("toefl_access.ops.alerts")

EVENTS = ("key_refused", "windows_failing", "no_new_reports", "layout_warnings", "sync_failed")
EXIT_OK, EXIT_FAILED_WINDOWS, EXIT_KEY_REFUSED = 0, 1, 2
#: How many earlier sync runs with records make the usual share of records with warnings.
BASELINE_RUNS = 10
#: A run's share of warnings must also be this many times the usual one to be a jump.
JUMP_RATIO = 2.0
#: Failed windows listed in an alert (the details say how many more).
_LISTED = 20
#: Characters of a sync's error kept in a ``sync_failed`` alert.
_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a sync could not run, as a ``sync_failed`` alert tells it."""

    error: str
    type: str
    exit_code: int

    @classmethod
    def of(cls, exc: BaseException) -> Failure | None:
        """The failure ``exc`` is, or None when it is none of ``sync_failed``'s: a refused
        key (``key_refused`` tells it, from the ledger), another sync holding the database
        (that sync evaluates after). The project's messages never hold the key or an ID
        number; of any other exception only its type is told."""
        if isinstance(exc, AuthenticationError | ForbiddenError | LockedError):
            return None
        if isinstance(exc, ToeflAccessError):
            error = printable(str(exc)).strip()
            if len(error) > _ERROR_CHARS:
                error = error[: _ERROR_CHARS - 1] + "…"
            return cls(error, type(exc).__name__, exc.exit_code)
        return cls(f"an unexpected {type(exc).__name__} (the sync's own output tells more)",
                   type(exc).__name__, 1)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the events are judged from (:func:`read_ledger` reads it from a store).

    ``runs``: the latest sync runs, newest first; ``last_new_report``: when the newest new
    report arrived; ``with_records``: the newest sync run with new or changed records, and
    ``baseline``: the sync runs with records before it (before the run that opened
    ``layout_warnings``, while it is open), newest first; ``failure``: why the sync just
    ended could not run, if it could not.
    """

    runs: Sequence[RunSummary] = ()
    last_new_report: dt.datetime | None = None
    with_records: RunSummary | None = None
    baseline: Sequence[RunSummary] = ()
    failure: Failure | None = None


def read_ledger(
    store: Store, settings: AlertSettings, open_alerts: Mapping[str, AlertEvent],
    failure: Failure | None = None,
) -> Ledger:  # fmt: skip
    """The :class:`Ledger` of ``store``: each part queried for what its event needs."""
    runs = store.runs(max(30, 3 * settings.failing_runs), kind="sync")
    _, last_new_report = store.counts()
    newest = store.runs(1, kind="sync", with_records=True)
    current = newest[0] if newest else None
    baseline: list[RunSummary] = []
    if current is not None:
        was = open_alerts.get("layout_warnings")
        before = was.run_id if was is not None and was.run_id is not None else current.id
        baseline = store.runs(BASELINE_RUNS, kind="sync", with_records=True, before=before)
    return Ledger(runs, last_new_report, current, baseline, failure)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the ledger says of one event now: ``state`` True (a problem), False (none), or
    None (this run cannot tell: the state stays as it is)."""

    event: str
    state: bool | None
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _when(t: dt.datetime | None) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if t else "an unknown time"


def assess(
    ledger: Ledger,
    *,
    open_alerts: Mapping[str, AlertEvent],
    settings: AlertSettings,
    now: dt.datetime,
) -> list[Verdict]:
    """Each event's verdict from the ledger, the alerts open now, the settings and the
    time. Pure: reads and writes nothing."""
    syncs = [r for r in ledger.runs if r.kind == "sync"]  # a replay fetches nothing
    finished = [r for r in syncs if r.finished_at is not None]
    return [
        _key_refused(finished, open_alerts.get("key_refused")),
        _windows_failing(finished, settings.failing_runs),
        _no_new_reports(ledger.last_new_report, settings, now),
        _layout_warnings(ledger.with_records, ledger.baseline, settings),
        _sync_failed(ledger.failure, syncs, open_alerts.get("sync_failed")),
    ]


def _key_refused(runs: Sequence[RunSummary], was: AlertEvent | None) -> Verdict:
    def answered(r: RunSummary) -> bool:  # the run knows whether the key works
        return r.exit_code in (EXIT_OK, EXIT_KEY_REFUSED) or (
            r.exit_code == EXIT_FAILED_WINDOWS and bool(r.windows_done)
        )

    decisive = next((r for r in runs if answered(r)), None)
    if decisive is None:
        return Verdict("key_refused", None)
    key = f" (sha256 {decisive.key_fingerprint}…)" if decisive.key_fingerprint else ""
    details = {
        "run_id": decisive.id, "at": _iso(decisive.finished_at),
        "key_fingerprint": decisive.key_fingerprint,
    }  # fmt: skip
    if decisive.exit_code == EXIT_KEY_REFUSED:
        return Verdict(
            "key_refused", True,
            f"TOEFL Access refused the API key{key} in sync run {decisive.id} at "
            f"{_when(decisive.finished_at)}: no score reports come in until the key is "
            f"replaced. {KEY_ADVICE} The next sync run (or `toefl-access check-key`) "
            "confirms the new key.",
            details | {"error": (decisive.error or "")[:500]}, decisive.id,
        )  # fmt: skip
    since = f" (refused since {_when(was.at)})" if was is not None else ""
    return Verdict(
        "key_refused", False,
        f"Resolved: TOEFL Access accepts the API key{key} again, in sync run {decisive.id} "
        f"at {_when(decisive.finished_at)}{since}.",
        details | {"refused_since": _iso(was.at) if was else None}, decisive.id,
    )  # fmt: skip


def failing_windows(runs: Sequence[RunSummary]) -> dict[tuple[dt.datetime, dt.datetime],
                                                          list[FailedWindow]]:
    """Each window whose latest attempts failed, with those failures (newest first): how
    many consecutive runs failed it. ``runs`` are finished runs, newest first."""
    streak: dict[tuple[dt.datetime, dt.datetime], list[FailedWindow]] = {}
    closed: set[tuple[dt.datetime, dt.datetime]] = set()
    seen_regular = False
    for run in runs:
        if run.exit_code == EXIT_KEY_REFUSED:
            continue  # it stopped at the first window: key_refused tells that
        planned = run.windows_planned
        if planned and (run.windows_done or 0) + (run.windows_failed or 0) < planned:
            continue  # it died before trying every window: it says nothing of the others
        failed = {(f.start, f.end): f for f in run.failures}
        for key, failure in failed.items():
            if key in closed:
                continue
            if seen_regular and key not in streak:
                closed.add(key)  # a newer regular run retried it and did not fail
                continue
            streak.setdefault(key, []).append(failure)
        # A regular run retries every failed window first; a backfill (--since) fetches
        # its own range only, so it says nothing of the windows it did not fail.
        if not run.params.get("since"):
            closed.update(k for k in streak if k not in failed)
            seen_regular = True
    return streak


def _windows_failing(runs: Sequence[RunSummary], n: int) -> Verdict:
    failing = {k: fs for k, fs in failing_windows(runs).items() if len(fs) >= n}
    if not failing:
        return Verdict(
            "windows_failing", False,
            f"Resolved: no window has failed {n} sync runs in a row any more (the failed "
            "windows were fetched, or are being retried).",
            {"failing_runs": n},
        )  # fmt: skip
    listed = sorted(failing)[:_LISTED]
    windows = [
        {
            "start": _iso(start), "end": _iso(end), "failed_runs": len(failing[start, end]),
            "status": failing[start, end][0].status,
            "last_error": failing[start, end][0].error[:300],
        }
        for start, end in listed
    ]  # fmt: skip
    first = windows[0]
    more = f" and {len(failing) - 1} more" if len(failing) > 1 else ""
    newest_run = next((r.id for r in runs if r.exit_code != EXIT_KEY_REFUSED), None)
    return Verdict(
        "windows_failing", True,
        f"{len(failing)} window(s) failed in each of the last {n} or more sync runs: "
        f"{_when(listed[0][0])} to {_when(listed[0][1])}{more}. Last error: "
        f"{first['last_error']}. Each run retries them; `toefl-access status` lists them.",
        {"failing_runs": n, "windows": windows, "count": len(failing)}, newest_run,
    )  # fmt: skip


def _watched(last: dt.datetime, now: dt.datetime, months: Collection[int]) -> dt.timedelta:
    """The part of the time from ``last`` to ``now`` that falls in ``months`` (UTC)."""
    total = dt.timedelta()
    t, end = last.astimezone(UTC), now.astimezone(UTC)
    while t < end:
        month_end = dt.datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)
        stop = min(month_end, end)
        if t.month in months:
            total += stop - t
        t = stop
    return total


def _no_new_reports(
    last: dt.datetime | None, settings: AlertSettings, now: dt.datetime
) -> Verdict:
    days = settings.no_new_reports_days
    months = [MONTHS[m - 1] for m in settings.months]
    details: dict[str, Any] = {
        "last_new_report": _iso(last), "threshold_days": days,
        "months": months,
    }  # fmt: skip
    if now.month not in settings.months:
        return Verdict(
            "no_new_reports", False,
            f"Resolved: it is {MONTHS[now.month - 1]}, outside the months watched for new "
            f"reports ({', '.join(months)}).", details,
        )  # fmt: skip
    if last is None:
        return Verdict("no_new_reports", None)  # nothing ever came: nothing to compare with
    age = _watched(last, now, settings.months)  # the quiet months before do not count
    details["days"] = round(age.total_seconds() / 86400, 1)
    details["calendar_days"] = round(max(now - last, dt.timedelta()).total_seconds() / 86400, 1)
    if age < dt.timedelta(days=days):
        return Verdict(
            "no_new_reports", False,
            f"Resolved: new score reports arrive again (the newest at {_when(last)}).",
            details,
        )  # fmt: skip
    of = "" if len(settings.months) == 12 else f" of the watched months ({', '.join(months)})"
    return Verdict(
        "no_new_reports", True,
        f"No new score report for {age.days} days{of} (the newest arrived at {_when(last)}; "
        f"the alert is set at {days} days). Check that the sync runs (`toefl-access "
        "status`) and that test takers sent scores to your institution code.",
        details,
    )  # fmt: skip


def _parsed(run: RunSummary) -> int:
    return run.counts.new + run.counts.changed if run.counts else 0


def _layout_warnings(
    current: RunSummary | None, earlier: Sequence[RunSummary], settings: AlertSettings
) -> Verdict:
    if current is None or _parsed(current) < settings.layout_warnings_min_records:
        return Verdict("layout_warnings", None)
    earlier = [r for r in earlier if _parsed(r) > 0 and r.id < current.id][:BASELINE_RUNS]
    if not earlier:
        return Verdict("layout_warnings", None)
    assert current.counts is not None
    share = current.counts.warnings / _parsed(current)
    usual = statistics.median(
        (r.counts.warnings if r.counts else 0) / _parsed(r) for r in earlier
    )
    jump = share * 100 >= usual * 100 + settings.layout_warnings_points and (
        share >= JUMP_RATIO * usual
    )
    details = {
        "run_id": current.id, "records": _parsed(current), "warnings": current.counts.warnings,
        "share": round(share, 4), "usual_share": round(usual, 4), "runs_compared": len(earlier),
    }  # fmt: skip
    if jump:
        return Verdict(
            "layout_warnings", True,
            f"{share:.0%} of the {_parsed(current)} new or changed records of sync run "
            f"{current.id} carry warnings, against {usual:.0%} usually (the median of the "
            f"{len(earlier)} runs with records before): the vendor may have changed the "
            "record layout. `toefl-access show` or `parse` shows the warnings; a corrected "
            "layout (the `layout` setting) and `toefl-access replay` re-read the stored "
            "answers.",
            details, current.id,
        )  # fmt: skip
    return Verdict(
        "layout_warnings", False,
        f"Resolved: {share:.0%} of the records of sync run {current.id} carry warnings, "
        f"back to the usual {usual:.0%}.",
        details, current.id,
    )  # fmt: skip


def _sync_failed(
    failure: Failure | None, runs: Sequence[RunSummary], was: AlertEvent | None
) -> Verdict:
    newest = max((r.id for r in runs), default=None)  # the failed run, if it got that far
    if failure is not None:
        return Verdict(
            "sync_failed", True,
            f"The sync could not run: {failure.error.rstrip('.')}. No score reports come in "
            "until it does; run `toefl-access sync` by hand to see the error. The next sync "
            "that finishes clears this alert.",
            {"error": failure.error, "error_type": failure.type,
             "exit_code": failure.exit_code, "last_run_id": newest},
        )  # fmt: skip
    if was is None:
        return Verdict("sync_failed", False)
    after = was.details.get("last_run_id") or 0
    done = next((r for r in runs if r.id > after and r.finished_at is not None), None)
    if done is None:
        return Verdict("sync_failed", None)  # no sync finished since: no news
    found = "" if done.exit_code == EXIT_OK else "; `toefl-access status` says what it found"
    return Verdict(
        "sync_failed", False,
        f"Resolved: the sync runs again: sync run {done.id} finished at "
        f"{_when(done.finished_at)} with exit code {done.exit_code}{found} (the sync could "
        f"not run since {_when(was.at)}).",
        {"run_id": done.id, "exit_code": done.exit_code, "failing_since": _iso(was.at)},
        done.id,
    )  # fmt: skip


def _delivered(ev: AlertEvent) -> bool:
    return "ok" in ev.delivered.values()


def message_for(ev: AlertEvent, database: str) -> Message:
    """The message sent for a recorded alert."""
    return Message(event=ev.event, status=ev.status, text=ev.text, database=database,
                   details=ev.details, at=ev.at)  # fmt: skip


def trial_message(database: str, now: dt.datetime | None = None) -> Message:
    """A message that says only that alerts reach their readers (``alerts test``)."""
    return Message(
        event="test", status="open", database=database, at=now or dt.datetime.now(UTC),
        text="Test alert from toefl-access: alerts about the TOEFL score feed reach you "
        "here. Nothing is wrong.",
    )  # fmt: skip


def _retry(ev: AlertEvent) -> bool:
    """Whether ``ev``, an event's latest row, is to be sent again: no channel took it, and
    it is open (a channel set later gets it too) or a channel was tried."""
    return not _delivered(ev) and (ev.status == "open" or bool(ev.delivered))



def evaluate(
    store: Store,
    settings: AlertSettings,
    *,
    now: dt.datetime | None = None,
    channels: Sequence[Channel] | None = None,
    failure: BaseException | Failure | None = None,
) -> list[AlertEvent]:
    """Judge every event now, record those that open or clear, send them through
    ``channels`` (default: the settings'), and send again each event's latest alert that no
    channel took. ``failure``: the error that stopped the sync just ended (``sync_failed``).

    Returns the alerts sent (each with its ``delivered`` answers). Takes the database's
    sync lock while it decides, so two processes never record one event twice; when a sync
    holds it, nothing is done (that sync's own evaluation follows).
    """
    now = now or dt.datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if isinstance(failure, BaseException):
        failure = Failure.of(failure)
    if channels is None:
        channels = channels_for(settings)
    database = mask_url(store.url)
    todo: list[AlertEvent] = []
    new: set[int] = set()
    try:
        with store.sync_lock(wait=False):
            latest = store.latest_alerts()
            opened = {k: ev for k, ev in latest.items() if ev.status == "open"}
            ledger = read_ledger(store, settings, opened, failure)
            verdicts = assess(ledger, open_alerts=opened, settings=settings, now=now)
            for v in verdicts:
                was = opened.get(v.event)
                if (v.state is True and was is None) or (v.state is False and was is not None):
                    ev = AlertEvent(
                        event=v.event, status="open" if v.state else "resolved", at=now,
                        text=v.text, details=v.details, run_id=v.run_id,
                    )  # fmt: skip
                    ev.id = store.record_alert(ev)  # supersedes the event's earlier rows
                    new.add(ev.id)
                    log.info("alert %s %s", ev.event, ev.status)
                    todo.append(ev)
                elif (last := latest.get(v.event)) is not None and _retry(last):
                    todo.append(last)  # the event's latest row, and no channel took it
    except LockedError:
        log.info("alerts not evaluated now: a sync is running and evaluates them after")
        return []
    if not channels:
        return [ev for ev in todo if ev.id in new]
    for ev in todo:
        answers = deliver(message_for(ev, database), channels)
        ev.delivered = {**ev.delivered, **answers}
        assert ev.id is not None
        store.set_delivered(ev.id, ev.delivered)
        again = "; the next run sends it again" if _retry(ev) else ""
        for name, said in answers.items():
            if said != "ok":
                log.warning("alert %s (%s) not delivered by %s%s: %s", ev.event, ev.status,
                            name, again, said)
    return todo
