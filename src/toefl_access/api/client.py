"""The TOEFL Access API client: a window of score reports, as records or as bytes.

::

    from toefl_access.api.client import Client

    with Client(authcode=KEY) as client:          # the key's form is checked here
        for record in client.fetch("2025-04-21", "2025-04-22"):
            print(record["last_name"], record["total"])

:meth:`Client.fetch` parses records while the body arrives (a million records never sit in
memory); :meth:`Client.fetch_raw` hands over the body as a byte stream with its status,
size, SHA-256 and time; :meth:`Client.fetch_body` reads a whole body, checks that it is
complete and retries it as a whole. :func:`client_from_env` builds a client from
``TOEFL_ACCESS_AUTHCODE`` (or the file named by ``TOEFL_ACCESS_AUTHCODE_FILE``) and
``TOEFL_ACCESS_BASE_URL``.

Every failure is a :mod:`toefl_access.errors` exception that says what to do next; this
module is the one place where httpx's errors are translated. The key travels only in the
``authcode`` header: never in a URL, a log line, a message or a ``repr``. Plain ``http://``
is refused except to loopback hosts (the mock server); certificates are always verified;
redirects are not followed (the key would go along).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
import os
import time
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, NamedTuple, NoReturn

import httpx
import stamina

from .._version import __version__
from ..errors import (
    KEY_ADVICE,
    ApiError,
    AuthenticationError,
    BadRequestError,
    DateError,
    ForbiddenError,
    RateLimitedError,
    ServerError,
    ToeflAccessError,
    TransportError,
    TruncatedResponseError,
    UsageError,
    printable,
)
from ..formats.record import Record
from .answers import Body, RawResponse, RecordStream
from .apikey import Secret, check_authcode, decode_key, read_authcode
from .dates import api_format, check_window, parse_instant
from .hosts import is_loopback

__all__ = [
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "Body",
    "Client",
    "RawResponse",
    "RecordStream",
    "check_authcode",
    "client_from_env",
    "read_authcode",
]

PRODUCTION_URL = "https://toeflaccess-api.ets.org/scores"
SANDBOX_URL = "https://toeflaccess-tst-api.ets.org/scores/sample-data"
ENV_BASE_URL = "TOEFL_ACCESS_BASE_URL"
FORMATS = ("json", "text")
REPORTBY = "scorelinkbyreportdate"

log = logging.getLogger("toefl_access.api.client")

# stamina's exponential backoff: about 1, 2, 4, 8 s (plus up to 1 s of jitter), at most 30.
BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_JITTER = 1.0, 30.0, 1.0
_RETRYABLE = (RateLimitedError, ServerError, TransportError, TruncatedResponseError)
_ERROR_TEXT_LIMIT = 4096


# -- the URL and the window ---------------------------------------------------------------



def check_base_url(base_url: str) -> tuple[str, bool]:
    """The base URL and whether it is a loopback one; refuses plain http elsewhere."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        url = httpx.URL("invalid:")
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"the base URL {base_url!r} is not an https:// URL like {PRODUCTION_URL}")
    if url.userinfo or url.query or url.fragment:
        raise UsageError(
            f"the base URL {url.scheme}://{url.host}{url.path} must not carry a user, a query "
            "or a fragment: the key goes in a header, and the client adds the query itself"
        )
    loopback = is_loopback(url.host)
    if url.scheme == "http" and not loopback:
        raise UsageError(
            f"refusing to send the API key over plain http to {url.host}: use https:// "
            "(http:// is allowed only for loopback hosts such as 127.0.0.1 or localhost, "
            "e.g. the mock server)"
        )
    return str(url), loopback


def window(start: object, end: object) -> tuple[dt.datetime, dt.datetime]:
    """The UTC window the API is asked for, in whole seconds (widened, never narrowed).

    Strings are read by :func:`toefl_access.api.dates.parse_instant`; aware datetimes are
    converted to UTC and naive ones taken as UTC. The API takes whole seconds, so the start
    is rounded down and the end up: a window is never sent narrower, or empty.
    """
    first, last = _instant(start, "start"), _instant(end, "end")
    first = first.replace(microsecond=0)
    if last.microsecond:
        last = last.replace(microsecond=0) + dt.timedelta(seconds=1)
    return check_window(first, last)


def _instant(value: object, what: str) -> dt.datetime:
    if isinstance(value, str | dt.date):
        return parse_instant(value, what=what)
    raise DateError(
        f"{what} {value!r} is not a date or time; pass a datetime or a string like "
        "2025-04-21T16:45:03"
    )


def _retry_after(value: str | None) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date)."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


class _Request(NamedTuple):
    params: dict[str, str]
    format: str
    start: dt.datetime
    end: dt.datetime
    label: str


# -- httpx's errors, translated here and only here ----------------------------------------


def _where(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


@contextmanager
def _translated(url: str, *, received: int | None = None, timeout: float = 0.0) -> Iterator[None]:
    """httpx's exceptions as the project's; ``received`` is set while reading a body."""
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise _foreign(exc, url, received, timeout) from None


def _foreign(exc: Exception, url: str, received: int | None, timeout: float) -> ToeflAccessError:
    where = _where(url)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: f"connecting to {where}",
            httpx.PoolTimeout: "waiting for a free connection",
            httpx.WriteTimeout: f"sending to {where}",
        }.get(type(exc), f"waiting for {where} to answer")
        after = f" after {received} bytes of the body" if received else ""
        return TransportError(
            f"timed out ({timeout:g}s) {kind}{after}; try again later, or ask for a smaller "
            "window or a longer timeout",
            url=url,
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        if received is None:
            return TransportError(
                f"the connection to {where} broke before an answer ({detail}); try again later",
                url=url,
            )
        return TruncatedResponseError(
            f"the connection closed after {received} bytes, before the answer was complete "
            f"({detail}); try again",
            offset=received,
            url=url,
        )
    if isinstance(exc, httpx.DecodingError):
        return ServerError(f"{where} sent a body that cannot be decoded ({detail}); try again",
                           url=url)
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE" in detail.upper():
            hint = ("its TLS certificate could not be verified; if your network inspects "
                    "TLS, point SSL_CERT_FILE at its CA bundle")
        else:
            hint = f"check the network, a proxy (HTTPS_PROXY) or {ENV_BASE_URL}"
        return TransportError(f"cannot connect to {where} ({detail}): {hint}", url=url)
    if isinstance(exc, httpx.HTTPError):
        return TransportError(f"the request to {where} failed ({detail}); try again later",
                              url=url)
    return UsageError(f"cannot send the request to {where}: {detail}")


def _chunks(response: httpx.Response, url: str, timeout: float) -> Iterator[bytes]:
    """The body's chunks as they arrive, httpx's errors translated (naming the offset)."""
    received = 0
    chunks = response.iter_bytes()
    while True:
        with _translated(url, received=received, timeout=timeout):
            chunk = next(chunks, None)
        if chunk is None:
            return
        received += len(chunk)
        yield chunk


# -- retries ------------------------------------------------------------------------------


class _Retrying:
    """stamina's attempts for one request, with our rules for what is worth a retry."""

    def __init__(self, client: Client, label: str) -> None:
        self._client = client
        self._label = label
        self.attempt: stamina.Attempt | None = None

    def __iter__(self) -> Iterator[stamina.Attempt]:
        try:
            for attempt in stamina.retry_context(
                on=self._hook, attempts=self._client.retries, timeout=None,
                wait_initial=BACKOFF_INITIAL, wait_max=BACKOFF_MAX, wait_jitter=BACKOFF_JITTER,
            ):
                self.attempt = attempt
                yield attempt
        except ApiError as exc:
            if self.attempt is not None and self.attempt.num > 1:
                exc.message = f"{exc.message} (gave up after {self.attempt.num} attempts)"
                exc.args = (exc.message,)
            raise

    def _hook(self, exc: Exception) -> bool | float:
        if not isinstance(exc, _RETRYABLE):
            return False
        num = self.attempt.num if self.attempt else 1
        wait: float | None = getattr(exc, "retry_after", None)
        if num >= self._client.retries:
            return False
        if wait is not None and wait > self._client.max_retry_after:
            return False
        if isinstance(exc, TransportError) and "certificate" in exc.message:
            return False
        shown = wait if wait is not None else (self.attempt.next_wait if self.attempt else 0.0)
        reason = exc.message.removesuffix("; try again later").removesuffix("; try again")
        log.warning(
            "%s: %s; retrying (attempt %d of %d) in %s%.1fs", self._label, reason, num + 1,
            self._client.retries, "" if wait is not None else "about ", shown,
        )
        return wait if wait is not None else True


# -- the client ---------------------------------------------------------------------------


class Client:
    """A client of the TOEFL Access scores API.

    ``authcode`` is the API key (Base64 of ``clientId:clientSecret``, checked here, before
    anything is sent); ``base_url`` the endpoint (:data:`PRODUCTION_URL`,
    :data:`SANDBOX_URL`, or the mock server on loopback); ``timeout`` seconds for each
    connect and read; ``retries`` the attempts a request gets in all (on 429, 5xx,
    connection errors and bodies cut short, with exponential backoff and jitter, honouring
    ``Retry-After`` up to ``max_retry_after`` seconds); ``max_body_bytes`` the largest
    answer taken (streamed or held in memory), ``max_seconds`` the longest any answer may
    take to arrive and ``min_rate`` the fewest bytes a second it may trickle at, measured
    over every ``timeout`` seconds (an endless or trickling answer is stopped with a clear
    error; so is one with a megabyte of blanks in a row or JSON nested absurdly deep);
    ``transport`` an httpx transport
    (tests use an in-process one). Thread-safe: one client can serve several threads.
    """

    def __init__(
        self,
        *,
        authcode: str,
        base_url: str = PRODUCTION_URL,
        timeout: float = 60.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        max_retry_after: float = 300.0,
        max_body_bytes: int = 1 << 30,
        max_seconds: float = 1800.0,
        min_rate: float = 1024.0,
    ) -> None:
        key = check_authcode(authcode)
        self._key = Secret(key, decode_key(key))
        self.base_url, loopback = check_base_url(base_url)
        if not (isinstance(retries, int) and retries >= 1):
            raise UsageError(f"retries must be a whole number, 1 or more, not {retries!r}")
        if not timeout > 0:
            raise UsageError(f"timeout must be a number of seconds above 0, not {timeout!r}")
        self.timeout = float(timeout)
        self.retries = retries
        self.max_retry_after = float(max_retry_after)
        self.max_body_bytes = max_body_bytes
        self.max_seconds = float(max_seconds)
        self.min_rate = float(min_rate)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=not loopback,  # no proxy between us and a loopback server
            headers={"user-agent": f"toefl-access/{__version__}"},
        )

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.base_url!r}, authcode={self._key!r}, "
            f"timeout={self.timeout:g}, retries={self.retries})"
        )

    @property
    def key_fingerprint(self) -> str:
        """12 hex digits of the key's SHA-256: tells keys apart without showing one."""
        return self._key.fingerprint

    # -- the public calls

    def fetch(
        self, start: str | dt.datetime | dt.date, end: str | dt.datetime | dt.date, *,
        format: str = "json", type: str = "TOEFL", reportby: str = REPORTBY,
    ) -> RecordStream:
        """The records released in ``[start, end]``, parsed while the body arrives.

        The request goes out at the first ``next()``. Failures before the first record are
        retried; one after records were yielded is raised (the caller has the records).
        """
        req = self._request(start, end, format, type, reportby)
        return RecordStream(lambda stream: self._records(req, stream))

    def fetch_raw(
        self, start: str | dt.datetime | dt.date, end: str | dt.datetime | dt.date, *,
        format: str = "json", type: str = "TOEFL", reportby: str = REPORTBY,
    ) -> AbstractContextManager[RawResponse]:
        """A context manager giving the answer as a :class:`RawResponse` (a byte stream).

        Getting an answer is retried; reading its body is not. The body is checked complete
        as it is read.
        """
        return self._raw(self._request(start, end, format, type, reportby))

    def fetch_body(
        self, start: str | dt.datetime | dt.date, end: str | dt.datetime | dt.date, *,
        format: str = "text", type: str = "TOEFL", reportby: str = REPORTBY,
    ) -> Body:
        """The whole answer, checked complete; any failure retries the whole request."""
        req = self._request(start, end, format, type, reportby)
        raw: RawResponse | None = None
        content = b""
        for attempt in _Retrying(self, req.label):
            with attempt:
                raw = self._open(req, attempts=attempt.num, check=True)
                try:
                    content = raw.read()
                finally:
                    raw.close()
        assert raw is not None
        return Body(
            content=content, status=raw.status, sha256=raw.sha256, nbytes=raw.nbytes,
            elapsed=raw.elapsed or 0.0, attempts=raw.attempts, format=req.format,
            start=req.start, end=req.end,
        )

    def check_key(self) -> None:
        """One small request (one second of reports, not retried); returns if the key works.

        Raises :class:`AuthenticationError` (with the advice) when the key is refused,
        :class:`ForbiddenError`, :class:`TransportError` when the API cannot be reached, ...
        """
        end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
        req = self._request(end - dt.timedelta(seconds=1), end, "json", "TOEFL", REPORTBY)
        self._open(req, attempts=1, check=False).close()
        log.info("the API at %s accepts the key", _where(self.base_url))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the machinery

    def _request(
        self, start: object, end: object, format: str, type: str, reportby: str
    ) -> _Request:
        fmt = format.lower() if isinstance(format, str) else format
        if fmt not in FORMATS:
            raise UsageError(f"format {format!r} is not one of: {', '.join(FORMATS)}")
        for name, value in (("type", type), ("reportby", reportby)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"{name} must be a non-empty string, not {value!r}")
        first, last = window(start, end)
        params = {"startdate": api_format(first), "enddate": api_format(last),
                  "type": type, "reportby": reportby}
        if fmt == "json":
            params["format"] = "json"
        label = f"{params['startdate']}..{params['enddate']} ({fmt})"
        return _Request(params, fmt, first, last, label)

    @contextmanager
    def _raw(self, req: _Request) -> Iterator[RawResponse]:
        raw: RawResponse | None = None
        for attempt in _Retrying(self, req.label):
            with attempt:
                raw = self._open(req, attempts=attempt.num, check=True)
        assert raw is not None
        try:
            yield raw
        finally:
            raw.close()

    def _records(self, req: _Request, stream: RecordStream) -> Generator[Record, None, None]:
        opened: tuple[RawResponse, Iterator[Record], Record | None] | None = None
        for attempt in _Retrying(self, req.label):
            with attempt:
                # JSON is checked as it arrives too: the parser that yields the records would
                # follow absurd nesting (``[[[[...``) until memory runs out
                raw = self._open(req, attempts=attempt.num, check=req.format == "json")
                stream.raw = raw
                try:
                    records = raw.records()
                    opened = (raw, records, next(records, None))
                except BaseException:
                    raw.close()
                    raise
        assert opened is not None
        raw, records, first = opened
        try:
            if first is not None:
                yield first
                yield from records
        finally:
            raw.close()

    def _open(
        self, req: _Request, *, attempts: int, check: bool
    ) -> RawResponse:
        """Send the request; a RawResponse for a 2xx answer, else the error it means."""
        request = self._http.build_request(
            "GET", self.base_url, params=req.params, headers={"authcode": self._key.reveal()}
        )
        url = str(request.url)
        log.debug("GET %s (attempt %d)", url, attempts)
        started = time.monotonic()
        with _translated(url, timeout=self.timeout):
            response = self._http.send(request, stream=True)
        if not 200 <= response.status_code < 300:
            try:
                with _translated(url, timeout=self.timeout):
                    text = self._error_text(response)
            finally:
                response.close()
            self._refuse(response, url, text)
        return RawResponse(
            chunks=_chunks(response, url, self.timeout), close=response.close,
            status=response.status_code, url=url, headers=response.headers, format=req.format,
            start=req.start, end=req.end, label=req.label, started=started, attempts=attempts,
            check=check, deadline=started + self.max_seconds, limit=self.max_body_bytes,
            min_rate=(self.timeout, int(self.timeout * self.min_rate)),
        )

    def _error_text(self, response: httpx.Response) -> str:
        data = b""
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= _ERROR_TEXT_LIMIT:
                break
        text = printable(data[:_ERROR_TEXT_LIMIT].decode("utf-8", "replace")).strip()
        return self._key.scrub(text)

    def _refuse(self, response: httpx.Response, url: str, text: str) -> NoReturn:
        status = response.status_code
        said = f": {text}" if text else ""
        where = _where(url)
        kw: dict[str, Any] = {"status": status, "url": url, "body": text}
        if status == 400:
            if "credential" in text.lower():
                raise BadRequestError(f"the API refused the key (400{said}). {KEY_ADVICE}", **kw)
            raise BadRequestError(
                f"the API rejected the request (400{said}); check the dates, type and reportby",
                **kw,
            )
        if status == 401:
            raise AuthenticationError(
                f"the API refused the key (401{said}): it is wrong, expired or the account is "
                f"inactive. {KEY_ADVICE}",
                **kw,
            )
        if status == 403:
            raise ForbiddenError(
                f"the API accepted the key but refuses this request (403{said}); check in TOEFL "
                "Access that the integration covers these scores, or ask help.toeflaccess@ets.org",
                **kw,
            )
        if status == 429 or status >= 500:
            wait = _retry_after(response.headers.get("retry-after"))
            cls: type[RateLimitedError] | type[ServerError] = ServerError
            what = f"the API failed ({status}{said})"
            if status == 429:
                cls, what = RateLimitedError, f"the API asks to slow down (429{said})"
            if wait is not None and wait > self.max_retry_after:
                when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=min(wait, 1e9))
                raise cls(
                    f"{what}; it asks to wait {wait:.0f}s, more than the "
                    f"{self.max_retry_after:g}s this client waits: try again after "
                    f"{when:%Y-%m-%d %H:%M:%S} UTC",
                    retry_after=wait, **kw,
                )
            raise cls(f"{what}; try again later", retry_after=wait, **kw)
        if 300 <= status < 400:
            raise ApiError(
                f"{where} redirects ({status}) to {response.headers.get('location', '?')}; "
                f"redirects are not followed (the key would go along): set {ENV_BASE_URL} to "
                "the final URL",
                **kw,
            )
        if status == 404:
            raise ApiError(f"there is no API at {self.base_url} (404{said}); check {ENV_BASE_URL}",
                           **kw)
        raise ApiError(f"the API answered {status}{said}", **kw)


# -- from the environment -----------------------------------------------------------------


def client_from_env(*, sandbox: bool = False, **settings: Any) -> Client:
    """A :class:`Client` configured from the environment (``settings`` go to it as they are).

    The key comes from ``TOEFL_ACCESS_AUTHCODE`` or the file named by
    ``TOEFL_ACCESS_AUTHCODE_FILE``; the endpoint from ``TOEFL_ACCESS_BASE_URL`` (production
    when unset), or the vendor's sandbox when ``sandbox`` is true.
    """
    if "authcode" not in settings:
        settings["authcode"] = read_authcode()
    if "base_url" not in settings:
        env_url = os.environ.get(ENV_BASE_URL, "").strip()
        if sandbox and env_url:
            log.info("using the sandbox %s, not %s from %s", SANDBOX_URL, env_url, ENV_BASE_URL)
        settings["base_url"] = SANDBOX_URL if sandbox else env_url or PRODUCTION_URL
    return Client(**settings)
