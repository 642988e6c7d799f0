"""The typed export formats: XLSX (``[excel]`` extra, xlsxwriter) and Parquet (pyarrow,
a dependency of the parser). Called through :func:`toefl_access.handoff.export.export`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import IO, Any

from ..errors import ToeflAccessError
from .spec import Row, Spec, getter, json_text, require, warnings_text

XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header


# -- XLSX ---------------------------------------------------------------------------------


def write_xlsx(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """One sheet, frozen header row; scores as numbers, bands as numbers (``0.0``), dates as
    dates, instants as UTC date-times, codes and names as text (never formulas).

    Written by xlsxwriter in constant-memory mode: row by row, each row flushed to a
    temporary file, so memory stays flat however many reports there are.
    """
    xlsxwriter = require("xlsxwriter", "excel", "Exporting to XLSX")
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                     "strings_to_formulas": False, "strings_to_urls": False})
    try:
        sheet = book.add_worksheet("reports")
        sheet.freeze_panes(1, 0)
        bold = book.add_format({"bold": True})
        formats = {
            "date": book.add_format({"num_format": "yyyy-mm-dd"}),
            "instant": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "band": book.add_format({"num_format": "0.0"}),
        }
        for i, c in enumerate(spec.columns):
            sheet.set_column(i, i, 12 if c.kind in ("score", "band", "int", "bool", "cefr") else 20)
            sheet.write_string(0, i, spec.headers[i], bold)
        writers = [_cell_writer(sheet, c.kind, formats) for c in spec.columns]
        get = getter(spec.columns)
        count = 0
        for row in rows:
            count += 1
            if count > XLSX_MAX_ROWS:
                raise ToeflAccessError(
                    f"more than {XLSX_MAX_ROWS} reports do not fit in one Excel sheet; narrow "
                    "the export with --where or --changed-since, or use --to csv or parquet"
                )
            for col, (write, value) in enumerate(zip(writers, get(row), strict=True)):
                if value is not None:
                    write(count, col, value)
    finally:
        book.close()
    return count


# Characters an XLSX (XML 1.0) cannot hold.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: str) -> str:
    return _ILLEGAL.sub("\ufffd", value) if _ILLEGAL.search(value) else value


def _cell_writer(sheet: Any, kind: str, formats: dict[str, Any]) -> Callable[[int, int, Any], Any]:
    """How one column's values go into cells (None is never written: a blank cell)."""
    if kind == "date":
        fmt = formats["date"]
        return lambda r, c, v: sheet.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), fmt)
    if kind == "instant":
        fmt = formats["instant"]
        return lambda r, c, v: sheet.write_datetime(
            r, c, v.astimezone(dt.UTC).replace(tzinfo=None), fmt)
    if kind == "band":
        fmt = formats["band"]
        return lambda r, c, v: sheet.write_number(r, c, float(v), fmt)
    if kind in ("score", "int"):
        return sheet.write_number  # type: ignore[no-any-return]
    if kind == "bool":
        return sheet.write_boolean  # type: ignore[no-any-return]
    if kind == "warnings":
        return lambda r, c, v: v and sheet.write_string(r, c, _text(warnings_text(v)))
    if kind == "json":
        return lambda r, c, v: (s := json_text(v)) and sheet.write_string(r, c, _text(s))
    return lambda r, c, v: sheet.write_string(r, c, _text(v))


# -- Parquet ------------------------------------------------------------------------------


def write_parquet(rows: Iterable[Row], out: IO[bytes], spec: Spec, *, batch: int = 8192) -> int:
    """Typed columns: scores int32, bands float64 (exact for 0.5 steps), dates date32,
    instants timestamp[us, UTC], flags bool, text string (warnings as their text)."""
    import pyarrow as pa
    pq = require("pyarrow.parquet", "parquet", "Exporting to Parquet")
    types = {"score": pa.int32(), "int": pa.int32(), "band": pa.float64(),
             "date": pa.date32(), "instant": pa.timestamp("us", tz="UTC"), "bool": pa.bool_()}
    schema = pa.schema([pa.field(h, types.get(c.kind, pa.string()))
                        for h, c in zip(spec.headers, spec.columns, strict=True)])
    textual: dict[str, Callable[[Any], Any]] = {
        "warnings": lambda v: warnings_text(v) if v else None,
        "json": lambda v: json_text(v) or None,
    }
    convert = [textual.get(c.kind) for c in spec.columns]
    get = getter(spec.columns)
    data: list[list[Any]] = [[] for _ in spec.columns]
    count = 0

    def flush() -> None:
        arrays = [pa.array(values, type=f.type) for values, f in zip(data, schema, strict=True)]
        writer.write_batch(pa.record_batch(arrays, schema=schema))
        for values in data:
            values.clear()

    writer = pq.ParquetWriter(out, schema)
    try:
        for row in rows:
            for values, conv, v in zip(data, convert, get(row), strict=True):
                values.append(conv(v) if conv else v)
            count += 1
            if count % batch == 0:
                flush()
        if count % batch:
            flush()
    finally:
        writer.close()
    return count
