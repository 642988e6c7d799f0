"""Fixed-length ScoreLink lines <-> :class:`~toefl_access.formats.record.Record`, streaming.

Positions are bytes: each line is sliced as bytes, then every field is decoded on its own
(UTF-8 where valid, otherwise Latin-1, which loses nothing). Lines shorter than the record
are padded with blanks (editors and mail clients trim them); CRLF, a UTF-8 BOM, blank lines
and a last line without a newline are accepted. Memory does not grow with the input.

:meth:`Codec.decode_batch` decodes many lines at once into Arrow columns (:mod:`.batch`);
:mod:`.textread` reads files and streams with it. :meth:`Codec.decode` reads one line field
by field and is the careful path that the batch decoder defers to (and is tested against).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from . import layout as layouts
from .layout import Field, Layout
from .record import Record, RecordWarning, Rules, to_band, to_date

log = logging.getLogger("toefl_access.parse")

if TYPE_CHECKING:
    from .batch import Batch
    from .decoder import Decoder

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


def _date(s: str) -> dt.date | None:
    if not s.strip(" "):
        return None
    if len(s) != 8 or not (s.isascii() and s.isdigit()):
        return _BAD  # type: ignore[no-any-return]
    try:
        return to_date(s)
    except ValueError:
        return _BAD  # type: ignore[no-any-return]


def _band(s: str) -> float | None:
    s = s.strip(" ")
    if not s:
        return None
    try:
        return to_band(s)
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


class _Unreadable(Exception):
    """A field's bytes cannot be converted: the record takes the careful path."""


class _Cache(dict[bytes, Any]):
    """A field's wire bytes (padding included) -> its typed value, for one converter.

    ScoreLink fields repeat a lot (blanks, codes, scores, dates), so most fields of most
    records cost one dictionary lookup. The cache is bounded (cleared when full), and a
    conversion failure is never cached: it raises :class:`_Unreadable`.
    """

    __slots__ = ("convert",)
    LIMIT = 1 << 15

    def __init__(self, convert: Callable[[str], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, raw: bytes) -> Any:
        value = self.convert(_decode(raw))
        if value is _BAD:
            raise _Unreadable
        if len(self) >= self.LIMIT:
            self.clear()
        self[raw] = value
        return value


_LONG_TEXT = 10  # bytes: text fields this long are decoded by _texts, not cached
_SPACE = itertools.repeat(b" ")


def _texts(names: tuple[str, ...], parts: tuple[bytes, ...]) -> Iterator[tuple[str, str]]:
    """``(name, text)`` for the fields that are not blank, trailing blanks removed."""
    joined = b"\x00".join(map(bytes.rstrip, parts, _SPACE))  # (decode refuses NUL lines)
    try:
        texts = joined.decode("utf-8").split("\x00")
    except UnicodeDecodeError:  # some field is not UTF-8: Latin-1 for that field alone
        texts = joined.decode("latin-1").split("\x00")
        texts = [t if t.isascii() else _redecode(t) for t in texts]
    return itertools.compress(zip(names, texts, strict=True), texts)


def _redecode(latin1: str) -> str:
    """A field read as Latin-1, read again as UTF-8 when its bytes are valid UTF-8."""
    try:
        return latin1.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return latin1


def _unpacker(fields: Iterable[Field]) -> Callable[[bytes], tuple[bytes, ...]]:
    """A struct that cuts the given fields (in layout order) out of a line."""
    fmt, pos = "", 0
    for f in fields:
        fmt += f"{f.start - 1 - pos}x{f.size}s"
        pos = f.end
    return struct.Struct(fmt).unpack_from


# How a Codec reads a record: for each group of fields, (cut them out of the line, convert
# one field's bytes, or None for "decode the group with _texts", their names).
_Plan = tuple[
    tuple[Callable[[bytes], tuple[bytes, ...]], Callable[[bytes], Any] | None, tuple[str, ...]],
    ...,
]


class Codec:
    """A layout compiled for fast parsing and rendering of fixed-length lines.

    Decoding cuts a line into groups of fields that are converted alike (one ``struct``
    call a group). Short fields (codes, scores, dates, bands) repeat a lot and go through
    a cache of their bytes; long text fields (names, addresses, IDs) are mostly unique and
    are decoded together by :func:`_texts`. Anything unusual (a value that cannot be
    converted, a NUL byte) sends the line to :meth:`_careful`, which reads field by field.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.length = layout.record_length
        data = layout.data_fields
        self.names = tuple(f.name for f in data)
        self._fields = data
        self._convert = tuple(CONVERTERS[f.kind] for f in data)
        self.spans = {f.name: (f.start, f.end) for f in data}
        self.date_fields = tuple(f.name for f in data if f.kind == "date")
        self._template: dict[str, Any] = dict.fromkeys(self.names)
        self._rules = Rules(self.names, date_fields=self.date_fields,
                            kinds={f.name: f.kind for f in data})

    @cached_property
    def _plan(self) -> _Plan:
        caches = {fn: _Cache(fn) for fn in set(self._convert)}
        groups: dict[Callable[[str], Any] | None, list[Field]] = {}
        for f, convert in zip(self._fields, self._convert, strict=True):
            long_text = convert is _text and f.size >= _LONG_TEXT
            groups.setdefault(None if long_text else convert, []).append(f)
        return tuple(
            (
                _unpacker(group),
                caches[fn].__getitem__ if fn else None,
                tuple(f.name for f in group),
            )
            for fn, group in groups.items()
        )

    def decode(
        self, line: bytes, lineno: int = 1, *, check: bool = True, today: dt.date | None = None
    ) -> Record:
        """Parse one line (no line ending; shorter lines are padded) into a Record.

        ``check`` validates it (dates after ``today``, default today in UTC, are future).
        """
        n = len(line)
        padded = line + b" " * (self.length - n) if n < self.length else line
        values = self._template.copy()
        warnings: list[RecordWarning] = []
        try:
            if b"\x00" in padded:
                raise _Unreadable
            for unpack, get, names in self._plan:
                if get is not None:
                    values.update(zip(names, map(get, unpack(padded)), strict=True))
                else:
                    values.update(_texts(names, unpack(padded)))
        except _Unreadable:
            values, warnings = self._careful(padded)
        if check:
            broken = self._rules.check(values, today=today, spans=self.spans)
            if broken:
                warnings += broken
        return Record(
            values=values, layout=self.layout.name, line=lineno, raw=line, warnings=warnings
        )

    def decode_many(
        self,
        lines: Sequence[bytes],
        numbers: Sequence[int],
        *,
        check: bool = True,
        today: dt.date | None = None,
    ) -> list[Record]:
        """The records of many lines at once: views on :meth:`decode_batch`'s batch.

        Gives the same records as ``decode`` line by line, faster.
        """
        return self.decode_batch(lines, numbers, check=check, today=today).records()

    def decode_batch(
        self,
        lines: Sequence[bytes],
        numbers: Sequence[int],
        *,
        check: bool = True,
        today: dt.date | None = None,
    ) -> Batch:
        """Many lines (none longer than the record) as one Arrow batch (see :mod:`.batch`).

        ``numbers`` are their line numbers; ``check`` and ``today`` as ``decode``.
        """
        return self._decoder.decode(lines, numbers, check=check, today=today)

    def decode_rows(
        self,
        rows: Any,
        numbers: Sequence[int],
        *,
        check: bool = True,
        today: dt.date | None = None,
    ) -> Batch:
        """The batch of whole lines given as the rows of a byte matrix (see
        :meth:`Decoder.decode_matrix <toefl_access.formats.batch.Decoder.decode_matrix>`)."""
        return self._decoder.decode_matrix(rows, numbers, check=check, today=today)

    @cached_property
    def _decoder(self) -> Decoder:
        from .decoder import Decoder  # pyarrow, imported on first use: commands start faster

        return Decoder(self)

    def _careful(self, padded: bytes) -> tuple[dict[str, Any], list[RecordWarning]]:
        """Field by field, turning what cannot be converted into None and a warning."""
        values: dict[str, Any] = {}
        warnings: list[RecordWarning] = []
        for f, convert in zip(self._fields, self._convert, strict=True):
            text = _decode(padded[f.start - 1 : f.end])
            value = convert(text)
            if value is _BAD:
                value = None
                warnings.append(
                    RecordWarning(
                        field=f.name,
                        value=text.rstrip(" "),
                        start=f.start,
                        end=f.end,
                        message=f"cannot be read as a {f.kind}",
                    )
                )
            values[f.name] = value
        return values, warnings

    def encode(self, record: Record) -> bytes:
        """Render a Record as one fixed-length line (no line ending).

        A field whose value is unchanged from the record's own raw line keeps its original
        bytes (so Latin-1 names, odd spacing and unreadable values survive); every other
        field is written in canonical form: scores zero-padded, bands like ``4.5``, dates
        ``YYYYMMDD``, text in UTF-8, left-aligned and padded with blanks.
        """
        own = (
            record.format == "text"
            and record.layout == self.layout.name
            and 0 < len(record.raw) <= self.length
        )
        raw = record.raw + b" " * (self.length - len(record.raw)) if own else b""
        if own and self.decode(record.raw, check=False).values == record.values:
            return raw  # nothing changed: the line as received (padded)
        out = bytearray()
        for f in self.layout.fields:
            original = raw[f.start - 1 : f.end] if own else b""
            if f.kind == "filler":
                out += original or b" " * f.size
                continue
            value = record.values.get(f.name)
            if original:
                was = CONVERTERS[f.kind](_decode(original))
                if was == value or (was is _BAD and value is None):
                    out += original
                    continue
            data = format_value(f, value).encode("utf-8")
            if len(data) > f.size or b"\n" in data or b"\r" in data:
                problem = "a line break" if len(data) <= f.size else f"{len(data)} bytes"
                raise InputError(
                    f"field {f.name} value {value!r} cannot be written: it has {problem}, "
                    f"and the layout gives it {f.size} bytes ({f.span}) on one line",
                    source=self.layout.name,
                    line=record.line,
                )
            out += data + b" " * (f.size - len(data))
        return bytes(out)


def codec(layout: Layout | str) -> Codec:
    """The compiled codec of a layout (cached for the built-in ones)."""
    if isinstance(layout, str):
        return _builtin_codec(layouts.builtin(layout).name)  # an alias gives the same codec
    if layout.name in layouts.BUILTIN and layout == layouts.builtin(layout.name):
        return _builtin_codec(layout.name)
    return Codec(layout)


@cache
def _builtin_codec(name: str) -> Codec:
    return Codec(layouts.builtin(name))


def detect_layout(lengths: Iterable[int]) -> str:
    """The legacy layout when every record is exactly 900 bytes, else the current one."""
    seen = list(lengths)
    legacy = layouts.builtin(layouts.LEGACY).record_length
    if seen and all(n == legacy for n in seen):
        return layouts.LEGACY
    return layouts.CURRENT


def guess_layout(lines: Sequence[bytes]) -> tuple[str, bool]:
    """The built-in layout of these (first) lines, and whether it is a guess.

    Exact lengths decide first (:func:`detect_layout`). Lines that lost their trailing
    blanks (a mail client, an editor) are read by content: when no line is longer than the
    legacy record (900 bytes) and no line holds anything after the legacy layout's last
    field (byte 774), where a current record keeps its MyBest dates, iBT26 scores and the
    rest, they are read as the legacy layout, and that is a guess (say so to the user).
    """
    lengths = [len(line) for line in lines]
    exact = detect_layout(lengths)
    current = layouts.builtin(layouts.CURRENT).record_length
    if not lines or exact == layouts.LEGACY or all(n == current for n in lengths):
        return exact, False
    legacy = layouts.builtin(layouts.LEGACY)
    last = legacy.data_fields[-1].end
    if max(lengths) <= legacy.record_length and all(not line[last:].strip() for line in lines):
        return layouts.LEGACY, True
    return layouts.CURRENT, False


def render(record: Record, layout: Layout | str | None = None) -> bytes:
    """One record as a fixed-length line (without line ending).

    In ``layout`` if given, else in the record's own layout, which must then be built in
    (a record only knows its layout's name).
    """
    return codec(layout or layout_of(record)).encode(record)


def layout_of(record: Record) -> str:
    """The built-in layout a record was read in; an error names a custom one."""
    if record.layout not in layouts.BUILTIN:
        raise InputError(
            f"the record is in layout {record.layout!r}, which is not built in: "
            "pass that Layout to render it",
            line=record.line,
        )
    return record.layout
