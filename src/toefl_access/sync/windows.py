"""Planning the UTC windows a sync asks the API for.

Windows are half-open ``[start, end)`` intervals in UTC, aligned to a grid of ``window``
size counted from the Unix epoch (midnight UTC for the default of one day), so that runs
ask for the same windows again and the archive stays comparable. Every run re-reads a
``lookback`` overlap before the watermark because reports arrive late; the end is now minus
a safety ``lag``, so a window is never asked for while the API may still be filling it. A
run without ``since`` also asks again for every window that failed in an earlier run and
has not been completed since (``retry``), wherever it lies.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from ..api.dates import UTC, api_format, format_duration, to_utc
from ..errors import DateError, UsageError

EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_WINDOW = dt.timedelta(days=1)
DEFAULT_LOOKBACK = dt.timedelta(days=3)
DEFAULT_LAG = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """One half-open UTC interval ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime

    def __str__(self) -> str:
        return f"[{api_format(self.start)}, {api_format(self.end)})"


def floor_to_grid(instant: dt.datetime, size: dt.timedelta) -> dt.datetime:
    """The start of the grid cell of ``size`` that holds ``instant``."""
    steps = (to_utc(instant) - EPOCH) // size
    return EPOCH + steps * size


def split(start: dt.datetime, end: dt.datetime, size: dt.timedelta) -> list[Window]:
    """Cut ``[start, end)`` into grid-aligned windows of at most ``size``."""
    if size <= dt.timedelta(0):
        raise UsageError(f"the window size must be positive, not {format_duration(size)}")
    out: list[Window] = []
    cursor = to_utc(start)
    end = to_utc(end)
    while cursor < end:
        nxt = min(floor_to_grid(cursor, size) + size, end)
        out.append(Window(cursor, nxt))
        cursor = nxt
    return out


def plan(
    *,
    watermark: dt.datetime | None,
    now: dt.datetime,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    window: dt.timedelta = DEFAULT_WINDOW,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    lag: dt.timedelta = DEFAULT_LAG,
    retry: list[tuple[dt.datetime, dt.datetime]] | None = None,
) -> list[Window]:
    """The windows of one run.

    The start is ``since`` when given, else the watermark minus the lookback; an empty
    database without ``since`` is refused (never an implicit "everything"). The end is
    ``until`` when given, else now minus the lag, and never later than now minus the lag.
    Without ``since``, the ``retry`` windows (failed earlier, not completed since) that lie
    before the start come first.
    """
    for name, value in (("--window", window), ("--lookback", lookback), ("--lag", lag)):
        if value < dt.timedelta(0) or (name == "--window" and not value):
            raise UsageError(f"{name} must be a positive duration, not {format_duration(value)}")
    horizon = to_utc(now) - lag
    if since is not None:
        start = to_utc(since)
    elif watermark is not None:
        start = to_utc(watermark) - lookback
    else:
        raise UsageError(
            "this database has no synced windows yet: give the first run a start, "
            "e.g. --since 2025-01-01 (toefl-access never fetches 'everything' implicitly)"
        )
    end = min(to_utc(until), horizon) if until is not None else horizon
    if until is not None and since is not None and to_utc(since) >= to_utc(until):
        raise DateError(
            f"--since {api_format(to_utc(since))} is not before --until {api_format(to_utc(until))}"
        )
    windows = split(start, end, window) if start < end else []
    if since is None and retry:  # failed windows of earlier runs, not completed since
        first = windows[0].start if windows else end
        again = {Window(to_utc(a), min(to_utc(b), horizon)) for a, b in retry if to_utc(a) < first}
        windows = sorted(w for w in again if w.start < w.end) + windows
    return windows


T = TypeVar("T")


def in_flight(
    windows: Iterable[Window], submit: Callable[[Window], Future[T]], depth: int
) -> Iterator[tuple[Window, Future[T]]]:
    """The windows with their fetches (``submit(window)``), in window order, keeping
    ``depth`` fetches in flight; fetches not yet handed out are cancelled when the caller
    stops early."""
    pending: deque[tuple[Window, Future[T]]] = deque()
    todo = iter(windows)
    try:
        for w in todo:
            pending.append((w, submit(w)))
            if len(pending) >= depth:
                break
        while pending:
            yield pending.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, submit(nxt)))
    finally:
        for _, future in pending:
            future.cancel()
