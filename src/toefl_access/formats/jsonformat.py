"""JSON score records <-> :class:`~toefl_access.formats.record.Record`, streaming.

The API's JSON answer is ``{"data": [...]}`` (a bare array is accepted too). The vendor has
not published its field names, so keys are matched to canonical names ignoring case, spaces,
dashes and underscores, and the layout labels are accepted as well:
``RegistrationNumber``, ``registration_number`` and ``Registration or Appointment Number``
all become ``registration_number``. Unknown keys are kept in ``Record.extra``; numbers may
arrive as strings. The array is read item by item, so a large answer never sits in memory.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import IO, Any

import ijson
import msgspec

from ..errors import InputError, RecordError
from . import layout as layouts
from .layout import Field, Layout
from .record import Record, RecordWarning, Rules, to_band, to_date

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


def key_map(layout: Layout) -> dict[str, str]:
    """Normalized key -> canonical name, for the fields of ``layout``.

    The layout's own names and labels come first; the spellings of the built-in layouts
    (:func:`aliases`) fill in the rest, so a custom layout keeps the usual keys working.
    """
    table = {k: v for k, v in aliases().items() if layout.has(v)}
    for f in layout.data_fields:
        table[normalize_key(f.label)] = f.name
        table[normalize_key(re.sub(r"\(.*?\)", "", f.label))] = f.name
    for f in layout.data_fields:
        table[normalize_key(f.name)] = f.name
    table.pop("", None)
    return table


class _Reader:
    """What reading JSON records in one layout needs, computed once."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.fields = {f.name: f for f in layout.data_fields}
        self.keys = key_map(layout)
        self.rules = Rules(
            self.fields, date_fields=tuple(f.name for f in layout.data_fields if f.kind == "date"),
            kinds={f.name: f.kind for f in layout.data_fields},
        )
        self._field_of: dict[str, Field | None] = {}  # by key as received: keys repeat

    def field_of(self, key: str) -> Field | None:
        try:
            return self._field_of[key]
        except KeyError:
            name = self.keys.get(normalize_key(key))
            f = self._field_of[key] = self.fields.get(name) if name else None
            if len(self._field_of) > 4096:  # keys that never repeat: keep memory bounded
                self._field_of.clear()
            return f

    def record(self, obj: Any, index: int, *, check: bool = True) -> Record:
        if not isinstance(obj, dict):
            raise InputError(f"record {index} is a JSON {type(obj).__name__}, not an object")
        values: dict[str, Any] = dict.fromkeys(self.fields)
        extra: dict[str, Any] = {}
        warnings: list[RecordWarning] = []
        for key, value in obj.items():
            f = self.field_of(key)
            if f is None:
                extra[key] = value
                continue
            try:
                values[f.name] = _convert(f.kind, value)
            except (ValueError, TypeError):
                warnings.append(
                    RecordWarning(
                        field=f.name, value=str(value), message=f"cannot be read as a {f.kind}"
                    )
                )
        if check:
            warnings += self.rules.check(values)
        return Record(
            values=values,
            layout=self.layout.name,
            line=index,
            raw=_encoder.encode(obj),
            format="json",
            warnings=warnings,
            extra=extra,
        )


def record_from_object(obj: Any, index: int, *, layout: Layout, check: bool = True) -> Record:
    """Map one JSON object onto the canonical fields of ``layout``.

    Keys are matched ignoring case, spaces, dashes and underscores, and the layout labels
    are accepted too; unknown keys go to ``Record.extra``. A value that cannot be
    converted leaves its field None and adds a warning.
    """
    return _Reader(layout).record(obj, index, check=check)


def _first_byte(stream: IO[bytes]) -> bytes:
    """Peek the first non-blank byte of a buffered stream without consuming it."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        return b""
    head: bytes = peek(4096)[:4096]
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def iter_objects(stream: IO[bytes], *, source: str = "<input>") -> Iterator[Any]:
    """The record objects of a JSON answer, one at a time.

    Raises :class:`InputError` for invalid JSON (naming the line when the input can be
    read again, as a file can) and for an object that has no ``data`` array.
    """
    bare = _first_byte(stream) == b"["
    if getattr(stream, "peek", lambda n: b"")(3)[:3] == b"\xef\xbb\xbf":
        stream.read(3)  # a UTF-8 BOM, which the JSON parser refuses
    count = 0
    try:
        for obj in ijson.items(stream, "item" if bare else "data.item", use_float=True):
            count += 1
            yield obj
    except ijson.JSONError as exc:
        raise InputError(_json_problem(exc), source=source,
                         line=_json_error_line(stream)) from None
    if not count and not bare:
        problem = _missing_data(stream)
        if problem:
            raise InputError(problem, source=source)


def _json_problem(exc: Exception) -> str:
    """One sentence from ijson's error (its C backend adds a multi-line excerpt)."""
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().splitlines()[0].rstrip(".") if str(text).strip() else ""
    if "incomplete" in first.lower() or "premature eof" in first.lower():
        return "invalid JSON: it ends before the document is complete (a cut download?)"
    return f"invalid JSON ({first or type(exc).__name__}); check the file or the answer"


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError, OSError):
        return False


def _json_error_line(stream: IO[bytes]) -> int | None:
    """The line of a JSON syntax error, found again with ijson's pure-Python parser.

    Only for inputs that can be read again (files, bytes): the fast parser does not say
    where it stopped. The input is read in chunks, so memory stays constant.
    """
    if not _seekable(stream):
        return None
    from ijson.backends import python as slow  # the error path only

    text = None
    try:
        stream.seek(0)
        start = 3 if stream.read(3) == b"\xef\xbb\xbf" else 0
        stream.seek(start)
        try:
            for _ in slow.basic_parse(stream):
                pass
            return None
        except ijson.JSONError as exc:
            found = re.search(r" at (\d+)$", str(exc))
            # no position: the document is incomplete, and the error is at its end
            offset = int(found.group(1)) if found else 1 << 62
        stream.seek(start)  # the offset counts characters: count lines in decoded text
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
        line, read = 1, 0
        while read < offset:
            chunk = text.read(min(1 << 16, offset - read))
            if not chunk:
                break
            line += chunk.count("\n")
            read += len(chunk)
        return line
    except (OSError, ValueError):
        return None
    finally:
        if text is not None:
            text.detach()  # leave the caller's stream open


def _missing_data(stream: IO[bytes]) -> str:
    """Why an object gave no records: it has no ``data`` array (checked when re-readable)."""
    if not _seekable(stream):
        return ""
    stream.seek(0)
    keys: list[str] = []
    events = ijson.parse(stream)
    for prefix, event, value in events:
        if prefix == "" and event == "map_key":
            if value == "data":
                _, kind, _ = next(events)
                return "" if kind == "start_array" else (
                    'the JSON object\'s "data" is not an array of score records'
                )
            keys.append(value)
    found = ", ".join(keys[:8]) or "none"
    return (
        'the JSON object has no "data" array of score records '
        f"(its keys: {found}); is this an error answer rather than scores?"
    )


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
    reader = _Reader(lay)
    for index, obj in enumerate(objects, start=1):
        try:
            record = reader.record(obj, index, check=check)
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
