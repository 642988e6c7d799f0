"""The ``export`` command: stored reports to CSV, JSON Lines, XLSX, Parquet or ScoreLink."""

from __future__ import annotations

import datetime as dt
import sys

import click

from ..api.dates import parse_instant
from ..handoff.export import FORMATS, export, parse_columns
from .base import main, output_stream
from .configured import existing_db, load_settings, settings_options


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    return None if value is None else parse_instant(value, what="--changed-since")


@main.command("export")
@click.option("--to", "to", type=click.Choice(FORMATS), required=True,
              help="csv (opens in Excel), jsonl, xlsx ([excel] extra), parquet ([parquet] "
              "extra), or scorelink (the original lines as received).")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write here (atomically: a temporary file, then renamed) instead of "
              "standard output.")
@click.option("--columns", metavar="A,B,...",
              help="Only these columns, in this order (field names or _layout, _line, "
              "_warnings, _format, _first_seen, _last_seen, _changed_at, _revisions, "
              "_cancelled, _cancelled_at, _cancel_reason, _extra, _report_key, "
              "applicant_id).")
@click.option("--where", "where", multiple=True, metavar="FIELD=VALUE",
              help="Only reports whose FIELD equals VALUE (typed; empty VALUE: blank). "
              "Repeat it: the same field ORs, different fields AND. Also _layout, _format, "
              "_revisions, _cancelled=yes|no.")
@click.option("--changed-since", callback=_since, metavar="TIMESTAMP",
              help="Only reports new, changed or cancelled at or after this UTC time "
              "(2025-04-21 or 2025-04-21T16:45:03Z), with a change column.")
@click.option("--since-last", metavar="NAME",
              help="Only reports new, changed or cancelled since the last export under NAME "
              "(all of them the first time), with a change column; its bookmark moves only "
              "once the file is in place. Needs -o FILE.")
@click.option("--headers", type=click.Choice(["names", "labels"]), default="names",
              show_default=True, help="Column headers: canonical names or layout labels.")
@click.option("--plain", is_flag=True,
              help="CSV for loaders rather than Excel: no BOM, values without the "
              "=\"0123\" protection.")
@click.option("--applicant-id", "applicant_id", is_flag=True,
              help="Add an applicant_id column first: the applicant confirmed for the "
              "report's test (toefl-access match confirm), else the one the latest match "
              "run matched, unless rejected; blank when none. Not with --to scorelink.")
@settings_options
def export_cmd(
    to: str, out: str | None, columns: str | None, where: tuple[str, ...],
    changed_since: dt.datetime | None, since_last: str | None, headers: str, plain: bool,
    applicant_id: bool, config_path: str | None, db_url: str | None,
) -> None:
    """Export stored reports for a CRM, student system or warehouse.

    CSV opens in Excel as is (UTF-8 with a BOM; codes, IDs and dates kept as text). XLSX and
    Parquet have typed columns. scorelink re-emits the stored original lines byte for byte,
    for loaders that already read ScoreLink files (cancelled reports are left out).
    --since-last NAME gives exactly what is new, changed or cancelled since the previous
    export under NAME; if the export fails, the next one repeats it rather than skipping.
    --applicant-id attaches each report to its applicant (see `toefl-access match`).
    """
    chosen = parse_columns(columns) if columns is not None else None
    url = existing_db(load_settings(config_path, db=db_url).db)
    from ..store import open_store  # SQLAlchemy, loaded by the commands that use it

    with open_store(url) as store, output_stream(None, binary=True) as stdout:
        result = export(
            store, to=to, output=out, stdout=stdout, columns=chosen, where=where,
            changed_since=changed_since, since_last=since_last, headers=headers,
            excel=not plain, applicant_id=applicant_id,
        )
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    if result.target == "-" and not result.changes:
        return
    summary = f"{result.rows} reports written to {out or 'standard output'}"
    if result.changes:
        summary += " (" + ", ".join(f"{n} {c}" for c, n in result.changes.items()) + ")"
    click.echo(summary, err=True)
    if result.bookmark is not None:
        before = (
            f"the previous export under it ran {result.previous.exported_at:%Y-%m-%d %H:%M:%S} "
            "UTC" if result.previous else "this was its first export"
        )
        click.echo(f"Bookmark {since_last!r} moved ({before}).", err=True)
    sys.stderr.flush()
