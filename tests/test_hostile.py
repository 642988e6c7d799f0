"""Hostile input: random bytes, JSON, layouts and options, and servers that misbehave.

The rule everywhere: only the project's own errors (or warnings on records), never another
exception, never a hang.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import stamina
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toefl_access.api.client import Client
from toefl_access.cli import main
from toefl_access.errors import ApiError, InputError, LayoutError, ToeflAccessError, TransportError
from toefl_access.formats.layout import parse_layout_csv
from toefl_access.formats.parse import parse
from toefl_access.mock import DEMO_AUTHCODE

WINDOW = ("2026-03-01", "2026-03-02")
# Nothing listens on port 9: a request that gets through the checks fails fast.
ENV = {
    "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE,
    "TOEFL_ACCESS_BASE_URL": "http://127.0.0.1:9/scores",
    "TOEFL_ACCESS_AUTHCODE_FILE": "",
    "TOEFL_ACCESS_DB": "",
}


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def consume(data: bytes, fmt: str) -> None:
    try:
        for record in parse(data, format=fmt):
            assert isinstance(record.warnings, list)
    except ToeflAccessError:
        pass


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=4000), fmt=st.sampled_from(["auto", "text", "json"]))
def test_random_bytes_give_records_or_our_errors(data: bytes, fmt: str) -> None:
    consume(data, fmt)


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(0, 1700), max_size=8), fill=st.sampled_from(b"0 9AZ\xe9\xff"))
def test_random_line_lengths(lengths: list[int], fill: int) -> None:
    consume(b"\n".join(bytes([fill]) * n for n in lengths), "text")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=json_values, wrap=st.booleans())
def test_random_json(doc: Any, wrap: bool) -> None:
    consume(msgspec.json.encode({"data": doc} if wrap else doc), "json")


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(st.text(max_size=8), max_size=8), max_size=6),
    heading=st.sampled_from(
        ["start,end,size,name,kind,label,source", "Start,End,Size,Field Name", "x"]
    ),
)
def test_random_layouts(rows: list[list[str]], heading: str) -> None:
    text = (
        heading
        + "\n"
        + "\n".join(",".join(c.replace(",", "").replace("\n", "") for c in r) for r in rows)
    )
    with contextlib.suppress(LayoutError):
        parse_layout_csv(text, name="fuzz")


@settings(max_examples=60, deadline=None)
@given(start=st.text(max_size=30), end=st.text(max_size=30))
def test_any_fetch_dates_end_in_a_sentence(start: str, end: str) -> None:
    result = CliRunner(env=ENV).invoke(main, ["fetch", "--start", start, "--end", end])
    assert result.exit_code in (1, 3, 64), result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@settings(max_examples=60, deadline=None)
@given(
    option=st.sampled_from(
        ["--window", "--lookback", "--lag", "--since", "--until", "--concurrency", "--format"]
    ),
    value=st.text(max_size=20),
)
def test_any_sync_option_ends_in_a_sentence(option: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = CliRunner(env=ENV).invoke(
            main, ["sync", "--db", f"sqlite:///{tmp}/f.db", option, value]
        )
    assert result.exit_code in (1, 3, 64), result.output  # 2 means only "key refused"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def serve_with(handler: Any, **kw: Any) -> Client:
    return Client(
        authcode=DEMO_AUTHCODE,
        base_url="http://127.0.0.1/scores",
        transport=httpx.MockTransport(handler),
        **kw,
    )


def test_an_html_page_is_refused_at_once() -> None:
    calls = itertools.count()

    def handler(request: httpx.Request) -> httpx.Response:
        next(calls)
        return httpx.Response(
            200,
            headers={"content-type": "text/html"},
            content=b"<html><body>Please sign in</body></html>",
        )

    with serve_with(handler) as client, pytest.raises(InputError, match="web page"):
        client.fetch_body(*WINDOW)
    assert next(calls) == 1  # not retried: another try gets the same page


class Endless(httpx.SyncByteStream):
    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause

    def __iter__(self) -> Iterator[bytes]:
        while True:
            if self.pause:
                time.sleep(self.pause)
            yield b" " * 1599 + b"\n"


def test_an_endless_answer_is_stopped_at_the_size_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    with (
        serve_with(handler, max_body_bytes=1 << 20) as client,
        pytest.raises(ApiError, match="larger than 1,048,576 bytes"),
    ):
        client.fetch_body(*WINDOW)


def test_a_trickling_answer_is_stopped_at_the_time_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless(pause=0.05))

    started = time.monotonic()
    with (
        serve_with(handler, max_seconds=0.5, retries=2) as client,
        pytest.raises(TransportError, match="still arriving"),
    ):
        list(client.fetch(*WINDOW, format="text"))
    assert time.monotonic() - started < 10


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # accept, then say nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with (
            Client(
                authcode=DEMO_AUTHCODE,
                base_url=f"http://127.0.0.1:{port}/scores",
                timeout=0.5,
                retries=2,
            ) as client,
            pytest.raises(TransportError),
        ):
            client.fetch_body(*WINDOW)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert time.monotonic() - started < 10


class Stream(httpx.SyncByteStream):
    """A body: ``head``, then ``piece`` forever, one every ``pause`` seconds."""

    def __init__(self, head: bytes, piece: bytes, pause: float = 0.0) -> None:
        self.head, self.piece, self.pause = head, piece, pause

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        while True:
            if self.pause:
                time.sleep(self.pause)
            yield self.piece


def answering(stream: httpx.SyncByteStream, **kw: Any) -> Client:
    return serve_with(lambda request: httpx.Response(200, stream=stream), **kw)


@pytest.mark.parametrize("how", ["raw", "records", "body"])
def test_every_way_of_fetching_stops_an_endless_answer_at_the_size_limit(how: str) -> None:
    line = b"0123" + b"9" * 1596 + b"\n"  # records, not blanks
    with (
        answering(Stream(b"", line), max_body_bytes=1 << 20, retries=1) as client,
        pytest.raises(ApiError, match="larger than 1,048,576 bytes"),
    ):
        if how == "raw":
            with client.fetch_raw(*WINDOW, format="text") as answer:
                for _ in answer.iter_bytes():
                    pass
        elif how == "records":
            for _ in client.fetch(*WINDOW, format="text"):
                pass
        else:
            client.fetch_body(*WINDOW)


def test_a_one_byte_a_tick_trickle_ends_quickly() -> None:
    started = time.monotonic()
    with (
        answering(Stream(b'{"data": [', b" ", pause=0.01), timeout=0.5, retries=1) as client,
        pytest.raises(TransportError, match="trickles"),
    ):
        list(client.fetch(*WINDOW))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("head", [b"", b'{"data": ['])
def test_endless_whitespace_ends_quickly(head: bytes) -> None:
    client = answering(Stream(head, b" \n\t" * 20_000), retries=1)
    with client, pytest.raises(InputError, match="blank bytes in a row") as info:
        list(client.fetch(*WINDOW))
    assert "1,048,576" in str(info.value)


@pytest.mark.parametrize("opening", [b"[", b'{"data": [{"a": '])
def test_deeply_nested_json_ends_quickly(opening: bytes) -> None:
    client = answering(Stream(opening, b"[" * 4096), retries=1, max_body_bytes=1 << 24)
    with client, pytest.raises(InputError, match="nests deeper than 64 levels"):
        list(client.fetch(*WINDOW))


def test_fetch_on_the_command_line_ends_an_endless_answer(tmp_path: Any) -> None:
    """The whole command: a real server on loopback that never stops sending blanks."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            with contextlib.suppress(OSError):
                while True:
                    self.wfile.write(b" " * 65536)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**ENV, "TOEFL_ACCESS_BASE_URL": f"http://127.0.0.1:{server.server_port}/scores"}
        out = tmp_path / "out.jsonl"
        result = CliRunner(env=env).invoke(
            main, ["fetch", "--start", WINDOW[0], "--end", WINDOW[1], "-o", str(out)]
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1, result.output
    assert "blank bytes in a row" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no file, no .part left behind
