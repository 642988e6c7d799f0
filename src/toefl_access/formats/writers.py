"""Parsed records written out from Arrow batches: CSV, JSON Lines, a JSON array, Parquet.

These are the bulk outputs of ``parse``: each works on whole
:class:`~toefl_access.formats.batch.Batch` es, with Arrow kernels where a format allows it,
never through a Python object per field. They write exactly what the record writers of
:mod:`toefl_access.formats.output` write (the JSON Lines contract and the Excel-safe CSV
described there); tests hold them to it.

Excel-safe CSV: UTF-8 with a BOM, CRLF, a header of canonical names then ``_layout``,
``_line``, ``_warnings``; text made only of digits in code and text columns is written as
``="0123"`` (Excel keeps leading zeros and all 16 digits), and text that would start a
formula (``=``, ``+``, ``-``, ``@``) as ``="..."`` too, so that it stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .batch import Batch

_encoder = msgspec.json.Encoder()
_TEXTUAL = frozenset(("code", "text", "sensitive"))
BOM = b"\xef\xbb\xbf"


def _csv_cell(text: str) -> str:
    """One cell as Python's csv module writes it (quoted when it must be)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([text, ""])
    return out.getvalue()[:-1]


_QUOTE = np.zeros(256, dtype=bool)
_QUOTE[list(b',"\r\n')] = True  # what makes Python's csv module quote a cell
_FORMULA = np.zeros(256, dtype=bool)
_FORMULA[list(b"=+-@")] = True


def _rows_with(mask: Any, starts: Any, filled: Any) -> Any:
    """Which strings (first bytes ``starts``; ``filled``: not empty) hold a byte where
    ``mask`` (one a byte of the data) is true."""
    out = np.zeros(len(starts), dtype=bool)
    if len(mask):
        out[filled] = np.logical_or.reduceat(mask, starts[filled])
    return out


def _text_cells(values: pa.Array, *, excel: bool) -> pa.Array:
    """Text as CSV cells, the way Python's csv module writes them (quoted, inner quotes
    doubled, where a cell holds a comma, a quote or a line break); with ``excel``, text
    made only of digits (``str.isdigit``) or starting a formula (``=+-@``) as ``="..."``.

    The tests run on the bytes of the whole array at once (numpy); only the cells that
    change are rewritten (Arrow kernels), and null stays null."""
    n = len(values)
    if not n:
        return values
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=values.offset + n + 1)
    offsets = offsets[values.offset :]
    buffer = values.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(
        0, dtype=np.uint8)
    data = data[: offsets[-1]]
    starts, filled = offsets[:-1], np.diff(offsets) > 0
    quote = _rows_with(_QUOTE[data], starts, filled)
    protect = np.zeros(n, dtype=bool)
    if excel:
        protect[filled] = _FORMULA[data[starts[filled]]]
        protect |= filled & ~_rows_with((data - np.uint8(0x30)) > 9, starts, filled)
        high = np.flatnonzero(_rows_with(data >= 0x80, starts, filled))
        if len(high):  # Unicode digits: Arrow's utf8_is_numeric holds all, Python decides
            cells = values.take(pa.array(high, pa.int64()))
            numeric = pc.fill_null(pc.utf8_is_numeric(cells), False).to_numpy(
                zero_copy_only=False)
            for row, text in zip(high[numeric].tolist(),
                                 cells.filter(pa.array(numeric)).to_pylist(), strict=True):
                protect[row] = text.isdigit()
    change = quote | protect
    if not change.any():
        return values
    cells = values.filter(pa.array(change))
    wrap = protect[change]
    # ="..." doubles the quotes once for the formula and once more for the CSV cell
    inner = pc.replace_substring(cells, '"', '""')
    formula = pc.binary_join_element_wise('"=""', pc.replace_substring(inner, '"', '""'), '"""',
                                          "")
    quoted = pc.binary_join_element_wise('"', inner, '"', "")
    return pc.replace_with_mask(values, pa.array(change),
                                pc.if_else(pa.array(wrap), formula, quoted))


def _floats(values: pa.Array) -> pa.Array:
    """Floats as Python's ``repr`` writes them (``4.0``, ``4.5``)."""
    texts = pc.cast(values, pa.string())
    whole = pc.and_(pc.equal(values, pc.floor(values)), pc.less(pc.abs(values), 1e15))
    texts = pc.if_else(whole, pc.binary_join_element_wise(texts, ".0", ""), texts)
    odd = pc.fill_null(pc.or_(pc.greater_equal(pc.abs(values), 1e15),
                              pc.and_(pc.less(pc.abs(values), 1e-4),
                                      pc.not_equal(values, 0))), False)
    if pc.any(odd).as_py():  # exponents: Python's own repr
        rows = pc.indices_nonzero(odd).to_pylist()
        mask = [False] * len(values)
        for row in rows:
            mask[row] = True
        shown = [repr(v) for v in values.take(pa.array(rows, pa.int64())).to_pylist()]
        texts = pc.replace_with_mask(texts, pa.array(mask), pa.array(shown, pa.string()))
    return texts


def _cells(batch: Batch, excel: bool) -> list[pa.Array]:
    """Every CSV cell of the batch, a string array a column (null: an empty cell).

    Columns that are written alike are put end to end and converted by one call of each
    kernel, then cut apart again (slices cost nothing): a batch takes a dozen kernel calls,
    not a dozen a column."""
    data, n = batch.data, len(batch)
    groups: dict[str, list[int]] = {}
    for j, f in enumerate(batch.spec.data_fields):
        kind = "excel" if excel and f.kind in _TEXTUAL else f.kind
        kind = "text" if kind in ("code", "text", "sensitive", "cefr") else kind
        groups.setdefault(kind, []).append(j)
    cells: list[Any] = [None] * len(batch.names)
    for kind, where in groups.items():
        joined = pa.concat_arrays([data.column(j) for j in where])
        if kind == "band":
            joined = _floats(joined)
        elif kind in ("score", "date"):
            joined = pc.cast(joined, pa.string())
        else:
            joined = _text_cells(joined, excel=kind == "excel")
        for k, j in enumerate(where):
            cells[j] = joined.slice(k * n, n)
    cells.append(pa.array([_csv_cell(batch.layout)] * n, pa.string()))
    cells.append(pc.cast(data.column("_line"), pa.string()))
    texts: list[str | None] = [None] * n
    for row, found in batch.warnings.items():
        texts[row] = "; ".join(w.describe() for w in found)
    cells.append(_text_cells(pa.array(texts, pa.string()), excel=False))
    return cells


def write_csv(batches: Iterable[Batch], out: IO[bytes], *, excel: bool = True) -> int:
    """Excel-safe CSV (see the module docstring) of ``batches``; returns the number of
    records. ``excel=False`` writes plain UTF-8 values (no BOM, no ``="..."``). The header
    comes with the first record: no records, no output."""
    count = 0
    for batch in batches:
        if not len(batch):
            continue
        if not count:
            names = [*batch.names, "_layout", "_line", "_warnings"]
            out.write((BOM if excel else b"") + ",".join(map(_csv_cell, names)).encode()
                      + b"\r\n")
        lines = pc.binary_join_element_wise(*_cells(batch, excel), ",",
                                            null_handling="replace", null_replacement="")
        lines = pc.binary_join_element_wise(lines, "\r\n", "")
        _write_values(lines, out)
        count += len(batch)
    return count


def _write_values(strings: pa.Array, out: IO[bytes]) -> None:
    """Write the characters of a string array, all of them one after the other."""
    offsets = strings.buffers()[1]
    ends = pa.Array.from_buffers(pa.int32(), len(strings) + 1, [None, offsets],
                                 offset=strings.offset)
    first, last = ends[0].as_py(), ends[len(strings)].as_py()
    out.write(memoryview(strings.buffers()[2])[first:last])


def _objects(batch: Batch) -> Iterator[dict[str, Any]]:
    """The JSON Lines object of each record of the batch (see :mod:`.output`)."""
    names, layout, warnings = batch.names, batch.layout, batch.warnings
    extras = batch.extras
    for i, (row, line) in enumerate(zip(batch.rows(), batch.lines, strict=True)):
        obj = dict(zip(names, row, strict=True))
        obj["_layout"] = layout
        obj["_line"] = line
        obj["_warnings"] = warnings.get(i, [])
        if i in extras:
            obj["_extra"] = extras[i]
        yield obj


def write_jsonl(batches: Iterable[Batch], out: IO[bytes]) -> int:
    """JSON Lines, the contract of :mod:`.output`, byte for byte."""
    count = 0
    buf = bytearray()
    for batch in batches:
        for obj in _objects(batch):
            _encoder.encode_into(obj, buf, -1)
            buf += b"\n"
        count += len(batch)
        out.write(buf)
        buf.clear()
    return count


def write_json(batches: Iterable[Batch], out: IO[bytes]) -> int:
    """A JSON array of the JSON Lines objects, written as it goes."""
    count = 0
    out.write(b"[")
    for batch in batches:
        buf = bytearray()
        for obj in _objects(batch):
            buf += b",\n" if count else b"\n"
            _encoder.encode_into(obj, buf, -1)
            count += 1
        out.write(buf)
    out.write(b"\n]\n" if count else b"]\n")
    return count


def table_of(batch: Batch) -> pa.RecordBatch:
    """The batch as written to Parquet: the fields, ``_layout``, ``_line``, ``_warnings``
    (and ``_extra`` for JSON input); the raw lines stay out."""
    data = batch.data
    keep = [name for name in data.schema.names if name != "_raw"]
    at = len(batch.names)
    layout = pa.DictionaryArray.from_arrays(
        pa.array([0] * len(batch), pa.int8()), pa.array([batch.layout]))
    columns = [data.column(name) for name in keep]
    columns.insert(at, layout)
    return pa.RecordBatch.from_arrays(columns, names=[*keep[:at], "_layout", *keep[at:]])


def write_parquet(batches: Iterable[Batch], out: IO[bytes]) -> int:
    """Typed Parquet columns (one row group a batch), snappy-compressed (the Parquet
    default)."""
    import pyarrow.parquet as pq

    count = 0
    writer: Any = None
    try:
        for batch in batches:
            table = table_of(batch)
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema, compression="snappy")
            writer.write_batch(table)
            count += len(batch)
    finally:
        if writer is not None:
            writer.close()
    return count


WRITERS = {"jsonl": write_jsonl, "json": write_json, "parquet": write_parquet}
