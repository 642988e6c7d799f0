"""Alerts: which feed problems open or clear after a run, recorded once and sent once.

>>> from toefl_access.ops.alerts import evaluate
>>> from toefl_access.settings import load
>>> with open_store(url) as store:                               # doctest: +SKIP
...     sent = evaluate(store, load().alerts)                      # after each sync

Four events, each judged from the run ledger (:meth:`Store.runs`) and the clock:

``key_refused``
    the last run that got an answer about the key ended with exit code 2 (refused); clears
    when a later run's key is accepted (exit 0, or 1 with some windows done). A run that
    could not reach the API (3) says nothing about the key.
``windows_failing``
    one window failed in ``failing_runs`` (3) consecutive runs; clears when no window has.
    Runs that stopped on a refused key do not count (``key_refused`` tells that), and a
    backfill (``--since``) only counts for the windows it failed.
``no_new_reports``
    no new report (the newest ``first_seen``) for ``no_new_reports_days`` (7) days, in the
    configured ``months`` only; clears when one arrives, or outside those months.
``layout_warnings``
    the last run that parsed at least ``layout_warnings_min_records`` (20) new or changed
    records had a share with warnings at least ``layout_warnings_points`` (5) percentage
    points above, and twice, the median of the 10 runs before it (before the jump, while
    the event is open): a sign the vendor changed the record layout. Clears when a run's
    share is back to that.

An event is recorded (``alert_events``) and sent when it opens and when it clears, never
while it stays open. An open alert that no channel delivered (a webhook down, a mail server
away) is sent again by the next evaluation, until one channel takes it; one delivered is
never sent again. Nothing here holds the API key or an ID number: the key appears as its
fingerprint, windows as their times.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api.dates import UTC
from ..errors import KEY_ADVICE, LockedError
from ..settings import MONTHS, AlertSettings
from ..store import AlertEvent, FailedWindow, RunSummary, Store, mask_url
from .notify import Channel, Message, channels_for, deliver

__all__ = ["EVENTS", "Verdict", "assess", "evaluate", "message_for", "trial_message"]

log = logging.getLogger("toefl_access.ops.alerts")

EVENTS = ("key_refused", "windows_failing", "no_new_reports", "layout_warnings")
EXIT_OK, EXIT_FAILED_WINDOWS, EXIT_KEY_REFUSED = 0, 1, 2
#: How many earlier runs make the usual share of records with warnings.
BASELINE_RUNS = 10
#: A run's share of warnings must also be this many times the usual one to be a jump.
JUMP_RATIO = 2.0
#: Failed windows listed in an alert (the details say how many more).
_LISTED = 20


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
    runs: Sequence[RunSummary],
    *,
    last_new_report: dt.datetime | None,
    open_alerts: Mapping[str, AlertEvent],
    settings: AlertSettings,
    now: dt.datetime,
) -> list[Verdict]:
    """Each event's verdict from the ledger (``runs`` newest first), the newest report's
    arrival, the alerts open now, the settings and the time. Pure: reads and writes
    nothing."""
    finished = [r for r in runs if r.finished_at is not None]
    return [
        _key_refused(finished, open_alerts.get("key_refused")),
        _windows_failing(finished, settings.failing_runs),
        _no_new_reports(last_new_report, settings, now),
        _layout_warnings(finished, open_alerts.get("layout_warnings"), settings),
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
    age = now - last
    details["days"] = round(age.total_seconds() / 86400, 1)
    if age < dt.timedelta(days=days):
        return Verdict(
            "no_new_reports", False,
            f"Resolved: new score reports arrive again (the newest at {_when(last)}).",
            details,
        )  # fmt: skip
    return Verdict(
        "no_new_reports", True,
        f"No new score report for {age.days} days (the newest arrived at {_when(last)}; "
        f"the alert is set at {days} days). Check that the sync runs (`toefl-access "
        "status`) and that test takers sent scores to your institution code.",
        details,
    )  # fmt: skip


def _parsed(run: RunSummary) -> int:
    return run.counts.new + run.counts.changed if run.counts else 0


def _layout_warnings(
    runs: Sequence[RunSummary], was: AlertEvent | None, settings: AlertSettings
) -> Verdict:
    with_records = [r for r in runs if _parsed(r) > 0]
    if not with_records or _parsed(with_records[0]) < settings.layout_warnings_min_records:
        return Verdict("layout_warnings", None)
    current = with_records[0]
    # While the event is open, "usual" is what it was before the jump.
    before = was.run_id if was is not None and was.run_id is not None else current.id
    earlier = [r for r in with_records[1:] if r.id < before][:BASELINE_RUNS]
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
            f"{len(earlier)} runs before): the vendor may have changed the record layout. "
            "`toefl-access show` or `parse` shows the warnings; a corrected layout (the "
            "`layout` setting) and `toefl-access replay` re-read the stored answers.",
            details, current.id,
        )  # fmt: skip
    return Verdict(
        "layout_warnings", False,
        f"Resolved: {share:.0%} of the records of sync run {current.id} carry warnings, "
        f"back to the usual {usual:.0%}.",
        details, current.id,
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


def evaluate(
    store: Store,
    settings: AlertSettings,
    *,
    now: dt.datetime | None = None,
    channels: Sequence[Channel] | None = None,
) -> list[AlertEvent]:
    """Judge every event now, record those that open or clear, send them through
    ``channels`` (default: the settings'), and send again open alerts no channel took.

    Returns the alerts sent (each with its ``delivered`` answers). Takes the database's
    sync lock while it decides, so two processes never record one event twice; when a sync
    holds it, nothing is done (that sync's own evaluation follows).
    """
    now = now or dt.datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if channels is None:
        channels = channels_for(settings)
    database = mask_url(store.url)
    todo: list[AlertEvent] = []
    new: set[int] = set()
    try:
        with store.sync_lock(wait=False):
            runs = store.runs(max(30, 3 * settings.failing_runs))
            _, last_new_report = store.counts()
            opened = store.open_alerts()
            verdicts = assess(runs, last_new_report=last_new_report,
                              open_alerts=opened, settings=settings, now=now)  # fmt: skip
            for v in verdicts:
                was = opened.get(v.event)
                if (v.state is True and was is None) or (v.state is False and was is not None):
                    ev = AlertEvent(
                        event=v.event, status="open" if v.state else "resolved", at=now,
                        text=v.text, details=v.details, run_id=v.run_id,
                    )  # fmt: skip
                    ev.id = store.record_alert(ev)
                    new.add(ev.id)
                    log.info("alert %s %s", ev.event, ev.status)
                    todo.append(ev)
                elif was is not None and not _delivered(was):
                    todo.append(was)  # still open, and no channel took it yet
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
        again = "; the next run sends it again" if ev.status == "open" and not _delivered(ev) \
            else ""
        for name, said in answers.items():
            if said != "ok":
                log.warning("alert %s (%s) not delivered by %s%s: %s", ev.event, ev.status,
                            name, again, said)
    return todo
