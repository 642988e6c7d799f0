"""Running the mock API on a real socket: :func:`serve` (background) and :func:`run` (CLI)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ..errors import UsageError
from .api import SCORES_PATH, MockApi
from .app import quiet_drops


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=512)
    except OSError as exc:
        hint = "pass --port 0 for a free port" if port else "check the host"
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; {hint}") from None


def base_url(sock: socket.socket) -> str:
    """The mock's scores URL for a bound socket, e.g. ``http://127.0.0.1:8765/scores``."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{SCORES_PATH}"


def _server(
    api: MockApi, *, log_level: str = "warning", access_log: bool = False
) -> uvicorn.Server:
    quiet_drops()
    config = uvicorn.Config(
        api.app(),
        log_config=None,  # leave the process's logging alone
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=2,
        backlog=512,
    )
    return uvicorn.Server(config)


@contextmanager
def serve(api: MockApi, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``api`` with uvicorn in a background thread; yields the base URL.

    >>> with serve(MockApi()) as url:                       # doctest: +SKIP
    ...     httpx.get(url, params=..., headers={"authcode": DEMO_AUTHCODE})

    Port 0 picks a free port. The server accepts connections when the block starts and is
    shut down (within about two seconds, cutting streams still running) when it ends.
    """
    sock = bind(host, port)
    url = base_url(sock)
    server = _server(api)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"toefl-access-mock {url}", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                sock.close()
                raise UsageError(f"the mock server at {url} did not start: {failure or 'exited'}")
            thread.join(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        sock.close()


def run(
    api: MockApi, sock: socket.socket, *, log_level: str = "warning", access_log: bool = False
) -> None:
    """Serve ``api`` on ``sock`` in the foreground until Ctrl-C (or SIGTERM)."""
    _server(api, log_level=log_level, access_log=access_log).run(sockets=[sock])
