"""The API's answers: bodies as byte streams, checked complete, and records as they arrive.

The transport-free half of :mod:`toefl_access.api.client`: a :class:`RawResponse` reads chunks
(already translated into the project's errors by the client), counts and hashes them, and
at the end refuses a body that was cut short. A body is cut short when the connection
closed early (the client raises that), when the last fixed-length record is shorter than
the layout (the padding of trimmed lines is for files people edited, never for API
answers), or when the JSON stops before it is complete. An empty body is an answer with no
records, in both formats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any

import ijson
import msgspec

from ..errors import ApiError, InputError, TransportError, TruncatedResponseError, UsageError
from ..formats import layout as layouts
from ..formats.jsonformat import parse_json
from ..formats.record import Record
from ..formats.textformat import BOM
from ..formats.textread import parse_lines
from .dates import api_format

log = logging.getLogger("toefl_access.api.client")

_TAIL = 8192
_BLANKS = b" \t\r\n" + BOM
#: The most blank bytes in a row an answer may hold (endless whitespace is refused).
MAX_BLANK_RUN = 1 << 20
#: The deepest JSON nesting an answer may have (a score answer nests three or four levels).
MAX_JSON_DEPTH = 64


class Body(msgspec.Struct, kw_only=True):
    """A whole answer of the API, checked complete: what ``Client.fetch_body`` returns."""

    content: bytes
    status: int
    sha256: str
    nbytes: int
    elapsed: float
    attempts: int
    format: str
    start: dt.datetime
    end: dt.datetime

    def __repr__(self) -> str:
        return (
            f"Body(format={self.format!r}, start={api_format(self.start)}, "
            f"end={api_format(self.end)}, status={self.status}, nbytes={self.nbytes}, "
            f"sha256={self.sha256[:12]}..., attempts={self.attempts}, "
            f"elapsed={self.elapsed:.3f})"
        )


class RawResponse:
    """One answer of the API: the body as a byte stream, and what is known about it.

    Read the body once, with :meth:`iter_bytes` (chunks as they arrive) or :meth:`read`.
    ``nbytes``, ``sha256`` and ``elapsed`` (seconds from the request to the last byte)
    describe what was read so far; at the end of the body ``complete`` turns True, or
    :class:`~toefl_access.errors.TruncatedResponseError` is raised (naming the byte offset)
    when the body was cut short.
    """

    def __init__(
        self,
        *,
        chunks: Iterator[bytes],
        close: Callable[[], None],
        status: int,
        url: str,
        headers: Mapping[str, str],
        format: str,
        start: dt.datetime,
        end: dt.datetime,
        label: str,
        started: float,
        attempts: int,
        check: bool = True,
        limit: int | None = None,
        deadline: float | None = None,
        min_rate: tuple[float, int] | None = None,
    ) -> None:
        self.status = status
        self.url = url
        self.headers = dict(headers)
        self.format = format
        self.start = start
        self.end = end
        self.label = label
        self.attempts = attempts
        self.nbytes = 0
        self.elapsed: float | None = None
        self.complete = False
        self._chunks = chunks
        self._close = close
        self._started = started
        self._digest = hashlib.sha256()
        self._check: _TextCheck | _JsonCheck | None = None
        if check:
            self._check = _JsonCheck(label) if format == "json" else _TextCheck(label)
        self._used = False
        self._limit = limit
        self._deadline = deadline
        # (seconds, bytes): at least that many bytes in every stretch of that many seconds
        self._min_rate = min_rate
        self._mark = (started, 0)
        self._blanks = 0  # blank bytes in a row at the end of what arrived

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes read so far (of the whole body once complete)."""
        return self._digest.hexdigest()

    def iter_bytes(self) -> Iterator[bytes]:
        """The body's bytes as they arrive (once)."""
        if self._used:
            raise UsageError("the body of this answer was already read; fetch it again")
        self._used = True
        for chunk in self._chunks:
            if not self.nbytes:
                self._refuse_html(chunk)
            self.nbytes += len(chunk)
            self._bound()
            self._blank_run(chunk)
            self._digest.update(chunk)
            if self._check is not None:
                self._check.feed(chunk, self.nbytes)
            yield chunk
        self.elapsed = time.monotonic() - self._started
        if self._check is not None:
            self._check.finish(self.nbytes)
        self.complete = True
        log.debug("%s: %d bytes in %.3fs", self.label, self.nbytes, self.elapsed)

    def _refuse_html(self, first: bytes) -> None:
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml") or first.lstrip(_BLANKS)[:1] == b"<":
            raise InputError(
                f"{self.label}: the server answered a web page ({kind or 'HTML'}), not score "
                "records; check TOEFL_ACCESS_BASE_URL (a proxy or login page may be in the way)"
            )

    def _bound(self) -> None:
        """Refuse a body beyond the size or time the caller allows (endless answers)."""
        if self._limit is not None and self.nbytes > self._limit:
            raise ApiError(
                f"{self.label}: the answer is larger than {self._limit:,} bytes and was "
                "stopped; ask for a smaller window (--window) or raise the limit",
                status=self.status, url=self.url,
            )
        now = time.monotonic()
        if self._deadline is not None and now > self._deadline:
            raise TransportError(
                f"{self.label}: the answer was still arriving after "
                f"{self._deadline - self._started:.0f} s ({self.nbytes:,} bytes) and was "
                "stopped; the server may be stuck",
                status=self.status, url=self.url,
            )
        if self._min_rate is not None and now - self._mark[0] >= self._min_rate[0]:
            if self.nbytes - self._mark[1] < self._min_rate[1]:
                raise TransportError(
                    f"{self.label}: the answer trickles ({self.nbytes - self._mark[1]:,} bytes "
                    f"in {now - self._mark[0]:.0f} s) and was stopped; the server may be stuck "
                    "or the connection too slow; try again later",
                    status=self.status, url=self.url,
                )
            self._mark = (now, self.nbytes)

    def _blank_run(self, chunk: bytes) -> None:
        """Refuse endless blanks (no score answer holds a megabyte of them in a row)."""
        rest = chunk.rstrip(_BLANKS)
        self._blanks = self._blanks + len(chunk) if not rest else len(chunk) - len(rest)
        if self._blanks > MAX_BLANK_RUN:
            raise InputError(
                f"the answer holds more than {MAX_BLANK_RUN:,} blank bytes in a row (at byte "
                f"{self.nbytes:,}): it is not a score answer; the server may be broken",
                source=self.label,
            )

    def read(self) -> bytes:
        """The whole body."""
        buffer = io.BytesIO()  # its getvalue() does not copy: the body is held once
        for chunk in self.iter_bytes():
            buffer.write(chunk)
        return buffer.getvalue()

    def records(self) -> Iterator[Record]:
        """The body's records, parsed as it arrives (instead of reading its bytes)."""
        reader = io.BufferedReader(_ChunkReader(self.iter_bytes()), 1 << 16)
        if self.format == "json":
            return parse_json(_json_objects(reader, self), source=self.label)
        return _text_records(reader, self.label)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> RawResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.label} {self.nbytes} bytes>"


class RecordStream(Iterator[Record]):
    """The records of one answer, parsed while the body arrives (``Client.fetch``).

    ``count`` is the records yielded so far and ``raw`` the answer being read (status,
    ``nbytes``, SHA-256) once there is one. Close it, or use ``with``, to stop early.
    """

    def __init__(self, records: Callable[[RecordStream], Generator[Record, None, None]]) -> None:
        self.raw: RawResponse | None = None
        self.count = 0
        self._gen = records(self)

    @property
    def nbytes(self) -> int:
        """The bytes received so far."""
        return self.raw.nbytes if self.raw else 0

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> Record:
        record = next(self._gen)
        self.count += 1
        return record

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- checking that a body is complete -----------------------------------------------------


def _record_length(first_line: int) -> int:
    legacy = layouts.builtin(layouts.LEGACY).record_length
    return legacy if first_line == legacy else layouts.builtin(layouts.CURRENT).record_length


def _first_line_length(head: bytes, *, final: bool) -> int | None:
    """The length of the first non-blank line; None while it has not fully arrived."""
    head = head.removeprefix(BOM)
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0 and not final:
            return None
        line = head[pos:] if nl < 0 else head[pos:nl]
        if line.strip():
            return len(line.removesuffix(b"\r"))
        if nl < 0:
            return 0
        pos = nl + 1


def _cut(label: str, offset: int, have: int, want: int) -> TruncatedResponseError:
    return TruncatedResponseError(
        f"the answer for {label} was cut short at byte {offset}: its last record has {have} "
        f"of {want} bytes; try again",
        offset=offset,
    )


class _TextCheck:
    """Watches a fixed-length body go by; at its end, refuses a last record cut short."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._head = b""
        self._first: int | None = None
        self._tail = b""

    def feed(self, chunk: bytes, nbytes: int) -> None:
        if self._first is None:
            self._head += chunk
            self._first = _first_line_length(self._head, final=len(self._head) > 1 << 16)
        self._tail = chunk[-_TAIL:] if len(chunk) >= _TAIL else (self._tail + chunk)[-_TAIL:]

    def finish(self, nbytes: int) -> None:
        first = self._first
        if first is None:
            first = _first_line_length(self._head, final=True) or 0
        tail, end = self._tail, len(self._tail)
        while True:  # the last non-blank line is tail[start:end]
            start = tail.rfind(b"\n", 0, end) + 1
            if tail[start:end].strip() or start == 0:
                break
            end = start - 1
        line = tail[start:end]
        base = nbytes - len(tail)
        if not line.strip() or (start == 0 and base > 0):
            return  # no records at all, or a line longer than the tail kept
        content = line.removesuffix(b"\r")
        cut = base + start + len(content)
        if base == 0 and start == 0:
            content = content.removeprefix(BOM)
        want = _record_length(first)
        if len(content) < want:
            raise _cut(self._label, cut, len(content), want)


class _JsonCheck:
    """Feeds a JSON body to an incremental parser; at its end, refuses JSON that stops."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._events = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events)
        self._started = False
        self._depth = 0

    def feed(self, chunk: bytes, nbytes: int) -> None:
        if not self._started:
            if not chunk.strip(_BLANKS):
                return
            self._started = True
        try:
            self._parser.send(chunk)
        except ijson.JSONError as exc:
            raise _bad_json(exc, self._label, nbytes) from None
        depth = self._depth
        for event, _ in self._events:
            if event == "start_map" or event == "start_array":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise InputError(
                        f"the API's JSON answer nests deeper than {MAX_JSON_DEPTH} levels near "
                        f"byte {nbytes:,}: it is not a score answer; the server may be broken",
                        source=self._label,
                    )
            elif event == "end_map" or event == "end_array":
                depth -= 1
        self._depth = depth
        self._events.clear()

    def finish(self, nbytes: int) -> None:
        if not self._started:
            return  # an empty answer: no records
        try:
            self._parser.close()
        except ijson.JSONError as exc:
            raise _bad_json(exc, self._label, nbytes) from None


def _bad_json(exc: Exception, label: str, nbytes: int) -> TruncatedResponseError | InputError:
    text = str(exc).strip()
    if "premature EOF" in text:
        return TruncatedResponseError(
            f"the JSON answer for {label} was cut short at byte {nbytes}: it ends before the "
            "JSON is complete; try again",
            offset=nbytes,
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return InputError(f"the API's JSON answer is not valid JSON near byte {nbytes}: {first}",
                      source=label)


# -- records as the body arrives ----------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of chunks, for ``io.BufferedReader``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


def _json_objects(reader: io.BufferedReader[_ChunkReader], raw: RawResponse) -> Iterator[Any]:
    while True:  # skip leading blanks: an empty answer holds no records
        head = reader.peek(4096)
        if not head:
            return
        if head.lstrip(_BLANKS):
            break
        reader.read(len(head))
    prefix = "item" if head.lstrip(_BLANKS)[:1] == b"[" else "data.item"
    try:
        yield from ijson.items(reader, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise _bad_json(exc, raw.label, raw.nbytes) from None


def _text_records(reader: io.BufferedReader[_ChunkReader], label: str) -> Iterator[Record]:
    head: list[bytes] = []
    for line in reader:
        head.append(line)
        if line.strip():
            break
    else:
        return  # an empty answer: no records
    first = head[-1].rstrip(b"\r\n")
    if len(head) == 1:
        first = first.removeprefix(BOM)
    length = _record_length(len(first))
    legacy = layouts.builtin(layouts.LEGACY).record_length
    lay = layouts.LEGACY if length == legacy else layouts.CURRENT
    lines = _whole_lines(itertools.chain(head, reader), length, label)
    yield from parse_lines(lines, layout=lay, source=label, pad=False)


def _whole_lines(lines: Iterable[bytes], length: int, label: str) -> Iterator[bytes]:
    """The lines, refusing a last record shorter than the layout: the body was cut.

    A short line followed by more records is passed on: the parser refuses it, naming it.
    """
    offset = 0
    it = iter(lines)
    for line in it:
        n = size = len(line)
        if line.endswith(b"\n"):
            size -= 2 if line.endswith(b"\r\n") else 1
        if not offset and line.startswith(BOM):
            size -= 3
        if size < length and line.strip():
            if next((more for more in it if more.strip()), None) is None:
                raise _cut(label, offset + len(line.rstrip(b"\r\n")), size, length)
            yield line
            return
        offset += n
        yield line
