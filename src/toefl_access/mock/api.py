"""The TOEFL Access API's contract as plain logic: a request in, an :class:`Answer` out.

:class:`MockApi` knows nothing of HTTP servers; :mod:`.app` (Starlette, for a real socket) and
:mod:`.transport` (httpx, in-process) carry its answers. A request is checked in this order, and
the first rule it breaks answers:

1. the path: ``/scores`` (production) or ``/scores/sample-data`` (the sandbox), else 404; the
   method: ``GET``, else 405;
2. a ``429`` fault (a rate limit sits in front of everything);
3. the ``authcode`` header: missing, 401; not Base64 of ``id:secret``, 400
   ``Invalid credentials format``; not the mock's key, or past ``expire-key-at``, 401;
4. the required parameters in the vendor's order, ``startdate``, ``enddate``, ``type``,
   ``reportby``: 400 with the vendor's text (``type/program is required`` for ``type``);
   an empty value counts as missing;
5. ``startdate`` then ``enddate`` must be ``YYYY-MM-DDTHH:mm:ss`` (UTC, no offset), and the
   start before the end, else 400;
6. ``type`` must be ``TOEFL``, ``reportby`` ``scorelinkbyreportdate`` and ``format`` ``json``,
   ``text`` or absent (values compared ignoring case; parameter names are case-sensitive),
   else 400;
7. a ``500`` fault;
8. 200: the reports released in ``[startdate, min(enddate, now))``, streamed, possibly cut by
   a ``reset`` or ``truncate`` fault or stalled by ``slow``. The sandbox answers its 11 fixed
   samples whatever the window.

Assumptions where the vendor is silent (bodies of 401/404/405/429/500, the check order, value
case) are this mock's, and said so here. A text answer is one 1600-byte line per record, each
ending in ``\\n`` (an empty window gives an empty body); a JSON answer is ``{"data":[...]}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import itertools
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import KeyFormatError, UsageError
from . import population
from .answer import Answer, ConnectionDropped
from .draws import Draws
from .faults import Fault, parse_fault
from .wire import json_objects, text_lines

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

log = logging.getLogger("toefl_access.mock")

#: A valid demo key: Base64 of ``demo-client:demo-secret``.
DEMO_AUTHCODE = base64.b64encode(b"demo-client:demo-secret").decode("ascii")
SCORES_PATH = "/scores"
SANDBOX_PATH = "/scores/sample-data"
TYPES = ("TOEFL",)
REPORTBY = ("scorelinkbyreportdate",)
#: About how many body bytes go out at a time (the first chunk holds a few records only, for
#: a prompt first byte).
CHUNK = 256 * 1024
_FIRST_CHUNK = 8
_API_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_REQUIRED = (
    ("startdate", "startdate is required"),
    ("enddate", "enddate is required"),
    ("type", "type/program is required"),
    ("reportby", "reportby is required"),
)


@dataclass(frozen=True, slots=True)
class Served:
    """One request the mock answered (never with its key)."""

    number: int
    method: str
    path: str
    status: int
    fault: str | None


@dataclass(frozen=True, slots=True)
class _Cut:
    index: int  # the record that is cut
    fraction: float  # where in it
    how: str  # "reset", "close" or "short"


@dataclass
class _Plan:
    """The fault draws for one request."""

    number: int
    draws: Draws
    rate_limit: Fault | None = None
    server_error: bool = False
    stall: float = 0.0
    body: Fault | None = None


def numbered_authcode(number: int) -> str:
    """The mock's key number ``number``: Base64 of ``client-N:secret-N`` (for
    ``mock-server --keys N``, which accepts keys 1 to N, each with its own population)."""
    return base64.b64encode(f"client-{number}:secret-{number}".encode()).decode("ascii")


def key_seed(seed: int, authcode: str) -> int:
    """The population seed of an extra key: derived from the mock's seed and the key, so
    that every key sees its own reports (the same ones on every run)."""
    digest = hashlib.sha256(f"toefl-access-mock/key/{seed}/{authcode.strip()}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


class _Tracked(Iterator[bytes]):
    """An answer's body that tells the mock when it is finished: read to its end, failed
    (a fault) or closed by the server."""

    __slots__ = ("_body", "_done")

    def __init__(self, body: Iterator[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done: Callable[[], None] | None = done

    def __next__(self) -> bytes:
        try:
            return next(self._body)
        except BaseException:  # StopIteration, ConnectionDropped, ...
            self._finish()
            raise

    def close(self) -> None:
        self._finish()
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

    def _finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()


def key_format_ok(key: str) -> bool:
    """True when ``key`` is Base64 of ``clientId:clientSecret`` (both non-empty)."""
    try:
        raw = base64.b64decode(key.strip(), validate=True)
        ident, sep, secret = raw.decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return False
    return bool(sep and ident and secret)


def _error(status: int, text: str, **headers: str) -> Answer:
    body = text.encode("utf-8")
    return Answer(
        status,
        {"content-type": _TEXT, "content-length": str(len(body)), **headers},
        iter((body,)),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    if name in headers:
        return headers[name]
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class MockApi:
    """A faithful local TOEFL Access API: the contract, a population and faults.

    ``authcode`` is the key accepted; ``seed`` and ``per_day`` fix the population (see
    :mod:`.population`). ``authcodes`` are more keys it accepts (many integrations on one
    mock), each with a population of its own (seed :func:`key_seed`); ``latency_ms`` delays
    every answer; ``faults`` are :class:`Fault` values or spec strings (see :mod:`.faults`);
    ``now`` is the mock's clock (a datetime, a callable returning one, or None for the real
    time): nothing is released after it, and ``expire-key-at`` compares with it.
    :attr:`in_flight` and :attr:`max_in_flight` count the requests answered at once.
    """

    def __init__(
        self,
        *,
        authcode: str = DEMO_AUTHCODE,
        authcodes: Iterable[str] = (),
        seed: int = 0,
        per_day: int = 50,
        latency_ms: int = 0,
        faults: Iterable[Fault | str] = (),
        now: dt.datetime | Callable[[], dt.datetime] | None = None,
    ) -> None:
        extra = [key.strip() for key in authcodes]
        if not all(key_format_ok(key) for key in [authcode, *extra]):
            raise KeyFormatError(
                "the mock's authcode must be Base64 of clientId:clientSecret, "
                "e.g. base64 of 'demo-client:demo-secret'; leave it out to use the demo key"
            )
        if per_day < 0 or latency_ms < 0:
            raise UsageError("per_day and latency_ms must be 0 or more")
        self._authcode = authcode.strip()
        #: Every key accepted (as bytes) with its population's seed.
        self._seeds = {key.encode(): key_seed(seed, key) for key in extra}
        self._seeds[self._authcode.encode()] = seed
        self.seed = seed
        self.per_day = per_day
        self.latency_ms = latency_ms
        self.faults = tuple(parse_fault(f) if isinstance(f, str) else f for f in faults)
        self._now = now
        self._lock = threading.Lock()
        self._count = 0
        self._in_flight = self._max_in_flight = 0
        #: The last 10,000 requests answered, oldest first.
        self.served: deque[Served] = deque(maxlen=10_000)

    def __repr__(self) -> str:
        faults = ", ".join(map(str, self.faults))
        return (
            f"MockApi(seed={self.seed}, per_day={self.per_day}, "
            f"latency_ms={self.latency_ms}, faults=[{faults}])"
        )

    @property
    def requests(self) -> int:
        """How many requests have been answered."""
        return self._count

    @property
    def in_flight(self) -> int:
        """How many requests are being answered now: from the moment one is handled until
        its body is read to the end, cut by a fault or closed."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests answered at the same time so far."""
        return self._max_in_flight

    def seed_for(self, authcode: str) -> int:
        """The population seed the mock serves to ``authcode`` (KeyError: not accepted)."""
        return self._seeds[authcode.strip().encode()]

    def now(self) -> dt.datetime:
        """The mock's current time (aware, UTC)."""
        now = self._now() if callable(self._now) else self._now
        if now is None:
            return dt.datetime.now(dt.UTC)
        return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)

    # -- adapters -------------------------------------------------------------------------

    def app(self) -> Starlette:
        """A Starlette ASGI app serving this mock (see :func:`toefl_access.mock.serve`)."""
        from .app import build_app

        return build_app(self)

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport serving this mock in-process, without sockets."""
        from .transport import MockTransport

        return MockTransport(self)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """The asynchronous twin of :meth:`transport`."""
        from .transport import AsyncMockTransport

        return AsyncMockTransport(self)

    # -- the contract ---------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        params: Iterable[tuple[str, str]] | Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        """Answer one request; the first value of a repeated parameter counts."""
        plan = self._plan()
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            answer = self._answer(method, path, params, headers, plan)
        except BaseException:
            self._finished()
            raise
        answer.body = _Tracked(answer.body, self._finished)
        answer.delay = self.latency_ms / 1000
        if answer.fault:
            log.info("request %d: fault %s (status %d)", plan.number, answer.fault, answer.status)
        self.served.append(Served(plan.number, method, path, answer.status, answer.fault))
        return answer

    def _finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _plan(self) -> _Plan:
        with self._lock:
            self._count += 1
            number = self._count
        draws = Draws(f"toefl-access-mock/faults/{self.seed}/{number}")
        plan = _Plan(number, draws=draws)
        for fault in self.faults:
            if fault.kind == "expire-key-at":
                continue
            fires = draws.random() < fault.probability
            if not fires:
                continue
            if fault.kind == "429":
                plan.rate_limit = plan.rate_limit or fault
            elif fault.kind == "500":
                plan.server_error = True
            elif fault.kind == "slow":
                plan.stall = max(plan.stall, fault.ms / 1000)
            elif plan.body is None:
                plan.body = fault
        return plan

    def _expired(self) -> bool:
        ats = [f.at for f in self.faults if f.kind == "expire-key-at" and f.at is not None]
        return bool(ats) and self.now() >= min(ats)

    def _answer(
        self,
        method: str,
        path: str,
        params: Iterable[tuple[str, str]] | Mapping[str, str],
        headers: Mapping[str, str],
        plan: _Plan,
    ) -> Answer:
        path = path.rstrip("/") or "/"
        if path not in (SCORES_PATH, SANDBOX_PATH):
            return _error(404, f"Not Found: {path} (the scores are at {SCORES_PATH})")
        if method.upper() != "GET":
            return _error(405, "Method Not Allowed: use GET", allow="GET")
        if plan.rate_limit is not None:
            after = plan.rate_limit.retry_after
            extra = {} if after is None else {"retry-after": f"{after:g}"}
            answer = _error(429, "Too Many Requests", **extra)
            answer.fault = "429"
            return answer
        key = _header(headers, "authcode")
        if not key or not key.strip():
            return _error(401, "Unauthorized: the authcode header is missing")
        if not key_format_ok(key):
            return _error(400, "Invalid credentials format")
        given = key.strip().encode()
        seed = None
        for known, its_seed in self._seeds.items():  # each compared in constant time
            if hmac.compare_digest(given, known):
                seed = its_seed
        if seed is None:
            return _error(401, "Unauthorized: the authcode is not valid")
        if self._expired():
            return _error(401, "Unauthorized: the authcode has expired")
        query: dict[str, str] = {}
        for name, value in params.items() if isinstance(params, Mapping) else params:
            query.setdefault(name, value)
        for name, message in _REQUIRED:
            if not query.get(name, "").strip():
                return _error(400, message)
        start = _instant(query["startdate"])
        if start is None:
            return _bad_date("startdate", query["startdate"])
        end = _instant(query["enddate"])
        if end is None:
            return _bad_date("enddate", query["enddate"])
        if start >= end:
            return _error(400, "startdate must be before enddate")
        kind = query["type"].strip()
        if kind.upper() not in TYPES:
            return _error(400, f"type/program {kind!r} is not supported; use TOEFL")
        reportby = query["reportby"].strip()
        if reportby.lower() not in REPORTBY:
            return _error(400, f"reportby {reportby!r} is not supported; use scorelinkbyreportdate")
        fmt = query.get("format", "").strip().lower() or "text"
        if fmt not in ("json", "text"):
            return _error(400, f"format {query['format']!r} is not supported; use json or omit it")
        if plan.server_error:
            answer = _error(500, "Internal Server Error")
            answer.fault = "500"
            return answer
        return self._scores(path == SANDBOX_PATH, start, end, fmt, plan, seed)

    # -- the body -------------------------------------------------------------------------

    def _scores(
        self, sandbox: bool, start: dt.datetime, end: dt.datetime, fmt: str, plan: _Plan,
        seed: int,
    ) -> Answer:
        end = end if sandbox else min(end, self.now())
        per_day = self.per_day

        def reports() -> Iterator[population.Report]:
            if sandbox:
                return iter(population.sample_reports())
            if start >= end:
                return iter(())
            return population.reports(start, end, seed=seed, per_day=per_day)

        cut: _Cut | None = None
        if plan.body is not None:
            if sandbox:
                n = len(population.sample_reports())
            else:
                n = population.count(start, end, seed=seed, per_day=per_day) if start < end else 0
            if n:
                how = plan.body.kind.removeprefix("truncate-")
                if how == "truncate":
                    how = plan.draws.pick(("close", "short"))
                cut = _Cut(plan.draws.below(n), plan.draws.random(), how)
        fault = None
        if cut is not None:
            fault = "reset" if cut.how == "reset" else f"truncate-{cut.how}"
        if plan.stall:
            fault = f"{fault}+slow" if fault else "slow"
        content_type = _JSON if fmt == "json" else _TEXT
        body = _json_body(reports(), cut) if fmt == "json" else _text_body(reports(), cut)
        return Answer(200, {"content-type": content_type}, body, stall=plan.stall, fault=fault)


def _bad_date(name: str, value: str) -> Answer:
    return _error(
        400,
        f"{name} {value!r} is not a date and time in the format YYYY-MM-DDTHH:mm:ss "
        "(UTC, no offset), e.g. 2025-04-21T16:45:03",
    )


def _instant(text: str) -> dt.datetime | None:
    text = text.strip()
    if not _API_DATE.fullmatch(text):
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _cut_piece(piece: bytes, skip: int, fraction: float) -> bytes:
    """The part of ``piece`` sent before a cut inside its record (after ``skip`` bytes)."""
    size = len(piece) - skip
    return piece[: skip + min(size - 1, max(1, int(size * fraction)))]


def _text_body(reports: Iterator[population.Report], cut: _Cut | None) -> Iterator[bytes]:
    return _body(reports, cut, text_lines, CHUNK // 1601)


def _json_body(reports: Iterator[population.Report], cut: _Cut | None) -> Iterator[bytes]:
    return _body(reports, cut, json_objects, CHUNK // 1100, head=b'{"data":[', foot=b"]}")


def _body(
    reports: Iterator[population.Report],
    cut: _Cut | None,
    render: Callable[[Iterable[population.Report], list[bytes]], int],
    per_chunk: int,
    *,
    head: bytes = b"",
    foot: bytes = b"",
) -> Iterator[bytes]:
    """``head``, the reports rendered ``per_chunk`` at a time (the first chunk holds a few
    only), ``foot``. A JSON object's pieces start with the comma that separates it from the
    one before, which the first one drops. A ``cut`` ends the body inside its record."""
    out = [head]
    sent = done = 0
    whole = -1 if cut is None else cut.index  # the reports sent whole, all if negative
    size = _FIRST_CHUNK
    while done != whole:
        n = render(itertools.islice(reports, size if whole < 0 else min(size, whole - done)), out)
        if head and not done and n:
            out[1] = out[1][1:]
        done += n
        if n < size and done != whole:
            break  # the last reports
        chunk = b"".join(out)
        sent += len(chunk)
        yield chunk
        out.clear()
        size = per_chunk
    if cut is not None:
        record: list[bytes] = []
        render(itertools.islice(reports, 1), record)
        skip = 1 if head else 0  # the comma before a JSON object is sent whole
        if head and not cut.index:
            record[0] = record[0][1:]
            skip = 0
        out.append(_cut_piece(b"".join(record), skip, cut.fraction))
        chunk = b"".join(out)
        yield chunk
        if cut.how != "short":
            raise ConnectionDropped(cut.how, sent + len(chunk))
        return
    out.append(foot)
    chunk = b"".join(out)
    if chunk:
        yield chunk
