"""The mock's two wire formats, rendered once per part and joined per report.

A ScoreLink line is cut into :data:`GROUPS`: runs of consecutive fields whose values all come
from one part of a report (a person, a test centre, a score set, see :mod:`.parts`) or are the
report's own (registration number, dates). :func:`pieces` renders a part's groups once, in
both formats, with the package's own rules (fixed-width UTF-8 text as ``textformat.render``
writes it, JSON members as ``msgspec`` encodes ``jsonformat.to_object``); a report is then
the concatenation of its parts' pieces (:func:`text_pieces`, :func:`json_pieces`), which a
body joins many reports at a time. The tests check the result byte for byte against
``render`` and ``to_object`` for every kind of report.

Score sets leave their MyBest dates as holes, ``%(test)s`` and ``%(prio)s`` (eight bytes,
the width of a text date), replaced per report by the test's and the earlier test's dates.

:func:`text_line` and :func:`json_object` encode a :class:`~toefl_access.record.Record` the
same way (fast for the records the population builds, the general renderers for others).
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .. import layout as layouts
from ..jsonformat import to_object
from ..record import Record
from ..textformat import render

if TYPE_CHECKING:
    from .population import Report

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

    __slots__ = ("_data", "_struct", "fields")

    def __init__(self, first: str, last: str) -> None:
        names = [f.name for f in LAYOUT.fields]
        self.fields = LAYOUT.fields[names.index(first) : names.index(last) + 1]
        self._data = tuple((f.name, f.size) for f in self.fields if f.kind != "filler")
        self._struct = struct.Struct(
            "".join(f"{f.size}x" if f.kind == "filler" else f"{f.size}s" for f in self.fields)
        )

    def text(self, values: Mapping[str, Any]) -> bytes:
        get = values.get
        data = [_text(get(name), name, size) for name, size in self._data]
        return self._struct.pack(*data).replace(b"\0", b" ")

    def json(self, values: Mapping[str, Any]) -> bytes:
        """The group's members, each after a comma (none for blank values)."""
        get = values.get
        members = {name: v for name, _ in self._data if (v := get(name)) is not None}
        return b"," + _encode(members)[1:-1] if members else b""  # dates encode as ISO


def _text(value: Any, name: str, size: int) -> bytes:
    data = (
        b"" if value is None else value.encode() if value.__class__ is str else _wire(value, size)
    )
    if len(data) > size or b"\0" in data:
        raise ValueError(f"the mock cannot write {name}={value!r} in {size} bytes")
    return data


_GROUP = {name: _Group(*span) for name, span in GROUPS.items()}
assert [f for g in _GROUP.values() for f in g.fields] == list(LAYOUT.fields)


def pieces(
    values: Mapping[str, Any], groups: Sequence[str]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The text and the JSON pieces of ``values`` for each of ``groups``."""
    return (
        tuple(_GROUP[g].text(values) for g in groups),
        tuple(_GROUP[g].json(values) for g in groups),
    )


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


def text_pieces(r: Report) -> tuple[bytes, ...]:
    """The line of report ``r`` (with its newline), in pieces."""
    person, place, centre, scores, times, registration, rpdt, test_date, born, earlier = r
    person_text, gender, email, identity = person.text
    centre_text, ibt_centre = centre.text
    prior = earlier > 0
    rendered = scores.variants[2 * rpdt + prior] or scores.rendered(rpdt, prior)
    scores_text, best = rendered.text
    test = (_dates.get(test_date) or _date(test_date)).text
    best = best.replace(_TEST, test)
    if prior:
        best = best.replace(_EARLIER, (_dates.get(earlier) or _date(earlier)).text)
    return (
        place.text[0], registration, _PAD[len(registration)], person_text,
        (_dates.get(born) or _date(born)).text, gender, test, centre_text, scores_text,
        times.text[0], email, ibt_centre, identity, best, _TAIL,
    )  # fmt: skip


def json_pieces(r: Report) -> tuple[bytes, ...]:
    """The JSON object of report ``r``, in pieces."""
    person, place, centre, scores, times, registration, rpdt, test_date, born, earlier = r
    person_json, gender, email, identity = person.json
    centre_json, ibt_centre = centre.json
    prior = earlier > 0
    rendered = scores.variants[2 * rpdt + prior] or scores.rendered(rpdt, prior)
    scores_json, best = rendered.json
    test = _dates.get(test_date) or _date(test_date)
    best = best.replace(_TEST, test.iso)
    if prior:
        best = best.replace(_EARLIER, (_dates.get(earlier) or _date(earlier)).iso)
    return (
        place.json[0], _REGISTRATION, registration, b'"', person_json,
        (_dates.get(born) or _date(born)).born, gender, test.test, centre_json, scores_json,
        times.json[0], email, ibt_centre, identity, best, b"}",
    )  # fmt: skip


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
