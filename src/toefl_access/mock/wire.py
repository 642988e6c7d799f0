"""The mock's two wire formats, rendered once per part and joined per report.

A ScoreLink line is cut into :data:`GROUPS`: runs of consecutive fields whose values all come
from one part of a report (a person, a score set, see :mod:`.parts`) or are the report's own
(registration number, dates). :func:`pieces` renders a part's groups once, in both formats,
with the package's own rules (fixed-width UTF-8 text as ``textformat.render`` writes it, JSON
members as ``msgspec`` encodes ``jsonformat.to_object``). A report is then a dozen pieces
(:func:`text_lines`, :func:`json_objects`), which a body joins a few hundred reports at a
time. The tests check the result byte for byte against ``render`` and ``to_object`` for every
kind of report.

Score sets leave their MyBest dates as holes, ``%(test)s`` and ``%(prio)s`` (eight bytes,
the width of a text date), replaced per report by the test's and the earlier test's dates.

:func:`text_line` and :func:`json_object` encode a :class:`~toefl_access.formats.record.Record` the
same way (fast for the records the population builds, the general renderers for others).
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import msgspec

from ..formats import layout as layouts
from ..formats.jsonformat import to_object
from ..formats.record import Record
from ..formats.textformat import render

LAYOUT = layouts.builtin(layouts.CURRENT)
_NAMES = LAYOUT.names
_SIZES = tuple(f.size for f in LAYOUT.data_fields)
_KNOWN = frozenset(_NAMES)
_encode = msgspec.json.Encoder().encode

#: The line as groups of consecutive fields (first, last), in layout order; each group's
#: values come from one part of a report. The groups cover every byte of the line.
GROUPS: dict[str, tuple[str, str]] = {
    "place": ("institution_code", "filler_12"),
    "registration": ("registration_number", "registration_number"),
    "person": ("last_name", "native_language_name"),
    "born": ("date_of_birth", "date_of_birth"),
    "gender": ("gender", "gender"),
    "test_date": ("test_date", "test_date"),
    "centre": ("test_center_code", "test_center_code"),
    "scores": ("filler_552", "interpretive_info_year"),  # test type, 0-120 sections, total
    "times": ("times_taken", "no_response_off_topic"),
    "email": ("email", "email"),
    "ibt_centre": ("ibt_test_center_code", "ibt_test_center_code"),
    "identity": ("test_center_country", "security_id_country"),
    "best": ("rpdt_listening", "mybest26_total_date"),  # rPDT, MyBest, iBT26, MyBest iBT26
    "tail": ("filler_915", "filler_1279"),
}
#: The holes a score set leaves for its MyBest dates: the test's and the earlier test's
#: (no value the mock writes contains them).
TEST_HOLE, EARLIER_HOLE = "%(test)s", "%(prio)s"


class _Group:
    """The fields of one group and how to render their values in each format."""

    __slots__ = ("_names", "_sizes", "_struct", "fields")

    def __init__(self, first: str, last: str) -> None:
        names = [f.name for f in LAYOUT.fields]
        self.fields = LAYOUT.fields[names.index(first) : names.index(last) + 1]
        data = [f for f in self.fields if f.kind != "filler"]
        self._names = tuple(f.name for f in data)
        self._sizes = tuple(f.size for f in data)
        self._struct = struct.Struct(
            "".join(f"{f.size}x" if f.kind == "filler" else f"{f.size}s" for f in self.fields)
        )

    def text(self, values: Mapping[str, Any]) -> bytes:
        """The group's fixed-width bytes. Values are padded with NUL, then every NUL becomes a
        blank: the values the mock writes never hold one."""
        get = values.get
        data = [
            b""
            if (v := get(name)) is None
            else v.encode()
            if v.__class__ is str
            else _wire(v, size)
            for name, size in zip(self._names, self._sizes, strict=True)
        ]
        if any(map(operator.gt, map(len, data), self._sizes)):
            raise ValueError(f"the mock cannot write {values!r}: a value is too long")
        return self._struct.pack(*data).replace(b"\0", b" ")

    def json(self, values: Mapping[str, Any]) -> bytes:
        """The group's members, each after a comma (none for blank values)."""
        get = values.get
        members = {name: v for name in self._names if (v := get(name)) is not None}
        return b"," + _encode(members)[1:-1] if members else b""  # dates encode as ISO


_GROUP = {name: _Group(*span) for name, span in GROUPS.items()}
assert [f for g in _GROUP.values() for f in g.fields] == list(LAYOUT.fields)
_POSITION = {name: i for i, name in enumerate(GROUPS)}
#: Where each group starts and ends in the line (0-based, end excluded).
_SPANS = {
    name: (fields[0].start - 1, fields[-1].end)
    for name, fields in ((name, g.fields) for name, g in _GROUP.items())
}


@cache
def _span(first: str, last: str) -> _Group:
    return _Group(GROUPS[first][0], GROUPS[last][1])


def pieces(
    values: Mapping[str, Any], groups: Sequence[str]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The text and the JSON pieces of ``values`` for each of ``groups`` (in layout order)."""
    text: list[bytes] = []
    run = [groups[0]]  # consecutive groups are packed together, then cut apart
    for group in [*groups[1:], None]:
        if group is not None and _POSITION[group] == _POSITION[run[-1]] + 1:
            run.append(group)
            continue
        line, offset = _span(run[0], run[-1]).text(values), _SPANS[run[0]][0]
        text += (line[_SPANS[g][0] - offset : _SPANS[g][1] - offset] for g in run)
        if group is not None:
            run = [group]
    return tuple(text), tuple(_GROUP[g].json(values) for g in groups)


# -- reports ------------------------------------------------------------------------------


class _Date:
    """One date's wire bytes: as a text field, in ISO form, and as JSON members."""

    __slots__ = ("born", "iso", "test", "text")

    def __init__(self, ordinal: int) -> None:
        day = dt.date.fromordinal(ordinal)
        self.text = _GROUP["test_date"].text({"test_date": day})
        self.iso = day.isoformat().encode()
        self.born = _GROUP["born"].json({"date_of_birth": day})
        self.test = _GROUP["test_date"].json({"test_date": day})


_dates: dict[int, _Date] = {}


def _date(ordinal: int) -> _Date:
    """The date of ``ordinal``, made once (read ``_dates`` first, with ``or``)."""
    if len(_dates) >= 1 << 16:
        _dates.clear()
    found = _dates[ordinal] = _Date(ordinal)
    return found


_TAIL = _GROUP["tail"].text({}) + b"\n"
_PAD = tuple(b" " * (_GROUP["registration"].fields[0].size - n) for n in range(17))
_REGISTRATION = b',"registration_number":"'
_TEST, _EARLIER = TEST_HOLE.encode(), EARLIER_HOLE.encode()


def text_lines(reports: Iterable[tuple[Any, ...]], out: list[bytes]) -> int:
    """Append the lines of ``reports`` (the population's reports: named tuples whose fields
    come in the order unpacked below) to ``out``, each with its newline, in pieces; return
    how many reports there were."""
    dates, date, pad, test_hole, earlier_hole, tail = _dates, _date, _PAD, _TEST, _EARLIER, _TAIL
    n = 0
    for person, place, scores, times, registration, rpdt, test_date, born, earlier, _ in reports:
        prior = earlier > 0
        scores_text, best, _, _ = scores.variants[2 * rpdt + prior] or scores.rendered(rpdt, prior)
        test = (dates.get(test_date) or date(test_date)).text
        best = best.replace(test_hole, test)
        if prior:
            best = best.replace(earlier_hole, (dates.get(earlier) or date(earlier)).text)
        head, centre, rest = person.text[rpdt]
        if born != person.born:  # a test before the person turned 15: made older (rare)
            named, gender = person.unborn_text
            head = named + (dates.get(born) or date(born)).text + gender
        out += (
            place.text[0], registration, pad[len(registration)], head, test, centre, scores_text,
            times.text[0], rest, best, tail,
        )  # fmt: skip
        n += 1
    return n


def json_objects(reports: Iterable[tuple[Any, ...]], out: list[bytes]) -> int:
    """Append the JSON objects of ``reports``, each after a comma, to ``out``, in pieces;
    return how many reports there were."""
    dates, date, test_hole, earlier_hole, key = _dates, _date, _TEST, _EARLIER, _REGISTRATION
    n = 0
    for person, place, scores, times, registration, rpdt, test_date, born, earlier, _ in reports:
        prior = earlier > 0
        _, _, scores_json, best = scores.variants[2 * rpdt + prior] or scores.rendered(rpdt, prior)
        test = dates.get(test_date) or date(test_date)
        best = best.replace(test_hole, test.iso)
        if prior:
            best = best.replace(earlier_hole, (dates.get(earlier) or date(earlier)).iso)
        head, centre, rest = person.json[rpdt]
        if born != person.born:
            named, gender = person.unborn_json
            head = named + (dates.get(born) or date(born)).born + gender
        out += (
            place.json[0], key, registration, b'"', head, test.test, centre, scores_json,
            times.json[0], rest, best, b"}",
        )  # fmt: skip
        n += 1
    return n


# -- records ------------------------------------------------------------------------------

#: The whole line as one struct: data fields are byte strings (padded with NUL), fillers are
#: pad bytes (NUL); every NUL then becomes a blank. Generated values never contain NUL.
_LINE = struct.Struct(
    "".join(f"{f.size}x" if f.kind == "filler" else f"{f.size}s" for f in LAYOUT.fields)
)
_values = operator.itemgetter(*_NAMES)


def _fast(record: Record) -> bool:
    return record.layout == LAYOUT.name and not record.raw and not record.extra


def _wire(value: Any, size: int) -> bytes:
    """The wire bytes of a value that is not a string: score, band or date."""
    if isinstance(value, int):
        return b"%0*d" % (size, value)
    if isinstance(value, float):
        return b"%.1f" % value
    if isinstance(value, dt.date):
        return b"%04d%02d%02d" % (value.year, value.month, value.day)
    return str(value).encode("utf-8")


def text_line(record: Record) -> bytes:
    """One fixed-length line (without its newline), as ``textformat.render`` writes it.

    Only for values that fit their fields (as the population's do): use ``render`` for others.
    """
    if not _fast(record) or not _KNOWN.issuperset(record.values):
        return render(record)
    try:
        values = _values(record.values)
    except KeyError:
        return render(record)
    # Values longer than their field would be cut short by pack (render raises instead); the
    # population's values all fit by construction, which test_mock_population checks.
    parts = [
        b"" if v is None else v.encode("utf-8") if v.__class__ is str else _wire(v, size)
        for v, size in zip(values, _SIZES, strict=True)
    ]
    return _LINE.pack(*parts).replace(b"\0", b" ")


def json_object(record: Record) -> bytes:
    """One record as the encoded JSON object ``jsonformat.to_object`` describes."""
    if not _fast(record) or tuple(record.values) != _NAMES:
        return _encode(to_object(record))
    return _encode({k: v for k, v in record.values.items() if v is not None})
