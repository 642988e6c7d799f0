"""Is the feed healthy? One answer for ``/healthz``, ``/api/status`` and the status page.

>>> from toefl_access.ops.health import health
>>> from toefl_access.store import open_store
>>> with open_store("sqlite:///toefl-access.db") as store:        # doctest: +SKIP
...     h = health(store)
>>> h.healthy, h.reasons                                            # doctest: +SKIP
(False, ['the last run (#12, ...) ended with exit code 2: the API key was refused ...'])

The feed is healthy when the last finished run ended with exit code 0 and the watermark
(the end of the covered time) is younger than ``max_age`` (default 2 days). A run still
going does not count yet; a run that never finished (killed) makes the feed unhealthy.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import KEY_ADVICE
from ..store import AlertEvent, FailedWindow, KeyHistory, RunSummary, Store

__all__ = ["DEFAULT_MAX_AGE", "Health", "KeyHealth", "LastRun", "age", "health", "iso"]

DEFAULT_MAX_AGE = dt.timedelta(days=2)
_EXIT_MEANING = {
    1: "some windows failed",
    2: "the API key was refused",
    3: "the API could not be reached",
}


@dataclass(frozen=True)
class KeyHealth:
    """The key as the ledger saw it: ``state`` is ``ok`` (the latest verdict was an
    answered window), ``refused`` (the latest verdict was a refusal) or ``unknown``."""

    state: Literal["ok", "refused", "unknown"]
    fingerprint: str | None
    in_use_since: dt.datetime | None
    last_accepted: dt.datetime | None
    last_refused: dt.datetime | None


@dataclass(frozen=True)
class LastRun:
    """The last finished (or interrupted) run."""

    id: int
    started: dt.datetime
    finished: dt.datetime | None
    exit_code: int | None
    failed_windows: list[FailedWindow]
    error: str | None = None
    new: int | None = None
    changed: int | None = None


@dataclass(frozen=True)
class Health:
    """The feed's health at ``checked_at``; ``reasons`` says why it is not healthy."""

    watermark: dt.datetime | None
    watermark_age: dt.timedelta | None
    reports: int
    last_run: LastRun | None
    gaps: list[tuple[dt.datetime, dt.datetime]]
    key: KeyHealth
    healthy: bool
    reasons: list[str]
    checked_at: dt.datetime
    max_age: dt.timedelta
    running: bool = False
    last_new_report: dt.datetime | None = None
    runs: list[RunSummary] = field(default_factory=list)
    #: The alerts open now (``key_refused``, ...), each with what its channels answered.
    open_alerts: list[AlertEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The body of ``/api/status`` (times in ISO 8601 UTC, ``Z``)."""
        run = self.last_run
        return {
            "healthy": self.healthy,
            "reasons": self.reasons,
            "checked_at": iso(self.checked_at),
            "watermark": iso(self.watermark),
            "watermark_age_seconds": (
                None if self.watermark_age is None else int(self.watermark_age.total_seconds())
            ),
            "max_age_seconds": int(self.max_age.total_seconds()),
            "reports": self.reports,
            "last_new_report": iso(self.last_new_report),
            "running": self.running,
            "last_run": None if run is None else {
                "id": run.id,
                "started": iso(run.started),
                "finished": iso(run.finished),
                "exit_code": run.exit_code,
                "error": run.error,
                "new": run.new,
                "changed": run.changed,
                "failed_windows": [
                    {"start": iso(f.start), "end": iso(f.end), "status": f.status,
                     "error": f.error}
                    for f in run.failed_windows
                ],
            },
            "gaps": [[iso(a), iso(b)] for a, b in self.gaps],
            "alerts": [
                {"event": a.event, "since": iso(a.at), "text": a.text,
                 "delivered": a.delivered}
                for a in self.open_alerts
            ],
            "key": self.key.state,
            "key_detail": {
                "fingerprint": self.key.fingerprint,
                "in_use_since": iso(self.key.in_use_since),
                "last_accepted": iso(self.key.last_accepted),
                "last_refused": iso(self.key.last_refused),
            },
        }


def iso(value: dt.datetime | None) -> str | None:
    """``2026-12-04T05:00:00Z`` (UTC), or None."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def exit_code_of(run: RunSummary) -> int | None:
    """A finished run's exit code; runs recorded before the ledger kept it get one from
    their totals when those are unambiguous."""
    if run.exit_code is not None or run.finished_at is None:
        return run.exit_code
    return 0 if not run.error and not run.windows_failed else None


def key_health(history: KeyHistory) -> KeyHealth:
    """The key's state from its history in the ledger."""
    accepted, refused = history.last_accepted, history.last_refused
    state: Literal["ok", "refused", "unknown"]
    if refused is not None and (accepted is None or refused >= accepted):
        state = "refused"
    else:
        state = "ok" if accepted is not None else "unknown"
    return KeyHealth(state, history.fingerprint, history.in_use_since, accepted, refused)


def health(
    store: Store,
    *,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    runs: int = 10,
) -> Health:
    """The feed's health as the database tells it (see the module's docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    ledger = store.runs(max(runs, 1), kind="sync")  # a replay reads no API
    reports, last_new_report = store.counts()
    coverage = store.coverage()
    watermark = coverage[-1][1] if coverage else None
    key = key_health(store.key_history())
    running = store.lock_holder() is not None
    # The run holding the lock is still going; the newest other one is the last run.
    finished = [r for r in ledger if not (running and r.finished_at is None)]
    last = finished[0] if finished else None
    last_run = None if last is None else LastRun(
        id=last.id, started=last.started_at, finished=last.finished_at,
        exit_code=exit_code_of(last), failed_windows=list(last.failures), error=last.error,
        new=last.counts.new if last.counts else None,
        changed=last.counts.changed if last.counts else None,
    )
    reasons = _reasons(last_run, key, watermark, now, max_age)
    return Health(
        watermark=watermark,
        watermark_age=None if watermark is None else now - watermark,
        reports=reports,
        last_run=last_run,
        gaps=[(a[1], b[0]) for a, b in itertools.pairwise(coverage)],
        key=key,
        healthy=not reasons,
        reasons=reasons,
        checked_at=now,
        max_age=max_age,
        running=running,
        last_new_report=last_new_report,
        runs=ledger,
        open_alerts=sorted(store.open_alerts().values(), key=lambda a: a.at),
    )


def _reasons(
    run: LastRun | None,
    key: KeyHealth,
    watermark: dt.datetime | None,
    now: dt.datetime,
    max_age: dt.timedelta,
) -> list[str]:
    out: list[str] = []
    if run is None:
        out.append("no sync has run yet: run `toefl-access sync`")
    elif run.finished is None:
        out.append(
            f"the last run (#{run.id}, started {iso(run.started)}) never finished: it was "
            "killed or its machine stopped; the next sync redoes its windows"
        )
    elif run.exit_code != 0:
        meaning = _EXIT_MEANING.get(run.exit_code or 0, "its result is unknown")
        what = f"exit code {run.exit_code}" if run.exit_code is not None else "no exit code"
        detail = f": {run.error}" if run.error else (
            f": {len(run.failed_windows)} window(s) failed" if run.failed_windows else ""
        )
        out.append(f"the last run (#{run.id}, {iso(run.started)}) ended with {what}, "
                   f"{meaning}{detail}")
    if key.state == "refused":
        out.append(f"the API key was refused at {iso(key.last_refused)}. {KEY_ADVICE}")
    if watermark is None:
        out.append("no time is covered yet")
    elif now - watermark > max_age:
        out.append(
            f"the watermark {iso(watermark)} is {age(now - watermark)} old "
            f"(more than {age(max_age)}): the sync is not keeping up or not running"
        )
    return out


def age(delta: dt.timedelta) -> str:
    """``5 min``, ``7 h``, ``3 days``: how people say an age (the page, status, reasons)."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
