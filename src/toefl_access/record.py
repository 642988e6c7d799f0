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
from decimal import ROUND_HALF_UP, Decimal
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


class Record(msgspec.Struct, kw_only=True):
    """One score report as received, with typed values.

    ``format`` is ``"text"`` or ``"json"``; ``raw`` is the original line (text) or the
    JSON object's bytes; ``line`` is the 1-based line (text) or array index + 1 (JSON).
    """

    values: dict[str, Any]
    layout: str
    line: int
    raw: bytes
    format: str = "text"
    warnings: list[RecordWarning] = msgspec.field(default_factory=list)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    @property
    def identity(self) -> tuple[Any, ...]:
        """``registration_number, test_date, institution_code, department_code``."""
        v = self.values
        return tuple(v.get(n) for n in IDENTITY)

    @property
    def scales(self) -> tuple[str, ...]:
        """The score scales the record carries: ``("0-120",)``, ``("1-6",)``, both, or none."""
        return scales_of(self.values)

    def same_report(self, other: Record) -> bool:
        """True when both carry the same values, whatever format or line they came from."""
        mine = {k: v for k, v in self.values.items() if v is not None}
        theirs = {k: v for k, v in other.values.items() if v is not None}
        return mine == theirs


def scales_of(values: dict[str, Any]) -> tuple[str, ...]:
    old = any(values.get(n) is not None for n in (*SECTIONS, "total"))
    new = any(values.get(f"ibt26_{n}") is not None for n in (*SECTIONS, "total"))
    return (("0-120",) if old else ()) + (("1-6",) if new else ())


# -- converting wire text to typed values -------------------------------------------------


def to_score(text: str) -> int:
    return int(text)


def to_band(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def to_date(text: str) -> dt.date:
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    return dt.date.fromisoformat(text[:10])


def round_half_up(value: float) -> float:
    """Round to the nearest 0.5, halves up: 5.125 -> 5.0, 5.25 -> 5.5."""
    return float((Decimal(repr(value)) * 2).quantize(Decimal(1), ROUND_HALF_UP) / 2)


def band_total(sections: list[float]) -> float:
    """The 1-6 total of four section bands: their mean to the nearest 0.5, halves up."""
    return round_half_up(sum(sections) / len(sections))


# -- validation ---------------------------------------------------------------------------

_SCORE_RANGES = {
    **dict.fromkeys(SECTIONS, (0, 30)),
    "total": (0, 120),
    **{f"rpdt_{s}": (0, 30) for s in ("listening", "reading", "writing")},
    **{f"mybest_{s}": (0, 30) for s in SECTIONS},
    "mybest_total": (0, 120),
    "ibt26_comparable_total": (0, 120),
}
_BANDS = tuple(f"ibt26_{n}" for n in (*SECTIONS, "total")) + tuple(
    f"mybest26_{n}" for n in (*SECTIONS, "total")
)
_LEVELS = frozenset(("A1", "A2", "B1", "B2", "C1", "C2"))
_CEFR_PAIRS = tuple((f"ibt26_{n}_cefr", f"ibt26_{n}") for n in (*SECTIONS, "total"))


def validate(
    values: dict[str, Any],
    *,
    today: dt.date | None = None,
    date_fields: tuple[str, ...] = (),
    spans: dict[str, tuple[int, int]] | None = None,
) -> list[RecordWarning]:
    """Check the score rules of the spec; return one warning per broken rule.

    ``date_fields`` names the fields to check for dates in the future; ``spans`` gives each
    field's byte range so that warnings can name it.
    """
    out: list[RecordWarning] = []

    def warn(field: str, value: object, message: str) -> None:
        start, end = (spans or {}).get(field, (0, 0))
        out.append(RecordWarning(field=field, value=str(value), message=message, start=start, end=end))

    for name, (low, high) in _SCORE_RANGES.items():
        v = values.get(name)
        if v is not None and not low <= v <= high:
            warn(name, v, f"outside {low}-{high}")
    secs = [values.get(s) for s in SECTIONS]
    total = values.get("total")
    if total is not None and None not in secs and sum(secs) != total:  # type: ignore[arg-type]
        warn("total", total, f"is not the sum of the sections ({sum(secs)})")  # type: ignore[arg-type]
    for name in _BANDS:
        b = values.get(name)
        if b is not None and not (1.0 <= b <= 6.0 and (b * 2).is_integer()):
            warn(name, b, "not a 1-6 band in 0.5 steps")
    bands = [values.get(f"ibt26_{s}") for s in SECTIONS]
    btotal = values.get("ibt26_total")
    if btotal is not None and None not in bands:
        expected = band_total(bands)  # type: ignore[arg-type]
        if expected != btotal:
            warn("ibt26_total", btotal, f"is not the mean of the sections rounded half up ({expected})")
    for cefr_name, band_name in _CEFR_PAIRS:
        level, band = values.get(cefr_name), values.get(band_name)
        if level is None:
            continue
        if level not in _LEVELS:
            warn(cefr_name, level, "not a CEFR level")
        elif band is not None and CEFR_OF_BAND.get(band) not in (None, level):
            warn(cefr_name, level, f"does not match band {band} ({CEFR_OF_BAND[band]})")
    if date_fields:
        today = today or dt.datetime.now(dt.UTC).date()
        for name in date_fields:
            d = values.get(name)
            if d is not None and d > today:
                warn(name, d.isoformat(), "in the future")
    return out
