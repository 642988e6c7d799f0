"""Reading score records from a file, a stream or bytes, in either wire format.

>>> from toefl_access import parse
>>> for record in parse("scores.txt"):          # doctest: +SKIP
...     print(record["last_name"], record["total"], record.warnings)

For data work, the same records as Apache Arrow: :func:`parse_table` gives one
:class:`pyarrow.Table`, :func:`parse_batches` a stream of :class:`pyarrow.RecordBatch` es
(constant memory). Columns are typed by kind (scores ``int16``, bands ``float64``, dates
``date32``, text ``string``, blank null) and end with ``_line``, ``_warnings`` and ``_raw``:

>>> table = toefl_access.parse_table("scores.txt")            # doctest: +SKIP
>>> table.to_pandas()                  # or polars.from_arrow(table), duckdb.sql("... table")
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from ..errors import InputError, ToeflAccessError
from . import layout as layouts
from .jsonformat import parse_json
from .layout import Layout
from .record import Record
from .textread import text_batches

if TYPE_CHECKING:
    import pyarrow as pa

    from .batch import Batch

FORMATS = ("auto", "text", "json")


def sniff(stream: IO[bytes]) -> str:
    """``json`` when the first non-blank byte opens a JSON object or array, else ``text``."""
    head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"{", b"[") else "text"


_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")


def _looks_binary(head: bytes) -> bool:
    """More than 1% control bytes: text has none but tabs and line ends.

    (A stray NUL is caught line by line, where the error can name the line.)
    """
    return len(head) - len(head.translate(None, _CONTROL)) > len(head) // 100


@contextmanager
def open_input(path: str | Path) -> Iterator[tuple[IO[bytes], str]]:
    """Open a file (or ``-`` for standard input) as a buffered binary stream and its name."""
    name = str(path)
    if name == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, not a file", source=name)
    try:
        stream = p.open("rb", buffering=1 << 20)
    except FileNotFoundError:
        raise InputError("no such file; check the path", source=name) from None
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", source=name) from None
    with stream:
        yield stream, name


def _checked_stream(
    stream: IO[bytes], format: str, source: str
) -> tuple[IO[bytes], str]:
    """The stream made peekable and its format decided; errors for empty or binary input."""
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(cast(io.RawIOBase, stream))
    if not stream.peek(1):
        raise InputError("the input is empty: there are no records to read", source=source)
    if format == "auto":
        format = sniff(stream)
    if format == "text" and _looks_binary(stream.peek(4096)[:4096]):
        raise InputError(
            "this looks like a binary file (it holds control bytes), not ScoreLink records "
            "or JSON",
            source=source,
        )
    return stream, format


def _layout(layout: Layout | str | Path | None) -> Layout | None:
    return layouts.load(layout) if isinstance(layout, str | Path) else layout


def parse_stream(
    stream: IO[bytes],
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    source: str = "<input>",
    strict: bool = False,
    check: bool = True,
) -> Iterator[Record]:
    """Parse records from a binary stream; ``format`` is ``auto``, ``text`` or ``json``."""
    stream, format = _checked_stream(stream, format, source)
    if format == "json":
        yield from parse_json(stream, layout=_layout(layout), source=source, strict=strict,
                              check=check)
        return
    for batch in _text(stream, layout, source, strict, check, None):
        yield from batch.records()


def _text(
    stream: IO[bytes], layout: Layout | str | None, source: str, strict: bool, check: bool,
    size: int | None,
) -> Iterator[Batch]:
    """The batches of a text stream; an error when it holds only blank lines."""
    empty = True
    for batch in text_batches(stream, layout=layout, source=source, strict=strict,
                              check=check, size=size):
        empty = False
        yield batch
    if empty:
        raise InputError("the input holds only blank lines: there are no records",
                         source=source)


def stream_batches(
    stream: IO[bytes],
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    source: str = "<input>",
    strict: bool = False,
    check: bool = True,
    size: int | None = None,
) -> Iterator[Batch]:
    """:class:`~toefl_access.formats.batch.Batch` es of up to ``size`` records from a stream
    (arguments as :func:`parse_stream`); what the bulk writers of ``parse`` consume."""
    stream, format = _checked_stream(stream, format, source)
    if format == "text":
        yield from _text(stream, layout, source, strict, check, size)
        return
    from .batch import from_records
    from .textread import BATCH

    lay = _layout(layout) or layouts.builtin(layouts.CURRENT)
    records = parse_json(stream, layout=lay, source=source, strict=strict, check=check)
    chunk: list[Record] = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) == (size or BATCH):
                yield from_records(chunk, lay, format="json")
                chunk = []
    except ToeflAccessError:
        if chunk:
            yield from_records(chunk, lay, format="json")
        raise
    if chunk:
        yield from_records(chunk, lay, format="json")


@contextmanager
def _source(source: str | Path | bytes) -> Iterator[tuple[IO[bytes], str]]:
    if isinstance(source, bytes):
        yield io.BufferedReader(io.BytesIO(source)), "<bytes>"
        return
    with open_input(source) as opened:
        yield opened


def batches(
    source: str | Path | bytes,
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    strict: bool = False,
    check: bool = True,
    size: int | None = None,
) -> Iterator[Batch]:
    """:func:`stream_batches` of a file path (``-`` for stdin) or of bytes."""
    with _source(source) as (stream, name):
        yield from stream_batches(stream, format=format, layout=_layout(layout), source=name,
                                  strict=strict, check=check, size=size)


def parse_batches(
    source: str | Path | bytes,
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    strict: bool = False,
    check: bool = True,
    size: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """Parse a file (``-`` for stdin) or bytes into Arrow record batches of up to ``size``
    records (default 4,096), lazily: memory stays flat however large the file.

    Arguments as :func:`parse`. Each batch has the layout's fields typed by kind, then
    ``_line`` (int64), ``_warnings`` (list of strings) and ``_raw`` (the line as received;
    for JSON the object) and, for JSON input, ``_extra`` (unknown keys as JSON text); the
    schema's metadata ``toefl_access.layout`` names the layout.
    """
    for batch in batches(source, format=format, layout=layout, strict=strict, check=check,
                         size=size):
        yield batch.data


def parse_table(
    source: str | Path | bytes,
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    strict: bool = False,
    check: bool = True,
) -> pa.Table:
    """Parse a file (``-`` for stdin) or bytes into one :class:`pyarrow.Table` (see
    :func:`parse_batches`). It hands over to pandas (``table.to_pandas()``), polars
    (``polars.from_arrow(table)``) and DuckDB (``duckdb.sql("select * from table")``)
    without copying the columns."""
    import pyarrow as pa

    parts = list(parse_batches(source, format=format, layout=layout, strict=strict,
                               check=check))
    return pa.Table.from_batches(parts)


def parse(
    source: str | Path | bytes,
    *,
    format: str = "auto",
    layout: Layout | str | None = None,
    strict: bool = False,
    check: bool = True,
) -> Iterator[Record]:
    """Parse every record of a file path (``-`` for stdin) or of a bytes object, lazily.

    ``layout`` is a built-in name, a layout file path or a :class:`Layout`; by default it
    is detected. ``strict`` raises :class:`~toefl_access.errors.RecordError` on the first
    warning; ``check=False`` skips validation.
    """
    with _source(source) as (stream, name):
        yield from parse_stream(stream, format=format, layout=_layout(layout), source=name,
                                strict=strict, check=check)
