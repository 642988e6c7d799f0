"""The ``mock-server`` command: a local TOEFL Access API for trying the tool, tests and drills."""

from __future__ import annotations

import logging

import click

from ..errors import UsageError
from .base import main


@main.command("mock-server")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (loopback unless --public).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="The port (0: any free port).",
)
@click.option(
    "--authcode",
    "authcodes",
    metavar="CODE",
    multiple=True,
    help="An API key the mock accepts: Base64 of id:secret (default: a demo key). Repeat it "
    "for several integrations: each key after the first sees reports of its own.",
)
@click.option(
    "--keys",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    metavar="N",
    help="Also accept N numbered keys, Base64 of client-1:secret-1 to client-N:secret-N, "
    "each with reports of its own (many integrations against one mock).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="The population's seed: the same seed gives the same reports.",
)
@click.option(
    "--per-day",
    type=click.IntRange(0, 1_000_000),
    default=50,
    show_default=True,
    help="Reports released on every UTC day.",
)
@click.option(
    "--latency",
    type=click.IntRange(0, 600_000),
    default=0,
    show_default=True,
    metavar="MS",
    help="Delay every answer by MS milliseconds.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject a fault (repeatable): 429:P[:SECONDS], 500:P, reset:P, truncate:P, "
    "truncate-close:P, truncate-short:P, slow:MS[:P], "
    "expire-key-at:YYYY-MM-DDTHH:mm:ss. P is a probability from 0 to 1.",
)
@click.option(
    "--public",
    is_flag=True,
    help="Allow a host that is not loopback (the mock has no TLS; keep it private).",
)
def mock_server_cmd(
    host: str,
    port: int,
    authcodes: tuple[str, ...],
    keys: int,
    seed: int,
    per_day: int,
    latency: int,
    faults: tuple[str, ...],
    public: bool,
) -> None:
    """Run a local TOEFL Access API that behaves like the real one, until Ctrl-C.

    It serves GET /scores (and the sandbox's /scores/sample-data) with the vendor's
    parameters, checks and error texts, from a population that is the same for the same
    seed: both score scales, rescores, late sends, non-ASCII names. Point
    TOEFL_ACCESS_BASE_URL at the URL it prints and use the key it prints.
    """
    from ..api.hosts import is_loopback
    from ..mock import (  # Starlette and uvicorn: loaded here
        DEMO_AUTHCODE,
        MockApi,
        numbered_authcode,
        parse_fault,
    )
    from ..mock.server import base_url, bind, run

    if not public and not is_loopback(host):
        raise UsageError(
            f"--host {host} is not a loopback address; the mock is for this machine only. "
            "Pass --public to listen on it anyway"
        )
    authcode = authcodes[0] if authcodes else None
    numbered = [numbered_authcode(n) for n in range(1, keys + 1)]
    api = MockApi(
        authcode=authcode or DEMO_AUTHCODE,
        authcodes=[*authcodes[1:], *numbered],
        seed=seed,
        per_day=per_day,
        latency_ms=latency,
        faults=[parse_fault(spec) for spec in faults],
    )
    sock = bind(host, port)
    url = base_url(sock)
    key = authcode or DEMO_AUTHCODE
    settings = [f"seed {seed}", f"{per_day} reports a day"]
    if latency:
        settings.append(f"latency {latency} ms")
    if api.faults:
        settings.append(f"faults {', '.join(map(str, api.faults))}")
    say = click.echo
    say(f"Mock TOEFL Access API at {click.style(url, bold=True)}", err=True)
    say(
        f"It accepts the API key {click.style(key, bold=True)}"
        + (" (the demo key)" if authcode is None else ""),
        err=True,
    )
    if len(authcodes) > 1:
        say(f"and {', '.join(authcodes[1:])}, each with reports of its own", err=True)
    if keys:
        say(f"and {keys} numbered keys, each with reports of its own: {numbered[0]} "
            f"(Base64 of client-1:secret-1) to Base64 of client-{keys}:secret-{keys}",
            err=True)  # fmt: skip
    say(f"Population: {'; '.join(settings)}", err=True)
    say(f"Sandbox: {url}/sample-data", err=True)
    say("Use it from another shell:", err=True)
    say(f"export TOEFL_ACCESS_BASE_URL={url} TOEFL_ACCESS_AUTHCODE={key}")
    say("Press Ctrl-C to stop.", err=True)
    level = logging.getLogger().getEffectiveLevel()
    try:
        run(
            api,
            sock,
            log_level="info" if level <= logging.INFO else "warning",
            access_log=level <= logging.INFO,
        )
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    click.echo(f"Mock server stopped after {api.requests} requests.", err=True)
