"""A deterministic population of TOEFL score reports, released day by day.

Every UTC day has exactly ``per_day`` release slots; the release time and the report of each
slot come from draws keyed by ``(seed, day, slot)`` alone. So the reports released in a
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

A report is a choice among pooled parts (people, test centres, score sets: see :mod:`.parts`)
plus its own registration number and dates, all read from 32 bytes of draws per slot.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import struct
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from .. import layout as layouts
from ..dates import parse_instant
from ..record import Record
from . import parts
from .parts import CENTRES, HOME, PAPER_CENTRES, PEOPLE, PLACES, SCORE_SETS, TIMES, Part, Scores

#: The first test date on the 1-6 scale (iBT26).
IBT26_FROM = dt.date(2026, 1, 21)
LAYOUT = layouts.CURRENT
NAMES = layouts.builtin(LAYOUT).names
DAY_SECONDS = 86_400
UTC = dt.UTC


class Release(NamedTuple):
    """One report released at ``at`` (UTC); ``kind`` says what sort of release it is."""

    at: dt.datetime
    record: Record
    kind: str


class Report(NamedTuple):
    """A report as its parts and its own values (dates are proleptic ordinals)."""

    person: Part
    place: Part
    centre: Part
    scores: Scores
    times: Part
    registration: bytes
    rpdt: bool
    test_date: int
    born: int
    earlier: int  # the date of an earlier test on the same scale (MyBest), or 0


# -- the draws of a slot ------------------------------------------------------------------
#
# Each slot has 32 bytes of draws, read as the fields below; the slots of a day come in
# blocks of BLOCK from one SHAKE-128 output keyed by (seed, day, block). A block is cheap to
# make on its own, so any slot of any day can be read without its neighbours: the binary
# search for a window's first slot and the earlier report a rescore points to both need that.

BLOCK = 10
_SLOT = struct.Struct(
    "<I"  # jitter: where in its share of the day the slot is released
    "H"  # kind
    "B"  # delay: days from the test to the release
    "H"  # paper: rPDT or not
    "H"  # person
    "H"  # age: days from birth to the test
    "Q"  # registration number
    "H"  # centre
    "B"  # home: Home Edition or not
    "H"  # scores: the score set
    "B"  # prior: an earlier test or not
    "H"  # gap: days from the earlier test to this one
    "H"  # place: institution and department
    "B"  # retake: taken once more (without a score that counts)
)
#: A rescore, resend or late send reads its slot's draws past the kind again, as: three tries
#: at an earlier slot (days back, slot), the sections a rescore changes, and two draws of
#: another place.
_EARLIER = struct.Struct("<6xHIHIHIBHH3x")
assert _EARLIER.size == _SLOT.size
_JITTER = struct.Struct("<I")


@lru_cache(maxsize=4096)
def _block(seed: int, day: int, block: int) -> bytes:
    key = f"toefl-access-mock/{seed}/{day}/{block}".encode()
    return hashlib.shake_128(key).digest(BLOCK * _SLOT.size)


def _slot(seed: int, day: int, slot: int) -> tuple[int, ...]:
    return _SLOT.unpack_from(_block(seed, day, slot // BLOCK), slot % BLOCK * _SLOT.size)


# -- the schedule -----------------------------------------------------------------------
#
# Slot i of a day (0 <= i < per_day) sits at position (i + jitter_i) / per_day along the day
# and is released at the second that position maps to through a monotone curve of hourly
# activity. So release times rise with the slot, a window's slots are found by binary search,
# and nothing is sorted or held.

#: Relative release activity per UTC hour: most scores go out in US Eastern business hours.
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 6, 7, 7, 7, 6, 5, 4, 3, 3, 2, 2)
_HOUR_CUM = tuple(itertools.accumulate(_HOUR_WEIGHTS, initial=0))

When = dt.datetime | dt.date | str


def _second_of(slot: int, jitter: int, per_day: int) -> int:
    """The second of the day at which ``slot`` (with its ``jitter``) is released."""
    x = (slot + jitter / 2**32) / per_day * _HOUR_CUM[-1]
    hour = bisect.bisect_right(_HOUR_CUM, x) - 1
    within = (x - _HOUR_CUM[hour]) / _HOUR_WEIGHTS[hour]
    return min(DAY_SECONDS - 1, int((hour + within) * 3600))


def _released_at(seed: int, day: int, slot: int, per_day: int) -> int:
    block = _block(seed, day, slot // BLOCK)
    (jitter,) = _JITTER.unpack_from(block, slot % BLOCK * _SLOT.size)
    return _second_of(slot, jitter, per_day)


def _first_slot(seed: int, day: int, per_day: int, second: int) -> int:
    """The first slot of ``day`` released at or after ``second`` (``per_day`` if none)."""
    if second <= 0:
        return 0
    if second >= DAY_SECONDS:
        return per_day
    low, high = 0, per_day
    while low < high:
        mid = (low + high) // 2
        if _released_at(seed, day, mid, per_day) < second:
            low = mid + 1
        else:
            high = mid
    return low


def _ceil_seconds(delta: dt.timedelta) -> int:
    """Whole seconds, rounded up: a window starting at 12:00:00.5 excludes 12:00:00."""
    whole = delta.days * DAY_SECONDS + delta.seconds
    return whole + (1 if delta.microseconds else 0)


def _slices(
    start: When, end: When, seed: int, per_day: int
) -> Iterator[tuple[dt.datetime, int, int, int]]:
    """Per day of ``[start, end)``: its midnight, its ordinal and its slots in the window."""
    if per_day < 0:
        raise ValueError(f"per_day must be 0 or more, got {per_day}")
    lo = parse_instant(start, what="start")
    hi = parse_instant(end, what="end")
    day = lo.date()
    while (midnight := dt.datetime(day.year, day.month, day.day, tzinfo=UTC)) < hi:
        first = max(0, _ceil_seconds(lo - midnight))
        last = min(DAY_SECONDS, _ceil_seconds(hi - midnight))
        if first < last and per_day:
            ordinal = day.toordinal()
            yield (
                midnight,
                ordinal,
                _first_slot(seed, ordinal, per_day, first),
                _first_slot(seed, ordinal, per_day, last),
            )
        day += dt.timedelta(days=1)


def _walk(
    seed: int, per_day: int, day: int, first: int, last: int
) -> Iterator[tuple[int, int, str, Report]]:
    """Slots ``first`` to ``last`` of ``day``: (slot, jitter, kind, report) each."""
    pool = parts.pool(str(seed))
    size = _SLOT.size
    for b in range(first // BLOCK, (last + BLOCK - 1) // BLOCK):
        draws = _block(seed, day, b)
        lo, hi = max(first - b * BLOCK, 0), min(last - b * BLOCK, BLOCK)
        for i in range(lo, hi):
            fields = _SLOT.unpack_from(draws, i * size)
            if fields[1] >= _ORIGINAL_FROM:
                yield b * BLOCK + i, fields[0], "original", _original(pool, day, fields)
            else:
                slot = b * BLOCK + i
                kind, report = _report(seed, per_day, day, slot, pool, fields, draws, i * size)
                yield slot, fields[0], kind, report


def _day_reports(seed: int, per_day: int, day: int, first: int, last: int) -> Iterator[Report]:
    """The reports of slots ``first`` to ``last`` of ``day``: :func:`_walk`, lean."""
    pool = parts.pool(str(seed))
    size = _SLOT.size
    for b in range(first // BLOCK, (last + BLOCK - 1) // BLOCK):
        draws = _block(seed, day, b)
        lo, hi = max(first - b * BLOCK, 0), min(last - b * BLOCK, BLOCK)
        if lo == 0 and hi == BLOCK:
            slots = _SLOT.iter_unpack(draws)
        else:
            slots = itertools.islice(_SLOT.iter_unpack(draws), lo, hi)
        for i, fields in enumerate(slots, start=lo):
            if fields[1] >= _ORIGINAL_FROM:
                yield _original(pool, day, fields)
            else:
                yield _report(seed, per_day, day, b * BLOCK + i, pool, fields, draws, i * size)[1]


# -- public entry points ----------------------------------------------------------------


def reports(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Report]:
    """The reports of :func:`releases`, as parts (what the API streams, see :mod:`.wire`)."""
    days = _slices(start, end, seed, per_day)
    return itertools.chain.from_iterable(
        _day_reports(seed, per_day, day, first, last) for _, day, first, last in days
    )


def releases(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Release]:
    """Every release in the half-open UTC window ``[start, end)``, ordered by release time.

    Naive datetimes are taken as UTC; strings are read like the CLI's dates. Records are
    generated as they are asked for, so a window of any size answers at once and uses
    little memory.
    """
    n = 0
    for midnight, day, first, last in _slices(start, end, seed, per_day):
        for slot, jitter, kind, report in _walk(seed, per_day, day, first, last):
            n += 1
            at = midnight + dt.timedelta(seconds=_second_of(slot, jitter, per_day))
            yield Release(at, record_of(report, line=n), kind)


def released(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Record]:
    """The records of :func:`releases`: the reports released in ``[start, end)``."""
    for release in releases(start, end, seed=seed, per_day=per_day):
        yield release.record


def count(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> int:
    """How many reports are released in ``[start, end)``, without building them."""
    return sum(last - first for _, _, first, last in _slices(start, end, seed, per_day))


_SAMPLE_DAYS = [dt.date(2025, 2, 3) + dt.timedelta(days=33 * i) for i in range(9)]
_SAMPLE_DAYS += [dt.date(2026, 2, 16), dt.date(2026, 3, 23)]


def sample_reports() -> list[Report]:
    """The sandbox's fixed answer: 11 sample reports, 9 on the 0-120 scale and 2 on 1-6.

    The fourth is a paper edition (rPDT) report.
    """
    pool = parts.pool("sample")
    out = []
    for n, day in enumerate(_SAMPLE_DAYS, start=1):
        draws = hashlib.shake_128(f"toefl-access-mock/sample/{n}".encode()).digest(_SLOT.size)
        out.append(_original(pool, day.toordinal(), _SLOT.unpack(draws), paper=n == 4))
    return out


def sample_records() -> list[Record]:
    """The records of :func:`sample_reports`."""
    return [record_of(report, line=n) for n, report in enumerate(sample_reports(), start=1)]


# -- one slot ---------------------------------------------------------------------------

_U16 = 1 << 16
#: The kinds other than originals, each below its cut of the slot's kind draw (of 2**16).
_KIND_CUTS = (
    ("rescore", 0.03 * _U16), ("resend", 0.04 * _U16), ("late-send", 0.10 * _U16),
    ("reinstatement", 0.12 * _U16),
)  # fmt: skip
_ORIGINAL_FROM = _KIND_CUTS[-1][1]
#: Days between the earlier original and the re-release, per kind.
_TARGET_DAYS = {"rescore": (7, 42), "resend": (1, 60), "late-send": (21, 700)}
_IBT26 = IBT26_FROM.toordinal()
_PAPER_CUT = 0.06 * _U16
_PRIOR_CUT = 0.35 * 256
_RETAKE_CUT = 0.2 * 256
_HOME_CUT = 0.25 * 256
#: Days from the test to the release, per draw: 4-10, or 3-12 weeks for a reinstatement.
_DELAYED = tuple(4 + (u * 7 >> 8) for u in range(256))
_REINSTATED = tuple(21 + (u * 64 >> 8) for u in range(256))
_AGE, _AGE_SPAN = 17 * 365, 23 * 365  # from birth to the test: 17 to 40 years
#: Every place as often as its weight: a draw scaled to the length picks one in proportion.
_PLACE_OF = tuple(
    PLACES[bisect.bisect_right(parts.PLACE_CUM, i)] for i in range(parts.PLACE_CUM[-1])
)
_PLACES_DRAWN = len(_PLACE_OF)
_PERSON_MASK, _CENTRE_MASK, _SET_MASK = PEOPLE - 1, CENTRES - 1, SCORE_SETS - 1
_SETS = parts.SETS
_new_report = tuple.__new__


def _original(
    pool: parts.Pool, day: int, fields: tuple[int, ...], *, reinstated: bool = False,
    paper: bool | None = None,
) -> Report:  # fmt: skip
    """The new report a slot's draws describe, released on ``day``."""
    _, _, delay, paper_draw, person, age, registration, centre, home, scores, prior, gap, place, \
        retake = fields  # fmt: skip
    test_date = day - (_REINSTATED if reinstated else _DELAYED)[delay]
    new_scale = test_date >= _IBT26
    earlier = 0
    if prior < _PRIOR_CUT:
        earlier = test_date - 28 - (gap * 303 >> 16)
        if (earlier >= _IBT26) is not new_scale:
            earlier = 0  # the earlier test was on the other scale: it is not a MyBest
    if new_scale or (paper_draw >= _PAPER_CUT if paper is None else not paper):
        rpdt = False
        where = HOME if home < _HOME_CUT else pool.centres[centre & _CENTRE_MASK] or \
            pool.centre(centre & _CENTRE_MASK)  # fmt: skip
        number = b"0000%012d" % (registration % 10**12)
    else:
        rpdt = True
        where = pool.paper_centre(centre % PAPER_CENTRES)
        number = b"%07d" % (registration % 10**7)
    sets = _SETS[new_scale]
    return _new_report(
        Report,
        (
            pool.people[person & _PERSON_MASK] or pool.person(person & _PERSON_MASK),
            _PLACE_OF[place * _PLACES_DRAWN >> 16],
            where,
            sets[scores & _SET_MASK] or parts.score_set(new_scale, scores & _SET_MASK),
            TIMES[(earlier > 0) + (retake < _RETAKE_CUT)],
            number,
            rpdt,
            test_date,
            test_date - _AGE - (age * _AGE_SPAN >> 16),
            earlier,
        ),
    )


def _report(
    seed: int, per_day: int, day: int, slot: int, pool: parts.Pool, fields: tuple[int, ...],
    draws: bytes, offset: int,
) -> tuple[str, Report]:  # fmt: skip
    """The kind and report of a slot that is not a plain original."""
    kind = next(k for k, cut in _KIND_CUTS if fields[1] < cut)
    if kind == "reinstatement":
        return kind, _original(pool, day, fields, reinstated=True)
    earlier_draws = _EARLIER.unpack_from(draws, offset)
    low, high = _TARGET_DAYS[kind]
    for back, other in zip(earlier_draws[0:6:2], earlier_draws[1:6:2], strict=True):
        earlier = day - low - (back * (high - low + 1) >> 16)
        target = _slot(seed, earlier, other * per_day >> 32)
        if target[1] >= _ORIGINAL_FROM:
            return kind, _derive(kind, _original(pool, earlier, target), earlier_draws[6:])
    return "original", _original(pool, day, fields)


def _derive(kind: str, target: Report, draws: tuple[int, ...]) -> Report:
    if kind == "resend":
        return target
    which, place_1, place_2 = draws
    if kind == "late-send":
        for draw in (place_1, place_2):
            place = _PLACE_OF[draw * _PLACES_DRAWN >> 16]
            if place is not target.place:
                return target._replace(place=place)
        return target._replace(place=PLACES[(PLACES.index(target.place) + 1) % len(PLACES)])
    # A rescore: speaking, writing or both are scored again; the rest follows from them.
    return target._replace(scores=target.scores.rescored(which * len(parts.RESCORED) >> 8))


# -- from parts to a record --------------------------------------------------------------

_BLANK: dict[str, Any] = dict.fromkeys(NAMES)


def values_of(report: Report) -> dict[str, Any]:
    """Every canonical field of the current layout, ``None`` where blank, in layout order."""
    v = _BLANK.copy()
    test = dt.date.fromordinal(report.test_date)
    v.update(report.place.values)
    v["registration_number"] = report.registration.decode()
    v.update(report.person.values)
    v["date_of_birth"] = dt.date.fromordinal(report.born)
    v["test_date"] = test
    v.update(report.centre.values)
    v.update(report.times.values)
    earlier = dt.date.fromordinal(report.earlier) if report.earlier else None
    v.update(
        report.scores.values(
            rpdt=report.rpdt, prior=earlier is not None, test=test, earlier=earlier
        )
    )
    return v


def record_of(report: Report, *, line: int) -> Record:
    """``report`` as a :class:`Record`, as if read from ``line`` of a text answer."""
    return Record(values=values_of(report), layout=LAYOUT, line=line, raw=b"", format="text")
