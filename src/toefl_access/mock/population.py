"""A deterministic population of TOEFL score reports, released day by day.

Every UTC day has exactly ``per_day`` release slots; the release time and the report of each
slot come from a generator keyed by ``(seed, day, slot)`` alone. So the reports released in a
window are the same whatever the window and however it is cut: ``[a, c)`` is ``[a, b)``
followed by ``[b, c)``, and asking twice gives the same answer. Releases spread over the whole
day, busiest in US Eastern business hours.

Each slot holds one of these kinds of release (the share is per slot, on average):

================ ===== =====================================================================
kind             share what it is
================ ===== =====================================================================
``original``     88 %  a new report, released 4-10 days after its test date
``rescore``       3 %  an earlier original (7-42 days before) again, with changed speaking
                       or writing scores (same identity, consistent totals, CEFR, MyBest)
``resend``        1 %  an earlier original (1-60 days before) again, unchanged
``late-send``     6 %  an earlier original (21-700 days before) sent to another department or
                       institution: a new identity, the old test date
``reinstatement`` 2 %  a new report released 3-12 weeks after its test date
================ ===== =====================================================================

Test dates before 2026-01-21 carry 0-120 scores (sections 0-30, total their sum, MyBest),
later ones 1-6 bands (total the mean rounded half up, CEFR levels, the comparable 0-120 total,
MyBest iBT26). About 6 % of the 0-120 reports are paper edition (rPDT: a 7-character
registration number, ``test_type`` ``P`` and the rPDT section scores). Every record validates
without warnings, and no date in it is later than its release.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, NamedTuple

from .. import layout as layouts
from ..dates import parse_instant
from ..record import CEFR_OF_BAND, ESTIMATED_0_120_OF_BAND, SECTIONS, Record, band_total
from .draws import Draws, cumulative
from .names import ASCII_FOLD, DEPARTMENTS, EMAIL_DOMAINS, INSTITUTIONS, PROFILES, Profile

#: The first test date on the 1-6 scale (iBT26).
IBT26_FROM = dt.date(2026, 1, 21)
LAYOUT = layouts.CURRENT
NAMES = layouts.builtin(LAYOUT).names
DAY_SECONDS = 86_400
UTC = dt.UTC

#: Cumulative shares of the non-original kinds (the rest are originals).
_KIND_CUTS = (("rescore", 0.03), ("resend", 0.04), ("late-send", 0.10), ("reinstatement", 0.12))
#: Days between the earlier original and the re-release, per kind.
_TARGET_DAYS = {"rescore": (7, 42), "resend": (1, 60), "late-send": (21, 700)}
_RPDT_SHARE = 0.06
_PRIOR_SHARE = 0.35


class Release(NamedTuple):
    """One report released at ``at`` (UTC); ``kind`` says what sort of release it is."""

    at: dt.datetime
    record: Record
    kind: str


@dataclass(frozen=True, slots=True)
class _Report:
    """The parts a report is built from, so that a rescore can change only its scores."""

    base: dict[str, Any]  # identity, person, test: every value that is not a score
    test_date: dt.date
    scale: str  # "0-120" or "1-6"
    rpdt: bool
    sections: tuple[float, ...]  # listening, reading, speaking, writing
    prior: tuple[dt.date, tuple[float, ...]] | None  # an earlier test on the same scale


# -- the schedule -----------------------------------------------------------------------
#
# Slot i of a day (0 <= i < per_day) sits at position (i + jitter_i) / per_day along the day,
# jitter_i being the first draw of the slot's own generator, and is released at the second
# that position maps to through a monotone curve of hourly activity. So release times rise
# with the slot, a window's slots are found by binary search, and nothing is sorted or held.

#: Relative release activity per UTC hour: most scores go out in US Eastern business hours.
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 6, 7, 7, 7, 6, 5, 4, 3, 3, 2, 2)
_HOUR_CUM = tuple(itertools.accumulate(_HOUR_WEIGHTS, initial=0))

When = dt.datetime | dt.date | str


def _second_of(position: float) -> int:
    """The second of the day at ``position`` in ``[0, 1)`` along the day's releases."""
    x = position * _HOUR_CUM[-1]
    hour = bisect.bisect_right(_HOUR_CUM, x) - 1
    within = (x - _HOUR_CUM[hour]) / _HOUR_WEIGHTS[hour]
    return min(DAY_SECONDS - 1, int((hour + within) * 3600))


def _draws(seed: int, day: dt.date, slot: int) -> Draws:
    return Draws(f"toefl-access-mock/{seed}/{day.toordinal()}/{slot}")


def _slot(seed: int, day: dt.date, slot: int, per_day: int) -> tuple[int, Draws]:
    """The release second of ``slot`` and its generator (past the jitter draw)."""
    draws = _draws(seed, day, slot)
    return _second_of((slot + draws.random()) / per_day), draws


def _first_slot(seed: int, day: dt.date, per_day: int, second: int) -> int:
    """The first slot of ``day`` released at or after ``second`` (``per_day`` if none)."""
    low, high = 0, per_day
    if second <= 0:
        return 0
    if second >= DAY_SECONDS:
        return per_day
    while low < high:
        mid = (low + high) // 2
        if _slot(seed, day, mid, per_day)[0] < second:
            low = mid + 1
        else:
            high = mid
    return low


def _days(start: dt.datetime, end: dt.datetime) -> Iterator[dt.date]:
    day = start.date()
    while dt.datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        yield day
        day += dt.timedelta(days=1)


def _ceil_seconds(delta: dt.timedelta) -> int:
    """Whole seconds, rounded up: a window starting at 12:00:00.5 excludes 12:00:00."""
    whole = delta.days * DAY_SECONDS + delta.seconds
    return whole + (1 if delta.microseconds else 0)


def _slices(
    start: When, end: When, seed: int, per_day: int
) -> Iterator[tuple[dt.datetime, dt.date, int, int]]:
    """Per day of ``[start, end)``: its midnight, the date and its slots in the window."""
    if per_day < 0:
        raise ValueError(f"per_day must be 0 or more, got {per_day}")
    lo = parse_instant(start, what="start")
    hi = parse_instant(end, what="end")
    for day in _days(lo, hi):
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        first = max(0, _ceil_seconds(lo - midnight))
        last = min(DAY_SECONDS, _ceil_seconds(hi - midnight))
        if first < last and per_day:
            first_slot = _first_slot(seed, day, per_day, first)
            yield midnight, day, first_slot, _first_slot(seed, day, per_day, last)


def _walk(
    start: When, end: When, seed: int, per_day: int
) -> Iterator[tuple[dt.datetime, dt.date, Draws]]:
    for midnight, day, first, last in _slices(start, end, seed, per_day):
        for slot in range(first, last):
            second, draws = _slot(seed, day, slot, per_day)
            yield midnight + dt.timedelta(seconds=second), day, draws


# -- public entry points ----------------------------------------------------------------


def releases(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Release]:
    """Every release in the half-open UTC window ``[start, end)``, ordered by release time.

    Naive datetimes are taken as UTC; strings are read like the CLI's dates. Records are
    generated as they are asked for, so a window of any size answers at once and uses
    little memory.
    """
    for n, (at, day, draws) in enumerate(_walk(start, end, seed, per_day), start=1):
        kind, report = _report(seed, day, per_day, draws)
        yield Release(at, _record(report, line=n), kind)


def released(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Record]:
    """The records of :func:`releases`: the reports released in ``[start, end)``."""
    for release in releases(start, end, seed=seed, per_day=per_day):
        yield release.record


def count(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> int:
    """How many reports are released in ``[start, end)``, without building them."""
    return sum(last - first for _, _, first, last in _slices(start, end, seed, per_day))


def sample_records() -> list[Record]:
    """The sandbox's fixed answer: 11 sample reports, 9 on the 0-120 scale and 2 on 1-6."""
    days = [dt.date(2025, 2, 3) + dt.timedelta(days=33 * i) for i in range(9)]
    days += [dt.date(2026, 2, 16), dt.date(2026, 3, 23)]
    out: list[Record] = []
    for n, day in enumerate(days, start=1):
        draws = Draws(f"toefl-access-mock/sample/{n}")
        report = _draw_original(draws, day, (4, 10), rpdt_share=1.0 if n == 4 else 0.0)
        out.append(_record(report, line=n))
    return out


# -- one slot ---------------------------------------------------------------------------


def _kind(u: float) -> str:
    for kind, cut in _KIND_CUTS:
        if u < cut:
            return kind
    return "original"


def _original_at(seed: int, day: dt.date, slot: int, per_day: int) -> _Report | None:
    """The report released as an original in ``slot`` of ``day``, or None if it is not one."""
    _, draws = _slot(seed, day, slot, per_day)
    if _kind(draws.random()) != "original":
        return None
    return _draw_original(draws, day, (4, 10))


def _report(seed: int, day: dt.date, per_day: int, draws: Draws) -> tuple[str, _Report]:
    """The report of one slot, from its generator (past the jitter draw)."""
    kind = _kind(draws.random())
    if kind == "reinstatement":
        return kind, _draw_original(draws, day, (21, 84))
    if kind in _TARGET_DAYS:
        low, high = _TARGET_DAYS[kind]
        for _ in range(8):
            earlier = day - dt.timedelta(days=draws.between(low, high))
            target = _original_at(seed, earlier, draws.below(per_day), per_day)
            if target is not None:
                return kind, _derive(kind, target, draws)
    return "original", _draw_original(draws, day, (4, 10))


def _derive(kind: str, target: _Report, draws: Draws) -> _Report:
    if kind == "resend":
        return target
    if kind == "late-send":
        own = (target.base["institution_code"], target.base["department_code"])
        other = own
        while other == own:
            other = _institution(draws)
        base = dict(target.base)
        base["institution_code"], base["department_code"] = other
        return replace(target, base=base)
    # A rescore: speaking, writing or both are scored again; the rest follows from them.
    sections = list(target.sections)
    for i in draws.pick(((2,), (3,), (2, 3))):
        old = sections[i]
        if target.scale == "0-120":
            new = min(30.0, max(0.0, old + draws.pick((-3, -2, -1, 1, 2, 3))))
            new = new if new != old else (old - 1 if old > 0 else old + 1)
        else:
            new = min(6.0, max(1.0, old + draws.pick((-1.0, -0.5, 0.5, 1.0))))
            new = new if new != old else (old - 0.5 if old > 1 else old + 0.5)
        sections[i] = new
    return replace(target, sections=tuple(sections))


# -- drawing a report -------------------------------------------------------------------

_PROFILE_CUM = cumulative([p.weight for p in PROFILES])
_INSTITUTION_CODES = [k for k, _ in INSTITUTIONS]
_INSTITUTION_CUM = cumulative([w for _, w in INSTITUTIONS])
_DEPARTMENT_CODES = [k for k, _ in DEPARTMENTS]
_DEPARTMENT_CUM = cumulative([w for _, w in DEPARTMENTS])
_GENDERS = {True: ("2", "2", "2", "1", "0"), False: ("1", "1", "1", "0")}


def _institution(draws: Draws) -> tuple[str, str]:
    return (
        draws.weighted(_INSTITUTION_CODES, _INSTITUTION_CUM),
        draws.weighted(_DEPARTMENT_CODES, _DEPARTMENT_CUM),
    )


@lru_cache(maxsize=1024)
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def _scale(test_date: dt.date) -> str:
    return "1-6" if test_date >= IBT26_FROM else "0-120"


def _draw_sections(draws: Draws, scale: str) -> tuple[float, ...]:
    if scale == "0-120":
        ability = min(118.0, max(20.0, draws.normal(86, 14))) / 4
        return tuple(float(min(30, max(0, round(draws.normal(ability, 2.5))))) for _ in SECTIONS)
    level = min(5.9, max(1.2, draws.normal(4.3, 0.7)))
    return tuple(min(6.0, max(1.0, round(draws.normal(level, 0.4) * 2) / 2)) for _ in SECTIONS)


def _draw_prior(
    draws: Draws, test_date: dt.date, scale: str, sections: tuple[float, ...]
) -> tuple[dt.date, tuple[float, ...]] | None:
    if draws.random() >= _PRIOR_SHARE:
        return None
    when = test_date - dt.timedelta(days=draws.between(28, 330))
    if _scale(when) != scale:
        return None
    if scale == "0-120":
        prior = tuple(float(min(30, max(0, s + draws.between(-4, 2)))) for s in sections)
    else:
        steps = (-1.0, -0.5, 0.0, 0.5)
        prior = tuple(min(6.0, max(1.0, s + draws.pick(steps))) for s in sections)
    return when, prior


def _draw_person(draws: Draws, test_date: dt.date) -> dict[str, Any]:
    p: Profile = draws.weighted(PROFILES, _PROFILE_CUM)
    female = draws.random() < 0.5
    given = p.female if female else p.male
    first, last = draws.pick(given), draws.pick(p.last_names)
    middle = draws.pick(given) if draws.random() < 0.15 else None
    city, state = draws.pick(p.cities)
    street, number = draws.pick(p.streets), draws.between(1, 240)
    line1 = f"{number} {street}" if p.number_first else f"{street} {number}"
    line2 = f"Apt {draws.between(1, 30)}{draws.pick('ABCD')}" if draws.random() < 0.3 else None
    handle = f"{_ascii(first)}.{_ascii(last)}{draws.between(1, 999)}"
    born = test_date - dt.timedelta(days=draws.between(17 * 365, 40 * 365))
    center = draws.between(10_000, 99_999)
    home = draws.random() < 0.25
    return {
        "last_name": last,
        "first_name": first,
        "middle_name": middle,
        "address_line1": line1,
        "address_line2": line2,
        "city": city,
        "state": state or None,
        "country_code": p.country_code,
        "country_name": p.country_name,
        "postal_code": draws.digits(p.postal),
        "native_country_code": p.country_code,
        "native_country_name": p.country_name,
        "native_language_code": p.language_code,
        "native_language_name": p.language_name,
        "date_of_birth": born,
        "gender": draws.pick(_GENDERS[female]),
        "email": f"{handle}@{draws.pick(EMAIL_DOMAINS)}",
        "test_center_code": "HOME" if home else str(center),
        "ibt_test_center_code": "HOME EDITION" if home else f"STN{center}{draws.pick('ABC')}",
        "test_center_country": p.country_name,
        "security_id_type": "Passport" if draws.random() < 0.8 else "National ID",
        "security_id_number": p.passport_prefix + draws.digits("########"),
        "security_id_country": p.country_code,
    }


def _draw_original(
    draws: Draws, day: dt.date, delay: tuple[int, int], *, rpdt_share: float = _RPDT_SHARE
) -> _Report:
    test_date = day - dt.timedelta(days=draws.between(*delay))
    scale = _scale(test_date)
    rpdt = scale == "0-120" and draws.random() < rpdt_share
    base = _draw_person(draws, test_date)
    registration = draws.digits("#######" if rpdt else "0000############")
    sections = _draw_sections(draws, scale)
    prior = _draw_prior(draws, test_date, scale, sections)
    institution, department = _institution(draws)
    base.update(
        institution_code=institution,
        department_code=department,
        registration_number=registration,
        test_date=test_date,
        test_type="P" if rpdt else "I",
        times_taken=str(1 + (prior is not None) + (draws.random() < 0.2)),
    )
    if rpdt:
        base["test_center_code"] = str(center := draws.between(10_000, 99_999))
        base["ibt_test_center_code"] = f"PDT{center}"
    return _Report(base, test_date, scale, rpdt, sections, prior)


# -- from parts to a record --------------------------------------------------------------


def _best(report: _Report) -> tuple[list[float], list[dt.date]]:
    """Each section's best score across this test and the prior one, with its date."""
    best, when = list(report.sections), [report.test_date] * 4
    if report.prior is not None:
        prior_date, prior = report.prior
        for i, score in enumerate(prior):
            if score > best[i]:
                best[i], when[i] = score, prior_date
    return best, when


def values_of(report: _Report) -> dict[str, Any]:
    """Every canonical field of the current layout, ``None`` where blank, in layout order."""
    v: dict[str, Any] = dict.fromkeys(NAMES)
    v.update(report.base)
    best, when = _best(report)
    if report.scale == "0-120":
        scores = [int(s) for s in report.sections]
        v.update(zip(SECTIONS, scores, strict=True))
        v["total"] = sum(scores)
        if report.rpdt:
            for name in ("listening", "reading", "writing"):
                v[f"rpdt_{name}"] = v[name]
        for name, score, date in zip(SECTIONS, best, when, strict=True):
            v[f"mybest_{name}"], v[f"mybest_{name}_date"] = int(score), date
        v["mybest_total"] = int(sum(best))
        v["mybest_total_date"] = report.test_date
        return v
    bands = list(report.sections)
    total = band_total(bands)
    for name, band in zip(SECTIONS, bands, strict=True):
        v[f"ibt26_{name}"], v[f"ibt26_{name}_cefr"] = band, CEFR_OF_BAND[band]
    v["ibt26_total"], v["ibt26_total_cefr"] = total, CEFR_OF_BAND[total]
    v["ibt26_comparable_total"] = ESTIMATED_0_120_OF_BAND[total]
    for name, band, date in zip(SECTIONS, best, when, strict=True):
        v[f"mybest26_{name}"], v[f"mybest26_{name}_date"] = band, date
    v["mybest26_total"] = band_total(best)
    v["mybest26_total_date"] = report.test_date
    return v


def _record(report: _Report, *, line: int) -> Record:
    return Record(values=values_of(report), layout=LAYOUT, line=line, raw=b"", format="text")
