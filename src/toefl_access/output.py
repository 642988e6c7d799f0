"""Writing records out: JSON Lines, CSV, a JSON array, or fixed-length text.

The JSON Lines contract (other parts of the project and its users rely on it): one object a
record; the canonical name of every non-filler field in layout order, then ``_layout``,
``_line`` and ``_warnings`` (a list), and ``_extra`` when a JSON record had unknown keys.
Dates are ``YYYY-MM-DD``, a blank field is ``null``.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import IO, Any

import msgspec

from . import layout as layouts
from .layout import Layout
from .record import Record
from .textformat import codec

OUTPUTS = ("jsonl", "csv", "json", "text")
_encoder = msgspec.json.Encoder()


def to_row(record: Record) -> dict[str, Any]:
    """The JSON Lines object of one record."""
    row = dict(record.values)
    row["_layout"] = record.layout
    row["_line"] = record.line
    row["_warnings"] = record.warnings
    if record.extra:
        row["_extra"] = record.extra
    return row


def write_jsonl(records: Iterable[Record], out: IO[bytes]) -> int:
    count = 0
    buf = bytearray()
    for record in records:
        _encoder.encode_into(to_row(record), buf, -1)
        buf += b"\n"
        count += 1
        if len(buf) > 1 << 16:
            out.write(buf)
            buf.clear()
    out.write(buf)
    return count


def write_json(records: Iterable[Record], out: IO[bytes]) -> int:
    """A JSON array, written as it goes (constant memory)."""
    count = 0
    out.write(b"[")
    for record in records:
        out.write(b",\n" if count else b"\n")
        out.write(_encoder.encode(to_row(record)))
        count += 1
    out.write(b"\n]\n" if count else b"]\n")
    return count


_TEXTUAL = frozenset(("code", "text", "sensitive", "cefr"))
_NONE_IS_EMPTY: dict[Any, str] = {None: ""}


def _excel_text(value: str) -> str:
    return f'="{value}"'


def _slow_row(record: Record, protect: tuple[int, ...]) -> list[Any]:
    """One CSV row for the csv module: any layout, any cell."""
    row: list[Any] = list(record.values.values())  # csv writes None as "", a date ISO
    for i in protect:
        value = row[i]
        if isinstance(value, str) and value.isdigit():
            row[i] = _excel_text(value)
    return [*row, record.layout, record.line, _describe(record)]


def _describe(record: Record) -> str:
    return "; ".join(w.describe() for w in record.warnings) if record.warnings else ""


class _Cells(dict[Any, str]):
    """Typed value -> CSV text for one kind of column (bounded: cleared when full)."""

    __slots__ = ("text",)
    LIMIT = 1 << 15

    def __init__(self, text: Callable[[Any], str]) -> None:
        super().__init__({None: ""})
        self.text = text

    def __missing__(self, value: Any) -> str:
        cell = self.text(value)
        if len(self) >= self.LIMIT:
            self.clear()
            self[None] = ""
        self[value] = cell
        return cell


class _CsvLines:
    """CSV lines for the records of one layout, without the csv module when it may.

    Typed values become text through per-kind caches (scores, bands and dates repeat), the
    cells are joined, and a line whose cells hold a comma, a quote or a line break (which
    need CSV quoting) is left to the csv module instead. Both write the same bytes.
    """

    def __init__(self, names: tuple[str, ...], layout: Layout, *, excel: bool) -> None:
        kinds = {f.name: f.kind for f in layout.fields}
        groups: dict[str, list[str]] = {}
        for n in names:
            kind = kinds.get(n, "text")
            groups.setdefault("text" if kind in _TEXTUAL else kind, []).append(n)
        text: dict[str, Callable[[Any], str]] = {"score": str, "band": repr, "date": str}
        self.groups = tuple(
            (tuple(group), itemgetter(*group), _Cells(text[kind]) if kind in text else None)
            for kind, group in groups.items()
            if len(group) > 1  # (itemgetter of one name gives a value, not a tuple)
        )
        single = [g[0] for g in groups.values() if len(g) == 1]
        self.singles = tuple((n, _Cells(text.get(kinds.get(n, "text"), str))) for n in single)
        textual = tuple(n for n in names if kinds.get(n, "text") in _TEXTUAL) if excel else ()
        self.protect = textual
        self.pick_protected = itemgetter(*textual) if len(textual) > 1 else None
        self.commas = len(names) + 2

    def line(self, record: Record) -> str | None:
        """The record's CSV line, or None when a cell needs quoting."""
        values = record.values
        cells = values.copy()
        for names, pick, cache in self.groups:
            got = pick(values)
            if cache is None:
                cells.update(zip(names, map(_NONE_IS_EMPTY.get, got, got), strict=True))
            else:
                cells.update(zip(names, map(cache.__getitem__, got), strict=True))
        for name, cache in self.singles:
            value = values[name]
            cells[name] = value if isinstance(value, str) else cache[value]
        quoted = 0
        if self.pick_protected is not None:
            digits = map(str.isdigit, self.pick_protected(cells))
            for name in itertools.compress(self.protect, digits):
                cells[name] = f'"=""{cells[name]}"""'  # ="0123", as the csv module quotes it
                quoted += 1
        line = ",".join(
            (*cells.values(), record.layout, str(record.line), _describe(record))
        )
        if (line.count('"') != 6 * quoted or line.count(",") != self.commas
                or "\n" in line or "\r" in line):
            return None
        return line


def _protected(names: tuple[str, ...], layout: Layout | None) -> tuple[int, ...]:
    """The columns whose digit-only values Excel would turn into numbers."""
    if layout is None:  # unknown layout: every column may hold a string
        return tuple(range(len(names)))
    kinds = {f.name: f.kind for f in layout.fields}
    return tuple(i for i, n in enumerate(names) if kinds.get(n, "text") in _TEXTUAL)


def write_csv(
    records: Iterable[Record], out: IO[str], *, excel: bool = True, layout: Layout | None = None
) -> int:
    """CSV with a header of canonical names, then ``_layout``, ``_line``, ``_warnings``.

    Dates are ``YYYY-MM-DD`` and a blank field is an empty cell. ``excel=True`` (the
    default) makes the file open in Excel without damage: the caller writes it as UTF-8
    with a BOM, and text made only of digits (codes, registration numbers) is written as
    ``="0123"`` so that Excel keeps leading zeros and all 16 digits. ``layout`` (default:
    the records' built-in layout) says which columns hold text.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    count = 0
    protect: tuple[int, ...] = ()
    fast: _CsvLines | None = None
    batch: list[str] = []
    for record in records:
        if not count:
            names = tuple(record.values)
            lay = layout or (
                layouts.builtin(record.layout) if record.layout in layouts.BUILTIN else None
            )
            protect = _protected(names, lay) if excel else ()
            fast = _CsvLines(names, lay, excel=excel) if lay else None
            writer.writerow([*names, "_layout", "_line", "_warnings"])
        count += 1
        line = fast.line(record) if fast else None
        if line is not None:
            batch.append(line)
            if len(batch) < 512:
                continue
        if batch:
            batch.append("")
            out.write("\r\n".join(batch))
            batch.clear()
        if line is None:
            writer.writerow(_slow_row(record, protect))
    if batch:
        batch.append("")
        out.write("\r\n".join(batch))
    return count


def write_text(
    records: Iterable[Record], out: IO[bytes], *, layout: Layout | None = None
) -> int:
    """Fixed-length lines, ``\\n``-terminated, in ``layout`` or each record's own layout."""
    count = 0
    own = codec(layout) if layout else None
    for record in records:
        c = own or codec(record.layout if record.layout in layouts.BUILTIN else layouts.CURRENT)
        out.write(c.encode(record))
        out.write(b"\n")
        count += 1
    return count
