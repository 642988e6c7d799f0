"""The canonical score record, its typed values, and the score rules that validate it.

Both wire formats (fixed-length ScoreLink lines and JSON) produce the same :class:`Record`:
``values`` maps canonical field names (in layout order) to typed values:

=========== ==================================================
kind        Python value
=========== ==================================================
score       ``int``
band        ``float`` in steps of 0.5 (1-6 scale)
date        ``datetime.date``
code, text, ``str`` with trailing blanks removed
cefr,
sensitive
=========== ==================================================

and a blank field is ``None``. Nothing received is lost: the record keeps its layout name,
line number, the original bytes and, for JSON, every unknown key in ``extra``.
Validation (:func:`validate`) is separate from parsing and only ever adds warnings.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import msgspec

SECTIONS = ("listening", "reading", "speaking", "writing")
IDENTITY = ("registration_number", "test_date", "institution_code", "department_code")

CEFR_OF_BAND = {
    6.0: "C2", 5.5: "C1", 5.0: "C1", 4.5: "B2", 4.0: "B2", 3.5: "B1",
    3.0: "B1", 2.5: "A2", 2.0: "A2", 1.5: "A1", 1.0: "A1",
}  # fmt: skip
ESTIMATED_0_120_OF_BAND = {
    6.0: 114, 5.5: 107, 5.0: 95, 4.5: 86, 4.0: 72, 3.5: 58,
    3.0: 44, 2.5: 34, 2.0: 24, 1.5: 12, 1.0: 0,
}  # fmt: skip

Value = int | float | str | dt.date | None


class RecordWarning(msgspec.Struct, frozen=True, kw_only=True):
    """A rule a record breaks, or a value that could not be converted.

    ``start``/``end`` are the 1-based byte range in a fixed-length line (0 for JSON) and
    ``value`` the text as received.
    """

    field: str
    message: str
    value: str = ""
    start: int = 0
    end: int = 0

    def describe(self) -> str:
        where = f" (bytes {self.start}-{self.end})" if self.start else ""
        return f"{self.field}{where} = {self.value!r}: {self.message}"


class Record:
    """One score report as received, with typed values.

    ``values`` maps canonical names (layout order) to typed values; ``format`` is
    ``"text"`` or ``"json"``; ``raw`` is the original line (text) or the JSON object's
    bytes; ``line`` is the 1-based line (text) or array index + 1 (JSON); ``warnings`` are
    the broken rules; ``extra`` holds a JSON record's unknown keys.

    A record read from a batch of lines is a *view* on its row of the batch's Arrow
    columns (:class:`toefl_access.formats.batch.Batch`): ``record["total"]`` reads one column, and
    nothing is built for the fields nobody reads; ``values`` is made on first use.
    """

    __slots__ = ("_batch", "_i", "_raw", "_values", "extra", "format", "layout", "line",
                 "warnings")
    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __init__(
        self,
        *,
        values: dict[str, Any],
        layout: str,
        line: int,
        raw: bytes,
        format: str = "text",
        warnings: list[RecordWarning] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._values: dict[str, Any] | None = values
        self._batch: Any = None
        self._i = 0
        self.layout = layout
        self.line = line
        self._raw: bytes | None = raw
        self.format = format
        self.warnings: list[RecordWarning] = [] if warnings is None else warnings
        self.extra: dict[str, Any] = {} if extra is None else extra

    @classmethod
    def view(
        cls,
        batch: Any,
        i: int,
        *,
        layout: str,
        line: int,
        warnings: list[RecordWarning],
    ) -> Record:
        """A text record that is row ``i`` of ``batch`` (a
        :class:`~toefl_access.formats.batch.Batch`: ``column(name)`` gives a column's Python
        values, ``names`` the field names, ``raws`` the lines)."""
        record = cls.__new__(cls)
        record._values, record._batch, record._i, record._raw = None, batch, i, None
        record.layout, record.line = layout, line
        record.format, record.warnings, record.extra = "text", warnings, {}
        return record

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            self._values = dict(zip(self._batch.names, self._batch.rows()[self._i],
                                    strict=True))
        return self._values

    @values.setter
    def values(self, values: dict[str, Any]) -> None:
        self._values = values

    @property
    def raw(self) -> bytes:
        """The line as received (text) or the JSON object's bytes."""
        if self._raw is None:
            self._raw = self._batch.raws[self._i]
        return self._raw

    @raw.setter
    def raw(self, raw: bytes) -> None:
        self._raw = raw

    @property
    def names(self) -> tuple[str, ...]:
        """The field names, in order (the same tuple for every record of a batch)."""
        if self._values is None:
            return self._batch.names  # type: ignore[no-any-return]
        return tuple(self._values)

    def row(self) -> list[Any]:
        """The values in the order of ``names``, as a new list (without building
        ``values``)."""
        if self._values is None:
            return list(self._batch.rows()[self._i])
        return list(self._values.values())

    def put(self, name: str, value: Any) -> None:
        """Set one value (``values[name] = value``, without building ``values``)."""
        if self._values is None:
            self._batch.put(self._i, name, value)
        else:
            self._values[name] = value

    def replace(self, **changes: Any) -> Record:
        """A copy with some attributes changed (``values``, ``warnings``, ...)."""
        now = {name: getattr(self, name) for name in _ATTRIBUTES}
        now.update(changes)
        return Record(**now)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _ATTRIBUTES)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _ATTRIBUTES)
        return f"Record({shown})"

    def __getitem__(self, name: str) -> Any:
        if self._values is None:
            return self._batch.column(name)[self._i]
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        if self._values is None:
            if name not in self._batch.index:
                return default
            return self._batch.column(name)[self._i]
        return self._values.get(name, default)

    @property
    def identity(self) -> tuple[Any, ...]:
        """``registration_number, test_date, institution_code, department_code``."""
        return tuple(map(self.get, IDENTITY))

    @property
    def scales(self) -> tuple[str, ...]:
        """The score scales the record carries: ``("0-120",)``, ``("1-6",)``, both, or none."""
        return scales_of(self)

    def same_report(self, other: Record) -> bool:
        """True when both carry the same values, whatever format or line they came from."""
        mine = {k: v for k, v in self.values.items() if v is not None}
        theirs = {k: v for k, v in other.values.items() if v is not None}
        return mine == theirs


_ATTRIBUTES = ("values", "layout", "line", "raw", "format", "warnings", "extra")


def scales_of(values: dict[str, Any] | Record) -> tuple[str, ...]:
    old = any(values.get(n) is not None for n in (*SECTIONS, "total"))
    new = any(values.get(f"ibt26_{n}") is not None for n in (*SECTIONS, "total"))
    return (("0-120",) if old else ()) + (("1-6",) if new else ())


# -- converting wire text to typed values -------------------------------------------------


def to_score(text: str) -> int:
    return int(text)


_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def to_band(text: str) -> float:
    """A band written as a plain decimal (``4.5``, ``4``, ``4.50``); ValueError otherwise."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    return float(text)


_DATE = re.compile(
    r"(\d{4})(\d{2})(\d{2})|(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)


def to_date(text: str) -> dt.date:
    """``YYYYMMDD`` or ``YYYY-MM-DD`` (a time after it is ignored); ValueError otherwise."""
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    y, mo, d = (m[1], m[2], m[3]) if m[1] else (m[4], m[5], m[6])
    return dt.date(int(y), int(mo), int(d))


def round_half_up(value: float) -> float:
    """Round to the nearest 0.5, halves up: 5.125 -> 5.0, 5.25 -> 5.5.

    Exact for the quarter steps a mean of four bands can take (they are binary fractions).
    """
    return math.floor(value * 2 + 0.5) / 2


def band_total(sections: Sequence[float]) -> float:
    """The 1-6 total of four section bands: their mean to the nearest 0.5, halves up."""
    return round_half_up(sum(sections) / len(sections))


# -- validation ---------------------------------------------------------------------------

_SECTION_RANGE = (
    *SECTIONS,
    *(f"rpdt_{s}" for s in ("listening", "reading", "writing")),
    *(f"mybest_{s}" for s in SECTIONS),
)
_TOTAL_RANGE = ("total", "mybest_total", "ibt26_comparable_total")
_BANDS = tuple(f"ibt26_{n}" for n in (*SECTIONS, "total")) + tuple(
    f"mybest26_{n}" for n in (*SECTIONS, "total")
)
_IBT26_SECTIONS = tuple(f"ibt26_{s}" for s in SECTIONS)
_LEVELS = frozenset(("A1", "A2", "B1", "B2", "C1", "C2"))
_CEFR_PAIRS = tuple((f"ibt26_{n}_cefr", f"ibt26_{n}") for n in (*SECTIONS, "total"))
_CEFR_NAMES = tuple(c for c, _ in _CEFR_PAIRS)
# The values a rule accepts, None included: one set test checks a whole group at C speed,
# and only a group that fails is looked at field by field.
_OK_SECTION = frozenset((None, *range(31)))
_OK_TOTAL = frozenset((None, *range(121)))
_OK_BAND = frozenset((None, *CEFR_OF_BAND))
_EPOCH = dt.date(1970, 1, 1)
_today_cache: tuple[int, dt.date] = (-1, _EPOCH)


def utc_today() -> dt.date:
    """Today's date in UTC (cheap to call once a record)."""
    global _today_cache
    day = int(time.time() // 86400)
    if day != _today_cache[0]:
        _today_cache = (day, _EPOCH + dt.timedelta(days=day))
    return _today_cache[1]


def _getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving ``names``' values of a mapping as a tuple, in one C call."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        only = names[0]
        return lambda values: (values[only],)
    return lambda values: ()


class Rules:
    """The score rules, compiled for the fields a layout has (see :func:`validate`).

    A layout that lacks a field (the legacy one has no MyBest) simply skips its rules, and
    so does one whose field has another kind (``kinds``: a custom layout that keeps a
    section score as text). ``check`` needs a mapping that holds every name it was
    compiled for.
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        date_fields: tuple[str, ...] = (),
        kinds: dict[str, str] | None = None,
    ) -> None:
        kind_of = kinds or {}
        have = set(names)

        def pick(group: Iterable[str], kind: str = "") -> tuple[str, ...]:
            return tuple(n for n in group if n in have and kind_of.get(n, kind) == kind)

        self.sections, self.totals, self.bands = (
            pick(_SECTION_RANGE, "score"), pick(_TOTAL_RANGE, "score"), pick(_BANDS, "band")
        )
        sums, means = (*SECTIONS, "total"), (*_IBT26_SECTIONS, "ibt26_total")
        self.sum = sums if len(pick(sums, "score")) == 5 else ()
        self.mean = means if len(pick(means, "band")) == 5 else ()
        self.cefr = tuple((c, b) for c, b in _CEFR_PAIRS
                          if pick((c,), "cefr") and pick((b,), "band"))
        self.dates = pick(date_fields, "date")
        self._sections, self._totals, self._bands = (
            _getter(self.sections), _getter(self.totals), _getter(self.bands)
        )
        self._sum, self._mean = _getter(self.sum), _getter(self.mean)
        self._levels = _getter(tuple(c for c, _ in self.cefr))
        self._no_levels = (None,) * len(self.cefr)
        self._cefr_bands = _getter(tuple(b for _, b in self.cefr))
        self._dates = _getter(self.dates)

    def check(
        self,
        values: dict[str, Any],
        *,
        today: dt.date | None = None,
        spans: dict[str, tuple[int, int]] | None = None,
    ) -> list[RecordWarning]:
        """One warning per broken rule.

        Most records break none: a few set tests and comparisons of whole groups say so,
        and only then is each field looked at.
        """
        if not (
            _OK_SECTION.issuperset(self._sections(values))
            and _OK_TOTAL.issuperset(self._totals(values))
            and _OK_BAND.issuperset(self._bands(values))
        ):
            return self._problems(values, today, spans)
        levels = self._levels(values)
        if levels != self._no_levels and levels != tuple(
            map(CEFR_OF_BAND.get, self._cefr_bands(values))
        ):
            return self._problems(values, today, spans)
        if self.sum:
            s = self._sum(values)
            if s[4] is not None and None not in s and s[0] + s[1] + s[2] + s[3] != s[4]:
                return self._problems(values, today, spans)
        if self.mean:
            m = self._mean(values)
            # the mean to the nearest 0.5, halves up, as band_total (inlined: a hot path)
            if m[4] is not None and None not in m and (
                math.floor((m[0] + m[1] + m[2] + m[3]) / 2 + 0.5) / 2 != m[4]
            ):
                return self._problems(values, today, spans)
        if self.dates:
            latest = max(filter(None, self._dates(values)), default=None)
            if latest is not None and latest > (today or utc_today()):
                return self._problems(values, today, spans)
        return []

    def _problems(
        self,
        values: dict[str, Any],
        today: dt.date | None,
        spans: dict[str, tuple[int, int]] | None,
    ) -> list[RecordWarning]:
        """Every broken rule, field by field."""
        out: list[RecordWarning] = []
        today = today or utc_today()

        def warn(field: str, value: object, message: str) -> None:
            start, end = (spans or {}).get(field, (0, 0))
            out.append(
                RecordWarning(field=field, value=str(value), message=message, start=start,
                              end=end)
            )

        for names, high in ((self.sections, 30), (self.totals, 120)):
            for name in names:
                v = values[name]
                if v is not None and not 0 <= v <= high:
                    warn(name, v, f"outside 0-{high}")
        if self.sum:
            *secs, total = self._sum(values)
            if total is not None and None not in secs and sum(secs) != total:
                warn("total", total, f"is not the sum of the sections ({sum(secs)})")
        for name in self.bands:
            b = values[name]
            if b is not None and b not in _OK_BAND:
                warn(name, b, "not a 1-6 band in 0.5 steps")
        if self.mean:
            *secs, btotal = self._mean(values)
            if btotal is not None and None not in secs:
                expected = band_total(secs)
                if expected != btotal:
                    warn("ibt26_total", btotal,
                         f"is not the mean of the sections rounded half up ({expected})")
        for cefr_name, band_name in self.cefr:
            level, band = values[cefr_name], values[band_name]
            if level is None:
                continue
            if level not in _LEVELS:
                warn(cefr_name, level, "not a CEFR level")
            elif band in CEFR_OF_BAND and CEFR_OF_BAND[band] != level:
                warn(cefr_name, level, f"does not match band {band} ({CEFR_OF_BAND[band]})")
        for name in self.dates:
            d = values[name]
            if d is not None and d > today:
                warn(name, d.isoformat(), "in the future")
        return out


@lru_cache(maxsize=64)
def _rules(names: tuple[str, ...], date_fields: tuple[str, ...]) -> Rules:
    return Rules(names, date_fields=date_fields)


def validate(
    values: dict[str, Any],
    *,
    today: dt.date | None = None,
    date_fields: tuple[str, ...] = (),
    spans: dict[str, tuple[int, int]] | None = None,
) -> list[RecordWarning]:
    """Check the score rules of the spec; return one warning per broken rule.

    Section scores 0-30 (also rPDT and MyBest sections), totals 0-120, the 0-120 total the
    sum of its sections; 1-6 bands in 0.5 steps, the iBT26 total the mean of its sections
    rounded to the nearest 0.5 with halves up; CEFR levels real and matching their band;
    ``date_fields`` not after ``today`` (default: today in UTC). ``spans`` gives each
    field's byte range so that warnings can name it. (Parsers use a :class:`Rules`
    compiled once for their layout.)
    """
    rules = _rules(tuple(values), tuple(date_fields))
    return rules.check(values, today=today, spans=spans)
