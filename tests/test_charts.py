"""The status page's SVG charts: well-formed, accessible, scaled, and drawn to the numbers."""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET

import pytest

from toefl_access.web import charts
from toefl_access.web.charts import Series

SVG = "{http://www.w3.org/2000/svg}"
SCALES = (Series("0-120", "0-120 scale", "#2563eb"), Series("1-6", "1-6 scale", "#ea7a0c"))
STATES = (Series("covered", "covered", "#2b6cb0"), Series("failed", "failed", "#dc2626"),
          Series("none", "not asked for", "#e5e7eb"))  # fmt: skip


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def check_frame(root: ET.Element, ident: str, title: str) -> None:
    """role, title, description, viewBox and width: what every chart must carry."""
    assert root.get("role") == "img" and root.get("id") == ident
    assert root.get("width") == "100%" and len(root.get("viewBox", "").split()) == 4
    assert "style" not in root.attrib
    assert root.find(f"{SVG}title").text == title  # type: ignore[union-attr]
    assert root.get("aria-labelledby") == f"{ident}-title {ident}-desc"
    assert root.find(f"{SVG}desc") is not None


def rects(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}rect"))


def test_nice_ceiling() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 2, 3, 7, 10, 11, 45, 51, 999, 1001)] == [
        1, 1, 2, 5, 10, 10, 20, 50, 100, 1000, 2000]  # fmt: skip


def test_stacked_bars_draw_each_series_to_scale() -> None:
    day = dt.date(2026, 3, 1)
    days = [(day + dt.timedelta(days=i), {"0-120": i, "1-6": 2 * i}) for i in range(5)]
    svg = charts.stacked_bars(days, SCALES, ident="r", title="Released")
    root = parse(svg)
    check_frame(root, "r", "Released")
    bars = rects(root)
    # day 0 has nothing; days 1-4 have one rect per series
    assert len(bars) == 8
    heights = {(b.get("fill"), round(float(b.get("height", 0)), 3)) for b in bars}
    unit = float(bars[0].get("height", 0))  # the 0-120 part of day 1: one report
    assert ("#ea7a0c", round(2 * unit, 3)) in heights and ("#2563eb", round(4 * unit, 3)) in heights
    # stacked: the 1-6 part sits right on top of the 0-120 part
    first, second = bars[0], bars[1]
    assert float(first.get("y", 0)) == pytest.approx(
        float(second.get("y", 0)) + float(second.get("height", 0)))
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "30 reports on 5 days (10 0-120 scale, 20 1-6 scale)" in desc
    assert "busiest day was 2026-03-05 with 12" in desc
    tips = [t.text for g in root.iter(f"{SVG}g") for t in g.iter(f"{SVG}title")]
    assert "2026-03-03: 6 (2 0-120 scale, 4 1-6 scale)" in tips
    assert "1 Mar" in "".join(t.text or "" for t in root.iter(f"{SVG}text"))


def test_a_month_boundary_is_labelled_and_empty_charts_say_so() -> None:
    day = dt.date(2026, 1, 20)
    days = [(day + dt.timedelta(days=i), {"0-120": 1, "1-6": 0}) for i in range(45)]
    labels = [t.text for t in parse(charts.stacked_bars(days, SCALES, ident="a", title="t"))
              .iter(f"{SVG}text")]  # fmt: skip
    assert "1 Feb" in labels and "1 Mar" in labels
    empty = parse(charts.stacked_bars([(d, {"0-120": 0}) for d, _ in days], SCALES,
                                      ident="e", title="t"))  # fmt: skip
    assert rects(empty) == []
    assert any("no reports" in (t.text or "") for t in empty.iter(f"{SVG}text"))


def test_calendar_is_53_weeks_of_monday_first_columns() -> None:
    last = dt.date(2026, 3, 11)  # a Wednesday
    first = last - dt.timedelta(days=last.weekday()) - dt.timedelta(weeks=52)
    states = {}
    day = first
    while day <= last:
        states[day] = "failed" if day == dt.date(2026, 2, 2) else (
            "covered" if day >= dt.date(2026, 1, 1) else "none")
        day += dt.timedelta(days=1)
    root = parse(charts.calendar(states, STATES, last=last, ident="c", title="Coverage"))
    check_frame(root, "c", "Coverage")
    cells = rects(root)
    assert len(cells) == len(states) == 52 * 7 + 3
    xs = sorted({float(c.get("x", 0)) for c in cells})
    ys = sorted({float(c.get("y", 0)) for c in cells})
    assert len(xs) == 53 and len(ys) == 7
    by_day = {c.find(f"{SVG}title").text.split(":")[0]: c for c in cells}  # type: ignore[union-attr]
    failed = by_day["2026-02-02"]
    assert failed.get("fill") == "#dc2626" and failed.find(f"{SVG}title").text == (  # type: ignore[union-attr]
        "2026-02-02: failed")
    assert float(failed.get("y", 0)) == ys[0]  # a Monday: the top row
    assert float(by_day[last.isoformat()].get("x", 0)) == xs[-1]
    assert float(by_day[first.isoformat()].get("x", 0)) == xs[0]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    covered = sum(1 for s in states.values() if s == "covered")
    assert desc.startswith(f"{covered} days covered; 1 days failed;")


def test_bins() -> None:
    bins = charts.score_bins({0: 1, 4: 2, 5: 3, 119: 4, 120: 5})
    assert len(bins) == 24
    assert bins[0] == ("0-4", 3) and bins[1] == ("5-9", 3) and bins[-1] == ("115-120", 9)
    bands = charts.band_bins({1.0: 1, 4.5: 7, 6.0: 2})
    assert [b for b, _ in bands] == ["1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5",
                                     "5.0", "5.5", "6.0"]  # fmt: skip
    assert dict(bands)["4.5"] == 7 and sum(n for _, n in bands) == 10


def test_histogram_bars_and_labels_do_not_overlap() -> None:
    bins = charts.score_bins({60: 3, 88: 10, 101: 6})
    svg = charts.histogram(bins, colour="#2563eb", ident="h", title="Totals",
                           axis=[b.split("-")[0] for b, _ in bins])  # fmt: skip
    root = parse(svg)
    check_frame(root, "h", "Totals")
    bars = rects(root)
    assert len(bars) == 3 and all(b.get("fill") == "#2563eb" for b in bars)
    tallest = max(bars, key=lambda b: float(b.get("height", 0)))
    assert tallest.find(f"{SVG}title").text == "85-89: 10 reports"  # type: ignore[union-attr]
    labels = [t for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    xs = [float(t.get("x", 0)) for t in labels]
    assert [t.text for t in labels][:3] == ["0", "10", "20"]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 3 * 7 + 6
    assert "the most common is 85-89 (10)" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]
    empty = parse(charts.histogram(charts.band_bins({}), colour="#000", ident="x", title="t"))
    assert rects(empty) == []


def test_text_is_escaped_and_legends_need_no_inline_style() -> None:
    hostile = Series("k", "<script>alert(1)</script>", '"><x y="')
    svg = charts.stacked_bars([(dt.date(2026, 1, 1), {"k": 2})], [hostile], ident='a"b',
                              title="<b>&</b>")  # fmt: skip
    root = parse(svg)  # still well-formed XML
    assert root.find(f"{SVG}title").text == "<b>&</b>"  # type: ignore[union-attr]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    html = charts.legend([hostile, SCALES[0]], {"0-120": 7})
    assert "<script>" not in html and "style=" not in html
    assert "0-120 scale (7)" in html and html.count("<li>") == 2
    ET.fromstring(html)  # well-formed too
