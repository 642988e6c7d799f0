"""Column-wise decoding of many fixed-length lines at once: the fast path of parsing.

:meth:`Codec.decode <toefl_access.textformat.Codec.decode>` reads one line field by field,
which costs a few Python operations per field. A ScoreLink record has about a hundred
fields, so :class:`Columns` reads a *batch* of lines as one ``numpy`` byte matrix instead:

* scores, dates and bands are converted a whole column at a time with integer arithmetic;
* every text field of the batch is decoded with one UTF-8 decode and one split;
* the score rules run as vector comparisons, which say which records are surely fine.

It never decides anything on its own: a record with anything unusual in it (a value that
cannot be converted, odd spacing in a number, a NUL byte) is handed to ``Codec.decode``,
and a record the vector checks cannot clear is checked by the same :class:`Rules` as the
one-line path. So both paths give equal records for every line; a property test holds
them to it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .record import CEFR_OF_BAND, Record, utc_today

if TYPE_CHECKING:
    from .textformat import Codec

Matrix = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

TEXT_KINDS = frozenset(("code", "text", "sensitive", "cefr"))
SPACE, DOT, ZERO = 0x20, 0x2E, 0x30
_NONE_CODE = 100  # a band's code when blank; a band "d.d" has code 10 * d + d
_BAND_OF_CODE: Any = np.array([c / 10 for c in range(100)] + [None], dtype=object)
_OK_BAND_CODES = np.zeros(_NONE_CODE + 1, dtype=bool)
_OK_BAND_CODES[[round(b * 10) for b in CEFR_OF_BAND] + [_NONE_CODE]] = True
_LEVEL_OF_CODE = np.full(_NONE_CODE + 1, SPACE * 256 + SPACE, dtype=np.int64)
for _band, _level in CEFR_OF_BAND.items():
    _LEVEL_OF_CODE[round(_band * 10)] = ord(_level[0]) * 256 + ord(_level[1])


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


class Columns:
    """A codec's layout compiled for column-wise decoding (see the module docstring).

    ``usable`` is False for a layout this path does not cover (a date that is not 8 bytes,
    a score over 18 digits); its lines then go through ``Codec.decode`` one by one.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.length = codec.length
        fields = codec.layout.data_fields
        self.names = codec.names
        self.width = len(fields)
        index = {f.name: j for j, f in enumerate(fields)}

        def where(kinds: Container[str]) -> list[tuple[int, int, int]]:
            """(column, first byte, size) of each field of these kinds."""
            return [(j, f.start - 1, f.size) for j, f in enumerate(fields) if f.kind in kinds]

        self._texts, self._scores = where(TEXT_KINDS), where(("score",))
        self._dates, self._bands = where(("date",)), where(("band",))
        self.usable = (
            len(self._texts) + len(self._scores) + len(self._dates) + len(self._bands)
            == self.width
            and all(size == 8 for _, _, size in self._dates)
            and all(size <= 18 for _, _, size in self._scores)
            and all(size >= 3 for _, _, size in self._bands)
        )
        # Every text field of a line, each followed by a NUL (column ``length`` of the
        # matrix): one gather, one decode and one split give them all.
        gather: list[int] = []
        for _, start, size in self._texts:
            gather += range(start, start + size)
            gather.append(self.length)
        self._gather = np.array(gather, dtype=np.intp)
        sizes = [size + 1 for _, _, size in self._texts]
        self._starts = np.array([0, *itertools.accumulate(sizes)][:-1], dtype=np.intp)
        self._text_cols = [j for j, _, _ in self._texts]
        rules = codec._rules
        self._rules = rules
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

    def decode(
        self,
        lines: Sequence[bytes],
        numbers: Sequence[int],
        *,
        check: bool = True,
        today: dt.date | None = None,
    ) -> list[Record]:
        """Records for ``lines`` (no line endings, none longer than the record), in order.

        ``numbers`` are their line numbers; ``check`` and ``today`` as ``Codec.decode``.
        """
        n = len(lines)
        if not n:
            return []
        if not self.usable:
            return [
                self.codec.decode(line, k, check=check, today=today)
                for line, k in zip(lines, numbers, strict=True)
            ]
        today = today or utc_today()
        length = self.length
        # each line padded to the record length, then a NUL column for the text gather
        blob = b"\x00".join([line.ljust(length) for line in lines]) + b"\x00"
        m: Matrix = np.frombuffer(blob, dtype=np.uint8).reshape(n, length + 1)
        out: Any = np.empty((n, self.width), dtype=object)
        odd = (m[:, :length] == 0).any(axis=1)  # a NUL byte: the one-line path sees to it
        if odd.any():  # (and the NULs must not split the text fields below)
            m = m.copy()
            m[:, :length][m[:, :length] == 0] = SPACE
        values: dict[str, tuple[Ints, Mask]] = {}  # name -> (number, blank) for the rules
        for j, start, size in self._scores:
            number, blank, bad = digits(m[:, start : start + size])
            odd |= bad
            column = number.astype(object)
            column[blank] = None
            out[:, j] = column
            values[self.names[j]] = (number, blank)
        latest = np.full(n, -1, dtype=np.int64)
        if self._dates:
            odd |= self._put_dates(m, out, latest)
        for j, start, size in self._bands:
            code, bad = _band_codes(m[:, start : start + size])
            odd |= bad
            out[:, j] = _BAND_OF_CODE[code]
            values[self.names[j]] = (code, code == _NONE_CODE)
        if self._texts:
            out[:, self._text_cols] = self._text_matrix(m)
        fine = self._fine(m, values, latest, today) if check and self._vector_rules else None
        rows = out.tolist()
        names, index, layout, codec = self.names, self._index, self.codec.layout.name, self.codec
        rules, spans = self._rules, codec.spans
        records: list[Record] = []
        of_row = Record.of_row
        append = records.append
        odd_rows = set(np.flatnonzero(odd).tolist()) if odd.any() else ()
        unclear = (
            set(np.flatnonzero(~fine).tolist()) if fine is not None else None
        )
        for i, (row, line, lineno) in enumerate(zip(rows, lines, numbers, strict=True)):
            if i in odd_rows:
                append(codec.decode(line, lineno, check=check, today=today))
                continue
            if check and (unclear is None or i in unclear):
                values_of_row = dict(zip(names, row, strict=True))
                warnings = rules.check(values_of_row, today=today, spans=spans)
            else:
                warnings = []
            append(of_row(names, index, row, layout=layout, line=lineno, raw=line,
                          warnings=warnings))
        return records

    def _put_dates(self, m: Matrix, out: Any, latest: Ints) -> Mask:
        """Fill the date columns; keep each row's latest date; True for unreadable rows."""
        n = m.shape[0]
        numbers = np.empty((n, len(self._dates)), dtype=np.int64)
        odd = np.zeros(n, dtype=bool)
        for k, (_, start, _size) in enumerate(self._dates):
            number, blank, bad = digits(m[:, start : start + 8])
            odd |= bad
            numbers[:, k] = np.where(blank, -1, number)
        np.maximum.reduce(numbers, axis=1, out=latest)
        unique, inverse = np.unique(numbers, return_inverse=True)
        dates: Any = np.array(list(map(_DATES.__getitem__, unique.tolist())), dtype=object)
        typed = dates[inverse.reshape(numbers.shape)]
        odd |= (typed == _NOT_A_DATE).any(axis=1)
        for k, (j, _, _) in enumerate(self._dates):
            out[:, j] = typed[:, k]
        return odd

    def _text_matrix(self, m: Matrix) -> Any:
        """Every text field of every row, decoded, trailing blanks removed, blank None."""
        n, per = m.shape[0], len(self._texts)
        gathered = m[:, self._gather]
        blob = gathered.tobytes()
        if blob.isascii():
            texts = _texts(blob, ())
        else:  # the fields with a byte over 127 (numbered row by row)
            high = np.logical_or.reduceat(gathered >= 0x80, self._starts, axis=1)
            texts = _texts(blob, np.flatnonzero(high).tolist())
        column: Any = np.fromiter(texts, object, n * per)
        column[column == ""] = None
        return column.reshape(n, per)

    def _fine(
        self,
        m: Matrix,
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
            some_blank = np.zeros(m.shape[0], dtype=bool)
            for code in codes:
                some_blank |= code == _NONE_CODE
            bands = [code / 10 for code in codes]  # the same floats as the one-line path
            mean = np.floor((bands[0] + bands[1] + bands[2] + bands[3]) / 2 + 0.5) / 2
            fine &= some_blank | (mean == bands[4])
        if rules.cefr:
            all_blank = np.ones(m.shape[0], dtype=bool)
            match = np.ones(m.shape[0], dtype=bool)
            for level_name, band_name in rules.cefr:
                j = self._index[level_name]
                start = self.codec.layout.data_fields[j].start - 1
                level = m[:, start].astype(np.int64) * 256 + m[:, start + 1]
                all_blank &= level == SPACE * 256 + SPACE
                match &= level == _LEVEL_OF_CODE[values[band_name][0]]
            fine &= all_blank | match
        return fine




def digits(sub: Matrix) -> tuple[Ints, Mask, Mask]:
    """A column of fixed-width fields as numbers: (number, blank, neither digits nor blank)."""
    digit = sub - np.uint8(ZERO)  # a byte below '0' wraps round to a large value
    all_digits = (digit < 10).all(axis=1)
    blank = (sub == SPACE).all(axis=1)
    number = np.zeros(sub.shape[0], dtype=np.int64)
    for k in range(sub.shape[1]):
        number *= 10
        number += digit[:, k]
    return number, blank, ~(all_digits | blank)


def _band_codes(sub: Matrix) -> tuple[Ints, Mask]:
    """A column of bands "d.d" as codes 10 * d + d (blank: _NONE_CODE), and odd rows."""
    d0, d2 = sub[:, 0] - np.uint8(ZERO), sub[:, 2] - np.uint8(ZERO)
    plain = (d0 < 10) & (sub[:, 1] == DOT) & (d2 < 10) & (sub[:, 3:] == SPACE).all(axis=1)
    blank = (sub == SPACE).all(axis=1)
    code = np.where(plain, d0.astype(np.int64) * 10 + d2, _NONE_CODE)
    return code, ~(plain | blank)


class _NotADate:
    """The typed value of digits that are no real date (the row goes the one-line way)."""


_NOT_A_DATE: Any = _NotADate()


class _Dates(dict[int, Any]):
    """``YYYYMMDD`` as a number (-1: blank) -> its date, None, or _NOT_A_DATE; bounded."""

    def __missing__(self, number: int) -> Any:
        if len(self) > 1 << 16:
            self.clear()
        try:
            value = None if number < 0 else dt.date(number // 10000, number // 100 % 100,
                                                    number % 100)
        except ValueError:
            value = _NOT_A_DATE
        self[number] = value
        return value


_DATES = _Dates()


def real_date(number: int) -> bool:
    """Whether ``YYYYMMDD`` (as a number) is a date of the calendar."""
    return isinstance(_DATES[number], dt.date)


_OTHER_BLANKS = bytes((*range(0x09, 0x0E), *range(0x1C, 0x20)))  # str.isspace, bar " "


def _texts(blob: bytes, not_ascii: Iterable[int]) -> list[str]:
    """The NUL-terminated fields of ``blob``, decoded, without trailing blanks.

    Each field is UTF-8 where valid, else Latin-1, as in the one-line path. The blob is
    decoded as Latin-1 and split at once (Latin-1 strings are compact and fast); only the
    fields numbered in ``not_ascii`` are then read again as UTF-8. ``str.rstrip()`` is
    several times faster than ``rstrip(" ")`` but strips every kind of blank, so it serves
    ASCII fields, unless the blob holds tabs or the like.
    """
    parts = blob.decode("latin-1").split("\x00")
    parts.pop()  # after the last NUL
    if len(blob.translate(None, _OTHER_BLANKS)) == len(blob):
        texts = list(map(str.rstrip, parts))
    else:
        texts = list(map(str.rstrip, parts, itertools.repeat(" ")))
    for i in not_ascii:
        text = parts[i].encode("latin-1")
        try:
            texts[i] = text.decode("utf-8").rstrip(" ")
        except UnicodeDecodeError:
            texts[i] = parts[i].rstrip(" ")
    return texts

