"""Writing records out: JSON Lines, CSV, a JSON array, or fixed-length text.

The JSON Lines contract (other parts of the project and its users rely on it): one object a
record; the canonical name of every non-filler field in layout order, then ``_layout``,
``_line`` and ``_warnings`` (a list), and ``_extra`` when a JSON record had unknown keys.
Dates are ``YYYY-MM-DD``, a blank field is ``null``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from typing import IO, Any

import msgspec

from . import layout as layouts
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


def _excel_cell(kinds: tuple[str, ...]) -> list[Any]:
    return [k in ("code", "sensitive") for k in kinds]


def write_csv(records: Iterable[Record], out: IO[str], *, excel: bool = True) -> int:
    """CSV with a header of canonical names.

    ``excel=True`` (the default) makes the file open in Excel without damage: the caller
    writes it as UTF-8 with a BOM, and codes made only of digits are written as ``="0123"``
    so that Excel keeps their leading zeros and all 16 digits of a registration number.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    count = 0
    names: tuple[str, ...] = ()
    textual: list[Any] = []
    for record in records:
        if not count:
            lay = layouts.builtin(record.layout) if record.layout in layouts.BUILTIN else None
            names = tuple(record.values)
            kinds = tuple(
                lay.field(n).kind if lay and lay.has(n) else "text" for n in names
            )
            textual = _excel_cell(kinds) if excel else [False] * len(names)
            writer.writerow([*names, "_layout", "_line", "_warnings"])
        row: list[Any] = []
        for protect, value in zip(textual, record.values.values(), strict=False):
            if value is None:
                row.append("")
            elif protect and value.isdigit():
                row.append(f'="{value}"')
            elif isinstance(value, dt.date):
                row.append(value.isoformat())
            else:
                row.append(value)
        row += [record.layout, record.line, "; ".join(w.describe() for w in record.warnings)]
        writer.writerow(row)
        count += 1
    return count


def write_text(records: Iterable[Record], out: IO[bytes]) -> int:
    """Fixed-length lines, each in the record's own layout, ``\\n``-terminated."""
    count = 0
    for record in records:
        out.write(codec(record.layout if record.layout in layouts.BUILTIN else layouts.CURRENT).encode(record))
        out.write(b"\n")
        count += 1
    return count
