"""Real local receivers for the alert tests: an HTTP server taking webhook posts, an SMTP
server (aiosmtpd) taking mail, and a port where nothing listens."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A loopback port where nothing listens (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Webhook:
    """What a webhook receiver got: the raw bodies, their JSON, the paths posted to."""

    url: str
    raw: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(b) for b in self.raw]

    def events(self) -> list[tuple[str, str]]:
        return [(p["event"], p["status"]) for p in self.posts]


@contextlib.contextmanager
def webhook_receiver(port: int = 0, path: str = "/hooks/T0/B0/s3cr3t-t0ken") -> Iterator[Webhook]:
    """An HTTP server on 127.0.0.1 recording every POST (answering ``status``)."""
    got: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            got.raw.append(body)
            got.paths.append(self.path)
            self.send_response(got.status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if got.status < 300 else b"no such hook")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    got = Webhook(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Mailbox:
    """What the SMTP server got."""

    port: int
    raw: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        return [message_from_bytes(b) for b in self.raw]

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@contextlib.contextmanager
def smtp_receiver(
    *, tls_context: ssl.SSLContext | None = None, users: dict[str, str] | None = None
) -> Iterator[Mailbox]:
    """An aiosmtpd server on 127.0.0.1; with ``tls_context`` it offers STARTTLS, with
    ``users`` it requires a login (over TLS when it offers it)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box: Mailbox

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.raw.append(envelope.original_content or envelope.content)
            box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            box.tls.append(session.ssl is not None)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        box.logins.append((user, password))
        return AuthResult(success=(users or {}).get(user) == password, handled=False)

    kwargs: dict[str, Any] = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context)
    if users is not None:
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=tls_context is not None)
    for _ in range(20):  # aiosmtpd cannot take port 0: try free ports until one holds
        port = free_port()
        box = Mailbox(port=port)
        controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        break
    else:
        pytest.fail("no free port for the SMTP server")
    try:
        yield box
    finally:
        controller.stop()


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate of 127.0.0.1 made
    with the openssl command (the test skips without it)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the openssl command is needed to make a test certificate")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
