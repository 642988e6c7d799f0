"""Reading fixed-length ScoreLink lines from files and streams, a batch at a time.

:func:`text_batches` reads a stream into :class:`~toefl_access.formats.batch.Batch` es of Arrow
columns; :func:`parse_lines` gives their records (views on the batches). A binary stream is
read in large blocks: when a block's lines all have the record's length (the usual file),
the block itself is the byte matrix the decoder reads, and Python does no work per line.
Anything else (short or long lines, blank lines, a BOM, CR or NUL bytes) is split into lines
and checked one by one, with the same results and errors.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RecordError, ToeflAccessError
from . import layout as layouts
from .layout import Layout
from .record import Record, utc_today
from .textformat import BOM, DETECT_LINES, codec, guess_layout

if TYPE_CHECKING:
    from .batch import Batch

log = logging.getLogger("toefl_access.parse")

def _lines(stream: Iterable[bytes], source: str) -> Iterator[tuple[int, bytes]]:
    """Number the lines, dropping line endings, a BOM and blank lines."""
    for lineno, line in enumerate(stream, start=1):
        if line[-1:] == b"\n":
            line = line[:-2] if line[-2:-1] == b"\r" else line[:-1]
        if lineno == 1 and line.startswith(BOM):
            line = line[3:]
        if b"\x00" in line:
            raise InputError(
                "this looks like a binary file (it contains NUL bytes), not ScoreLink records",
                source=source,
                line=lineno,
            )
        if not line or line.isspace():
            continue
        yield lineno, line


_Block = tuple[Sequence[int], list[bytes]]  # line numbers and the lines (non-blank)


def _blocks(stream: Iterable[bytes], source: str) -> Iterator[_Block]:
    """The non-blank lines of an iterable of lines, numbered, many at a time."""
    numbers: list[int] = []
    lines: list[bytes] = []
    try:
        for k, line in _lines(stream, source):
            numbers.append(k)
            lines.append(line)
            if len(lines) == 4096:
                yield numbers, lines
                numbers, lines = [], []
    except (OSError, ToeflAccessError):
        if lines:  # the lines before a bad one (or a cut stream) come first
            yield numbers, lines
        raise
    if lines:
        yield numbers, lines


class _Reader:
    """A binary stream read in large pieces that end at a line end (see the module
    docstring); line numbers are kept across pieces. Each piece is read into a buffer of
    its own (``readinto``: the bytes are copied once, from the stream to the buffer)."""

    def __init__(self, stream: Any, source: str) -> None:
        self._stream, self.source = stream, source
        self.buffer: bytes | bytearray = b""  # read, not yet given
        self.eof = False
        self.done = 0  # lines in the pieces given so far
        self._bom = False  # the first bytes were looked at for a BOM

    def _fill(self, want: int) -> None:
        have = len(self.buffer)
        if have < want and not self.eof:
            buf = bytearray(want)
            buf[:have] = self.buffer
            view = memoryview(buf)
            readinto = getattr(self._stream, "readinto", None)
            while have < want:
                if readinto is not None:
                    n = readinto(view[have:]) or 0
                else:
                    data = self._stream.read(want - have)
                    n = len(data)
                    view[have : have + n] = data
                if not n:
                    self.eof = True
                    break
                have += n
            view.release()
            del buf[have:]
            self.buffer = buf
        if not self._bom and (len(self.buffer) >= 3 or self.eof):
            self._bom = True
            if self.buffer[:3] == BOM:
                self.buffer = self.buffer[3:]

    def head(self, count: int) -> list[bytes]:
        """The first ``count`` non-blank lines (for layout detection), not consumed."""
        want = 1 << 20
        while True:
            self._fill(want)
            if self.eof or self.buffer.count(b"\n") > 2 * count:
                break
            want = 2 * len(self.buffer)
        pieces = bytes(self.buffer).split(b"\n")
        lines = [line for _, part in _block(pieces[:-1], 0, self.source, ended=True)
                 for line in part]
        if self.eof and pieces[-1] and len(lines) < count:
            lines += [line for _, part in _block(pieces[-1:], len(pieces) - 1, self.source,
                                                 ended=False) for line in part]
        return lines[:count]

    def pieces(self, size: int) -> Iterator[tuple[bytes | bytearray, int, bool]]:
        """Pieces of about ``size`` bytes that end after a line end, as (buffer, its bytes
        that belong to the piece), then (``False``) the last line when it has none."""
        want = size
        while True:
            self._fill(want)
            buffer = self.buffer
            if not buffer:
                return
            cut = buffer.rfind(b"\n") + 1
            if not cut and not self.eof:  # one very long line: read on
                want = 2 * len(buffer)
                continue
            want = size
            if not cut:
                self.buffer = b""
                yield buffer, len(buffer), False
                return
            self.buffer = buffer[cut:]
            yield buffer, cut, True

    def parts(self, length: int, size: int) -> Iterator[tuple[Sequence[int], Any]]:
        """(line numbers, a byte matrix of the lines) for a piece whose lines all have
        ``length`` bytes, else (line numbers, the non-blank lines)."""
        for buffer, cut, ended in self.pieces(size * (length + 1)):
            rows = _uniform(buffer, cut, length) if ended else None
            if rows is not None:
                yield range(self.done + 1, self.done + 1 + len(rows)), rows
                self.done += len(rows)
                continue
            lines = bytes(memoryview(buffer)[:cut]).split(b"\n")
            if ended:
                lines.pop()
            done, self.done = self.done, self.done + len(lines)
            yield from _block(lines, done, self.source, ended=ended)


def _uniform(buffer: bytes | bytearray, cut: int, length: int) -> Any:
    """The lines of ``buffer[:cut]`` as the rows of a byte matrix (a view of the buffer)
    when every line has exactly ``length`` bytes before its LF or CRLF, none is blank and
    none holds a NUL byte; else None."""
    import numpy as np

    count = buffer.count(b"\n", 0, cut)
    for stride in (length + 1, length + 2):
        if not count or cut != count * stride:
            continue
        m = np.frombuffer(buffer, dtype=np.uint8, count=cut).reshape(count, stride)
        ends = m[:, length] == 0x0A if stride == length + 1 else (
            (m[:, length] == 0x0D) & (m[:, length + 1] == 0x0A))
        if not ends.all() or buffer.find(b"\x00", 0, cut) >= 0:
            return None
        rows = m[:, :length]
        first = rows[:, 0]
        maybe = np.flatnonzero((first == 0x20) | ((first >= 0x09) & (first <= 0x0D)))
        if any(rows[i].tobytes().isspace() for i in maybe.tolist()):
            return None
        return rows
    return None


def _block(pieces: list[bytes], done: int, source: str, *, ended: bool) -> Iterator[_Block]:
    """Lines split at LF (``ended``: each had one) numbered from ``done + 1``: a CR before
    the LF dropped, blank lines left out; a line with a NUL byte is an error (after the
    lines before it)."""
    if ended and any(p[-1:] == b"\r" for p in pieces):
        pieces = [p[:-1] if p[-1:] == b"\r" else p for p in pieces]
    nul = next((i for i, p in enumerate(pieces) if b"\x00" in p), None)
    kept = pieces if nul is None else pieces[:nul]
    if all(kept) and not any(map(bytes.isspace, kept)):
        yield range(done + 1, done + 1 + len(kept)), kept
    else:
        numbered = [(done + 1 + i, p) for i, p in enumerate(kept) if p and not p.isspace()]
        yield [k for k, _ in numbered], [p for _, p in numbered]
    if nul is not None:
        raise InputError(
            "this looks like a binary file (it contains NUL bytes), not ScoreLink records",
            source=source,
            line=done + 1 + nul,
        )


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
    short lines (for API answers, where a short line means a cut body). The records are
    views on the batches of :func:`text_batches`.
    """
    for batch in text_batches(stream, layout=layout, source=source, strict=strict,
                              check=check, pad=pad):
        yield from batch.records()


def text_batches(
    stream: Iterable[bytes],
    *,
    layout: Layout | str | None = None,
    source: str = "<input>",
    strict: bool = False,
    check: bool = True,
    pad: bool = True,
    size: int | None = None,
) -> Iterator[Batch]:
    """Fixed-length records as :class:`~toefl_access.formats.batch.Batch` es of up to ``size``
    lines (default :data:`BATCH`); arguments as :func:`parse_lines`.

    With ``strict``, the batch that holds the first record with a warning is cut before
    it, and a :class:`RecordError` names that record. The lines read before a bad line or
    a cut stream are given before the error.
    """
    read = getattr(stream, "read", None)
    reader = _Reader(stream, source) if read is not None else None
    blocks = _blocks(stream, source) if reader is None else iter(())
    if layout is None:
        if reader is not None:
            first = reader.head(DETECT_LINES)
        else:
            head: list[_Block] = []
            while sum(len(lines) for _, lines in head) < DETECT_LINES:
                block = next(blocks, None)
                if block is None:
                    break
                head.append(block)
            blocks = itertools.chain(head, blocks)
            first = [line for _, lines in head for line in lines][:DETECT_LINES]
        layout, guessed = guess_layout(first)
        if guessed:
            log.warning(
                "%s: no line is longer than 900 bytes and none holds data after byte 774, so "
                "the lines are read as %s (trimmed legacy records); if they are current "
                "records, give --layout %s", source, layout, layouts.CURRENT,
            )
    c = codec(layout)
    today = utc_today()  # once: a stream that runs past midnight keeps its first day
    limit = size or BATCH
    length = c.length
    parts = blocks if reader is None else reader.parts(length, limit)
    batch: list[bytes] = []
    numbers: list[int] = []

    def decoded(k: int) -> Iterator[Batch]:
        done = c.decode_batch(batch[:k], numbers[:k], check=check, today=today)
        del batch[:k], numbers[:k]
        yield from _checked(done, strict, source)

    try:
        for lines_at, lines in parts:
            if not isinstance(lines, list):  # a matrix of whole lines, in order
                while batch:
                    yield from decoded(limit)
                for at in range(0, len(lines), limit):
                    done = c.decode_rows(lines[at : at + limit], lines_at[at : at + limit],
                                         check=check, today=today)
                    yield from _checked(done, strict, source)
                del lines, done  # the piece read: freed before the next is read
                continue
            wrong = _wrong_length(lines, length, pad)
            batch += lines[:wrong]
            numbers += lines_at[:wrong]
            while len(batch) >= limit:
                yield from decoded(limit)
            if wrong is not None:
                n = len(lines[wrong])
                raise InputError(
                    f"the line is {n} bytes, longer than the {length}-byte {c.layout.name} "
                    "layout; check the file, or pass --layout" if n > length else
                    f"the record is {n} bytes, shorter than the {length}-byte layout",
                    source=source,
                    line=lines_at[wrong],
                )
    except (OSError, ToeflAccessError):
        if batch:
            yield from decoded(len(batch))
        raise
    if batch:
        yield from decoded(len(batch))


def _wrong_length(lines: list[bytes], length: int, pad: bool) -> int | None:
    """The first line longer than ``length`` (or, without ``pad``, shorter), or None."""
    sizes = list(map(len, lines))
    if not sizes or (max(sizes) <= length and (pad or min(sizes) == length)):
        return None
    return next(i for i, n in enumerate(sizes) if n > length or (n < length and not pad))


BATCH = 4096  # lines decoded together: enough to pay for the array calls, 6.5 MB at most


def _checked(batch: Batch, strict: bool, source: str) -> Iterator[Batch]:
    """The batch, or with ``strict`` its rows before the first warning and a RecordError."""
    first = batch.first_warning() if strict else None
    if first is None:
        yield batch
        return
    if first:
        yield batch.head(first)
    w = batch.warnings[first][0]
    raise RecordError(
        w.message,
        source=source,
        line=batch.lines[first],
        field=w.field,
        start=w.start,
        end=w.end,
        value=w.value,
    )


