"""Commands that read files: ``parse`` and ``layouts``."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from .. import layout as layouts
from ..output import OUTPUTS
from ..parse import parse
from . import err_console, main, write_records


# -- parse and layouts --------------------------------------------------------------------


@main.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--from", "from_", type=click.Choice(["auto", "text", "json"]), default="auto",
              show_default=True, help="The input's wire format.")
@click.option("--to", type=click.Choice(OUTPUTS), default="jsonl", show_default=True,
              help="The output format.")
@click.option("--layout", help="A built-in layout name or a layout CSV file (default: detect).")
@click.option("--strict", is_flag=True, help="Fail on the first warning (exit code 1).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write here instead of standard output.")
def parse_cmd(file: str, from_: str, to: str, layout: str | None, strict: bool, out: str | None) -> None:
    """Parse a ScoreLink file or a JSON answer (FILE, or - for stdin) into typed records.

    Warnings (a score out of range, a wrong total, an unreadable date) stay on each record;
    --strict turns the first one into an error naming file, line, field, bytes and value.
    """
    lay = layouts.load(layout) if layout else None
    records = parse(file, format=from_, layout=lay, strict=strict)
    count = write_records(records, to, out)
    if out not in (None, "-"):
        err_console.print(f"{count} records written to {out}")


@main.command("layouts")
@click.argument("name", required=False)
def layouts_cmd(name: str | None) -> None:
    """List the built-in layouts, or show the field table of one (NAME or a CSV path)."""
    console = Console()
    if not name:
        table = Table("name", "record bytes", "fields", "provisional fields", title="Layouts")
        for lay_name in layouts.BUILTIN:
            lay = layouts.builtin(lay_name)
            provisional = sum(f.provisional and f.kind != "filler" for f in lay.fields)
            table.add_row(lay.name, str(lay.record_length), str(len(lay.data_fields)), str(provisional))
        console.print(table)
        return
    lay = layouts.load(name)
    table = Table("start", "end", "size", "name", "kind", "label", "source",
                  title=f"{lay.name} ({lay.record_length} bytes)")
    for f in lay.fields:
        style = "yellow" if f.provisional else ("dim" if f.kind == "filler" else None)
        source = f.source + (" (provisional)" if f.provisional else "")
        table.add_row(str(f.start), str(f.end), str(f.size), f.name, f.kind, f.label, source,
                      style=style)
    console.print(table)


