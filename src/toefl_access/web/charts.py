"""The status page's charts, drawn on the server as SVG: no script, no network, no library.

Every function is pure: data in, an SVG (or HTML legend) string out. Each chart is an
``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (what a screen reader says, and a
summary of the numbers), a ``viewBox`` and ``width="100%"`` so that it scales to the page,
and colours as ``fill`` attributes (the page's Content-Security-Policy allows no inline
style). Each bar or day carries its own ``<title>``: hovering shows its numbers.

- :func:`stacked_bars`: one bar a day, stacked by series (reports released per day);
- :func:`calendar`: a year of days as a 53 x 7 grid of coloured squares;
- :func:`histogram`: one bar per bin (:func:`score_bins`, :func:`band_bins`);
- :func:`legend`: the colours of a chart as an HTML list.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import NamedTuple

__all__ = [
    "Series",
    "band_bins",
    "calendar",
    "histogram",
    "legend",
    "nice_ceiling",
    "score_bins",
    "stacked_bars",
]

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
#: The width of a digit at that size, roughly: how far apart axis labels must be.
CHAR = 7.0
AXIS = "#6b7280"
GRID = "#e5e7eb"
INK = "#374151"


class Series(NamedTuple):
    """One coloured part of a chart: its data ``key``, its ``label`` and its ``colour``."""

    key: str
    label: str
    colour: str


def _a(value: object) -> str:
    """A value for an attribute or text node, escaped."""
    return escape(str(value), quote=True)


def _n(x: float) -> str:
    """A coordinate, short."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _svg(ident: str, width: int, height: int, title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_a(ident)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{_a(ident)}-title {_a(ident)}-desc">'
        f'<title id="{_a(ident)}-title">{_a(title)}</title>'
        f'<desc id="{_a(ident)}-desc">{_a(desc)}</desc>' + "".join(body) + "</svg>"
    )


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least ``value`` (1 for 0): the top of
    a y axis."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def _y_axis(top: int, x0: float, x1: float, y0: float, y1: float) -> list[str]:
    """Grid lines and labels at 0, half and the top of the axis."""
    out = []
    ticks = (0, top // 2, top) if top >= 2 else (0, top)
    for v in ticks:
        y = y1 - (y1 - y0) * v / top
        out.append(f'<line x1="{_n(x0)}" x2="{_n(x1)}" y1="{_n(y)}" y2="{_n(y)}" '
                   f'stroke="{GRID if v else AXIS}" stroke-width="1"/>')  # fmt: skip
        out.append(f'<text x="{_n(x0 - 4)}" y="{_n(y + 4)}" text-anchor="end" fill="{AXIS}" '
                   f"{FONT}>{v}</text>")  # fmt: skip
    return out


def _empty(width: int, height: int, text: str) -> str:
    return (f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'fill="{AXIS}" {FONT}>{_a(text)}</text>')  # fmt: skip


def stacked_bars(
    days: Sequence[tuple[dt.date, Mapping[str, int]]],
    series: Sequence[Series],
    *,
    ident: str,
    title: str,
    width: int = 480,
    height: int = 200,
) -> str:
    """One bar per day, its ``series`` stacked bottom up (``days[i][1][series.key]``).

    The x axis names the first day of each month (or the first and the last day when the
    range holds fewer than two); the y axis runs from 0 to :func:`nice_ceiling` of the
    highest day.
    """
    left, right, top_m, bottom = 34, 6, 8, 22
    x0, x1, y0, y1 = left, width - right, top_m, height - bottom
    totals = [sum(counts.get(s.key, 0) for s in series) for _, counts in days]
    grand = sum(totals)
    by_series = ", ".join(
        f"{sum(c.get(s.key, 0) for _, c in days)} {s.label}" for s in series
    )
    desc = f"{grand} reports on {len(days)} days ({by_series})"
    if grand:
        busiest = max(range(len(days)), key=lambda i: totals[i])
        desc += f"; the busiest day was {days[busiest][0].isoformat()} with {totals[busiest]}"
    body: list[str] = []
    if not days or not grand:
        body.append(_empty(width, height, "no reports released in this period"))
        return _svg(ident, width, height, title, desc, body)
    top = nice_ceiling(max(totals))
    body += _y_axis(top, x0, x1, y0, y1)
    slot = (x1 - x0) / len(days)
    bar = max(slot * 0.8, 1.0)
    scale = (y1 - y0) / top
    for i, ((day, counts), total) in enumerate(zip(days, totals, strict=True)):
        if not total:
            continue
        x = x0 + i * slot + (slot - bar) / 2
        parts = ", ".join(f"{counts.get(s.key, 0)} {s.label}" for s in series)
        rects = []
        y = float(y1)
        for s in series:
            n = counts.get(s.key, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            rects.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(h)}" '
                         f'fill="{_a(s.colour)}"/>')  # fmt: skip
        body.append(f"<g><title>{day.isoformat()}: {total} ({_a(parts)})</title>"
                    + "".join(rects) + "</g>")  # fmt: skip
    marks = [i for i, (day, _) in enumerate(days) if day.day == 1]
    if len(marks) < 2:
        marks = [0, len(days) - 1] if len(days) > 1 else [0]
    for i in marks:
        day = days[i][0]
        x = x0 + (i + 0.5) * slot
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        body.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y1)}" y2="{_n(y1 + 4)}" '
                    f'stroke="{AXIS}"/>')  # fmt: skip
        body.append(f'<text x="{_n(x)}" y="{_n(y1 + 16)}" text-anchor="{anchor}" '
                    f'fill="{AXIS}" {FONT}>{day.day} {day:%b}</text>')  # fmt: skip
    return _svg(ident, width, height, title, desc, body)


def calendar(
    states: Mapping[dt.date, str],
    colours: Sequence[Series],
    *,
    last: dt.date,
    ident: str,
    title: str,
    weeks: int = 53,
) -> str:
    """A year of days: one column per week (Monday on top), the last column holding
    ``last``; each day with a state in ``states`` is a square coloured by the
    :class:`Series` whose key is that state. Days without a state are not drawn."""
    cell, gap, left, top_m = 8.0, 1.5, 32, 14
    step = cell + gap
    width = int(left + weeks * step + 2)
    height = int(top_m + 7 * step + 2)
    first = last - dt.timedelta(days=last.weekday()) - dt.timedelta(weeks=weeks - 1)
    colour = {s.key: s.colour for s in colours}
    label = {s.key: s.label for s in colours}
    counted = {s.key: 0 for s in colours}
    body: list[str] = []
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri")):
        body.append(f'<text x="{left - 4}" y="{_n(top_m + row * step + cell - 0.5)}" '
                    f'text-anchor="end" fill="{AXIS}" {FONT}>{name}</text>')  # fmt: skip
    day = first
    while day <= last:
        col, row = (day - first).days // 7, day.weekday()
        x, y = left + col * step, top_m + row * step
        if day.day == 1 and col < weeks - 2:
            body.append(f'<text x="{_n(x)}" y="{top_m - 4}" fill="{AXIS}" {FONT}>'
                        f"{day:%b}</text>")  # fmt: skip
        state = states.get(day)
        if state is not None:
            counted[state] = counted.get(state, 0) + 1
            body.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(cell)}" height="{_n(cell)}" '
                f'rx="1.5" fill="{_a(colour.get(state, GRID))}"><title>{day.isoformat()}: '
                f"{_a(label.get(state, state))}</title></rect>"
            )
        day += dt.timedelta(days=1)
    desc = "; ".join(f"{counted[s.key]} days {s.label}" for s in colours)
    return _svg(ident, width, height, title, desc, body)


def score_bins(counts: Mapping[int, int], *, width: int = 5, top: int = 120) -> list[
    tuple[str, int]
]:
    """0-120 totals in bins of ``width`` (``0-4``, ``5-9``, ..., the last one holding
    ``top`` too: ``115-120``)."""
    edges = list(range(0, top, width))
    bins = [0] * len(edges)
    for value, n in counts.items():
        i = min(max(value, 0) // width, len(edges) - 1)
        bins[i] += n
    labels = [f"{lo}-{lo + width - 1}" for lo in edges]
    labels[-1] = f"{edges[-1]}-{top}"
    return list(zip(labels, bins, strict=True))


def band_bins(counts: Mapping[float, int]) -> list[tuple[str, int]]:
    """1-6 bands, one bin per half step from 1.0 to 6.0 (values between are rounded to
    the nearest half step)."""
    steps = [1 + i / 2 for i in range(11)]
    bins = dict.fromkeys(steps, 0)
    for value, n in counts.items():
        key = min(max(round(value * 2) / 2, 1.0), 6.0)
        bins[key] += n
    return [(f"{k:.1f}", n) for k, n in bins.items()]


def histogram(
    bins: Sequence[tuple[str, int]],
    *,
    colour: str,
    ident: str,
    title: str,
    unit: str = "reports",
    width: int = 480,
    height: int = 200,
    axis: Sequence[str] | None = None,
) -> str:
    """One bar per bin, labelled under it with ``axis`` (default: the bin names), as many
    labels as fit without overlapping (every second, third, ... when they do not)."""
    left, right, top_m, bottom = 34, 6, 8, 22
    x0, x1, y0, y1 = left, width - right, top_m, height - bottom
    grand = sum(n for _, n in bins)
    desc = f"{grand} {unit}"
    if grand:
        mode = max(bins, key=lambda b: b[1])
        desc += f"; the most common is {mode[0]} ({mode[1]})"
    body: list[str] = []
    if not grand:
        body.append(_empty(width, height, f"no {unit} on this scale"))
        return _svg(ident, width, height, title, desc, body)
    top = nice_ceiling(max(n for _, n in bins))
    body += _y_axis(top, x0, x1, y0, y1)
    slot = (x1 - x0) / len(bins)
    bar = max(slot * 0.85, 1.0)
    scale = (y1 - y0) / top
    marks = list(axis) if axis is not None else [name for name, _ in bins]
    widest = max(len(m) for m in marks) * CHAR + 6
    every = max(1, math.ceil(widest / slot))
    for i, (name, n) in enumerate(bins):
        x = x0 + i * slot + (slot - bar) / 2
        if n:
            h = n * scale
            body.append(f'<rect x="{_n(x)}" y="{_n(y1 - h)}" width="{_n(bar)}" '
                        f'height="{_n(h)}" fill="{_a(colour)}"><title>{_a(name)}: {n} '
                        f"{_a(unit)}</title></rect>")  # fmt: skip
        if i % every == 0:
            x = x0 + (i + 0.5) * slot
            body.append(f'<text x="{_n(x)}" y="{_n(y1 + 15)}" text-anchor="middle" '
                        f'fill="{AXIS}" {FONT}>{_a(marks[i])}</text>')  # fmt: skip
    return _svg(ident, width, height, title, desc, body)


def legend(items: Sequence[Series], counts: Mapping[str, int] | None = None) -> str:
    """The colours of a chart as an HTML list (a small SVG swatch each: no inline style),
    with a count after each label when ``counts`` has one."""
    out = ['<ul class="legend">']
    for s in items:
        n = "" if counts is None or s.key not in counts else f" ({counts[s.key]})"
        out.append(
            f'<li><svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
            f'<rect width="12" height="12" rx="2" fill="{_a(s.colour)}"/></svg>'
            f"{_a(s.label)}{_a(n)}</li>"
        )
    out.append("</ul>")
    return "".join(out)
