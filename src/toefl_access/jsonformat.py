"""JSON score records <-> :class:`~toefl_access.record.Record`, streaming.

The API's JSON answer is ``{"data": [...]}`` (a bare array is accepted too). The vendor has
not published its field names, so keys are matched to canonical names ignoring case, spaces,
dashes and underscores, and the layout labels are accepted as well:
``RegistrationNumber``, ``registration_number`` and ``Registration or Appointment Number``
all become ``registration_number``. Unknown keys are kept in ``Record.extra``; numbers may
arrive as strings. The array is read item by item, so a large answer never sits in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import IO, Any

import ijson
import msgspec

from . import layout as layouts
from .errors import InputError, RecordError
from .layout import Layout
from .record import Record, RecordWarning, to_band, to_date, validate
from .textformat import codec

_encoder = msgspec.json.Encoder()


def normalize_key(key: str) -> str:
    """``Registration-Number`` -> ``registrationnumber``: the form keys are matched in."""
    return re.sub(r"[^0-9a-z]", "", key.lower())


@cache
def aliases() -> dict[str, str]:
    """Every accepted spelling of every canonical name, normalized."""
    table: dict[str, str] = {}
    for name in (layouts.LEGACY, layouts.CURRENT):
        for f in layouts.builtin(name).data_fields:
            table[normalize_key(f.name)] = f.name
            table[normalize_key(f.label)] = f.name
            table[normalize_key(re.sub(r"\(.*?\)", "", f.label))] = f.name
    return table


def _convert(kind: str, value: Any) -> Any:
    """A JSON value as the typed value of ``kind``; raises ValueError when it cannot be."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == "score":
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            return int(text)
        raise ValueError(value)
    if kind == "band":
        if isinstance(value, bool):
            raise ValueError(value)
        return to_band(str(value).strip())
    if kind == "date":
        return to_date(str(value))
    if isinstance(value, dict | list):
        raise ValueError(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).rstrip(" ")


def record_from_object(
    obj: Any, index: int, *, layout: Layout, check: bool = True
) -> Record:
    """Map one JSON object onto the canonical fields of ``layout``."""
    if not isinstance(obj, dict):
        raise InputError(
            f"record {index} is a JSON {type(obj).__name__}, not an object", line=index
        )
    fields = {f.name: f for f in layout.data_fields}
    table = aliases()
    values: dict[str, Any] = dict.fromkeys(fields)
    extra: dict[str, Any] = {}
    warnings: list[RecordWarning] = []
    for key, value in obj.items():
        name = table.get(normalize_key(key)) or normalize_key(key)
        f = fields.get(name)
        if f is None:
            extra[key] = value
            continue
        try:
            values[name] = _convert(f.kind, value)
        except (ValueError, TypeError):
            warnings.append(
                RecordWarning(field=name, value=str(value), message=f"cannot be read as a {f.kind}")
            )
    if check:
        c = codec(layout)
        warnings += validate(values, date_fields=c.date_fields)
    return Record(
        values=values,
        layout=layout.name,
        line=index,
        raw=_encoder.encode(obj),
        format="json",
        warnings=warnings,
        extra=extra,
    )


def _first_byte(stream: IO[bytes]) -> bytes:
    """Peek the first non-blank byte of a buffered stream without consuming it."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        return b""
    head = peek(4096)[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


def iter_objects(stream: IO[bytes], *, source: str = "<input>") -> Iterator[Any]:
    """The record objects of a JSON answer, one at a time."""
    prefix = "item" if _first_byte(stream) == b"[" else "data.item"
    try:
        yield from ijson.items(stream, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise InputError(f"invalid JSON: {exc}", source=source) from None


def parse_json(
    stream: IO[bytes] | Iterable[Any],
    *,
    layout: Layout | str | None = None,
    source: str = "<input>",
    strict: bool = False,
    check: bool = True,
) -> Iterator[Record]:
    """Parse JSON score records from a binary stream (or an iterable of decoded objects)."""
    lay = layouts.builtin(layout) if isinstance(layout, str) else layout
    lay = lay or layouts.builtin(layouts.CURRENT)
    objects = iter_objects(stream, source=source) if hasattr(stream, "read") else iter(stream)  # type: ignore[arg-type]
    for index, obj in enumerate(objects, start=1):
        try:
            record = record_from_object(obj, index, layout=lay, check=check)
        except InputError as exc:
            raise InputError(exc.message, source=source, line=index) from None
        if strict and record.warnings:
            w = record.warnings[0]
            raise RecordError(w.message, source=source, line=index, field=w.field, value=w.value)
        yield record


def to_object(record: Record, *, layout: Layout | None = None) -> dict[str, Any]:
    """A record as the JSON object the API would send (canonical names, wire values)."""
    lay = layout or layouts.builtin(
        record.layout if record.layout in layouts.BUILTIN else layouts.CURRENT
    )
    out: dict[str, Any] = {}
    for f in lay.data_fields:
        v = record.values.get(f.name)
        if v is None:
            continue
        out[f.name] = v.isoformat() if f.kind == "date" else v
    out.update(record.extra)
    return out
