"""Fixed-length lines decoded a batch at a time into Arrow columns (a :class:`~.batch.Batch`).

A ScoreLink record has about a hundred fields; building a Python object for each of them
is what made parsing slow. :class:`Decoder` reads a batch of lines as one ``numpy`` byte
matrix and turns every field into one typed Arrow array at a time: numbers, dates and bands
with integer arithmetic on the byte matrix (fields of one kind and size together), text
fields cut, trimmed and checked for UTF-8 with array operations; the score rules run as
vector comparisons that say which records surely break none.

It never decides anything unusual on its own: a line with something a vector cannot read (a
score with a blank inside, a band written ``4.50``, a date that is not on the calendar, a
NUL byte) is read by :meth:`Codec.decode <toefl_access.formats.textformat.Codec.decode>`,
the careful one-line path, and its values are put into the batch; a record the vector checks
cannot clear is checked by the same :class:`~toefl_access.formats.record.Rules` as that
path. So a batch holds exactly what ``Codec.decode`` gives line by line; a property test
holds them to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .batch import Batch, arrow_type, finish, from_records
from .layout import Layout
from .record import CEFR_OF_BAND, Record, RecordWarning, Rules, utc_today

Matrix = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

TEXT_KINDS = frozenset(("code", "text", "sensitive", "cefr"))
SPACE, DOT, ZERO = 0x20, 0x2E, 0x30
_NONE_CODE = 100  # a band's code when blank; a band "d.d" has code 10 * d + d
_OK_BAND_CODES = np.zeros(_NONE_CODE + 1, dtype=bool)
_OK_BAND_CODES[[round(b * 10) for b in CEFR_OF_BAND] + [_NONE_CODE]] = True
_LEVEL_OF_CODE = np.full(_NONE_CODE + 1, SPACE * 256 + SPACE, dtype=np.int64)
for _band, _level in CEFR_OF_BAND.items():
    _LEVEL_OF_CODE[round(_band * 10)] = ord(_level[0]) * 256 + ord(_level[1])


def _stacked(num: Matrix, firsts: list[int], size: int) -> Matrix:
    """Fields of one size from the gathered rows (``firsts``: each field's first row) as
    (byte, field, line)."""
    index = np.add.outer(np.arange(size), np.array(firsts, dtype=np.intp))
    return num[index]


def digit_rows(rows: Matrix) -> tuple[Ints, Mask, Mask]:
    """Fixed-width fields given byte position by byte position (``rows[k]`` is byte ``k`` of
    every field; a field may also be a row of fields) as numbers: (number, blank, neither
    digits nor blank)."""
    number = np.zeros(rows.shape[1:], dtype=np.int64)
    all_digits = np.ones(rows.shape[1:], dtype=bool)
    blank = np.ones(rows.shape[1:], dtype=bool)
    for row in rows:
        digit = row - np.uint8(ZERO)  # a byte below '0' wraps round to a large value
        all_digits &= digit < 10
        blank &= row == SPACE
        number *= 10
        number += digit
    return number, blank, ~(all_digits | blank)


def digits(sub: Matrix) -> tuple[Ints, Mask, Mask]:
    """A column of fixed-width fields (one a row) as numbers; see :func:`digit_rows`."""
    return digit_rows(sub.T)


def _band_codes(rows: Matrix) -> tuple[Ints, Mask]:
    """Bands "d.d" given byte by byte (as :func:`digit_rows`) as codes 10 * d + d (blank:
    _NONE_CODE), and the rows that are neither."""
    d0, d2 = rows[0] - np.uint8(ZERO), rows[2] - np.uint8(ZERO)
    padded = np.ones(rows.shape[1], dtype=bool)
    for row in rows[3:]:
        padded &= row == SPACE
    plain = (d0 < 10) & (rows[1] == DOT) & (d2 < 10) & padded
    blank = padded & (rows[0] == SPACE) & (rows[1] == SPACE) & (rows[2] == SPACE)
    code = np.where(plain, d0.astype(np.int64) * 10 + d2, _NONE_CODE)
    return code, ~(plain | blank)


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def calendar_days(number: Ints) -> tuple[Ints, Mask]:
    """``YYYYMMDD`` numbers as days since 1970-01-01, and which are real dates."""
    y, m, d = number // 10000, number // 100 % 100, number % 100
    month_ok = (m >= 1) & (m <= 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    last = _MONTH_DAYS[np.where(month_ok, m, 0)] + (leap & (m == 2))
    real = (y >= 1) & month_ok & (d >= 1) & (d <= last)
    # days from the civil date (H. Hinnant's algorithm), in integer arithmetic
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468, real


def not_utf8(cells: Matrix) -> Mask:
    """Which fields (one a row of ``cells``) are not valid UTF-8, as Python's strict decoder
    decides: every lead byte followed by exactly its continuation bytes inside the field,
    no overlong forms, no surrogates, nothing past U+10FFFF."""
    c = cells
    k, w = c.shape
    cont = (c & 0xC0) == 0x80
    lead2 = (c >= 0xC2) & (c <= 0xDF)
    lead3 = (c & 0xF0) == 0xE0
    lead4 = (c >= 0xF0) & (c <= 0xF4)
    needed = np.zeros((k, w + 3), dtype=bool)  # a continuation byte is needed here
    needed[:, 1 : w + 1] |= lead2 | lead3 | lead4
    needed[:, 2 : w + 2] |= lead3 | lead4
    needed[:, 3 : w + 3] |= lead4
    bad = needed[:, w:].any(axis=1) | (needed[:, :w] != cont).any(axis=1)
    bad |= ((c == 0xC0) | (c == 0xC1) | (c >= 0xF5)).any(axis=1)
    first, second = c[:, :-1], c[:, 1:]
    bad |= ((first == 0xE0) & (second < 0xA0)).any(axis=1)  # overlong
    bad |= ((first == 0xED) & (second > 0x9F)).any(axis=1)  # surrogates
    bad |= ((first == 0xF0) & (second < 0x90)).any(axis=1)  # overlong
    bad |= ((first == 0xF4) & (second > 0x8F)).any(axis=1)  # past U+10FFFF
    return np.asarray(bad, dtype=bool)


def _rows_array(m: Matrix) -> pa.Array:
    """The rows of a contiguous byte matrix as a binary array (no copy)."""
    n, width = m.shape
    return pa.Array.from_buffers(pa.binary(), n, [
        None, pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32)),
        pa.py_buffer(m)])


def _validity(valid: Mask) -> pa.Buffer | None:
    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


class OneLine(Protocol):
    """What the decoder needs of the one-line codec
    (:class:`~toefl_access.formats.textformat.Codec`, which builds its decoder)."""

    layout: Layout
    length: int
    names: tuple[str, ...]
    spans: dict[str, tuple[int, int]]
    _rules: Rules

    def decode(
        self, line: bytes, lineno: int = 1, *, check: bool = True, today: dt.date | None = None
    ) -> Record: ...


class Decoder:
    """A layout compiled for decoding batches of lines (see the module docstring).

    ``usable`` is False for a layout the vector path does not cover (a date that is not 8
    bytes, a score over 18 digits); its lines then go through ``Codec.decode`` one by one.
    """

    def __init__(self, codec: OneLine) -> None:
        self.codec = codec
        self.layout = codec.layout
        self.length = codec.length
        fields = self.layout.data_fields
        self.names = codec.names
        self.types = [arrow_type(f) for f in fields]
        index = {f.name: j for j, f in enumerate(fields)}

        def where(kinds: Container[str]) -> list[tuple[int, int, int]]:
            """(column, first byte, size) of each field of these kinds."""
            return [(j, f.start - 1, f.size) for j, f in enumerate(fields) if f.kind in kinds]

        self._texts, self._scores = where(TEXT_KINDS), where(("score",))
        self._dates, self._bands = where(("date",)), where(("band",))
        self.usable = (
            all(size == 8 for _, _, size in self._dates)
            and all(size <= 18 for _, _, size in self._scores)
            and all(size >= 3 for _, _, size in self._bands)
        )
        rules = self._rules = codec._rules
        kinds = {f.name: f.kind for f in fields}
        number_rules = (*rules.sections, *rules.totals, *rules.sum)
        # The vector checks cover the usual kinds; a custom layout that, say, carries a
        # section score as text is checked record by record.
        self._vector_rules = (
            all(kinds[n] == "score" for n in number_rules)
            and all(kinds[n] == "band" for n in (*rules.bands, *rules.mean))
            and all(kinds[c] == "cefr" and fields[index[c]].size == 2 for c, _ in rules.cefr)
            and all(kinds[b] == "band" for _, b in rules.cefr)
        )
        self._index = index
        # the byte positions of numbers, dates, bands and two-byte levels, gathered
        levels = [(j, f.start - 1, 2) for j, f in enumerate(fields)
                  if f.kind == "cefr" and f.size == 2]
        gather: list[int] = []
        self._at: dict[int, int] = {}  # a field's first byte -> its row in the gathered
        for _, start, size in (*self._scores, *self._dates, *self._bands, *levels):
            self._at[start] = len(gather)
            gather += range(start, start + size)
        self._gather = np.array(gather, dtype=np.intp)
        sizes: dict[int, list[tuple[int, int]]] = {}
        for j, start, size in self._scores:
            sizes.setdefault(size, []).append((j, start))
        self._score_groups = sorted(sizes.items())

    def decode(
        self,
        lines: Sequence[bytes],
        numbers: Sequence[int],
        *,
        check: bool = True,
        today: dt.date | None = None,
    ) -> Batch:
        """The batch of ``lines`` (no line endings, none longer than the record), in order.

        ``numbers`` are their line numbers; ``check`` and ``today`` as ``Codec.decode``.
        """
        lines, numbers = list(lines), list(numbers)
        today = today or utc_today()
        if not self.usable or not lines:
            records = [self.codec.decode(line, k, check=check, today=today)
                       for line, k in zip(lines, numbers, strict=True)]
            return from_records(records, self.layout)
        length = self.length
        blob = b"".join([line if len(line) == length else line.ljust(length) for line in lines])
        m: Matrix = np.frombuffer(blob, dtype=np.uint8).reshape(len(lines), length)
        raw = None
        if len(blob) == sum(map(len, lines)):  # no line was padded: the blob is the lines
            raw = _rows_array(m)
        return self.decode_matrix(m, numbers, raws=lines, raw=raw, check=check, today=today)

    def decode_matrix(
        self,
        m: Matrix,
        numbers: Sequence[int],
        *,
        raws: list[bytes] | None = None,
        raw: pa.Array | None = None,
        check: bool = True,
        today: dt.date | None = None,
    ) -> Batch:
        """The batch of the lines that are the rows of ``m`` (each exactly a record long;
        a row view of a larger buffer will do). ``raws`` are the lines as received when
        some were padded, or ``raw`` those lines as a binary array; by default the rows."""
        today = today or utc_today()
        n = m.shape[0]
        if raw is None and raws is None:
            raw = _rows_array(np.ascontiguousarray(m))
        lines: list[bytes] | None = raws

        def line(i: int) -> bytes:
            return lines[i] if lines is not None else m[i].tobytes()

        if not self.usable:
            return self.decode([line(i) for i in range(n)], numbers, check=check, today=today)

        # The bytes of numbers, dates, bands and levels, one row a byte position: every
        # operation below then runs along a contiguous row of n bytes.
        num: Matrix = np.ascontiguousarray(m[:, self._gather].T)
        odd = np.zeros(n, dtype=bool)
        if int(m.min()) == 0:  # a NUL byte: the one-line path sees to it
            odd = (m == 0).any(axis=1)
        columns: list[Any] = [None] * len(self.names)
        values: dict[str, tuple[Ints, Mask]] = {}  # name -> (number, blank) for the rules
        at = self._at
        # fields of one kind and size are read together: (byte, field, line) at once
        for size, group in self._score_groups:
            digits_, blanks, bad = digit_rows(_stacked(num, [at[s] for _, s in group], size))
            odd |= bad.any(axis=0)
            for k, (j, _) in enumerate(group):
                number, blank = digits_[k], blanks[k]
                columns[j] = pa.array(number.astype(self.types[j].to_pandas_dtype()),
                                      mask=blank)
                values[self.names[j]] = (number, blank)
        latest = np.full(n, -1, dtype=np.int64)
        if self._dates:
            digits_, blanks, bad = digit_rows(
                _stacked(num, [at[s] for _, s, _ in self._dates], 8))
            days, real = calendar_days(digits_)
            odd |= (bad | ~(real | blanks)).any(axis=0)
            np.maximum.reduce(np.where(blanks, -1, digits_), axis=0, out=latest)
            valid = real & ~blanks
            days = np.where(real, days, 0).astype(np.int32)
            for k, (j, _, _) in enumerate(self._dates):
                columns[j] = pa.Array.from_buffers(
                    pa.date32(), n, [_validity(valid[k]), pa.py_buffer(days[k])])
        for j, start, size in self._bands:
            code, bad = _band_codes(num[at[start] : at[start] + size])
            odd |= bad
            columns[j] = pa.array(code / 10, mask=code == _NONE_CODE)
            values[self.names[j]] = (code, code == _NONE_CODE)
        high = m.max(axis=0) >= 0x80  # the byte positions where some line has a byte > 127
        for j, start, size in self._texts:
            columns[j] = self._text(m, start, size, bool(high[start : start + size].any()), odd)
        warnings: dict[int, list[RecordWarning]] = {}
        if odd.any():
            self._careful(np.flatnonzero(odd), line, numbers, columns, warnings, check, today)
        if check:
            fine = self._fine(num, values, latest, today) if self._vector_rules else np.zeros(
                n, dtype=bool)
            unclear = np.flatnonzero(~(fine | odd))
            if len(unclear):
                taken = pa.RecordBatch.from_arrays(columns, names=list(self.names)).take(
                    pa.array(unclear))
                check_row = self._rules.check
                spans = self.codec.spans
                for i, row in zip(unclear.tolist(), taken.to_pylist(), strict=True):
                    broken = check_row(row, today=today, spans=spans)
                    if broken:
                        warnings[i] = broken
        return finish(self.layout, columns, lines=numbers, raws=raws, warnings=warnings,
                      raw=raw)

    def _text(self, m: Matrix, start: int, size: int, high: bool, odd: Mask) -> pa.Array:
        """A text column: each field without trailing blanks, UTF-8 else Latin-1, blank
        null. (Odd rows get their values later; what is built for them here is unused.)"""
        n = m.shape[0]
        sub = m[:, start : start + size]
        whole = pa.Array.from_buffers(pa.string(), n, [
            None, pa.py_buffer(np.arange(0, (n + 1) * size, size, dtype=np.int32)),
            pa.py_buffer(np.ascontiguousarray(sub))])
        trimmed = pc.ascii_rtrim(whole, " ")  # (bytewise: not yet known to be UTF-8)
        offsets = np.frombuffer(trimmed.buffers()[1], dtype=np.int32, count=n + 1)
        array = pa.Array.from_buffers(pa.string(), n, [
            _validity(np.diff(offsets) > 0), trimmed.buffers()[1], trimmed.buffers()[2]])
        if not high:
            return array
        plain = pc.fill_null(pc.string_is_ascii(array), True)  # (bytewise too)
        if pc.all(plain).as_py():
            return array
        rows = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
        # Fields with bytes over 127: valid UTF-8 stays, any other is read as Latin-1, and
        # odd rows are emptied (the careful path gives their values).
        latin1 = not_utf8(sub[rows])
        fix = sorted({*rows[latin1].tolist(), *rows[odd[rows]].tolist()})
        if not fix:
            return array
        mask = np.zeros(n, dtype=bool)
        mask[fix] = True
        cells = array.view(pa.binary()).take(pa.array(fix, pa.int64())).to_pylist()
        replacements = [b"" if odd[i] else cell.decode("latin-1").encode()
                        for i, cell in zip(fix, cells, strict=True)]
        binary = pc.replace_with_mask(array.view(pa.binary()), pa.array(mask),
                                      pa.array(replacements, pa.binary()))
        return binary.view(pa.string())

    def _careful(
        self,
        rows: Any,
        line: Callable[[int], bytes],
        numbers: Sequence[int],
        columns: list[Any],
        warnings: dict[int, list[RecordWarning]],
        check: bool,
        today: dt.date,
    ) -> None:
        """Decode the odd rows with ``Codec.decode`` and put their values in ``columns``."""
        decode = self.codec.decode
        records = [decode(line(i), numbers[i], check=check, today=today) for i in rows.tolist()]
        mask = np.zeros(len(numbers), dtype=bool)
        mask[rows] = True
        where = pa.array(mask)
        for j, name in enumerate(self.names):
            values = pa.array([r.values[name] for r in records], self.types[j])
            columns[j] = pc.replace_with_mask(columns[j], where, values)
        for i, record in zip(rows.tolist(), records, strict=True):
            if record.warnings:
                warnings[i] = record.warnings

    def _fine(
        self,
        num: Matrix,
        values: dict[str, tuple[Ints, Mask]],
        latest: Ints,
        today: dt.date,
    ) -> Mask:
        """True for the rows that surely break no score rule (see Rules.check)."""
        rules = self._rules
        fine: Mask = latest <= today.year * 10000 + today.month * 100 + today.day
        for names, high in ((rules.sections, 30), (rules.totals, 120)):
            for name in names:
                number, blank = values[name]
                fine &= blank | (number <= high)
        for name in rules.bands:
            code, _ = values[name]
            fine &= _OK_BAND_CODES[code]
        if rules.sum:
            secs = [values[name] for name in rules.sum[:4]]
            total, total_blank = values[rules.sum[4]]
            some_blank = total_blank | secs[0][1] | secs[1][1] | secs[2][1] | secs[3][1]
            fine &= some_blank | (secs[0][0] + secs[1][0] + secs[2][0] + secs[3][0] == total)
        if rules.mean:
            codes = [values[name][0] for name in rules.mean]
            some_blank = np.zeros(num.shape[1], dtype=bool)
            for code in codes:
                some_blank |= code == _NONE_CODE
            bands = [code / 10 for code in codes]  # the same floats as the one-line path
            mean = np.floor((bands[0] + bands[1] + bands[2] + bands[3]) / 2 + 0.5) / 2
            fine &= some_blank | (mean == bands[4])
        if rules.cefr:
            all_blank = np.ones(num.shape[1], dtype=bool)
            match = np.ones(num.shape[1], dtype=bool)
            for level_name, band_name in rules.cefr:
                at = self._at[self.layout.data_fields[self._index[level_name]].start - 1]
                level = num[at].astype(np.int64) * 256 + num[at + 1]
                all_blank &= level == SPACE * 256 + SPACE
                match &= level == _LEVEL_OF_CODE[values[band_name][0]]
            fine &= all_blank | match
        return fine
