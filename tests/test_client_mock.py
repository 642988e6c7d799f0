"""The client against the mock API: in-process (its httpx transport) and on loopback."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import stamina

from toefl_access import parse
from toefl_access.api.client import Client
from toefl_access.errors import (
    AuthenticationError,
    BadRequestError,
    ServerError,
    TransportError,
    TruncatedResponseError,
)
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve

SECRET = base64.b64decode(DEMO_AUTHCODE).decode().partition(":")[2]
WEEK = ("2025-04-01T00:00:00", "2025-04-08T00:00:00")


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(MockApi(seed=3, per_day=40)) as url:
        yield url


def in_process(api: MockApi, **kw: Any) -> Client:
    return Client(authcode=DEMO_AUTHCODE, transport=api.transport(), **kw)


def test_json_and_text_answers_to_one_window_are_the_same_reports(base_url: str) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client:
        text = list(client.fetch(*WEEK, format="text"))
        json = list(client.fetch(*WEEK, format="json"))
    assert len(text) == len(json) > 200
    assert all(a.same_report(b) for a, b in zip(text, json, strict=True))
    assert {r.format for r in text} == {"text"} and {r.format for r in json} == {"json"}
    names = {r["last_name"] for r in text} | {r["first_name"] for r in text}
    assert any(not name.isascii() for name in names if name)


def test_fetch_body_holds_what_fetch_streams(base_url: str) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client:
        for fmt in ("text", "json"):
            body = client.fetch_body(*WEEK, format=fmt)
            assert body.status == 200 and body.attempts == 1 and body.nbytes == len(body.content)
            streamed = list(client.fetch(*WEEK, format=fmt))
            parsed = list(parse(body.content, format=fmt))
            assert len(parsed) == len(streamed)
            assert all(a.same_report(b) for a, b in zip(parsed, streamed, strict=True))
            with client.fetch_raw(*WEEK, format=fmt) as raw:
                assert raw.read() == body.content and raw.sha256 == body.sha256


def test_an_empty_window_is_no_records(base_url: str) -> None:
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        for fmt in ("text", "json"):
            assert list(client.fetch(later, later + dt.timedelta(hours=1), format=fmt)) == []


def test_the_sandbox_path_answers_its_samples(base_url: str) -> None:
    sandbox = base_url + "/sample-data"
    with Client(authcode=DEMO_AUTHCODE, base_url=sandbox) as client:
        records = list(client.fetch("2025-04-21", "2025-04-22", format="text"))
    assert len(records) == 11
    assert sum("1-6" in r.scales for r in records) == 2


def test_one_client_serves_many_threads(base_url: str) -> None:
    days = [(dt.datetime(2025, 3, d, tzinfo=dt.UTC), dt.datetime(2025, 3, d + 1, tzinfo=dt.UTC))
            for d in range(1, 21)]
    with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client:
        alone = [client.fetch_body(s, e).sha256 for s, e in days]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda w: client.fetch_body(*w).sha256, days))
    assert together == alone and len(set(alone)) == len(days)


def test_faults_are_retried_until_the_body_is_whole() -> None:
    clean = in_process(MockApi(seed=5, per_day=30))
    faults = ["429:0.15:0", "500:0.15", "reset:0.15", "truncate:0.15", "slow:1:0.1"]
    faulty = in_process(MockApi(seed=5, per_day=30, faults=faults), retries=50)
    attempts = []
    for day in range(1, 25):
        start = dt.datetime(2025, 5, day, tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        for fmt in ("text", "json"):
            body = faulty.fetch_body(start, end, format=fmt)
            assert body.sha256 == clean.fetch_body(start, end, format=fmt).sha256
            attempts.append(body.attempts)
    assert max(attempts) > 1 and attempts.count(1) > len(attempts) // 4


@pytest.mark.parametrize("fault", ["truncate-short:1", "truncate-close:1", "reset:1"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_body_always_cut_gives_up_naming_the_offset(fault: str, fmt: str) -> None:
    api = MockApi(seed=1, per_day=30, faults=[fault])
    with pytest.raises(TruncatedResponseError) as info:
        in_process(api, retries=3).fetch_body(*WEEK, format=fmt)
    offset = info.value.offset
    assert offset > 0
    assert f"byte {offset}" in str(info.value) or f"after {offset} bytes" in str(info.value)
    assert api.requests == 3


def test_the_mock_refuses_a_wrong_or_expired_key() -> None:
    other = base64.b64encode(b"someone:else").decode()
    with pytest.raises(AuthenticationError):
        Client(authcode=other, transport=MockApi().transport()).check_key()
    expired = MockApi(faults=["expire-key-at:2020-01-01T00:00:00"])
    with pytest.raises(AuthenticationError):
        in_process(expired).fetch_body(*WEEK)
    in_process(MockApi()).check_key()


def test_a_type_the_mock_does_not_know_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="type/program"):
        in_process(MockApi()).fetch_body(*WEEK, type="GRE")


def test_a_closed_port_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(authcode=DEMO_AUTHCODE, base_url=f"http://127.0.0.1:{port}/scores",
                    retries=2)
    with pytest.raises(TransportError, match="cannot connect"):
        client.check_key()
    with pytest.raises(TransportError, match="2 attempts"):
        client.fetch_body(*WEEK)


def test_debug_logs_of_httpx_and_httpcore_never_show_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api = MockApi(seed=2, per_day=20, faults=["500:0.3", "truncate:0.3"])
    with serve(api) as url, Client(authcode=DEMO_AUTHCODE, base_url=url, retries=20) as client:
        with contextlib.suppress(ServerError):
            client.check_key()  # not retried: it may meet a fault
        with contextlib.suppress(TruncatedResponseError):  # cut after records were handed over
            list(client.fetch(*WEEK))
        client.fetch_body(*WEEK)
        with client.fetch_raw(*WEEK, format="text") as raw:
            raw.read()
    loggers = {r.name.split(".")[0] for r in caplog.records}
    assert {"httpx", "httpcore", "toefl_access"} <= loggers
    assert any("retrying" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + repr(record.__dict__)
        assert DEMO_AUTHCODE not in text and SECRET not in text


def test_an_unverifiable_certificate_is_refused_and_not_retried(tmp_path: Path) -> None:
    """A self-signed HTTPS server on loopback: the handshake fails, nothing is sent."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    handshakes: list[str] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            else:
                conn.settimeout(5)
                try:
                    with conn, context.wrap_socket(conn, server_side=True) as tls:
                        handshakes.append(tls.recv(1024).decode("latin-1"))
                except OSError:
                    handshakes.append("failed")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/scores"
    try:
        with pytest.raises(TransportError, match="certificate") as info:
            Client(authcode=DEMO_AUTHCODE, base_url=url, retries=3).fetch_body(*WEEK)
    finally:
        done.set()
        thread.join(5)
        listener.close()
    assert "attempts" not in str(info.value)  # not retried: it would not heal
    assert handshakes == ["failed"]  # one handshake, refused: no request (no key) was sent
