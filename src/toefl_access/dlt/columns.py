"""What the dlt source loads: typed column hints, the reported position, the merge rule.

**Columns.** Every data field of the built-in layouts, typed as :mod:`toefl_access.formats.batch`
types it in Arrow (scores ``bigint`` of 16/32/64 bits, bands ``double``, dates ``date``, the
rest ``text``), so the warehouse gets the same types as the store; then the row's provenance:

==================== ====================================================================
``_line``            the record's line in its answer
``_warnings``        the parser's warnings (``json``: a list of texts)
``_raw``             the line as received (``binary``; the ID number masked unless
                     ``sensitive="keep"``)
``_layout``          the layout it was read with (``scorelink-1600``, ``scorelink-900``)
``_window_start``,   the API window whose answer carried it
``_window_end``
``_answer_version``  0, or how many times that window's answer had changed when it came
``_reported_pos``    the position of the revision in the ordering rule, as one number
``_received_at``     when the answer that carried it was received (``score_reports`` keeps
                     the first read of its current revision, ``report_revisions`` the
                     latest)
``_integration``     the integration's name (when the source was made for one)
==================== ====================================================================

**The ordering rule** is the store's (:mod:`toefl_access.store.ordering`): a report's current
revision is the latest *reported* one, by window start, then the window's answer version (a
window read again whose answer changed comes after its earlier answer), then the line.
:func:`position` folds the three into one ``BIGINT``::

    epoch seconds of the window start * 10**9 + answer version * 10**6 + line

(lines below a million, versions below 1,000; good until the year 2262). A window's answer
that only grew (the window was read before its end had passed, and more reports were released
since) keeps its version: the earlier answer is the start of the later one, line for line.

**The merge** (:func:`latest_reported`): ``score_reports`` is a dlt ``delete-insert`` merge on
the report identity whose delete and insert are scoped so that a staged row replaces the
destination row of its key only when its position is higher. dlt's own strategies keep the
*latest loaded* row (``dedup_sort`` looks at the staged rows only; ``upsert`` compares row
versions with ``<>``), so a backfill of an older window would put an old revision back.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from toefl_access.errors import InputError
from toefl_access.formats import layout as layouts
from toefl_access.formats.batch import LAYOUT_KEY, arrow_type
from toefl_access.formats.record import IDENTITY
from toefl_access.formats.sensitive import Protector, spans

if TYPE_CHECKING:
    from collections.abc import Callable

    from dlt.common.schema.typing import (
        TColumnSchema,
        TDeleteInsertStrategyDict,
        TTableSchemaColumns,
    )

#: The report identity: the primary key of ``score_reports``.
KEY = list(IDENTITY)
#: The column holding :func:`position`.
POSITION = "_reported_pos"
LINE_LIMIT = 10**6
VERSION_LIMIT = 1000
#: Text parts of the identity may be blank; a primary key column cannot be NULL, so a blank
#: part is loaded as ``''`` (as the store's report key writes it).
_TEXT_KEY = [name for name in KEY if name != "test_date"]
_TS = pa.timestamp("us", tz="UTC")


def position(window_start: dt.datetime, version: int, line: int) -> int:
    """The ordering rule (window start, answer version, line) as one sortable integer."""
    return int(window_start.timestamp()) * 10**9 + version * 10**6 + line


def _hint(t: pa.DataType) -> TColumnSchema:
    if pa.types.is_integer(t):
        return {"data_type": "bigint", "precision": t.bit_width}
    if pa.types.is_floating(t):
        return {"data_type": "double"}
    if pa.types.is_date(t):
        return {"data_type": "date"}
    return {"data_type": "text"}


@cache
def _data_hints() -> tuple[tuple[str, TColumnSchema], ...]:
    """The data fields of the built-in layouts (current first, the fields of the store's
    FIELD_KINDS), each with the hint of its Arrow type."""
    return tuple((f.name, _hint(arrow_type(f))) for f in layouts.builtin_fields())


#: The tables of the source: the current revisions, every sighting, records without a key.
TABLES = ("score_reports", "report_revisions", "unkeyed_records")


def columns(table: str) -> TTableSchemaColumns:
    """The column hints of one of :data:`TABLES`."""
    out: TTableSchemaColumns = {name: {"name": name, **hint} for name, hint in _data_hints()}
    if table != "unkeyed_records":
        for name in KEY:
            out[name]["nullable"] = False
    meta: dict[str, TColumnSchema] = {
        "_line": {"data_type": "bigint"},
        "_warnings": {"data_type": "json"},
        "_raw": {"data_type": "binary"},
        "_layout": {"data_type": "text"},
        "_window_start": {"data_type": "timestamp"},
        "_window_end": {"data_type": "timestamp"},
        "_answer_version": {"data_type": "bigint"},
        POSITION: {"data_type": "bigint", "nullable": False},
        "_received_at": {"data_type": "timestamp"},
        "_integration": {"data_type": "text"},
    }
    if table == "score_reports":  # several revisions of a report in one load: the latest wins
        meta[POSITION]["dedup_sort"] = "desc"
    for name, hint in meta.items():
        out[name] = {"name": name, **hint}
    return out


def protect(table: pa.Table, protector: Protector) -> pa.Table:
    """The table with its ``sensitive`` fields as the store keeps them: the typed column holds
    the keyed hash (``hash``), nothing (``drop``) or the value (``keep``), and ``_raw`` the
    line with the field masked (``hash``: ``*``, ``drop``: blanks). The same
    :class:`~toefl_access.formats.sensitive.Protector` steps as the store's preparation."""
    layout = layouts.builtin(table.schema.metadata[LAYOUT_KEY].decode())
    fields = spans(layout)
    if not fields or table.num_rows == 0:
        return table
    stored: list[bytes] = []
    values: dict[str, list[str | None]] = {name: [] for _, _, name, _ in fields}
    for raw in table.column("_raw").to_pylist():
        line, found, _ = protector.line(raw, fields)
        stored.append(line)
        for name, column in values.items():
            clear = found.get(name)
            column.append(None if clear is None else protector.value(clear))
    for name, column in values.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, table.schema.field(at), pa.array(column, pa.string()))
    at = table.schema.get_field_index("_raw")
    return table.set_column(at, table.schema.field(at), pa.array(stored, pa.binary()))


def shape(
    table: pa.Table,
    *,
    start: dt.datetime,
    end: dt.datetime,
    version: int,
    received_at: dt.datetime,
    integration: str | None,
) -> pa.Table:
    """The rows of one answer with their provenance columns (see the module docstring)."""
    n = table.num_rows
    if n and pc.max(table["_line"]).as_py() >= LINE_LIMIT:
        raise InputError(
            f"an answer of more than {LINE_LIMIT:,} records: use a smaller window",
            source=f"the answer for {start.isoformat()}",
        )
    pos = pc.add(pa.scalar(position(start, version, 0), pa.int64()),
                 pc.cast(table["_line"], pa.int64()))
    layout = table.schema.metadata[LAYOUT_KEY].decode()
    extra = {
        "_layout": pa.array([layout] * n, pa.string()),
        "_window_start": pa.array([start] * n, _TS),
        "_window_end": pa.array([end] * n, _TS),
        "_answer_version": pa.array([version] * n, pa.int64()),
        POSITION: pos,
        "_received_at": pa.array([received_at] * n, _TS),
    }
    if integration is not None:
        extra["_integration"] = pa.array([integration] * n, pa.string())
    for name, column in extra.items():
        table = table.append_column(pa.field(name, column.type, nullable=name != POSITION), column)
    return table


def keyed(table: pa.Table) -> pa.Table:
    """The rows that have a test date, blank text parts of their identity as ``''``."""
    rows = table.filter(pc.is_valid(table["test_date"]))
    for name in KEY:
        at = rows.schema.get_field_index(name)
        column = rows.column(at)
        if name in _TEXT_KEY:
            column = pc.fill_null(column, "")
        rows = rows.set_column(at, rows.schema.field(at).with_nullable(False), column)
    return rows


def unkeyed(table: pa.Table) -> pa.Table:
    """The rows without a test date: no report identity, kept aside (``unkeyed_records``)."""
    return table.filter(pc.is_null(table["test_date"]))


def latest_reported(qualified: str, escape: Callable[[str], str]) -> TDeleteInsertStrategyDict:
    """The ``write_disposition`` of ``score_reports``: a ``delete-insert`` merge on
    :data:`KEY` that never lets a revision with a lower :data:`POSITION` replace a higher one,
    whatever the order the windows are loaded in.

    ``qualified`` is the destination table's qualified name, ``escape`` the destination's
    ``escape_column_name``. In the merge transaction dlt (1) deduplicates the staged rows by
    key, keeping the highest position (the ``dedup_sort`` hint); (2) deletes only the
    destination rows that a staged row of their key beats (``destination_scope``, which
    replaces the key-based DELETE); (3) inserts a staged row only when no row of its key is
    left (``source_filter``): a row that was left is at least as new, and an equal position
    is the same revision read again. The statements are plain correlated ``EXISTS``.
    """
    # {table} and {staging_table} are dlt's placeholders for the two qualified names
    on_staged = " AND ".join(f"s.{escape(k)} = {{table}}.{escape(k)}" for k in KEY)
    scope = (
        f"EXISTS (SELECT 1 FROM {{staging_table}} s WHERE {on_staged}"
        f" AND s.{escape(POSITION)} > {{table}}.{escape(POSITION)})"
    )
    # the destination's key columns renamed, so the bare names mean the staged row's
    renamed = ", ".join(f"{escape(k)} AS {escape('_d_' + k)}" for k in KEY)
    on_kept = " AND ".join(f"d.{escape('_d_' + k)} = {escape(k)}" for k in KEY)
    keep = f"NOT EXISTS (SELECT 1 FROM (SELECT {renamed} FROM {qualified}) d WHERE {on_kept})"
    return {
        "disposition": "merge",
        "strategy": "delete-insert",
        "destination_scope": scope,
        # dlt formats the filter with no arguments: braces in names must be doubled
        "source_filter": keep.replace("{", "{{").replace("}", "}}"),
    }
