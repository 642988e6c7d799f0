"""Reading score records from a file, a stream or bytes, in either wire format.

>>> from toefl_access import parse
>>> for record in parse("scores.txt"):          # doctest: +SKIP
...     print(record["last_name"], record["total"], record.warnings)
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from . import layout as layouts
from .errors import InputError
from .jsonformat import parse_json
from .layout import Layout
from .record import Record
from .textformat import parse_lines

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
    if format == "json":
        lay = layouts.load(layout) if isinstance(layout, str) else layout
        yield from parse_json(stream, layout=lay, source=source, strict=strict, check=check)
        return
    records = parse_lines(stream, layout=layout, source=source, strict=strict, check=check)
    first = next(records, None)
    if first is None:
        raise InputError("the input holds only blank lines: there are no records", source=source)
    yield first
    yield from records


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
    if isinstance(layout, str | Path):
        layout = layouts.load(layout)
    if isinstance(source, bytes):
        yield from parse_stream(
            io.BufferedReader(io.BytesIO(source)),
            format=format, layout=layout, strict=strict, check=check, source="<bytes>",
        )
        return
    with open_input(source) as (stream, name):
        yield from parse_stream(
            stream, format=format, layout=layout, source=name, strict=strict, check=check
        )
