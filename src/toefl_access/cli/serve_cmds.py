"""``toefl-access serve``: the read-only status page (:mod:`toefl_access.web`)."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import click

from ..api.dates import parse_duration
from ..api.hosts import is_loopback
from ..errors import UsageError
from .base import main
from .configured import existing_db, load_settings, settings_options

#: The environment variable holding the token a non-loopback page requires.
ENV_TOKEN = "TOEFL_ACCESS_SERVE_TOKEN"
#: A command that makes a good token: URL-safe, so that ``?token=`` carries it unchanged.
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
#: The proxies ``--proxy-headers`` trusts: a TLS proxy on this machine.
PROXIES = "127.0.0.1,::1"
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one); a clear error if taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM)[0]  # fmt: skip
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise click.BadParameter(f"cannot use {host!r}: {exc.strerror or exc}",
                                 param_hint="'--host'") from None  # fmt: skip
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host} port {port}: {exc.strerror or exc} (another program "
            "may use the port: choose another with --port, or --port 0 for any free one)"
        ) from None
    sock.set_inheritable(True)
    return sock


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs "
              f"{ENV_TOKEN}.")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the URL printed says which).")
@click.option("--max-age", default="2d", show_default=True,
              help="The oldest watermark /healthz still calls healthy (e.g. 36h, 2d). Its "
              "age is about the time since the last good run: for an hourly timer, 3h.")
@click.option("--proxy-headers", is_flag=True,
              help="Behind a TLS proxy on this machine: trust its X-Forwarded-Proto and "
              "X-Forwarded-For (from 127.0.0.1 and ::1 only), so that the token's cookie is "
              "marked Secure when the browser used https.")
@settings_options
def serve_cmd(host: str, port: int, max_age: str, proxy_headers: bool,
              config_path: str | None, db_url: str | None) -> None:  # fmt: skip
    """Serve the read-only status page: health, charts, runs, gaps and each report.

    Prints its URL when ready. Pages: / (the overview), /reports/REG (what `show` prints),
    /api/status (JSON) and /healthz (200 `ok` when the last run ended with exit code 0 and
    the watermark is younger than --max-age, else 503 and the reasons: for uptime
    monitors). It listens on loopback unless --host says otherwise, and then only with a
    token in TOEFL_ACCESS_SERVE_TOKEN, which every request must carry
    (`Authorization: Bearer TOKEN`, or open the page once as /?token=TOKEN; /healthz and
    /api/status also answer ?token=TOKEN directly). ID numbers never appear on it.

    With [[integration]] tables in the settings (and no --db): / lists every integration's
    health, each one's pages are under /i/NAME/, and /api/status and /healthz cover all.
    """
    age = parse_duration(max_age, what="--max-age")
    token = os.environ.get(ENV_TOKEN, "").strip() or None
    if token is None and not is_loopback(host, resolve=True):
        raise click.BadParameter(
            f"{host} is reachable from other machines, and the page shows personal data: "
            f"set a token first, e.g. `export {ENV_TOKEN}=$({MAKE_TOKEN})`, and send it "
            "with every request (header 'Authorization: Bearer TOKEN', or open the page once "
            "as /?token=TOKEN)",
            param_hint="'--host'",
        )
    if token is not None and not set(token) <= _URL_SAFE:
        click.echo(
            f"warning: {ENV_TOKEN} holds characters (such as + / =) that a URL changes: "
            "percent-encode it in ?token=, or make a URL-safe one with "
            f"`{MAKE_TOKEN}`", err=True,
        )  # fmt: skip
    settings = load_settings(config_path, db=db_url)
    url: str | dict[str, str | None]
    if settings.integrations and db_url is None:
        # Several integrations: an index at / and each one under /i/NAME/.
        url = {i.name: _existing_or_none(i.db) for i in settings.integrations}
    else:
        url = existing_db(settings.db)
    sock = _bind(host, port)
    try:
        _run(url, sock, age, token, channels=settings.alerts.configured,
             proxy_headers=proxy_headers)  # fmt: skip
    finally:
        sock.close()


def _existing_or_none(url: str) -> str | None:
    """The URL, or None when it names a SQLite file not made yet (shown as never synced)."""
    try:
        return existing_db(url)
    except UsageError:
        return None


def _run(url: str | dict[str, str | None], sock: socket.socket, max_age: Any, token: str | None, *,
         channels: list[str], proxy_headers: bool) -> None:  # fmt: skip
    import logging

    import uvicorn

    from ..web.app import TokenLogFilter, create_app

    app = create_app(url, max_age=max_age, token=token, alert_channels=channels)
    address = sock.getsockname()
    shown = f"[{address[0]}]" if sock.family == socket.AF_INET6 else address[0]
    link = f"http://{shown}:{address[1]}/"
    logging.getLogger("uvicorn.access").addFilter(TokenLogFilter())

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                click.echo(f"Serving {link} (Ctrl-C to stop)")
                sys.stdout.flush()

    config = uvicorn.Config(app, log_config=None, lifespan="on", server_header=False,
                            proxy_headers=proxy_headers, forwarded_allow_ips=PROXIES,
                            timeout_graceful_shutdown=5)  # fmt: skip
    Server(config).run(sockets=[sock])
