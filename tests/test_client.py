"""The API client against in-process fakes (httpx.MockTransport): no network, no waiting."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import stamina

from toefl_access.api.client import (
    PRODUCTION_URL,
    SANDBOX_URL,
    Body,
    Client,
    client_from_env,
)
from toefl_access.errors import (
    KEY_ADVICE,
    ApiError,
    AuthenticationError,
    BadRequestError,
    DateError,
    ForbiddenError,
    InputError,
    KeyFormatError,
    RateLimitedError,
    ServerError,
    TransportError,
    TruncatedResponseError,
    UsageError,
)
from toefl_access.formats import layout as layouts
from toefl_access.formats.jsonformat import to_object
from toefl_access.formats.record import Record
from toefl_access.formats.textformat import render
from toefl_access.formats.textread import BATCH

SECRET = "s3cr3t-Value-42"
KEY = base64.b64encode(f"client-7:{SECRET}".encode()).decode()


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """stamina's test mode: the client's own number of attempts, and no waiting."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def make_records(n: int, *, layout: str = layouts.CURRENT) -> list[Record]:
    out = []
    for i in range(n):
        values: dict[str, Any] = {
            "institution_code": "B123" if i % 2 else "9876",
            "department_code": "99",
            "registration_number": f"{1000000000000000 + i:016d}",
            "last_name": "Ñúñez-Łukasz" if i % 3 == 0 else f"Smith{i}",
            "first_name": "Zoë",
            "test_date": dt.date(2025, 3, 1 + i % 28),
            "listening": 20, "reading": 21, "speaking": 22, "writing": 23, "total": 86,
        }
        out.append(Record(values=values, layout=layout, line=i + 1, raw=b""))
    return out


def text_body(records: list[Record], newline: bytes = b"\n") -> bytes:
    return b"".join(render(r) + newline for r in records)


def json_body(records: list[Record]) -> bytes:
    return msgspec.json.encode({"data": [to_object(r) for r in records]})


class Fake:
    """A fake API: answers in turn (the last one repeats); records every request."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    def client(self, **kw: Any) -> Client:
        return Client(authcode=KEY, transport=httpx.MockTransport(self), **kw)


def ok(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, content=body)


def status(code: int, text: str = "", *, retry_after: str = "", location: str = ""
           ) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"Retry-After": retry_after} if retry_after else {}
    if location:
        headers["Location"] = location
    return lambda request: httpx.Response(code, text=text, headers=headers)


class Chunks(httpx.SyncByteStream):
    """A body sent in pieces, optionally failing after them (a connection closed early)."""

    def __init__(self, pieces: list[bytes], fail: Exception | None = None) -> None:
        self.pieces = pieces
        self.fail = fail
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            self.sent += 1
            yield piece
        if self.fail is not None:
            raise self.fail


def streamed(stream: Chunks) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, stream=stream)


def cut_after(body: bytes, n: int) -> Callable[[httpx.Request], httpx.Response]:
    closed = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    return lambda request: httpx.Response(200, stream=Chunks([body[:n]], closed))


# -- the key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "not base64 at all!",
        base64.b64encode(b"no-colon-here").decode(),
        base64.b64encode(b":secret-only").decode(),
        base64.b64encode(b"id-only:").decode(),
        KEY[:-2],  # padding lost
        "ключ",
    ],
)
def test_a_malformed_key_is_refused_before_anything_is_sent(bad: str) -> None:
    fake = Fake(ok(b""))
    with pytest.raises(KeyFormatError) as info:
        Client(authcode=bad, transport=httpx.MockTransport(fake))
    assert fake.requests == []
    assert info.value.exit_code == 2
    assert "TOEFL Access" in str(info.value)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_the_key_goes_only_in_the_authcode_header() -> None:
    fake = Fake(ok(b""))
    with fake.client() as client:
        assert list(client.fetch("2025-04-21T16:45:03", "2025-04-22T16:52:13")) == []
    (request,) = fake.requests
    assert request.headers["authcode"] == KEY
    assert KEY not in str(request.url) and SECRET not in str(request.url)
    assert request.method == "GET"


def test_blanks_around_the_key_are_dropped() -> None:
    fake = Fake(ok(b""))
    client = Client(authcode=f"  {KEY}\n", transport=httpx.MockTransport(fake))
    list(client.fetch("2025-04-21", "2025-04-22"))
    assert fake.requests[0].headers["authcode"] == KEY


def test_the_key_appears_in_no_repr() -> None:
    client = Client(authcode=KEY)
    assert KEY not in repr(client) and SECRET not in repr(client)
    assert "hidden" in repr(client)
    assert KEY not in repr(vars(client))
    assert client.key_fingerprint == hashlib.sha256(KEY.encode()).hexdigest()[:12]


def test_a_server_that_echoes_the_key_has_it_scrubbed_from_errors() -> None:
    fake = Fake(status(400, f"Invalid credentials format: {KEY} / {SECRET}"))
    with pytest.raises(BadRequestError) as info:
        list(fake.client().fetch("2025-04-21", "2025-04-22"))
    for text in (str(info.value), info.value.body, repr(info.value), info.value.url):
        assert KEY not in text and SECRET not in text


# -- the base URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765/scores", "http://127.9.8.7/scores", "http://[::1]:9/scores",
     "http://localhost:8765/scores", "http://LOCALHOST/scores", PRODUCTION_URL, SANDBOX_URL,
     "https://example.org/scores"],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    assert Client(authcode=KEY, base_url=url).base_url == url.replace("LOCALHOST", "localhost")


@pytest.mark.parametrize(
    "url",
    ["http://toeflaccess-api.ets.org/scores", "http://10.0.0.1/scores", "http://128.0.0.1/x",
     "http://localhost.evil.com/scores", "ftp://127.0.0.1/scores", "not a url", "",
     "https://user:pw@example.org/scores", "https://example.org/scores?authcode=x"],
)
def test_plain_http_elsewhere_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        Client(authcode=KEY, base_url=url)


def test_no_redirect_is_followed_since_the_key_would_go_along() -> None:
    fake = Fake(status(302, location="https://elsewhere.example/scores"))
    with pytest.raises(ApiError) as info:
        list(fake.client().fetch("2025-04-21", "2025-04-22"))
    assert len(fake.requests) == 1
    assert "redirect" in str(info.value) and "elsewhere.example" in str(info.value)


# -- the request ---------------------------------------------------------------------------


def params(fake: Fake) -> dict[str, str]:
    return dict(fake.requests[-1].url.params)


def test_the_documented_parameters_are_sent_for_json_and_text() -> None:
    fake = Fake(ok(b""))
    client = fake.client()
    list(client.fetch("2025-04-21T16:45:03", "2025-04-22T16:52:13"))
    assert params(fake) == {
        "startdate": "2025-04-21T16:45:03", "enddate": "2025-04-22T16:52:13",
        "type": "TOEFL", "reportby": "scorelinkbyreportdate", "format": "json",
    }
    assert fake.requests[-1].url.path == "/scores"
    list(client.fetch("2025-04-21T16:45:03", "2025-04-22T16:52:13", format="text"))
    assert "format" not in params(fake)
    client.fetch_body("2025-04-21", "2025-04-22", type="GRE", reportby="other")
    assert params(fake)["type"] == "GRE" and params(fake)["reportby"] == "other"
    assert "format" not in params(fake)  # fetch_body defaults to the fixed-length text


@pytest.mark.parametrize(
    ("start", "end", "sent"),
    [
        (dt.datetime(2025, 4, 21, 16, 45, 3), dt.datetime(2025, 4, 22),
         ("2025-04-21T16:45:03", "2025-04-22T00:00:00")),  # naive: UTC
        (dt.datetime(2025, 4, 21, 18, 45, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))),
         dt.datetime(2025, 4, 22, tzinfo=dt.UTC), ("2025-04-21T16:45:03", "2025-04-22T00:00:00")),
        ("2025-04-21", "2025-04-22", ("2025-04-21T00:00:00", "2025-04-22T00:00:00")),
        ("2025-04-21T16:45:03Z", "2025-04-21T18:45:04+02:00",
         ("2025-04-21T16:45:03", "2025-04-21T16:45:04")),
        (dt.datetime(2025, 4, 21, 0, 0, 0, 700000), dt.datetime(2025, 4, 21, 0, 0, 0, 900000),
         ("2025-04-21T00:00:00", "2025-04-21T00:00:01")),  # widened to whole seconds
    ],
)
def test_dates_are_sent_in_utc_without_offset(start: Any, end: Any, sent: tuple[str, str]) -> None:
    fake = Fake(ok(b""))
    body = fake.client().fetch_body(start, end)
    assert (params(fake)["startdate"], params(fake)["enddate"]) == sent
    assert body.start.tzinfo is not None
    api = "%Y-%m-%dT%H:%M:%S"
    assert (body.start.strftime(api), body.end.strftime(api)) == sent


@pytest.mark.parametrize(
    ("start", "end", "named"),
    [
        ("2025-04-22", "2025-04-21", "2025-04-22T00:00:00"),
        ("2025-04-21", "2025-04-21", "2025-04-21T00:00:00"),
        ("21/04/2025", "2025-04-22", "21/04/2025"),
        ("2025-04-21", "tomorrow", "tomorrow"),
        ("2025-02-30", "2025-04-22", "2025-02-30"),
        (20250421, "2025-04-22", "20250421"),
    ],
)
def test_bad_windows_fail_before_any_request_naming_the_value(
    start: Any, end: Any, named: str
) -> None:
    fake = Fake(ok(b""))
    client = fake.client()
    for call in (client.fetch, client.fetch_body, client.fetch_raw):
        with pytest.raises(DateError) as info:
            call(start, end)
        assert named in str(info.value)
    assert fake.requests == []


def test_unknown_format_is_refused() -> None:
    with pytest.raises(UsageError, match="xml"):
        Fake(ok(b"")).client().fetch("2025-04-21", "2025-04-22", format="xml")


# -- the answers -------------------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_text_and_json_answers_yield_equal_records(newline: bytes) -> None:
    records = make_records(30)
    text = Fake(ok(text_body(records, newline))).client()
    json = Fake(ok(json_body(records))).client()
    a = list(text.fetch("2025-04-21", "2025-04-22", format="text"))
    b = list(json.fetch("2025-04-21", "2025-04-22", format="json"))
    assert len(a) == len(b) == 30
    assert all(x.same_report(y) for x, y in zip(a, b, strict=True))
    assert a[0]["last_name"] == "Ñúñez-Łukasz" and a[0]["test_date"] == dt.date(2025, 3, 1)
    assert [r.format for r in a[:1] + b[:1]] == ["text", "json"]


def test_a_json_answer_may_be_a_bare_array_and_a_last_line_need_not_end() -> None:
    records = make_records(3)
    bare = msgspec.json.encode([to_object(r) for r in records])
    assert len(list(Fake(ok(bare)).client().fetch("2025-04-21", "2025-04-22"))) == 3
    text = text_body(records).rstrip(b"\n")
    got = list(Fake(ok(text)).client().fetch("2025-04-21", "2025-04-22", format="text"))
    assert [r["registration_number"] for r in got] == [r["registration_number"] for r in records]


def test_the_legacy_layout_is_recognised() -> None:
    records = make_records(4, layout=layouts.LEGACY)
    got = list(Fake(ok(text_body(records))).client().fetch("2025-04-21", "2025-04-22",
                                                            format="text"))
    assert [r.layout for r in got] == [layouts.LEGACY] * 4


@pytest.mark.parametrize("body", [b"", b"\n", b"  \r\n\n"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_empty_answer_holds_no_records(body: bytes, fmt: str) -> None:
    client = Fake(ok(body)).client()
    assert list(client.fetch("2025-04-21", "2025-04-22", format=fmt)) == []
    assert client.fetch_body("2025-04-21", "2025-04-22", format=fmt).content == body


def test_fetch_parses_records_while_the_body_arrives() -> None:
    # lines are parsed a batch at a time: the first record comes after one batch
    records = make_records(3 * BATCH)
    stream = Chunks([render(r) + b"\n" for r in records])
    client = Fake(streamed(stream)).client()
    got = client.fetch("2025-04-21", "2025-04-22", format="text")
    first = next(got)
    assert first["registration_number"] == records[0]["registration_number"]
    assert stream.sent <= BATCH + 2  # the rest has not even been sent yet
    assert got.raw is not None and got.raw.nbytes < (BATCH + 3) * 1601
    assert len(list(got)) == 3 * BATCH - 1 and got.count == 3 * BATCH


def test_json_is_parsed_while_the_body_arrives() -> None:
    records = make_records(2000)
    body = json_body(records)
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    stream = Chunks(pieces)
    got = Fake(streamed(stream)).client().fetch("2025-04-21", "2025-04-22")
    next(got)
    assert stream.sent < len(pieces) // 4
    assert got.count == 1 and len(list(got)) == 1999


def test_fetch_raw_gives_the_bytes_and_their_metadata() -> None:
    body = text_body(make_records(5))
    pieces = [body[:1000], body[1000:5000], body[5000:]]
    client = Fake(streamed(Chunks(pieces))).client()
    with client.fetch_raw("2025-04-21", "2025-04-22", format="text") as raw:
        assert raw.status == 200 and raw.nbytes == 0 and raw.elapsed is None
        assert raw.format == "text" and raw.start == dt.datetime(2025, 4, 21, tzinfo=dt.UTC)
        got = list(raw.iter_bytes())
        assert got == pieces
        assert raw.complete and raw.nbytes == len(body)
        assert raw.sha256 == hashlib.sha256(body).hexdigest()
        assert raw.elapsed is not None and raw.elapsed >= 0
        assert KEY not in raw.url
        with pytest.raises(UsageError):
            raw.read()


def test_fetch_body_is_the_whole_body_with_its_metadata() -> None:
    body = json_body(make_records(7))
    fake = Fake(ok(body))
    got = fake.client().fetch_body("2025-04-21", "2025-04-22", format="json")
    assert isinstance(got, Body)
    assert got.content == body and got.nbytes == len(body) and got.status == 200
    assert got.sha256 == hashlib.sha256(body).hexdigest() and got.attempts == 1
    assert got.format == "json" and got.end == dt.datetime(2025, 4, 22, tzinfo=dt.UTC)
    assert "content" not in repr(got) and str(len(body)) in repr(got)


# -- errors --------------------------------------------------------------------------------


def test_400_carries_the_server_text_and_is_not_retried() -> None:
    fake = Fake(status(400, "startdate is required"))
    with pytest.raises(BadRequestError) as info:
        fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert info.value.status == 400 and info.value.body == "startdate is required"
    assert "startdate is required" in str(info.value)
    assert len(fake.requests) == 1


def test_400_invalid_credentials_gives_the_key_advice() -> None:
    fake = Fake(status(400, "Invalid credentials format"))
    with pytest.raises(BadRequestError) as info:
        fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert KEY_ADVICE in str(info.value)


def test_401_gives_the_advice_to_generate_a_key_and_the_gre_warning() -> None:
    fake = Fake(status(401, "Unauthorized"))
    with pytest.raises(AuthenticationError) as info:
        list(fake.client().fetch("2025-04-21", "2025-04-22"))
    message = str(info.value)
    assert KEY_ADVICE in message
    assert "Integrations" in message and "Generate" in message and "GRE" in message
    assert info.value.exit_code == 2 and info.value.status == 401
    assert len(fake.requests) == 1


def test_403_is_forbidden_and_not_retried() -> None:
    fake = Fake(status(403))
    with pytest.raises(ForbiddenError):
        fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert len(fake.requests) == 1


def test_404_names_the_base_url() -> None:
    with pytest.raises(ApiError, match="TOEFL_ACCESS_BASE_URL"):
        Fake(status(404)).client().fetch_body("2025-04-21", "2025-04-22")


@pytest.mark.parametrize(("code", "error"), [(500, ServerError), (502, ServerError),
                                             (503, ServerError), (429, RateLimitedError)])
def test_5xx_and_429_are_retried_a_bounded_number_of_times(code: int, error: type) -> None:
    fake = Fake(status(code, "busy"))
    with pytest.raises(error) as info:
        fake.client(retries=4).fetch_body("2025-04-21", "2025-04-22")
    assert len(fake.requests) == 4
    assert info.value.status == code and "4 attempts" in str(info.value)


def test_a_retry_that_succeeds_is_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    body = text_body(make_records(2))
    fake = Fake(status(503), status(429), cut_after(body, 100), ok(body))
    caplog.set_level(logging.DEBUG)
    got = fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert got.content == body and got.attempts == 4 and len(fake.requests) == 4
    retries = [r for r in caplog.records if r.name == "toefl_access.api.client"
               and r.levelno >= logging.WARNING]
    assert len(retries) == 3
    assert "attempt 2 of 5" in retries[0].getMessage()
    assert "after 100 bytes" in retries[2].getMessage()
    assert KEY not in caplog.text and SECRET not in caplog.text


def test_default_is_five_attempts() -> None:
    fake = Fake(status(500))
    with pytest.raises(ServerError):
        fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert len(fake.requests) == 5


@pytest.mark.parametrize("fetch", ["fetch", "fetch_raw", "fetch_body"])
def test_connection_errors_and_timeouts_are_transport_errors(fetch: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    for handler, words in ((refuse, "cannot connect"), (slow, "timed out")):
        fake = Fake(handler)
        client = fake.client(retries=2)
        with pytest.raises(TransportError) as info:
            answer = getattr(client, fetch)("2025-04-21", "2025-04-22")
            if fetch == "fetch":
                list(answer)
            elif fetch == "fetch_raw":
                answer.__enter__()
        assert words in str(info.value) and info.value.exit_code == 3
        assert len(fake.requests) == 2


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
                                       usegmt=True)
    body = text_body(make_records(1))
    fake = Fake(status(429, retry_after="7"), status(503, retry_after=when), status(500),
                ok(body))
    with stamina.set_testing(False):
        got = fake.client().fetch_body("2025-04-21", "2025-04-22")
    assert got.attempts == 4
    assert sleeps[0] == 7.0
    assert 25 <= sleeps[1] <= 30
    assert 4.0 <= sleeps[2] <= 5.0  # the third try: exponential backoff 1 * 2**2 + jitter


def test_a_retry_after_beyond_the_limit_gives_up_at_once_saying_when() -> None:
    fake = Fake(status(429, "slow down", retry_after="3600"))
    with pytest.raises(RateLimitedError) as info:
        fake.client(max_retry_after=300).fetch_body("2025-04-21", "2025-04-22")
    assert len(fake.requests) == 1
    assert info.value.retry_after == 3600
    assert "try again after" in str(info.value) and "UTC" in str(info.value)


# -- bodies cut short ------------------------------------------------------------------------


def test_a_connection_closed_early_names_the_offset() -> None:
    body = text_body(make_records(3))
    fake = Fake(cut_after(body, 2000))
    with pytest.raises(TruncatedResponseError) as info:
        fake.client(retries=2).fetch_body("2025-04-21", "2025-04-22")
    assert info.value.offset == 2000 and "2000" in str(info.value)
    assert len(fake.requests) == 2


def test_a_reset_mid_body_is_a_truncation() -> None:
    body = json_body(make_records(3))
    reset = httpx.ReadError("[Errno 104] Connection reset by peer")
    fake = Fake(lambda r: httpx.Response(200, stream=Chunks([body[:50]], reset)))
    with pytest.raises(TruncatedResponseError) as info:
        fake.client(retries=1).fetch_body("2025-04-21", "2025-04-22", format="json")
    assert info.value.offset == 50


@pytest.mark.parametrize("newline", [b"", b"\n", b"\r\n", b"\n\n"])
def test_a_last_line_shorter_than_a_record_is_a_truncation(newline: bytes) -> None:
    body = text_body(make_records(3))
    cut = body[: 2 * 1601 + 700] + newline  # the server ended the answer inside record 3
    for fetch in ("fetch", "fetch_body"):
        fake = Fake(ok(cut))
        with pytest.raises(TruncatedResponseError) as info:
            answer = getattr(fake.client(retries=2), fetch)("2025-04-21", "2025-04-22",
                                                             format="text")
            list(answer) if fetch == "fetch" else None
        assert info.value.offset == 2 * 1601 + 700
        assert "700 of 1600 bytes" in str(info.value)


def test_raw_readers_learn_of_a_cut_at_the_end_of_the_body() -> None:
    body = text_body(make_records(3))[:-300]
    with Fake(ok(body)).client().fetch_raw("2025-04-21", "2025-04-22", format="text") as raw:
        got = bytearray()
        with pytest.raises(TruncatedResponseError):
            for chunk in raw.iter_bytes():
                got += chunk
        assert bytes(got) == body and not raw.complete


@pytest.mark.parametrize("cut", [0, 1, 500, -1])
def test_json_that_stops_early_is_a_truncation(cut: int) -> None:
    body = json_body(make_records(3))
    short = body[:cut] if cut >= 0 else body[:-1]
    if not short:
        short = b"   {"
    for fetch in ("fetch", "fetch_body"):
        fake = Fake(ok(short))
        seen = []
        with pytest.raises(TruncatedResponseError) as info:
            answer = getattr(fake.client(retries=2), fetch)("2025-04-21", "2025-04-22",
                                                             format="json")
            if fetch == "fetch":
                seen.extend(answer)
        assert info.value.offset == len(short)
        # retried as a whole, unless records were already handed over
        assert len(fake.requests) == (1 if seen else 2)


def test_invalid_json_is_an_input_error_not_retried() -> None:
    fake = Fake(ok(b'{"data": [{"registration_number": 1} x]}'))
    with pytest.raises(InputError, match="not valid JSON"):
        fake.client().fetch_body("2025-04-21", "2025-04-22", format="json")
    assert len(fake.requests) == 1


def test_a_short_line_inside_the_body_is_refused_naming_its_line() -> None:
    records = make_records(3)
    body = render(records[0]) + b"\n" + render(records[1])[:900] + b"\n" + render(records[2])
    with pytest.raises(InputError) as info:
        list(Fake(ok(body)).client().fetch("2025-04-21", "2025-04-22", format="text"))
    assert not isinstance(info.value, ApiError) and info.value.line == 2


def test_a_failure_after_records_were_yielded_is_raised_not_retried() -> None:
    body = text_body(make_records(100))
    fake = Fake(cut_after(body, 50 * 1601 + 10), ok(body))
    got = fake.client().fetch("2025-04-21", "2025-04-22", format="text")
    seen = []
    with pytest.raises(TruncatedResponseError) as info:
        for record in got:
            seen.append(record)
    assert len(seen) == 50 and len(fake.requests) == 1
    assert info.value.offset == 50 * 1601 + 10


def test_a_failure_before_the_first_record_is_retried() -> None:
    body = text_body(make_records(5))
    fake = Fake(status(502), cut_after(body, 800), ok(body))
    got = list(fake.client().fetch("2025-04-21", "2025-04-22", format="text"))
    assert len(got) == 5 and len(fake.requests) == 3


def test_closing_a_record_stream_early_closes_the_answer() -> None:
    body = text_body(make_records(3 * BATCH))
    stream = Chunks([body[i : i + 1601] for i in range(0, len(body), 1601)])
    with Fake(streamed(stream)).client().fetch("2025-04-21", "2025-04-22", format="text") as got:
        next(got)
    assert stream.sent < 2 * BATCH


# -- check_key -----------------------------------------------------------------------------


def test_check_key_makes_one_small_request() -> None:
    fake = Fake(ok(b'{"data": []}'))
    assert fake.client().check_key() is None
    (request,) = fake.requests
    start = dt.datetime.fromisoformat(request.url.params["startdate"])
    end = dt.datetime.fromisoformat(request.url.params["enddate"])
    assert end - start == dt.timedelta(seconds=1)


def test_check_key_raises_when_refused_and_does_not_retry() -> None:
    with pytest.raises(AuthenticationError):
        Fake(status(401)).client().check_key()
    fake = Fake(status(503))
    with pytest.raises(ServerError):
        fake.client().check_key()
    assert len(fake.requests) == 1


# -- from the environment ------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TOEFL_ACCESS_AUTHCODE", "TOEFL_ACCESS_AUTHCODE_FILE", "TOEFL_ACCESS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_client_from_env_reads_the_key_and_the_url(env: pytest.MonkeyPatch) -> None:
    env.setenv("TOEFL_ACCESS_AUTHCODE", KEY)
    assert client_from_env().base_url == PRODUCTION_URL
    assert client_from_env(sandbox=True).base_url == SANDBOX_URL
    env.setenv("TOEFL_ACCESS_BASE_URL", "http://127.0.0.1:9999/scores")
    client = client_from_env(retries=2)
    assert client.base_url == "http://127.0.0.1:9999/scores" and client.retries == 2
    assert client_from_env(sandbox=True).base_url == SANDBOX_URL


def test_client_from_env_reads_a_key_file(env: pytest.MonkeyPatch, tmp_path: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    env.setenv("TOEFL_ACCESS_AUTHCODE_FILE", str(path))
    fake = Fake(ok(b""))
    client_from_env(transport=httpx.MockTransport(fake)).fetch_body("2025-04-21", "2025-04-22")
    assert fake.requests[0].headers["authcode"] == KEY
    assert "other users" not in caplog.text
    path.chmod(0o644)
    client_from_env()
    assert "other users" in caplog.text and KEY not in caplog.text


@pytest.mark.parametrize("setup", ["none", "both", "missing", "empty", "bad"])
def test_client_from_env_says_what_to_do_without_a_key(setup: str, env: pytest.MonkeyPatch,
                                                       tmp_path: Any) -> None:
    path = tmp_path / "key"
    path.write_text({"empty": "\n", "bad": "hunter2"}.get(setup, KEY))
    if setup == "both":
        env.setenv("TOEFL_ACCESS_AUTHCODE", KEY)
    if setup != "none":
        env.setenv("TOEFL_ACCESS_AUTHCODE_FILE",
                   str(tmp_path / "nope") if setup == "missing" else str(path))
    with pytest.raises(UsageError) as info:
        client_from_env()
    assert {"none": "TOEFL_ACCESS_AUTHCODE", "both": "unset one", "missing": "does not exist",
            "empty": "empty", "bad": "Base64"}[setup] in str(info.value)
    assert KEY not in str(info.value) and "hunter2" not in str(info.value)
