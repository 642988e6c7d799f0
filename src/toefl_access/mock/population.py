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
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from ..api.dates import parse_instant
from ..formats import layout as layouts
from ..formats.record import Record
from . import parts
from .parts import PEOPLE, PLACES, SCORE_SETS, TIMES, Part, Person, Scores

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

    person: Person
    place: Part
    scores: Scores
    times: Part
    registration: bytes
    rpdt: bool
    test_date: int
    born: int
    earlier: int  # the date of an earlier test on the same scale (MyBest), or 0
    kind: str  # original, rescore, resend, late-send or reinstatement


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
    "Q"  # registration number
    "H"  # scores: the score set
    "B"  # prior: an earlier test or not
    "H"  # gap: days from the earlier test to this one
    "H"  # place: institution and department
    "B"  # retake: taken once more (without a score that counts)
    "5x"
)
#: A rescore, resend or late send reads its slot's draws past the kind again, as: three tries
#: at an earlier slot (days back, slot), the sections a rescore changes, and two draws of
#: another place.
_EARLIER = struct.Struct("<6xHIHIHIBHH3x")
assert _EARLIER.size == _SLOT.size


def _block(seed: int, day: int, block: int, slots: int = BLOCK) -> bytes:
    """The draws of the first ``slots`` slots of ``block`` of ``day``."""
    key = f"toefl-access-mock/{seed}/{day}/{block}".encode()
    return hashlib.shake_128(key).digest(slots * _SLOT.size)


def _slot(seed: int, day: int, slot: int) -> tuple[int, ...]:
    """The draws of one slot (for a binary search, or an earlier report)."""
    within = slot % BLOCK
    return _SLOT.unpack_from(_block(seed, day, slot // BLOCK, within + 1), within * _SLOT.size)


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
    return _second_of(slot, _slot(seed, day, slot)[0], per_day)


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


def _day_blocks(seed: int, per_day: int, day: int, first: int, last: int) -> Iterator[list[Report]]:
    """The reports of slots ``first`` to ``last`` of ``day``, a block at a time."""
    pool = parts.pool(str(seed))
    size, original_from, original = _SLOT.size, _ORIGINAL_FROM, _original
    for b in range(first // BLOCK, (last + BLOCK - 1) // BLOCK):
        draws = _block(seed, day, b)
        lo, hi = max(first - b * BLOCK, 0), min(last - b * BLOCK, BLOCK)
        slots = _SLOT.iter_unpack(draws)
        if lo or hi < BLOCK:
            slots = itertools.islice(slots, lo, hi)
        yield [
            original(pool, day, fields)
            if fields[1] >= original_from
            else _report(seed, per_day, day, b * BLOCK + i, pool, fields, draws, i * size)
            for i, fields in enumerate(slots, start=lo)
        ]


# -- the cache ----------------------------------------------------------------------------


_KINDS = ("original", "rescore", "resend", "late-send", "reinstatement")
_KIND = {kind: i for i, kind in enumerate(_KINDS)}
_KEPT_FIELDS = 9


class _Kept:
    """The reports of one chunk in two flat arrays: per report, the indices of its parts in
    their tables and its own numbers; and its registration number padded to 16 bytes. The
    garbage collector has nothing to visit there (kept as tuples, 100,000 reports cost it
    about 0.3 s of every such window), and a report takes 52 bytes."""

    __slots__ = ("_numbers", "_registrations")

    def __init__(self) -> None:
        self._numbers = array("i")
        self._registrations = bytearray()

    def add(self, reports: Iterable[Report]) -> None:
        numbers, registrations = self._numbers, self._registrations
        for r in reports:
            numbers.extend((
                r.person.index, r.place.index, r.scores.code, r.times.index, r.rpdt, r.test_date,
                r.born, r.earlier, _KIND[r.kind],
            ))  # fmt: skip
            registrations += r.registration.ljust(16)

    def reports(self, pool: parts.Pool, lo: int, hi: int) -> Iterator[Report]:
        """Reports ``lo`` to ``hi`` as they were."""
        people, scores_of, kinds, width = pool.people, parts.scores_of, _KINDS, _KEPT_FIELDS
        numbers = iter(self._numbers[lo * width : hi * width])
        registrations = bytes(self._registrations)
        for i, fields in enumerate(zip(*[numbers] * width, strict=True), start=lo):
            person, place, scores, times, rpdt, test_date, born, earlier, kind = fields
            registration = registrations[16 * i : 16 * i + (7 if rpdt else 16)]
            yield _new_report(
                Report,
                (
                    people[person] or pool.person(person), PLACES[place], scores_of(scores),
                    TIMES[times], registration, bool(rpdt), test_date, born, earlier, kinds[kind],
                ),
            )  # fmt: skip


class ReportCache:
    """The reports of the chunks of slots made last (whole chunks of :attr:`CHUNK` slots of a
    day, least recently used first out), so that a window asked again, in the other format
    or overlapping an earlier one, does not make its reports again.

    ``chunks`` is how many chunks it keeps (52 bytes a report): 0 keeps none.
    """

    CHUNK = 1024

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self._kept: OrderedDict[tuple[int, int, int, int], _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def runs(
        self, seed: int, per_day: int, day: int, first: int, last: int, *, keep: bool = True
    ) -> Iterator[Iterable[Report]]:
        """Slots ``first`` to ``last`` of ``day`` as runs of reports, chunk by chunk; whole
        chunks made on the way are kept if ``keep``."""
        size = self.CHUNK
        for chunk in range(first // size, (last + size - 1) // size):
            start, end = chunk * size, min(chunk * size + size, per_day)
            lo, hi = max(first, start), min(last, end)
            key = (seed, per_day, day, chunk)
            with self._lock:
                found = self._kept.get(key)
                if found is not None:
                    self._kept.move_to_end(key)
            if found is not None:
                yield found.reports(parts.pool(str(seed)), lo - start, hi - start)
            elif keep and self.chunks and (lo, hi) == (start, end):
                blocks = self._keep(key, _day_blocks(seed, per_day, day, start, end))
                yield itertools.chain.from_iterable(blocks)
            else:
                yield itertools.chain.from_iterable(_day_blocks(seed, per_day, day, lo, hi))

    def _keep(
        self, key: tuple[int, int, int, int], blocks: Iterator[list[Report]]
    ) -> Iterator[list[Report]]:
        """``blocks`` as they come, their reports kept once they all came."""
        kept = _Kept()
        for block in blocks:
            kept.add(block)
            yield block
        with self._lock:
            self._kept[key] = kept
            while len(self._kept) > self.chunks:
                self._kept.popitem(last=False)


#: The cache :func:`reports` uses: 128 chunks, up to 131,072 reports (under 7 MiB).
cache = ReportCache(128)


# -- public entry points ----------------------------------------------------------------


def reports(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Report]:
    """The reports of :func:`releases`, as parts (what the API streams, see :mod:`.wire`).

    The whole chunks of slots they fill are kept in :data:`cache` for the next window that
    asks, as long as the window so far fits in it (a larger one would only churn it).
    """
    return itertools.chain.from_iterable(_runs(start, end, seed, per_day))


def _runs(start: When, end: When, seed: int, per_day: int) -> Iterator[Iterable[Report]]:
    room = cache.chunks * cache.CHUNK
    for _, day, first, last in _slices(start, end, seed, per_day):
        room -= last - first
        yield from cache.runs(seed, per_day, day, first, last, keep=room >= 0)


def releases(start: When, end: When, *, seed: int = 0, per_day: int = 50) -> Iterator[Release]:
    """Every release in the half-open UTC window ``[start, end)``, ordered by release time.

    Naive datetimes are taken as UTC; strings are read like the CLI's dates. Records are
    generated as they are asked for, so a window of any size answers at once and uses
    little memory.
    """
    n = 0
    for midnight, day, first, last in _slices(start, end, seed, per_day):
        runs = itertools.chain.from_iterable(cache.runs(seed, per_day, day, first, last))
        for slot, report in enumerate(runs, start=first):
            n += 1
            at = midnight + dt.timedelta(seconds=_released_at(seed, day, slot, per_day))
            yield Release(at, record_of(report, line=n), report.kind)


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
        paper_cut = _U16 if n == 4 else 0
        out.append(_original(pool, day.toordinal(), _SLOT.unpack(draws), paper_cut=paper_cut))
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
#: Days from the test to the release, per draw: 4-10, or 3-12 weeks for a reinstatement.
_DELAYED = tuple(4 + (u * 7 >> 8) for u in range(256))
_REINSTATED = tuple(21 + (u * 64 >> 8) for u in range(256))
_YOUNGEST = parts.YOUNGEST
#: Every place as often as its weight: a draw scaled to the length picks one in proportion.
_PLACE_OF = tuple(
    PLACES[bisect.bisect_right(parts.PLACE_CUM, i)] for i in range(parts.PLACE_CUM[-1])
)
_PLACES_DRAWN = len(_PLACE_OF)
_PERSON_MASK, _SET_MASK = PEOPLE - 1, SCORE_SETS - 1
_SETS = parts.SETS
_new_report = tuple.__new__


def _original(
    pool: parts.Pool, day: int, fields: tuple[int, ...], *, reinstated: bool = False,
    paper_cut: float = _PAPER_CUT,
) -> Report:  # fmt: skip
    """The new report a slot's draws describe, released on ``day`` (an original, or with
    ``reinstated`` a reinstatement); ``paper_cut`` is the share of 0-120 reports on paper
    (rPDT), times 2**16."""
    _, _, delay, paper_draw, person, registration, scores, prior, gap, place, retake = fields
    test_date = day - (_REINSTATED if reinstated else _DELAYED)[delay]
    new_scale = test_date >= _IBT26
    earlier = 0
    if prior < _PRIOR_CUT:
        earlier = test_date - 28 - (gap * 303 >> 16)
        if (earlier >= _IBT26) is not new_scale:
            earlier = 0  # the earlier test was on the other scale: it is not a MyBest
    if new_scale or paper_draw >= paper_cut:
        rpdt = False
        number = b"%016d" % (registration % 10**12)  # 0000 and 12 digits
    else:
        rpdt = True
        number = b"%07d" % (registration % 10**7)
    taker = pool.people[person & _PERSON_MASK] or pool.person(person & _PERSON_MASK)
    born = taker.born
    if test_date - born < _YOUNGEST:
        born = parts.born_for(taker, test_date)
    sets = _SETS[new_scale]
    return _new_report(
        Report,
        (
            taker,
            _PLACE_OF[place * _PLACES_DRAWN >> 16],
            sets[scores & _SET_MASK] or parts.score_set(new_scale, scores & _SET_MASK),
            TIMES[(earlier > 0) + (retake < _RETAKE_CUT)],
            number,
            rpdt,
            test_date,
            born,
            earlier,
            "reinstatement" if reinstated else "original",
        ),
    )


def _report(
    seed: int, per_day: int, day: int, slot: int, pool: parts.Pool, fields: tuple[int, ...],
    draws: bytes, offset: int,
) -> Report:  # fmt: skip
    """The report of a slot that is not a plain original."""
    for kind, cut in _KIND_CUTS:  # noqa: B007 (the kind the loop stops at is the answer)
        if fields[1] < cut:
            break
    if kind == "reinstatement":
        return _original(pool, day, fields, reinstated=True)
    earlier_draws = _EARLIER.unpack_from(draws, offset)
    low, high = _TARGET_DAYS[kind]
    for back, other in zip(earlier_draws[0:6:2], earlier_draws[1:6:2], strict=True):
        earlier = day - low - (back * (high - low + 1) >> 16)
        target = _slot(seed, earlier, other * per_day >> 32)
        if target[1] >= _ORIGINAL_FROM:
            return _derive(kind, _original(pool, earlier, target), earlier_draws[6:])
    return _original(pool, day, fields)  # no original found where the draws looked


def _derive(kind: str, target: Report, draws: tuple[int, ...]) -> Report:
    """``target`` released again as a ``kind``."""
    person, place, scores, times, registration, rpdt, test_date, born, earlier, _ = target
    which, place_1, place_2 = draws
    if kind == "late-send":  # to another place
        place = next(
            (p for p in (_PLACE_OF[d * _PLACES_DRAWN >> 16] for d in (place_1, place_2))
             if p is not place),
            PLACES[(PLACES.index(place) + 1) % len(PLACES)],
        )  # fmt: skip
    elif kind == "rescore":  # speaking, writing or both scored again; the rest follows
        scores = scores.rescored(which * len(parts.RESCORED) >> 8)
    return _new_report(
        Report,
        (person, place, scores, times, registration, rpdt, test_date, born, earlier, kind),
    )


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
    v.update(report.person.centres[report.rpdt])
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
