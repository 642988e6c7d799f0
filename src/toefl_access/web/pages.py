"""What the status page shows, read from a store: plain data for the templates.

:func:`overview` gathers the page at ``/`` (health, open and recent alerts, runs, gaps,
and the costly part the app caches, :func:`gather`: charts and counts) and :func:`person` the
page at ``/reports/REG`` (what ``toefl-access show`` prints). Neither
returns an ID number (a field of kind ``sensitive``), a raw line or anything else the page
must not show; every text here is still escaped by the templates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from ..formats import layout as layouts
from ..formats.sensitive import META_MODE, describe
from ..handoff.history import (
    Change,
    arrived_after,
    history_changes,
    parse_registration,
    same_person,
)
from ..ops.health import Health, exit_code_of, health
from ..ops.health import age as health_age
from ..store import AlertEvent, LockHolder, RunSummary, Store
from ..store import dashboard as board
from ..store import schema as s
from ..store.history import ReportHistory
from . import charts

#: Fields never shown: the ID number (kind ``sensitive``) whatever the layout calls it.
HIDDEN = frozenset(n for n, k in s.FIELD_KINDS.items() if k == "sensitive")
#: The fields a report table shows first: who, when, and every score.
_WHO = ("institution_code", "department_code", "last_name", "first_name", "middle_name",
        "date_of_birth", "test_date", "test_type")  # fmt: skip
MAIN = frozenset(_WHO) | {n for n, k in s.FIELD_KINDS.items() if k in ("score", "band", "cefr")}
SCALE_SERIES = (
    charts.Series("0-120", "0-120 scale", "#2563eb"),
    charts.Series("1-6", "1-6 scale", "#ea7a0c"),
    charts.Series("both", "both scales", "#7c3aed"),
    charts.Series("none", "no score", "#9ca3af"),
)
DAY_SERIES = (
    charts.Series("covered", "covered", "#2b6cb0"),
    charts.Series("partial", "partly covered", "#90cdf4"),
    charts.Series("failed", "failed, not fetched since", "#dc2626"),
    charts.Series("none", "not asked for", "#e5e7eb"),
)
DAYS = 90


LABELS = {f.name: f.label for f in layouts.builtin_fields()}


def text(value: Any) -> str:
    """A stored value as the page writes it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- the overview -------------------------------------------------------------------------


@dataclass
class RunRow:
    """One row of the runs table."""

    run: RunSummary
    kind: str
    exit_code: int | None
    duration: str
    running: bool


@dataclass(frozen=True)
class AlertRow:
    """An alert as the page shows it: ``delivery`` is what each channel answered
    (``delivered``: one took it; ``sent``: one was configured); ``current``: it is the row
    that keeps its event open now."""

    event: str
    status: str
    at: dt.datetime
    text: str
    delivery: str
    delivered: bool
    sent: bool
    current: bool = False


#: What an alert's delivery says when no channel was configured when it was recorded.
NO_CHANNEL = "recorded, no channel configured"


def alert_row(ev: AlertEvent, *, clip: int = 160, current: bool = False) -> AlertRow:
    """``webhook: ok / email: 535 auth failed`` (each answer cut to ``clip`` characters),
    or :data:`NO_CHANNEL`."""
    answers = [f"{name}: {_clip(why, clip)}" for name, why in ev.delivered.items()]
    return AlertRow(ev.event, ev.status, ev.at, ev.text, " / ".join(answers) or NO_CHANNEL,
                    "ok" in ev.delivered.values(), bool(answers), current)  # fmt: skip


def _clip(value: str, size: int) -> str:
    value = " ".join(value.split())
    return value if len(value) <= size else value[: size - 1] + "…"


@dataclass(frozen=True)
class Board:
    """The costly part of ``/`` (charts and counts): what the app caches."""

    charts: dict[str, Markup]
    released: int
    tallies: board.Tallies
    personal: str
    alerts: list[AlertRow]
    at: dt.datetime


@dataclass
class Overview:
    health: Health
    board: Board
    runs: list[RunRow]
    open_alerts: list[AlertRow]
    #: The alert channels ``serve``'s settings configure (None: not known).
    channels: list[str] | None
    #: No channel sends alerts: ``serve``'s settings configure none, and the newest alert
    #: (if any) went nowhere either (the sync may run with other settings).
    unsent: bool
    lock: LockHolder | None
    backend: str
    now: dt.datetime


def overview(
    store: Store, *, now: dt.datetime, max_age: dt.timedelta, runs: int = 10,
    health_now: Health | None = None, board_now: Board | None = None,
    channels: list[str] | None = None,
) -> Overview:  # fmt: skip
    """Everything ``/`` shows: ``health_now`` and ``board_now`` when the caller has them
    (cached), else read now."""
    h = health_now or health(store, now=now, max_age=max_age, runs=runs)
    b = board_now or gather(store, now=now)
    rows = []
    for r in h.runs:
        going = r.finished_at is None and h.running and r is h.runs[0]
        rows.append(RunRow(r, _kind(r.params), exit_code_of(r), _duration(r), going))
    return Overview(
        health=h, board=b, runs=rows, open_alerts=[alert_row(a) for a in h.open_alerts],
        channels=channels, unsent=channels == [] and not any(a.sent for a in b.alerts[:1]),
        lock=store.lock_holder() if h.running else None, backend=store.backend, now=now,
    )  # fmt: skip


def gather(store: Store, *, now: dt.datetime, alerts: int = 10) -> Board:
    """The charts and counts of ``/`` (a handful of queries: see
    :mod:`toefl_access.store.dashboard`) and the last ``alerts`` alerts."""
    personal = describe(store.meta_get(META_MODE))
    today = now.astimezone(dt.UTC).date()
    per_day = board.released_per_day(store, last=today, days=DAYS)
    year_ago = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=52)
    days = board.coverage_calendar(store, first=year_ago, last=today, now=now)
    dist = board.distributions(store)
    totals = charts.score_bins(dist.total)
    used = [x for x in SCALE_SERIES
            if x.key in ("0-120", "1-6") or any(c[x.key] for _, c in per_day)]  # fmt: skip
    scale_totals = {x.key: sum(c[x.key] for _, c in per_day) for x in used}
    day_totals = {x.key: sum(1 for v in days.values() if v == x.key) for x in DAY_SERIES}
    svg = {
        "released": charts.stacked_bars(
            per_day, used, ident="chart-released",
            title=f"Reports released per day, last {DAYS} days, by score scale",
        ),
        "released_legend": charts.legend(used, scale_totals),
        "calendar": charts.calendar(
            days, DAY_SERIES, last=today, ident="chart-coverage",
            title="Coverage calendar: each UTC day of the last year",
        ),
        "calendar_legend": charts.legend(DAY_SERIES, day_totals),
        "totals": charts.histogram(
            totals, colour=SCALE_SERIES[0].colour, axis=[b.split("-")[0] for b, _ in totals],
            ident="chart-total", title="Totals on the 0-120 scale (current reports)",
        ),
        "bands": charts.histogram(
            charts.band_bins(dist.ibt26_total), colour=SCALE_SERIES[1].colour,
            ident="chart-band", title="Totals on the 1-6 scale (current reports)",
        ),
    }  # fmt: skip
    still_open = {a.id for a in store.open_alerts().values()}
    return Board(
        charts={k: Markup(v) for k, v in svg.items()}, released=sum(scale_totals.values()),
        tallies=board.tallies(store), personal=personal, at=now,
        alerts=[alert_row(a, clip=80, current=a.id in still_open) for a in store.alerts(alerts)],
    )  # fmt: skip


def _kind(params: dict[str, Any]) -> str:
    if params.get("replay"):
        return "replay"
    if params.get("upgrade"):
        return "upgrade"
    return "sync"


def _duration(run: RunSummary) -> str:
    seconds = run.duration_s
    if seconds is None and run.finished_at is not None:
        seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def age(delta: dt.timedelta | None) -> str:
    """``5 min``, ``7 h``, ``3 days``."""
    if delta is None:
        return ""
    return "in the future" if delta < dt.timedelta(0) else health_age(delta)


# -- a registration number ----------------------------------------------------------------


@dataclass
class Cell:
    text: str
    changed: bool = False


@dataclass
class Row:
    name: str
    label: str
    cells: list[Cell]
    changed: bool


@dataclass
class Revision:
    number: int
    current: bool
    received: str
    run: str
    window: str
    line: str
    layout: str
    note: str
    changes: list[str]
    warnings: list[str]


@dataclass
class ReportView:
    key: str
    title: str
    cancelled: str
    revisions: list[Revision]
    main: list[Row]
    more: list[Row]
    cancellations: list[str] = field(default_factory=list)


@dataclass
class Person:
    registration_number: str
    name: str
    reports: list[ReportView]
    others: list[tuple[str, str]]


def person(store: Store, registration: str) -> Person | None:
    """The reports of a registration number as ``show`` prints them, or None (also for
    text that is not a registration number)."""
    try:
        reg = parse_registration(registration)
    except ValueError:
        return None
    histories = store.person(reg)
    if not histories:
        return None
    runs = store.run_params(sorted({r["run_id"] for h in histories for r in h.revisions}))
    kinds = {i: _kind(p) for i, p in runs.items()}
    others = [(o, text(d)) for o, d, _ in same_person(store, histories, reg)]
    current = histories[-1].revisions[-1]["fields"] if histories[-1].revisions else {}
    name = ", ".join(n for n in (current.get("last_name"), current.get("first_name")) if n)
    views = [_report(h, kinds) for h in histories]
    return Person(reg, name, views, sorted(set(others)))


def _report(history: ReportHistory, kinds: dict[int, str]) -> ReportView:
    report, revs = history.report, history.revisions
    diffs = history_changes(history)
    lates = arrived_after(history)
    values = [{**r.get("extra", {}), **r["fields"]} for r in revs]
    moved = {c.field for changes in diffs for c in changes}
    names = [n for n in dict.fromkeys(n for v in values for n in v) if n not in HIDDEN]
    main: list[Row] = []
    more: list[Row] = []
    for n in names:
        cells = [Cell(text(v.get(n)), i > 0 and values[i - 1].get(n) != v.get(n))
                 for i, v in enumerate(values)]  # fmt: skip
        row = Row(n, LABELS.get(n, ""), cells, n in moved)
        (main if n in MAIN or n in moved else more).append(row)
    revisions = [
        Revision(
            number=rev["revision"], current=i == len(revs) - 1, received=text(rev["received_at"]),
            run=f"{rev['run_id']} ({kinds.get(rev['run_id'], '?')})",
            window=f"{rev['window_start']:%Y-%m-%d %H:%M} .. {rev['window_end']:%Y-%m-%d %H:%M}",
            line="" if rev["line"] is None else str(rev["line"]),
            layout=f"{rev['layout']} ({rev['format']})",
            note=f"arrived later, by backfill (after revision {after})" if after else "",
            changes=[_change(c) for c in changes], warnings=[_warning(w) for w in rev["warnings"]],
        )
        for i, (rev, changes, after) in enumerate(zip(revs, diffs, lates, strict=True))
    ]  # fmt: skip
    inst, dept = report["institution_code"] or "-", report["department_code"] or "-"
    cancelled = ""
    if report.get("cancelled_at"):
        why = f": {report['cancel_reason']}" if report.get("cancel_reason") else ""
        cancelled = f"cancelled {text(report['cancelled_at'])}{why}"
    ledger = []
    for c in history.cancellations:
        done = "reinstated" if c.get("action") == "reinstate" else "cancelled"
        why = f": {c['reason']}" if c["reason"] else ""
        ledger.append(f"{done} {text(c['cancelled_at'])} ({c['source']}){why}")
    return ReportView(
        key=report["report_key"],
        title=f"Test date {text(report['test_date'])}, institution {inst}, department {dept}",
        cancelled=cancelled, revisions=revisions, main=main, more=more, cancellations=ledger,
    )  # fmt: skip


def _change(c: Change) -> str:
    if c.field in HIDDEN:
        return f"{c.field} changed (not shown)"
    return f"{c.field}: {text(c.old) or '(blank)'} → {text(c.new) or '(blank)'}"


def _warning(w: Any) -> str:
    if not isinstance(w, dict):
        return str(w)
    name = str(w.get("field", ""))
    if name in HIDDEN:
        return f"{name}: the value has a problem (not shown)"
    return f"{name}: {w.get('message', '')}"
