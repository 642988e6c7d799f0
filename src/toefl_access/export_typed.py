"""The typed export formats: XLSX (``[excel]`` extra, openpyxl) and Parquet (``[parquet]``
extra, pyarrow). Called through :func:`toefl_access.export.export`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import IO, Any

from .errors import ToeflAccessError
from .export import Row, Spec, getter, json_text, require, warnings_text

XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header


# -- XLSX ---------------------------------------------------------------------------------


def write_xlsx(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """One sheet, frozen header row; scores as numbers, bands as numbers (``0.0``), dates as
    dates, instants as UTC date-times, codes and names as text (never formulas)."""
    openpyxl = require("openpyxl", "excel", "Exporting to XLSX")
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("reports")
    sheet.freeze_panes = "A2"
    for i, c in enumerate(spec.columns, 1):
        wide = 12 if c.kind in ("score", "band", "int", "bool", "cefr") else 20
        sheet.column_dimensions[get_column_letter(i)].width = wide

    def styled(value: Any, fmt: str) -> Any:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = fmt
        return cell

    def text(value: Any) -> Any:
        if value is None:
            return None
        if ILLEGAL_CHARACTERS_RE.search(value):  # control bytes an XLSX cannot hold
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value[:1] == "=":  # a text cell, never a formula
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def convert(kind: str) -> Callable[[Any], Any]:
        if kind == "date":
            return lambda v: None if v is None else styled(v, "yyyy-mm-dd")
        if kind == "instant":
            return lambda v: None if v is None else styled(
                v.astimezone(dt.UTC).replace(tzinfo=None), "yyyy-mm-dd hh:mm:ss")
        if kind == "band":
            return lambda v: None if v is None else styled(float(v), "0.0")
        if kind in ("score", "int", "bool"):
            return lambda v: v
        if kind == "warnings":
            return lambda v: text(warnings_text(v)) if v else None
        if kind == "json":
            return lambda v: text(json_text(v)) or None
        return text

    bold = Font(bold=True)
    header = []
    for name in spec.headers:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cell.data_type = "s"
        header.append(cell)
    sheet.append(header)
    get = getter(spec.columns)
    cells = [convert(c.kind) for c in spec.columns]
    count = 0
    for row in rows:
        count += 1
        if count > XLSX_MAX_ROWS:
            raise ToeflAccessError(
                f"more than {XLSX_MAX_ROWS} reports do not fit in one Excel sheet; narrow "
                "the export with --where or --changed-since, or use --to csv or parquet"
            )
        sheet.append([cell(v) for cell, v in zip(cells, get(row), strict=True)])
    book.save(out)
    return count


# -- Parquet ------------------------------------------------------------------------------


def write_parquet(rows: Iterable[Row], out: IO[bytes], spec: Spec, *, batch: int = 8192) -> int:
    """Typed columns: scores int32, bands float64 (exact for 0.5 steps), dates date32,
    instants timestamp[us, UTC], flags bool, text string (warnings as their text)."""
    pa = require("pyarrow", "parquet", "Exporting to Parquet")
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
