"""Exports to CSV, a few thousand rows at a time as Arrow columns.

The stored rows arrive from the database driver as Python values; each chunk of them is
turned into one array a column, and every cell is written with Arrow kernels (the text
rules of :func:`toefl_access.formats.writers.text_cells`), never with a Python call per
cell: the csv module's formatting and quoting, byte for byte (a test holds them to it).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from ..formats.writers import BOM, floats, text_cells, write_values
from .spec import Row, Spec, getter, iso_instant, json_text, warnings_text

CHUNK = 4096  # rows converted together


def _formula(texts: pa.Array) -> pa.Array:
    """``="text"`` as a CSV cell (the quotes doubled once more), for text with no quote."""
    return pc.binary_join_element_wise('"=""', texts, '"""', "")


def _cells(kind: str, values: Sequence[Any], excel: bool) -> pa.Array:
    """One column of a chunk as CSV cells (null: an empty cell)."""
    if kind == "bool":
        return pa.array([None if v is None else "true" if v else "false" for v in values],
                        pa.string())
    if kind in ("warnings", "json"):
        show = warnings_text if kind == "warnings" else json_text
        return text_cells(pa.array([None if v is None else show(v) for v in values],
                                   pa.string()))
    if kind == "instant":
        texts = pa.array([None if v is None else iso_instant(v) for v in values], pa.string())
        return _formula(texts) if excel else texts
    if kind == "date":
        texts = pc.cast(pa.array(values, pa.date32()), pa.string())
        return _formula(texts) if excel else texts
    if kind in ("score", "int"):
        return pc.cast(pa.array(values, pa.int64()), pa.string())
    if kind == "band":
        return floats(pa.array(values, pa.float64()))
    return text_cells(pa.array(values, pa.string()), excel="changes" if excel else None)


def write_csv(rows: Iterable[Row], out: IO[bytes], spec: Spec) -> int:
    """CSV, CRLF. Excel-safe by default: UTF-8 with a BOM, codes, IDs and dates as
    ``="0123"`` text cells (leading zeros and all digits survive, no formula runs);
    ``spec.excel=False`` writes plain UTF-8 values for loaders."""
    head = io.StringIO()
    csv.writer(head, lineterminator="\r\n").writerow(spec.headers)
    out.write((BOM if spec.excel else b"") + head.getvalue().encode())
    get = getter(spec.columns)
    kinds = [c.kind for c in spec.columns]
    count = 0
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, CHUNK)):
        columns = list(zip(*map(get, chunk), strict=True))
        cells = [_cells(kind, values, spec.excel)
                 for kind, values in zip(kinds, columns, strict=True)]
        if len(cells) == 1:  # the csv module writes a row of one empty cell as ""
            cells = [pc.fill_null(pc.if_else(pc.equal(cells[0], ""), '""', cells[0]), '""')]
        lines = pc.binary_join_element_wise(*cells, ",", null_handling="replace",
                                            null_replacement="")
        write_values(pc.binary_join_element_wise(lines, "\r\n", ""), out)
        count += len(chunk)
    return count
