"""Commands that talk to the API: ``fetch`` and ``check-key``.

The key is read only from the environment (``TOEFL_ACCESS_AUTHCODE``, or the file named by
``TOEFL_ACCESS_AUTHCODE_FILE``), never from the command line, where other users could read
it in the process list and it would stay in the shell's history.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from rich import filesize
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    KeyFormatError,
    UsageError,
)
from ..formats.output import OUTPUTS
from ..formats.record import Record
from .base import err_console, main, output_stream, write_records
from .configured import load_settings

if TYPE_CHECKING:
    from ..api.client import Client

_UNREACHABLE_EXIT = 3
_REFUSED_EXIT = 2


def make_client(sandbox: bool = False, **settings: Any) -> Client:
    """The client of every command that talks to the API.

    The key and the URL come from the environment (see
    :func:`toefl_access.api.client.client_from_env`); ``sandbox`` selects the vendor's test
    endpoint; ``settings`` (timeout, retries, ...) go to the :class:`Client`.
    """
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # stamina logs an opaque line per retry; the client logs its own, saying why.
        logging.getLogger("stamina").setLevel(logging.ERROR)
    from ..api.client import client_from_env  # httpx: loaded by the commands that use it

    return client_from_env(sandbox=sandbox, **settings)


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int | None], None]]:
    """A live line on stderr (bytes, records) when stderr is a terminal; else nothing."""
    if not err_console.is_terminal:
        yield lambda nbytes, records: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.fields[size]}"),
               TextColumn("{task.fields[records]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(what, total=None, size="0 bytes", records="")

        def update(nbytes: int, records: int | None) -> None:
            shown = f"{records:,} records" if records is not None else ""
            progress.update(task, size=filesize.decimal(nbytes), records=shown)

        yield update


@main.command("fetch")
@click.option("--start", required=True,
              help="Start of the window, UTC: 2025-04-21, 2025-04-21T16:45:03, ...Z or +02:00.")
@click.option("--end", required=True, help="End of the window (same forms, or 'now').")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json",
              show_default=True, help="Ask the API for JSON or the fixed-length ScoreLink text.")
@click.option("--raw", is_flag=True, help="Write the body exactly as received.")
@click.option("--to", type=click.Choice(OUTPUTS), default=None,
              help="The output format of the records [default: jsonl].")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write here instead of standard output (only once complete).")
@click.option("--sandbox", is_flag=True, help="Use the vendor's test endpoint (sample data).")
@click.option("--sensitive", type=click.Choice(["keep", "hash", "drop"]), default=None,
              help="How ID numbers are written [default: the sensitive setting, hash]; hash "
              "needs hash_key_file here, else they are left out.")
def fetch_cmd(start: str, end: str, fmt: str, raw: bool, to: str | None, out: str | None,
              sandbox: bool, sensitive: str | None) -> None:
    """Fetch the score reports released in a window, as records or as the raw body.

    The key comes from TOEFL_ACCESS_AUTHCODE or the file named by TOEFL_ACCESS_AUTHCODE_FILE,
    the endpoint from TOEFL_ACCESS_BASE_URL (production when unset). Records carry warnings
    like `parse`. ID numbers follow the `sensitive` setting, as in the database: under
    `hash` (the default) they are written as keyed hashes when hash_key_file is set, else
    left out; `--raw` then masks them in the body (held in memory to do so). Only
    `keep` writes them as received. For regular, resumable imports into a database use
    `sync`.
    """
    from ..formats.sensitive import output_protector, protect

    if raw and to:
        raise UsageError("--raw writes the body as received: leave out --to")
    conf = load_settings(None, sensitive=sensitive)
    protector, notices = output_protector(conf.sensitive, key_file=conf.hash_key_file)
    with make_client(sandbox) as client, _progress("fetching") as update:
        if raw and protector.mode != "keep":
            from ..sync.preparing import prepare_answer

            body = client.fetch_body(start, end, format=fmt)
            masked = prepare_answer(body.content, fmt, protector=protector).body
            with output_stream(out, binary=True) as fh:
                fh.write(masked)
            summary = f"{len(masked):,} bytes (ID numbers masked: sensitive = {conf.sensitive})"
        elif raw:
            with client.fetch_raw(start, end, format=fmt) as answer, \
                    output_stream(out, binary=True) as fh:
                for chunk in answer.iter_bytes():
                    fh.write(chunk)
                    update(answer.nbytes, None)
            summary = f"{answer.nbytes:,} bytes (sha256 {answer.sha256[:16]}...)"
        else:
            records = client.fetch(start, end, format=fmt)
            warned = 0

            def counted() -> Iterator[Record]:
                nonlocal warned
                for record in records:
                    warned += bool(record.warnings)
                    if records.count % 256 == 0:
                        update(records.nbytes, records.count)
                    yield protect(record, protector)

            with records:
                count = write_records(counted(), to or "jsonl", out)
            summary = f"{count:,} records ({records.nbytes:,} bytes)"
            if warned:
                err_console.print(f"{warned:,} records carry warnings (see _warnings)")
    for notice in notices:
        err_console.print(notice)
    if out not in (None, "-"):
        err_console.print(f"{summary} written to {out}")


@main.command("check-key")
@click.option("--sandbox", is_flag=True, help="Check against the vendor's test endpoint.")
def check_key_cmd(sandbox: bool) -> None:
    """Check that the API accepts the key: exit 0 accepted, 2 refused, 3 unreachable.

    One small request (one second of reports). The key comes from TOEFL_ACCESS_AUTHCODE or
    the file named by TOEFL_ACCESS_AUTHCODE_FILE, never from the command line.
    """
    try:
        client = make_client(sandbox)
    except KeyFormatError as exc:
        click.echo(f"REFUSED: the key is malformed; nothing was sent. {exc}")
        sys.exit(_REFUSED_EXIT)
    with client:
        key = f"the key (sha256:{client.key_fingerprint})"
        try:
            client.check_key()
        except (AuthenticationError, ForbiddenError) as exc:
            click.echo(f"REFUSED: {client.base_url} refuses {key}. {exc}")
            sys.exit(_REFUSED_EXIT)
        except BadRequestError as exc:
            if "credential" not in exc.body.lower():
                raise
            click.echo(f"REFUSED: {client.base_url} refuses {key}. {exc}")
            sys.exit(_REFUSED_EXIT)
        except ApiError as exc:
            click.echo(f"UNREACHABLE: could not check {key} at {client.base_url}: {exc}")
            sys.exit(_UNREACHABLE_EXIT)
    click.echo(f"OK: {client.base_url} accepts {key}.")
