"""Score records as Apache Arrow columns: the :class:`Batch` every bulk path works on.

==================== ======================================================================
kind                 Arrow type
==================== ======================================================================
score                ``int16`` (``int32``/``int64`` for a custom field wider than 4 bytes)
band                 ``float64`` (the value the text says, as Python reads it)
date                 ``date32``
code, text, cefr,    ``string`` (UTF-8; a field whose bytes are not UTF-8 is read as
sensitive            Latin-1), trailing blanks removed
==================== ======================================================================

A blank field is null. Each batch also has ``_line`` (the line number), ``_warnings`` (the
warnings' texts) and ``_raw`` (the line as received); the layout's name is in the schema's
metadata. Fixed-length lines become batches in :mod:`.decoder`; records decoded one at a
time (JSON) through :func:`from_records`.

:class:`Batch` keeps what :class:`~toefl_access.formats.record.Record` views need: a record
read from a batch is a view on its row, and a column becomes Python values only when
somebody reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .layout import Field, Layout
from .record import Record, RecordWarning

LAYOUT_KEY = b"toefl_access.layout"
_WARNINGS_TYPE = pa.list_(pa.string())


def arrow_type(f: Field) -> pa.DataType:
    """The Arrow type of a field's values (see the module docstring)."""
    if f.kind == "score":
        return pa.int16() if f.size <= 4 else pa.int32() if f.size <= 9 else pa.int64()
    if f.kind == "band":
        return pa.float64()
    if f.kind == "date":
        return pa.date32()
    return pa.string()


@cache
def schema(layout: Layout) -> pa.Schema:
    """The schema of a layout's batches: its data fields, then ``_line``, ``_warnings``
    and ``_raw``; the layout's name is the metadata ``toefl_access.layout``."""
    fields = [pa.field(f.name, arrow_type(f)) for f in layout.data_fields]
    fields += [pa.field("_line", pa.int64(), nullable=False),
               pa.field("_warnings", _WARNINGS_TYPE, nullable=False),
               pa.field("_raw", pa.binary(), nullable=False)]
    return pa.schema(fields, metadata={LAYOUT_KEY: layout.name.encode()})


class Batch:
    """Records of one layout as an Arrow record batch, and what their views need.

    ``data`` is the :class:`pyarrow.RecordBatch` (see :func:`schema`; a batch of JSON
    records also has ``_extra``, their unknown keys as JSON text); ``warnings`` holds the
    :class:`~toefl_access.formats.record.RecordWarning` objects by row (only rows that have some),
    ``extras`` the unknown keys of JSON records by row. ``layout`` is the layout's name
    (as records have it), ``spec`` the :class:`~toefl_access.formats.layout.Layout`.
    :meth:`records` gives one :class:`~toefl_access.formats.record.Record` view a row. Values a
    view changes (``Record.put``) live in the batch's Python columns; ``data`` stays as
    decoded.
    """

    __slots__ = ("_lists", "_raws", "_rows", "data", "extras", "format", "index", "layout",
                 "lines", "names", "spec", "warnings")

    def __init__(
        self,
        data: pa.RecordBatch,
        *,
        layout: Layout,
        lines: Sequence[int],
        raws: list[bytes] | None,
        warnings: dict[int, list[RecordWarning]],
        format: str = "text",
        extras: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.data = data
        self.extras = extras or {}
        self.spec = layout
        self.layout = layout.name
        self.lines = lines
        self._raws = raws
        self.warnings = warnings
        self.format = format
        self.names: tuple[str, ...] = tuple(n for n in data.schema.names if n[0] != "_")
        self.index = {name: j for j, name in enumerate(self.names)}
        self._lists: dict[str, list[Any]] = {}
        self._rows: list[tuple[Any, ...]] | None = None

    @property
    def raws(self) -> list[bytes]:
        """Each record's bytes as received (made from ``_raw`` on first use)."""
        if self._raws is None:
            self._raws = self.data.column("_raw").to_pylist()
        return self._raws

    def __len__(self) -> int:
        return int(self.data.num_rows)

    def column(self, name: str) -> list[Any]:
        """A data column as Python values (made on first use, then kept)."""
        try:
            return self._lists[name]
        except KeyError:
            if name not in self.index:
                raise
            array = self.data.column(self.index[name])
            values: list[Any]
            if array.type == pa.date32():  # dates repeat: one object a day, not a value
                days = pc.fill_null(array.view(pa.int32()), _NO_DAY).to_numpy()
                values = list(map(_DAYS.__getitem__, days.tolist()))
            else:
                values = array.to_pylist()
            self._lists[name] = values
            return values

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row's values in the order of ``names`` (made once)."""
        if self._rows is None:
            self._rows = list(zip(*map(self.column, self.names), strict=True))
        return self._rows

    def put(self, row: int, name: str, value: Any) -> None:
        """Change one value of the Python columns (what the views read)."""
        self.column(name)[row] = value
        if self._rows is not None:
            j = self.index[name]
            old = self._rows[row]
            self._rows[row] = (*old[:j], value, *old[j + 1 :])

    def records(self) -> list[Record]:
        """One :class:`Record` view a row, in order."""
        view = Record.view
        warnings = self.warnings
        layout = self.layout
        return [view(self, i, layout=layout, line=line, warnings=warnings.get(i) or [])
                for i, line in enumerate(self.lines)]

    def head(self, k: int) -> Batch:
        """The first ``k`` rows as a batch of their own."""
        return Batch(self.data.slice(0, k), layout=self.spec, lines=self.lines[:k],
                     raws=None if self._raws is None else self._raws[:k],
                     warnings={i: w for i, w in self.warnings.items() if i < k},
                     format=self.format,
                     extras={i: e for i, e in self.extras.items() if i < k})

    def first_warning(self) -> int | None:
        """The row of the first record with a warning, or None."""
        return min(self.warnings) if self.warnings else None


_NO_DAY = -(1 << 31)  # a null date, as days


class _Days(dict[int, dt.date | None]):
    """Days since 1970-01-01 -> their date (None for :data:`_NO_DAY`), made once each."""

    def __missing__(self, day: int) -> dt.date | None:
        if len(self) > 1 << 16:
            self.clear()
        value = None if day == _NO_DAY else _EPOCH + dt.timedelta(days=day)
        self[day] = value
        return value


_EPOCH = dt.date(1970, 1, 1)
_DAYS = _Days()


def _binary(values: Sequence[bytes]) -> pa.Array:
    """A binary array of ``values`` from one join (no Python object per value)."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(values)
    return pa.Array.from_buffers(pa.large_binary(), len(values),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)]
                                 ).cast(pa.binary())


def _warning_texts(n: int, warnings: dict[int, list[RecordWarning]]) -> pa.Array:
    counts = np.zeros(n, dtype=np.int32)
    texts: list[str] = []
    for row in sorted(warnings):
        counts[row] = len(warnings[row])
        texts += [w.describe() for w in warnings[row]]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(texts, pa.string()))


def finish(
    layout: Layout,
    columns: list[pa.Array],
    *,
    lines: Sequence[int],
    raws: list[bytes] | None,
    warnings: dict[int, list[RecordWarning]],
    format: str = "text",
    extras: dict[int, dict[str, Any]] | None = None,
    raw: pa.Array | None = None,
) -> Batch:
    """A :class:`Batch` from typed data columns (layout order) and the rows' metadata;
    ``extras`` (JSON records' unknown keys by row) adds the ``_extra`` column, ``raw`` is
    ``raws`` as an array when the caller has it."""
    n = len(lines)
    numbers = (np.arange(lines.start, lines.stop, dtype=np.int64) if isinstance(lines, range)
               else np.array(lines, dtype=np.int64))
    if raw is None:
        assert raws is not None
        raw = _binary(raws)
    meta = [pa.array(numbers), _warning_texts(n, warnings), raw]
    kind = schema(layout)
    if extras is not None:
        texts: list[str | None] = [None] * n
        for row, extra in extras.items():
            texts[row] = msgspec.json.encode(extra).decode()
        meta.append(pa.array(texts, pa.string()))
        kind = kind.append(pa.field("_extra", pa.string()))
    data = pa.RecordBatch.from_arrays([*columns, *meta], schema=kind)
    return Batch(data, layout=layout, lines=lines, raws=raws, warnings=warnings,
                 format=format, extras=extras)


def _fit(values: list[Any], type_: pa.DataType) -> pa.Array:
    """``values`` as an array of ``type_``; a number too large for it becomes null (a JSON
    score can be any number; its warning already says it is out of range)."""
    try:
        return pa.array(values, type_)
    except (pa.ArrowInvalid, OverflowError):
        bits = type_.bit_width - 1
        low, high = -(1 << bits), (1 << bits) - 1
        return pa.array([v if v is None or low <= v <= high else None for v in values], type_)


def from_records(records: Sequence[Record], layout: Layout, *, format: str = "text") -> Batch:
    """A :class:`Batch` of records that were decoded one at a time (JSON, damaged lines)."""
    columns = [_fit([r.get(f.name) for r in records], arrow_type(f))
               for f in layout.data_fields]
    warnings = {i: list(r.warnings) for i, r in enumerate(records) if r.warnings}
    extras = {i: r.extra for i, r in enumerate(records) if r.extra}
    return finish(layout, columns, lines=[r.line for r in records],
                  raws=[r.raw for r in records], warnings=warnings, format=format,
                  extras=extras if format == "json" else None)


