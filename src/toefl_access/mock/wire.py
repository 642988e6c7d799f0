"""The mock's two wire formats: fast encoders equal to the package's own renderers.

:func:`text_line` is byte for byte ``textformat.render(record)`` and :func:`json_object` is
byte for byte ``msgspec.json.encode(jsonformat.to_object(record))`` for the records the
population builds (every canonical value in layout order, no raw bytes, no extras); the tests check
both on every kind of record. They exist because the general renderers handle any record (its
own raw bytes, any layout) and are several times slower, which a mock streaming 100,000
records notices. Anything else goes through the general renderers.
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
from typing import Any

import msgspec

from .. import layout as layouts
from ..jsonformat import to_object
from ..record import Record
from ..textformat import render

LAYOUT = layouts.builtin(layouts.CURRENT)
_NAMES = LAYOUT.names
_SIZES = tuple(f.size for f in LAYOUT.data_fields)
_KNOWN = frozenset(_NAMES)
#: The whole line as one struct: data fields are byte strings (padded with NUL), fillers are
#: pad bytes (NUL); every NUL then becomes a blank. Generated values never contain NUL.
_LINE = struct.Struct(
    "".join(f"{f.size}x" if f.kind == "filler" else f"{f.size}s" for f in LAYOUT.fields)
)
_values = operator.itemgetter(*_NAMES)
_encode = msgspec.json.Encoder().encode


def _fast(record: Record) -> bool:
    return record.layout == LAYOUT.name and not record.raw and not record.extra


def _wire(value: Any, size: int) -> bytes:
    """The wire bytes of a value that is not a string: score, band or date."""
    if isinstance(value, int):
        return b"%0*d" % (size, value)
    if isinstance(value, float):
        return b"%.1f" % value
    if isinstance(value, dt.date):
        return b"%04d%02d%02d" % (value.year, value.month, value.day)
    return str(value).encode("utf-8")


def text_line(record: Record) -> bytes:
    """One fixed-length line (without its newline), as ``textformat.render`` writes it.

    Only for values that fit their fields (as the population's do): use ``render`` for others.
    """
    if not _fast(record) or not _KNOWN.issuperset(record.values):
        return render(record)
    try:
        values = _values(record.values)
    except KeyError:
        return render(record)
    # Values longer than their field would be cut short by pack (render raises instead); the
    # population's values all fit by construction, which test_mock_population checks.
    parts = [
        b"" if v is None else v.encode("utf-8") if v.__class__ is str else _wire(v, size)
        for v, size in zip(values, _SIZES, strict=True)
    ]
    return _LINE.pack(*parts).replace(b"\0", b" ")


def json_object(record: Record) -> bytes:
    """One record as the encoded JSON object ``jsonformat.to_object`` describes."""
    if not _fast(record) or tuple(record.values) != _NAMES:
        return _encode(to_object(record))
    return _encode({k: v for k, v in record.values.items() if v is not None})
