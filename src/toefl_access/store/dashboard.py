"""Read-only queries for the status page's charts (``toefl-access serve``).

Each function takes a :class:`~toefl_access.store.Store` and counts in the database (one
``GROUP BY`` per question), never a Python loop over reports; they work the same on SQLite
and PostgreSQL. Days are UTC calendar days.

- :func:`released_per_day`: reports released per day, split by score scale;
- :func:`coverage_calendar`: each day covered, partly covered, failed or never asked for;
- :func:`distributions`: how many current reports have each ``total`` (0-120) and each
  ``ibt26_total`` (1-6 in 0.5 steps);
- :func:`tallies`: reports by scale and by department, and the database's size (what
  :meth:`Store.status` counts, without its whole-table ordering check);
- :func:`version`: a few primary-key lookups that change when a run starts or ends, an
  alert is recorded or a report is cancelled: what the page's cache is keyed on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from . import schema as s
from .core import merge
from .reading import SCALES, Tallies, count_tallies

if TYPE_CHECKING:
    from .base import Store

__all__ = [
    "SCALES",
    "STATES",
    "DayState",
    "Distributions",
    "Tallies",
    "coverage_calendar",
    "distributions",
    "released_per_day",
    "tallies",
    "version",
]

DayState = Literal["covered", "partial", "failed", "none"]
#: The states of a day in :func:`coverage_calendar`.
STATES: tuple[DayState, ...] = ("covered", "partial", "failed", "none")
_DAY = dt.timedelta(days=1)


def _day_of_instant(store: Store, column: sa.ColumnElement[dt.datetime]) -> sa.ColumnElement[str]:
    """``YYYY-MM-DD`` of a UTC instant column (SQLite keeps instants as sortable text)."""
    if store.backend == "sqlite":
        return sa.func.substr(column, 1, 10, type_=sa.String)
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD", type_=sa.String)


def _day_of_date(store: Store, column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[str]:
    """``YYYY-MM-DD`` of a date column (SQLite keeps dates as that text already)."""
    if store.backend == "sqlite":
        return sa.type_coerce(column, sa.String)
    return sa.func.to_char(column, "YYYY-MM-DD", type_=sa.String)


def released_per_day(
    store: Store, *, last: dt.date, days: int = 90
) -> list[tuple[dt.date, dict[str, int]]]:
    """Reports released on each of the ``days`` UTC days up to ``last`` (oldest first, every
    day present), as ``{scale: count}`` over :data:`SCALES` (zeros included).

    A report's release day is its ``report_date`` when the layout has one (the legacy
    layout), else the day of the window that first reported it (its first revision in
    reported order): a backfill or a retried window files it under the day it was
    released, not the day it arrived. Rescores are not counted again.

    Only the reports first seen since the day before the first day are read (the indexed
    ``first_seen``): a report is seen after its window began, and not before its report
    date began somewhere on Earth. The period is filtered on the stored columns; only the
    rows in it get a day string.
    """
    first = last - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = dt.datetime.combine(last, dt.time(), dt.UTC) + _DAY
    t, r = s.score_reports, s.report_revisions
    in_period = sa.or_(
        sa.and_(t.c.report_date >= first, t.c.report_date <= last),
        sa.and_(t.c.report_date.is_(None), r.c.window_start >= start, r.c.window_start < end),
    )
    day = sa.func.coalesce(
        _day_of_date(store, t.c.report_date), _day_of_instant(store, r.c.window_start),
        type_=sa.String,
    )  # fmt: skip
    scale = s.scale_of(t)
    query = (
        sa.select(day, scale, sa.func.count())
        .select_from(t.join(r, sa.and_(r.c.report_key == t.c.report_key, r.c.revision == 1)))
        .where(t.c.first_seen >= start - _DAY, in_period)
        .group_by(day, scale)
    )
    out = {first + dt.timedelta(days=i): dict.fromkeys(SCALES, 0) for i in range(days)}
    with store._guard("counting the reports released per day"), store._read() as conn:
        for text, name, n in conn.execute(query):
            out[dt.date.fromisoformat(text)][name] += n
    return sorted(out.items())


def coverage_calendar(
    store: Store, *, first: dt.date, last: dt.date, now: dt.datetime
) -> dict[dt.date, DayState]:
    """The state of every UTC day from ``first`` to ``last`` (inclusive, at most ``now``):

    - ``covered``: every moment of the day (up to ``now``; today up to the watermark) is
      in a completed window;
    - ``failed``: a window overlapping the day failed and that part is still not covered
      (a later run that fetched it makes the day covered again);
    - ``partial``: some of the day is covered, the rest was never asked for;
    - ``none``: no run asked for the day.
    """
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    end = min(dt.datetime.combine(last, dt.time(), dt.UTC) + _DAY, now)
    wc, wf = s.window_coverage.c, s.window_failures.c
    spans = [
        sa.select(c.window_start, c.window_end)
        .where(c.window_end > start, c.window_start < end)
        .distinct()
        for c in (wc, wf)
    ]
    with store._guard("reading the coverage calendar"), store._read() as conn:
        covered = merge([(a, b) for a, b in conn.execute(spans[0])])
        failed = merge([(a, b) for a, b in conn.execute(spans[1])])
    failed = _minus(failed, covered)
    out: dict[dt.date, DayState] = {}
    day = first
    while day <= last and (lo := dt.datetime.combine(day, dt.time(), dt.UTC)) < now:
        out[day] = _day_state(lo, min(lo + _DAY, now), now, covered, failed)
        day += _DAY
    return out


def _day_state(lo: dt.datetime, hi: dt.datetime, now: dt.datetime,
               covered: list[tuple[dt.datetime, dt.datetime]],
               failed: list[tuple[dt.datetime, dt.datetime]]) -> DayState:  # fmt: skip
    if _overlap(failed, lo, hi):
        return "failed"
    watermark = covered[-1][1] if covered else None
    if hi == now and watermark is not None and lo < watermark < hi:
        hi = watermark  # today: covered up to the watermark is all there is to have
    have = _overlap(covered, lo, hi)
    return "covered" if have >= hi - lo else "partial" if have else "none"


def _overlap(spans: list[tuple[dt.datetime, dt.datetime]], lo: dt.datetime,
             hi: dt.datetime) -> dt.timedelta:
    """How much of ``[lo, hi)`` the sorted, merged ``spans`` cover."""
    total = dt.timedelta()
    for a, b in spans:
        if a >= hi:
            break
        if b > lo:
            total += min(b, hi) - max(a, lo)
    return total


def _minus(spans: list[tuple[dt.datetime, dt.datetime]],
           cut: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``spans`` outside ``cut`` (both sorted and merged)."""
    out = []
    for a, b in spans:
        for c, d in cut:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class Distributions:
    """How many current, not cancelled reports have each total: ``total`` on the 0-120
    scale (``{score: count}``) and ``ibt26_total`` on the 1-6 scale (``{band: count}``)."""

    total: dict[int, int]
    ibt26_total: dict[float, int]


def distributions(store: Store) -> Distributions:
    """The counts of :class:`Distributions` (two ``GROUP BY`` queries)."""
    t = s.score_reports
    count = sa.func.count()

    def query(column: sa.ColumnElement[Any]) -> sa.Select[Any, int]:
        return (sa.select(column, count)
                .where(column.is_not(None), t.c.cancelled_at.is_(None))
                .group_by(column).order_by(column))  # fmt: skip

    with store._guard("counting the totals"), store._read() as conn:
        total = {int(v): n for v, n in conn.execute(query(t.c.total))}
        bands = {float(v): n for v, n in conn.execute(query(t.c.ibt26_total))}
    return Distributions(total, bands)


def tallies(store: Store) -> Tallies:
    """The counts of :class:`Tallies` (what :meth:`Store.status` counts, without its
    whole-table ordering check)."""
    with store._guard("counting the reports"), store._read() as conn:
        return count_tallies(conn)


def version(store: Store) -> tuple[Any, ...]:
    """What changes whenever the page's data may (a few primary-key lookups): the newest
    run's id, end and exit code, the newest alert's id and delivery, the newest
    cancellation's id."""
    r, a, x = s.sync_runs.c, s.alert_events.c, s.cancellations.c

    def newest(*columns: sa.ColumnElement[Any], key: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return sa.select(*columns).order_by(key.desc()).limit(1)

    with store._guard("reading what changed"), store._read() as conn:
        run = conn.execute(newest(r.id, r.finished_at, r.exit_code, key=r.id)).first()
        alert = conn.execute(newest(a.id, a.delivered, key=a.id)).first()
        cancelled = conn.execute(sa.select(sa.func.max(x.id))).scalar()
    return (tuple(run or ()), tuple(alert or ()), cancelled)
