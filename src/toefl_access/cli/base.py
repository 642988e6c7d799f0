"""The ``toefl-access`` group and what its commands share (errors, output streams).

The commands themselves live in ``*_cmds`` modules by family and import this one;
:mod:`toefl_access.cli` imports them, which registers them on :data:`main`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from rich.console import Console

from .._version import __version__
from ..errors import EXIT_USAGE, ToeflAccessError, printable
from ..formats.output import output_file, write_csv, write_json, write_jsonl, write_text

err_console = Console(stderr=True, highlight=False)

# The command reads large files a batch at a time; Arrow's default allocator (mimalloc)
# keeps freed memory for reuse, the system one gives it back, so peak memory stays flat
# and lower (measured in bench/bench_parse.py). Set before pyarrow loads; a user's own
# setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


KEY_FLAGS = ("--authcode", "--key", "--api-key", "--apikey")


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush of what
    could not be written does not fail once more at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM (a service stopping, ``kill``) exits like Ctrl-C does: every ``with`` block
    unwinds, so a transaction rolls back, the sync lock is released and no partial output
    file is left behind. Exit code 143 (128 + SIGTERM)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Usage(click.UsageError):
    """A click usage error with the exit code of a command used wrongly."""

    exit_code = EXIT_USAGE


class Group(click.Group):
    """Translates the project's errors into a clear line and an exit code. Exit code 2
    means only "the key was refused"; a command used wrongly exits with 64 (EX_USAGE)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return self._parse_args(ctx, args)
        except click.UsageError as exc:
            raise _Usage(exc.format_message(), exc.ctx) from None

    def _parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The mock server's --authcode is a made-up demo key; any other command refuses a
        # key on the command line, where other users of the machine can read it.
        if "mock-server" not in args:
            for arg in args:
                if arg.split("=", 1)[0].lower() in KEY_FLAGS:
                    click.echo(
                        f"Error: {arg.split('=', 1)[0]} is refused: a key on the command line "
                        "is visible to every user of this machine (ps, shell history). Set "
                        "TOEFL_ACCESS_AUTHCODE, or TOEFL_ACCESS_AUTHCODE_FILE naming a file "
                        "only you can read.",
                        err=True,
                    )
                    ctx.exit(EXIT_USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _terminate_cleanly():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if isinstance(exc, _Usage):
                raise
            raise _Usage(exc.format_message(), exc.ctx) from None
        except ToeflAccessError as exc:
            click.echo(f"Error: {printable(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            _quiet_stdout()
            sys.exit(1)
        except OSError as exc:  # standard output on a full disk, a dead terminal, ...
            import errno

            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                _quiet_stdout()
                click.echo(f"Error: cannot write the output: {exc.strerror}", err=True)
            else:
                click.echo(f"Error: {printable(str(exc))}", err=True)
            sys.exit(1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="toefl-access")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
def main(verbose: int) -> None:
    """Bring TOEFL score reports from the TOEFL Access API into your own database.

    Start with `toefl-access demo`, which needs no key and no server.
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


@contextmanager
def output_stream(path: str | None, binary: bool, *, bom: bool = False) -> Iterator[IO[Any]]:
    """The ``-o`` destination (stdout when absent) as a binary or text stream."""
    with contextlib.ExitStack() as stack:
        if path in (None, "-"):
            raw: IO[bytes] = sys.stdout.buffer
        else:  # complete or not at all, owner-only
            raw = stack.enter_context(output_file(path))
        if binary:
            yield raw
            raw.flush()
            return
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if bom else "utf-8", newline="")
        try:
            yield text
        finally:
            text.flush()
            text.detach()


def write_records(records: Any, to: str, out: str | None) -> int:
    """Write records in one of :data:`OUTPUTS`; returns how many."""
    if to == "csv":
        with output_stream(out, binary=False, bom=True) as fh:
            return write_csv(records, fh)
    writer = {"jsonl": write_jsonl, "json": write_json, "text": write_text}[to]
    with output_stream(out, binary=True) as fh:
        return writer(records, fh)


