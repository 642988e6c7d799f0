"""Fixed-length ScoreLink lines <-> :class:`~toefl_access.record.Record`, streaming.

Positions are bytes: each line is sliced as bytes, then every field is decoded on its own
(UTF-8 where valid, otherwise Latin-1, which loses nothing). Lines shorter than the record
are padded with blanks (editors and mail clients trim them); CRLF, a UTF-8 BOM, blank lines
and a last line without a newline are accepted. Memory does not grow with the input.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from operator import itemgetter
from typing import Any

from . import layout as layouts
from .errors import InputError, RecordError
from .layout import Field, Layout
from .record import Record, RecordWarning, to_band, to_date, validate

BOM = b"\xef\xbb\xbf"
DETECT_LINES = 200

_BAD: Any = object()  # a converter's answer for text it cannot convert


def _text(s: str) -> str | None:
    return s.rstrip(" ") or None


def _score(s: str) -> int | None:
    s = s.strip(" ")
    if not s:
        return None
    if s.isascii() and s.isdigit():
        return int(s)
    return _BAD  # type: ignore[no-any-return]


@lru_cache(maxsize=8192)
def _date(s: str) -> dt.date | None:
    if not s.strip(" "):
        return None
    if len(s) != 8 or not (s.isascii() and s.isdigit()):
        return _BAD  # type: ignore[no-any-return]
    try:
        return to_date(s)
    except ValueError:
        return _BAD  # type: ignore[no-any-return]


@lru_cache(maxsize=1024)
def _band(s: str) -> float | None:
    s = s.strip(" ")
    if not s:
        return None
    try:
        return to_band(s) if s.isascii() else _BAD
    except ValueError:
        return _BAD  # type: ignore[no-any-return]


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "code": _text,
    "text": _text,
    "sensitive": _text,
    "cefr": _text,
    "score": _score,
    "date": _date,
    "band": _band,
}


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def format_value(f: Field, value: Any) -> str:
    """The canonical wire text of one typed value (without padding)."""
    if value is None:
        return ""
    if f.kind == "score":
        return f"{int(value):0{f.size}d}"
    if f.kind == "band":
        return f"{float(value):.1f}"
    if f.kind == "date":
        return value.strftime("%Y%m%d") if isinstance(value, dt.date) else str(value)
    return str(value)


class Codec:
    """A layout compiled for fast parsing and rendering of fixed-length lines."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.length = layout.record_length
        data = layout.data_fields
        self.names = tuple(f.name for f in data)
        self._fields = data
        self._slice = itemgetter(*(slice(f.start - 1, f.end) for f in data))
        self._convert = tuple(CONVERTERS[f.kind] for f in data)
        self.spans = {f.name: (f.start, f.end) for f in data}
        self.date_fields = tuple(f.name for f in data if f.kind == "date")

    def decode(self, line: bytes, lineno: int = 1, *, check: bool = True) -> Record:
        """Parse one line (no line ending; shorter lines are padded) into a Record."""
        padded = line + b" " * (self.length - len(line)) if len(line) < self.length else line
        if padded.isascii():
            texts = self._slice(padded.decode("ascii"))
        else:
            texts = tuple(map(_decode, self._slice(padded)))
        if len(self._fields) == 1:
            texts = (texts,)
        values = list(map(_call, self._convert, texts))
        warnings: list[RecordWarning] = []
        if _BAD in values:
            for i, v in enumerate(values):
                if v is _BAD:
                    f = self._fields[i]
                    values[i] = None
                    warnings.append(
                        RecordWarning(
                            field=f.name,
                            value=texts[i],
                            start=f.start,
                            end=f.end,
                            message=f"cannot be read as a {f.kind}",
                        )
                    )
        mapping = dict(zip(self.names, values, strict=True))
        if check:
            warnings += validate(mapping, date_fields=self.date_fields, spans=self.spans)
        return Record(
            values=mapping, layout=self.layout.name, line=lineno, raw=line, warnings=warnings
        )

    def encode(self, record: Record) -> bytes:
        """Render a Record as one fixed-length line (no line ending).

        A field whose value is unchanged from the record's own raw line keeps its original
        bytes (so Latin-1 names and odd spacing survive); every other field is written in
        canonical form: scores zero-padded, bands like ``4.5``, dates ``YYYYMMDD``, text
        left-aligned and padded with blanks.
        """
        own = record.format == "text" and record.layout == self.layout.name and record.raw
        raw = record.raw + b" " * (self.length - len(record.raw)) if own else b""
        out = bytearray()
        for f in self.layout.fields:
            original = raw[f.start - 1 : f.end] if own else b""
            if f.kind == "filler":
                out += original or b" " * f.size
                continue
            value = record.values.get(f.name)
            if original and CONVERTERS[f.kind](_decode(original)) == value:
                out += original
                continue
            data = format_value(f, value).encode("utf-8")
            if len(data) > f.size:
                raise InputError(
                    f"field {f.name} value {value!r} needs {len(data)} bytes but the layout "
                    f"gives it {f.size} (bytes {f.span})",
                    source=self.layout.name,
                    line=record.line,
                )
            out += data + b" " * (f.size - len(data))
        return bytes(out)


def _call(fn: Callable[[str], Any], arg: str) -> Any:
    return fn(arg)


def codec(layout: Layout | str) -> Codec:
    """The compiled codec of a layout (cached for the built-in ones)."""
    if isinstance(layout, str):
        return _builtin_codec(layout)
    if layout.name in layouts.BUILTIN and layout == layouts.builtin(layout.name):
        return _builtin_codec(layout.name)
    return Codec(layout)


@lru_cache(maxsize=None)
def _builtin_codec(name: str) -> Codec:
    return Codec(layouts.builtin(name))


def _lines(stream: Iterable[bytes], source: str) -> Iterator[tuple[int, bytes]]:
    """Number the lines, dropping line endings, a BOM and blank lines."""
    for lineno, line in enumerate(stream, start=1):
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if lineno == 1 and line.startswith(BOM):
            line = line[3:]
        if b"\x00" in line:
            raise InputError(
                "this looks like a binary file (it contains NUL bytes), not ScoreLink records",
                source=source,
                line=lineno,
            )
        if not line.strip():
            continue
        yield lineno, line


def detect_layout(lengths: Iterable[int]) -> str:
    """The legacy layout when every record is exactly 900 bytes, else the current one."""
    seen = list(lengths)
    legacy = layouts.builtin(layouts.LEGACY).record_length
    if seen and all(n == legacy for n in seen):
        return layouts.LEGACY
    return layouts.CURRENT


def parse_lines(
    stream: Iterable[bytes],
    *,
    layout: Layout | str | None = None,
    source: str = "<input>",
    strict: bool = False,
    check: bool = True,
    pad: bool = True,
) -> Iterator[Record]:
    """Parse fixed-length records from an iterable of byte lines (e.g. a binary file).

    ``layout`` is a Layout, a built-in name, or None to detect it from the first lines.
    ``strict`` raises :class:`RecordError` on the first warning; ``pad=False`` refuses
    short lines (for API answers, where a short line means a cut body).
    """
    lines = _lines(stream, source)
    if layout is None:
        head = list(itertools.islice(lines, DETECT_LINES))
        layout = detect_layout(len(line) for _, line in head)
        lines = itertools.chain(head, lines)
    c = codec(layout)
    length = c.length
    for lineno, line in lines:
        n = len(line)
        if n > length:
            raise InputError(
                f"the line is {n} bytes, longer than the {length}-byte {c.layout.name} layout; "
                "check the file, or pass --layout",
                source=source,
                line=lineno,
            )
        if n < length and not pad:
            raise InputError(
                f"the record is {n} bytes, shorter than the {length}-byte layout",
                source=source,
                line=lineno,
            )
        record = c.decode(line, lineno, check=check)
        if strict and record.warnings:
            w = record.warnings[0]
            raise RecordError(
                w.message,
                source=source,
                line=lineno,
                field=w.field,
                start=w.start,
                end=w.end,
                value=w.value,
            )
        yield record


def render(record: Record, layout: Layout | str | None = None) -> bytes:
    """One record as a fixed-length line (without line ending), in its own or ``layout``."""
    return codec(layout or _layout_of(record)).encode(record)


def _layout_of(record: Record) -> str:
    return record.layout if record.layout in layouts.BUILTIN else layouts.CURRENT
