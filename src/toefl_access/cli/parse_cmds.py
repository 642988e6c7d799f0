"""Commands that read files: ``parse`` and ``layouts``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..formats import layout as layouts
from ..formats.output import OUTPUTS, write_text
from ..formats.parse import batches, parse
from .base import main, output_stream

TARGETS = (*OUTPUTS, "parquet")


@main.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--from", "from_", type=click.Choice(["auto", "text", "json"]), default="auto",
              show_default=True, help="The input's wire format (auto: JSON if it starts "
              "with { or [, else fixed-length ScoreLink lines).")
@click.option("--to", type=click.Choice(TARGETS), default="jsonl", show_default=True,
              help="The output format (parquet: typed columns, see parse_table in the "
              "README).")
@click.option("--layout", metavar="NAME|PATH",
              help="A built-in layout (scorelink-1600, scorelink-900) or a layout CSV file "
              "(default: 900 if every record is 900 bytes, else 1600).")
@click.option("--strict", is_flag=True,
              help="Fail on the first warning, naming file, line, field, bytes and value "
              "(exit code 1).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write here instead of standard output.")
def parse_cmd(
    file: str, from_: str, to: str, layout: str | None, strict: bool, out: str | None
) -> None:
    """Parse a ScoreLink file or a JSON answer (FILE, or - for stdin) into typed records.

    Warnings (a score out of range, a wrong total, an unreadable date) stay on each record;
    --strict turns the first one into an error naming file, line, field, bytes and value.
    CSV output opens in Excel as is: UTF-8 with a BOM, digit-only codes kept as text.
    """
    lay = layouts.load(layout) if layout else None
    to_file = out not in (None, "-")
    if to == "parquet" and not to_file and sys.stdout.isatty():
        raise click.UsageError("parquet is a binary format: write it to a file with -o FILE")
    # a file appears complete or not at all (an error leaves what was there)
    from ..formats import writers  # pyarrow, loaded by the commands that use it

    with output_stream(out, binary=True) as fh:
        if to == "text":
            count = write_text(parse(file, format=from_, layout=lay, strict=strict), fh,
                               layout=lay)
        elif to == "csv":
            count = writers.write_csv(_batches(file, from_, lay, strict), fh)
        else:
            count = writers.WRITERS[to](_batches(file, from_, lay, strict), fh)
    if to_file:
        click.echo(f"{count} records written to {out}", err=True)


def _batches(file: str, from_: str, lay: layouts.Layout | None, strict: bool) -> Any:
    from ..formats.ahead import ahead  # the next batch is decoded while one is written

    return ahead(batches(file, format=from_, layout=lay, strict=strict))


@main.command("layouts")
@click.argument("name", required=False)
def layouts_cmd(name: str | None) -> None:
    """List the built-in layouts, or show the field table of one (NAME or a CSV path).

    Provisional rows (no confirmed public source) are marked and shown in yellow.
    """
    # A pipe or a file gets the whole table, not one squeezed into 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if not name:
        table = Table("name", "record bytes", "fields", "provisional fields", title="Layouts")
        for lay_name in layouts.BUILTIN:
            lay = layouts.builtin(lay_name)
            provisional = sum(f.provisional and f.kind != "filler" for f in lay.fields)
            table.add_row(
                lay.name, str(lay.record_length), str(len(lay.data_fields)), str(provisional)
            )
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
