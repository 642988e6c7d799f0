"""Exports of stored reports for the systems people load them into: CSV, JSON Lines, XLSX,
Parquet, and the original ScoreLink lines. No SQL here: rows come from
:meth:`Store.export_rows <toefl_access.store.exporting.ExportReader.export_rows>`.

Columns are the canonical field names (or, with ``headers="labels"``, the layout labels),
then report metadata: ``_layout``, ``_line`` (of the current revision in its API answer),
``_warnings``, ``_format`` (``text`` or ``json``, as received), ``_first_seen``,
``_changed_at`` (when the current revision arrived), ``_revisions``, ``_cancelled``,
``_cancelled_at``, ``_cancel_reason``; ``_last_seen``, ``_extra`` and ``_report_key`` on
request. A delta (``since_last``) or ``changed_since`` export starts with ``change``:
``new``, ``changed`` or ``cancelled`` (a report cancelled now is ``cancelled``). Instants
are UTC. ``applicant_id=True`` puts an ``applicant_id`` column first: the applicant each
report's test sitting is attached to (confirmed, or matched and not rejected: see
:meth:`Store.applicant_ids <toefl_access.store.matching.MatchKeeper.applicant_ids>`), blank
when none.

A file export is written to a temporary file in the target folder, flushed to disk and
renamed into place (readable by its owner only: it holds personal data); only then does a
delta's bookmark move, so an export that fails leaves no partial file and is repeated in
full next time, never skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import IO, TYPE_CHECKING, Any

import msgspec

from ..errors import UsageError
from ..formats import layout as layouts
from ..formats.output import output_file, to_row, write_objects
from ..formats.record import Record, RecordWarning, to_band, to_date
from ..formats.textformat import render
from .spec import Column, Row, Spec, getter, iso_instant, json_text, require, warnings_text

if TYPE_CHECKING:
    from ..store import Store
    from ..store.exporting import Bookmark

FORMATS = ("csv", "jsonl", "xlsx", "parquet", "scorelink")
BINARY = frozenset(("xlsx", "parquet"))
CHANGES = ("new", "changed", "cancelled")

_META = (
    Column("change", "text", "Change", "change"),
    Column("_report_key", "text", "Report key", "report_key"),
    Column("_layout", "text", "Layout", "layout"),
    Column("_line", "int", "Line in the API answer", "line"),
    Column("_warnings", "warnings", "Warnings", "warnings"),
    Column("_extra", "json", "Other JSON keys", "extra"),
    Column("_format", "text", "Received as", "format"),
    Column("_first_seen", "instant", "First seen (UTC)", "first_seen"),
    Column("_last_seen", "instant", "Last seen (UTC)", "last_seen"),
    Column("_changed_at", "instant", "Last changed (UTC)", "changed_at"),
    Column("_revisions", "int", "Revisions", "revisions"),
    Column("_cancelled", "bool", "Cancelled", "cancelled"),
    Column("_cancelled_at", "instant", "Cancelled at (UTC)", "cancelled_at"),
    Column("_cancel_reason", "text", "Cancellation reason", "cancel_reason"),
)
#: The metadata of a JSON Lines row after the ``parse`` contract (fields, ``_layout``,
#: ``_line``, ``_warnings``, ``_extra`` when not empty).
JSONL_META = ("_format", "_first_seen", "_changed_at", "_revisions", "_cancelled",
              "_cancelled_at", "_cancel_reason")
DEFAULT_META = ("_layout", "_line", "_warnings", *JSONL_META)
#: ``where`` names besides the data fields (see :func:`parse_where`).
WHERE_META = {"_layout": "text", "_format": "text", "_revisions": "int", "_cancelled": "bool"}
#: The column ``applicant_id=True`` (``--applicant-id``) adds, first; ``--columns`` may place it.
APPLICANT = Column("applicant_id", "text", "Applicant ID", "applicant_id")


@cache
def columns() -> dict[str, Column]:
    """Every column by name: ``change``, the data fields of the built-in layouts (current
    first, then legacy-only), then the metadata."""
    out = {"change": _META[0]}
    out.update((f.name, Column(f.name, f.kind, f.label or f.name, f.name))
               for f in layouts.builtin_fields())
    out.update((c.name, c) for c in _META[1:])
    return out


def _fields() -> tuple[str, ...]:
    return tuple(n for n, c in columns().items() if not c.name.startswith("_") and n != "change")


def _unknown(what: str, name: str, valid: Iterable[str]) -> UsageError:
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return UsageError(f"unknown {what} {name!r}{hint}; valid names: {', '.join(valid)}")


def select_columns(
    names: Sequence[str] | None, *, change: bool, applicant: bool = False
) -> tuple[Column, ...]:
    """The columns of an export, in order: ``names`` (validated), or the default set.

    With ``change`` (a delta) the ``change`` column comes first unless ``names`` place it;
    with ``applicant`` the ``applicant_id`` column comes before it, unless ``names`` place
    it (naming it in ``names`` is enough to have it).
    """
    table = {**columns(), APPLICANT.name: APPLICANT}
    if names is None:
        chosen = [*_fields(), *DEFAULT_META]
    else:
        chosen = []
        for name in names:
            if name not in table:
                raise _unknown("column", name, table)
            if name in chosen:
                raise UsageError(f"the column {name!r} is listed twice in --columns")
            if name == "change" and not change:
                raise UsageError("the change column exists only with --since-last or "
                                 "--changed-since")
            chosen.append(name)
        if not chosen:
            raise UsageError("--columns is empty; list names like registration_number,total")
    if change and "change" not in chosen:
        chosen.insert(0, "change")
    if applicant and APPLICANT.name not in chosen:
        chosen.insert(0, APPLICANT.name)
    return tuple(table[n] for n in chosen)


def parse_columns(text: str) -> list[str]:
    """``a,b, c`` -> ``["a", "b", "c"]``."""
    return [n.strip() for n in text.split(",") if n.strip()]


def parse_where(items: Iterable[str]) -> dict[str, list[Any]]:
    """``FIELD=VALUE`` filters as typed values by field; an empty VALUE means blank.

    The same field given twice matches either value; different fields must all match.
    Scores and ``_revisions`` are whole numbers, bands decimals, dates ``YYYY-MM-DD`` (or
    ``YYYYMMDD``), ``_cancelled`` yes or no; codes and text compare exactly.
    """
    valid = (*_fields(), *WHERE_META)
    out: dict[str, list[Any]] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name:
            raise UsageError(f"--where {item!r} is not FIELD=VALUE, e.g. department_code=0001")
        if name not in valid:
            raise _unknown("--where field", name, valid)
        kind = WHERE_META.get(name) or columns()[name].kind
        out.setdefault(name, []).append(_typed(name, kind, text))
    return out


def _typed(name: str, kind: str, text: str) -> Any:
    if not text and kind != "bool":
        return None
    try:
        if kind in ("score", "int"):
            return int(text)
        if kind == "band":
            return to_band(text)
        if kind == "date":
            return to_date(text)
    except ValueError:
        example = {"date": "2026-01-21", "band": "4.5"}.get(kind, "25")
        raise UsageError(f"--where {name}={text!r}: {name} is a {kind}; write it like "
                         f"{name}={example}") from None
    if kind == "bool":
        if text.lower() in ("yes", "true", "1"):
            return True
        if text.lower() in ("no", "false", "0", ""):
            return False
        raise UsageError(f"--where {name}={text!r}: write {name}=yes or {name}=no")
    return text


# -- rows ---------------------------------------------------------------------------------


def stored_record(row: Row) -> Record:
    """The :class:`Record` of a stored report (its own layout's fields, in layout order)."""
    lay = row["layout"] if row["layout"] in layouts.BUILTIN else layouts.CURRENT
    return Record(
        values={n: row[n] for n in layouts.builtin(lay).names}, layout=row["layout"],
        line=row["line"] or 0, raw=row["raw"], format=row["format"],
        warnings=row["warnings"], extra=row["extra"],
    )


def _prepared(
    rows: Iterable[Row], changes: Counter[str],
    applicants: dict[tuple[str, dt.date], str] | None = None,
) -> Iterator[Row]:
    for row in rows:
        if applicants is not None:
            row["applicant_id"] = applicants.get((row["registration_number"], row["test_date"]))
        if row["warnings"]:
            row["warnings"] = msgspec.convert(row["warnings"], list[RecordWarning])
        row["cancelled"] = row["cancelled_at"] is not None
        if row.get("change"):
            changes[row["change"]] += 1
        yield row


# -- CSV ----------------------------------------------------------------------------------

# Text Excel would turn into a number, a date or a time (losing leading zeros and digits),
# or run as a formula.
_EXCEL_CHANGES = re.compile(
    r"[=+\-@\t\r]|[0-9.,:/%$()+\-\s eE]*[0-9][0-9.,:/%$()+\-\s eE]*\Z"
).match


def excel_text(value: str) -> str:
    """``="value"`` when Excel would change the text or run it as a formula."""
    if _EXCEL_CHANGES(value):
        return '="' + value.replace('"', '""') + '"'
    return value


def _csv_cell(kind: str, excel: bool) -> Callable[[Any], Any] | None:
    """How a value (never None) of this kind becomes a cell; None when the csv module
    writes it right as it is (blank for None, ``str`` for ints, ``repr`` for floats)."""
    if kind == "bool":
        return lambda v: "true" if v else "false"
    if kind == "warnings":
        return warnings_text
    if kind == "json":
        return json_text
    if kind == "instant":
        return (lambda v: f'="{iso_instant(v)}"') if excel else iso_instant
    if kind == "date":
        return (lambda v: f'="{v.isoformat()}"') if excel else None
    if kind in ("score", "int", "band"):
        return None
    return excel_text if excel else None


def write_csv(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """CSV, CRLF. Excel-safe by default: UTF-8 with a BOM, codes, IDs and dates as
    ``="0123"`` text cells (leading zeros and all digits survive, no formula runs);
    ``spec.excel=False`` writes plain UTF-8 values for loaders."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig" if spec.excel else "utf-8", newline="")
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(spec.headers)
        get = getter(spec.columns)
        convert = [(i, f) for i, c in enumerate(spec.columns)
                   if (f := _csv_cell(c.kind, spec.excel)) is not None]
        count = 0
        for row in rows:
            cells = list(get(row))
            for i, f in convert:
                v = cells[i]
                if v is not None:
                    cells[i] = f(v)
            writer.writerow(cells)
            count += 1
    finally:
        text.flush()
        text.detach()
    return count


# -- JSON Lines ---------------------------------------------------------------------------


def write_jsonl(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """One object a report. Without chosen columns, the ``parse`` contract (the report's
    own layout's fields, ``_layout``, ``_line``, ``_warnings``, ``_extra`` if any) then the
    :data:`JSONL_META`; ``change`` first in a delta."""
    table = columns()
    rename = ({c.name: c.label for c in (*table.values(), APPLICANT)} if spec.labels
              else None)  # fmt: skip
    names = {c.name for c in spec.columns}
    change, applicant = "change" in names, APPLICANT.name in names
    meta = [table[n] for n in JSONL_META]
    get = getter(spec.columns)
    def objects() -> Iterator[dict[str, Any]]:
        for row in rows:
            obj: dict[str, Any]
            if spec.chosen:
                obj = dict(zip(spec.headers, get(row), strict=True))
            else:
                obj = {APPLICANT.name: row[APPLICANT.source]} if applicant else {}
                if change:
                    obj["change"] = row["change"]
                obj.update(to_row(stored_record(row)))
                obj.update((c.name, row[c.source]) for c in meta)
                if rename:
                    obj = {rename.get(k, k): v for k, v in obj.items()}
            yield obj

    return write_objects(objects(), out)


# -- XLSX and Parquet (optional extras; :mod:`toefl_access.handoff.export_typed`) -----------------


def write_xlsx(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """One sheet with a frozen header row and typed cells (the ``[excel]`` extra)."""
    from .export_typed import write_xlsx as write

    return write(rows, out, spec)


def write_parquet(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """Typed Parquet columns (pyarrow, a dependency of the parser)."""
    from .export_typed import write_parquet as write

    return write(rows, out, spec)


# -- ScoreLink ----------------------------------------------------------------------------


def write_scorelink(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """The stored original line of each report, byte for byte as received, ``\\n`` after
    each. Reports received as JSON have no line: theirs is rendered from the stored values
    in the current layout (a note says how many). Cancelled reports are left out: the
    format cannot mark them, and a loader would take them as valid scores (a note too)."""
    count = rendered = cancelled = 0
    for row in rows:
        if row["cancelled_at"] is not None:
            cancelled += 1
            continue
        if row["format"] == "text":
            out.write(row["raw"])
        else:
            out.write(_rendered(stored_record(row)))
            rendered += 1
        out.write(b"\n")
        count += 1
    if rendered:
        spec.notes.append(
            f"{rendered} reports came from the API as JSON: their lines were rendered from "
            "the stored values in the current layout, not copied as received"
        )
    if cancelled:
        spec.notes.append(
            f"{cancelled} cancelled reports were left out (ScoreLink lines cannot say "
            "cancelled); list them with --to csv --where _cancelled=yes"
        )
    return count


def _rendered(record: Record) -> bytes:
    """The line of a report received as JSON. An ID number stored as a keyed hash (too long
    for its field) is written masked, as the stored lines of text reports hold it."""
    if record.layout not in layouts.BUILTIN:
        record.layout = layouts.CURRENT
    for f in layouts.builtin(record.layout).data_fields:
        value = record.values.get(f.name)
        if f.kind == "sensitive" and value is not None and len(value.encode()) > f.size:
            record.values[f.name] = "*" * f.size
    return render(record)


WRITERS: dict[str, Callable[[Iterable[Row], IO[bytes], Spec], int]] = {
    "csv": write_csv, "jsonl": write_jsonl, "xlsx": write_xlsx, "parquet": write_parquet,
    "scorelink": write_scorelink,
}
_EXTRAS = {"xlsx": ("xlsxwriter", "excel", "Exporting to XLSX")}


# -- files --------------------------------------------------------------------------------


# -- the whole export ---------------------------------------------------------------------


@dataclass(slots=True)
class ExportResult:
    """What an export wrote: ``rows``, the count of each ``change``, the ``target`` (a
    path, or ``-``), the bookmark before and after (deltas), and notes for the user."""

    rows: int
    changes: dict[str, int]
    target: str
    previous: Bookmark | None = None
    bookmark: Bookmark | None = None
    notes: list[str] = field(default_factory=list)


def export(
    store: Store,
    *,
    to: str,
    output: str | os.PathLike[str] | None = None,
    stdout: IO[bytes] | None = None,
    columns: Sequence[str] | None = None,
    where: Iterable[str] = (),
    changed_since: dt.datetime | None = None,
    since_last: str | None = None,
    headers: str = "names",
    excel: bool = True,
    applicant_id: bool = False,
) -> ExportResult:
    """Export stored reports to ``output`` (a file, written atomically) or ``stdout``.

    ``since_last=NAME`` exports what is new, changed or cancelled since the last export
    under NAME and then moves its bookmark; it needs a file (standard output cannot be
    known to be complete). ``applicant_id`` adds the ``applicant_id`` column first (also
    when ``columns`` names it). Everything else is checked before the store is read.
    """
    if to not in FORMATS:
        raise UsageError(f"cannot export to {to!r}; use one of {', '.join(FORMATS)}")
    if headers not in ("names", "labels"):
        raise UsageError(f"--headers is names or labels, not {headers!r}")
    if to == "scorelink" and (columns is not None or headers == "labels"):
        raise UsageError("--to scorelink writes whole ScoreLink lines: --columns and "
                         "--headers do not apply")
    if not excel and to != "csv":
        raise UsageError("--plain applies to --to csv only")
    if to == "scorelink" and applicant_id:
        raise UsageError("--to scorelink writes the original ScoreLink lines, which have no "
                         "place for an applicant ID; use --applicant-id with --to csv, jsonl, "
                         "xlsx or parquet")
    if since_last is not None and not since_last.strip():
        raise UsageError("--since-last needs a name, e.g. --since-last slate")
    if since_last is not None and output in (None, "-"):
        raise UsageError(
            "--since-last needs -o FILE: its bookmark moves only once the file is completely "
            "written and in place, which standard output cannot guarantee"
        )
    if to in _EXTRAS:
        require(*_EXTRAS[to])
    if output in (None, "-"):
        if stdout is None:
            raise UsageError("give -o FILE, or a stream to write to")
        if to in BINARY and stdout.isatty():
            raise UsageError(f"{to} is a binary format: write it to a file with -o FILE.{to}")
    delta = since_last is not None or changed_since is not None
    spec = Spec(select_columns(columns, change=delta, applicant=applicant_id),
                chosen=columns is not None, labels=headers == "labels", excel=excel)
    filters = parse_where(where)
    write = WRITERS[to]
    changes: Counter[str] = Counter()
    applicants = (store.applicant_ids() if any(c is APPLICANT for c in spec.columns)
                  else None)  # fmt: skip
    with store.export_rows(where=filters, changed_since=changed_since,
                           since_last=since_last) as batch:
        rows = _prepared(batch.rows, changes, applicants)
        if output not in (None, "-"):
            assert output is not None
            target = os.path.abspath(output)
            with output_file(output) as fh:
                count = write(rows, fh, spec)
        elif to in BINARY:  # zip and Parquet writers seek, pipes cannot: spool first
            assert stdout is not None
            target = "-"
            with tempfile.TemporaryFile() as tmp:
                count = write(rows, tmp, spec)
                tmp.seek(0)
                shutil.copyfileobj(tmp, stdout)
        else:
            assert stdout is not None
            target = "-"
            count = write(rows, stdout, spec)
    result = ExportResult(rows=count, changes={c: changes[c] for c in CHANGES} if delta else {},
                          target=target, notes=spec.notes)
    if since_last is not None:
        result.previous = batch.previous
        assert batch.until is not None
        result.bookmark = store.advance_bookmark(
            since_last, since=batch.previous.position if batch.previous else None,
            until=batch.until, rows=count, target=target,
        )
        if applicants is not None and batch.previous is not None:
            _note_applicant_changes(store, batch.previous, result.notes)
    return result


def _note_applicant_changes(store: Store, previous: Bookmark, notes: list[str]) -> None:
    """A delta holds the reports that changed, not those whose applicant did: say so when
    matches were decided or run since the previous export under the bookmark's name."""
    decided, runs = store.match_changes_since(previous.exported_at)
    if not (decided or runs):
        return
    what = " and ".join(x for x in (
        f"{decided} match decision{'s' if decided != 1 else ''}" if decided else "",
        f"{runs} match run{'s' if runs != 1 else ''}" if runs else "") if x)
    notes.append(
        f"{what} since the previous export under {previous.name!r}: a delta holds the reports "
        "that changed, not those whose applicant changed; to send every report's current "
        "applicant, export once without --since-last (with --applicant-id)"
    )

