"""JSON score records: both shapes, key spellings, extra keys, strings for numbers."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from pathlib import Path
from typing import Any

import gen
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toefl_access import parse
from toefl_access.errors import InputError, RecordError
from toefl_access.formats import layout as layouts
from toefl_access.formats.jsonformat import key_map, normalize_key, parse_json, to_object

HYPOTHESIS = settings(max_examples=150, deadline=None)


def doc(*objects: dict[str, Any], bare: bool = False) -> bytes:
    return json.dumps(list(objects) if bare else {"data": list(objects)}).encode()


def one(obj: dict[str, Any], **kw: Any) -> Any:
    records = list(parse(doc(obj), **kw))
    assert len(records) == 1
    return records[0]


def test_object_and_bare_array_give_the_same_records() -> None:
    rs = gen.Gen(1).reports(5)
    objects = [r.json_object() for r in rs]
    wrapped = list(parse(gen.json_bytes(objects)))
    bare = list(parse(gen.json_bytes(objects, bare=True)))
    assert [r.values for r in wrapped] == [r.values for r in bare] == [r.values for r in rs]
    assert [r.line for r in wrapped] == [1, 2, 3, 4, 5]
    assert all(r.format == "json" and r.layout == "scorelink-1600" for r in wrapped)


def test_a_bom_and_other_top_level_keys_are_fine() -> None:
    data = b'\xef\xbb\xbf {"count": 1, "data": [{"last_name": "Lee"}], "next": null}'
    assert [r["last_name"] for r in parse(data)] == ["Lee"]


@pytest.mark.parametrize(
    "key",
    ["registration_number", "RegistrationNumber", "Registration or Appointment Number",
     "REGISTRATION-NUMBER", "registration number", "registrationNumber",
     "Registration or Appointment Number (rPDT: 7 characters left justified)"],
)
def test_key_spellings(key: str) -> None:
    r = one({key: "0000123456789012"})
    assert r["registration_number"] == "0000123456789012"
    assert r.extra == {}


def test_every_field_is_reachable_by_name_label_and_camel_case() -> None:
    for layout in gen.LAYOUTS:
        table = key_map(layouts.builtin(layout))
        for s in gen.data_specs(layout):
            for style in ("canonical", "camel", "label", "shout"):
                assert table[normalize_key(gen.json_key(s, style))] == s.name, (s.name, style)


def test_unknown_keys_are_kept_in_extra() -> None:
    extra = {"ScoreReportId": "SR-1", "nested": {"a": [1, 2]}, "Last Name Kana": "リー"}
    r = one({"last_name": "Lee", **extra})
    assert r["last_name"] == "Lee"
    assert r.extra == extra
    assert json.loads(r.raw) == {"last_name": "Lee", **extra}  # nothing received is lost


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("listening", "25", 25), ("listening", 25, 25), ("listening", 25.0, 25),
        ("total", " 101 ", 101), ("ibt26_total", "4.5", 4.5), ("ibt26_total", 4.5, 4.5),
        ("ibt26_total", 5, 5.0), ("test_date", "2025-01-15", dt.date(2025, 1, 15)),
        ("test_date", "20250115", dt.date(2025, 1, 15)),
        ("test_date", "2025-01-15T08:30:00Z", dt.date(2025, 1, 15)),
        ("test_date", 20250115, dt.date(2025, 1, 15)),
        ("institution_code", "0123", "0123"), ("institution_code", 1234, "1234"),
        ("last_name", "Lee  ", "Lee"), ("last_name", "", None), ("last_name", "   ", None),
        ("last_name", None, None), ("ibt26_total_cefr", "B2", "B2"),
    ],
)
def test_values_are_typed_and_numbers_may_be_strings(key: str, value: Any, expected: Any) -> None:
    r = one({key: value}, check=False)
    assert r[key] == expected
    assert type(r[key]) is type(expected)
    assert r.warnings == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("listening", "4X"), ("listening", 25.5), ("listening", True), ("listening", [25]),
     ("test_date", "20251341"), ("test_date", "2025-13-01"), ("test_date", "soon"),
     ("ibt26_total", "abc"), ("ibt26_total", False), ("last_name", {"x": 1})],
)
def test_unconvertible_values_are_none_with_a_warning(key: str, value: Any) -> None:
    r = one({key: value, "first_name": "Ann"})
    assert r[key] is None and r["first_name"] == "Ann"
    assert [(w.field, w.value) for w in r.warnings] == [(key, str(value))]
    assert "cannot be read as a" in r.warnings[0].message
    assert (r.warnings[0].start, r.warnings[0].end) == (0, 0)


def test_rule_warnings_and_strict() -> None:
    good = {"listening": 20, "reading": 20, "speaking": 20, "writing": 20, "total": 80}
    bad = {**good, "total": 81}
    records = list(parse(doc(good, bad)))
    assert [[w.field for w in r.warnings] for r in records] == [[], ["total"]]
    with pytest.raises(RecordError) as info:
        list(parse(doc(good, bad), strict=True))
    assert (info.value.line, info.value.field, info.value.value) == (2, "total", "81")
    assert str(info.value).startswith("<bytes>, line 2: field total, value '81': ")


def test_a_record_that_is_not_an_object() -> None:
    with pytest.raises(InputError) as info:
        list(parse(b'{"data": [{"last_name": "A"}, [1, 2]]}'))
    assert str(info.value) == "<bytes>, line 2: record 2 is a JSON list, not an object"


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b'{"data": [\n{"a": 1},\n{b}\n]}', 3, "invalid JSON (lexical error"),
        (b'{"data": [\n{"a": 1},\n\n{"b": tru}]}', 4, "invalid JSON"),
        (b'{"data": [\n{"a": 1},\n', 3, "it ends before the document is complete"),
        (b'[{"a": 1},\n {"b": 2},,\n]', 2, "invalid JSON"),
    ],
)
def test_invalid_json_names_the_line(data: bytes, line: int, words: str, tmp_path: Path) -> None:
    path = tmp_path / "answer.json"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        list(parse(path))
    assert info.value.line == line
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: ") and words in message
    assert "\n" not in message


def test_invalid_json_from_a_pipe_is_one_sentence_without_a_line() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self.data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    stream = io.BufferedReader(Pipe(b'{"data": [{"a": 1}, {b}]}'))
    with pytest.raises(InputError) as info:
        list(parse_json(stream, source="<stdin>"))
    assert info.value.line is None
    assert str(info.value).startswith("<stdin>: invalid JSON (") and "\n" not in str(info.value)


def test_an_object_without_a_data_array() -> None:
    with pytest.raises(InputError, match=r'no "data" array .*\(its keys: message, code\)'):
        list(parse(b'{"message": "Invalid credentials format", "code": 400}'))
    with pytest.raises(InputError, match='"data" is not an array'):
        list(parse(b'{"data": {"last_name": "Lee"}}'))


def test_an_empty_data_array_is_no_records() -> None:
    assert list(parse(b'{"data": []}')) == []
    assert list(parse(b"[]")) == []


def test_parse_json_takes_decoded_objects_too() -> None:
    records = list(parse_json([{"LastName": "Ng"}, {"last_name": "Ali"}]))
    assert [(r["last_name"], r.line) for r in records] == [("Ng", 1), ("Ali", 2)]


def test_legacy_and_custom_layouts() -> None:
    r = gen.Gen(3).report(gen.LEGACY)
    legacy = next(parse(doc(r.json_object()), layout="scorelink-900"))
    assert legacy.values == r.values and legacy.layout == "scorelink-900"
    custom = layouts.parse_layout_csv(
        "start,end,size,name,kind,label,source\n1,4,4,campus_code,code,Campus Code,user\n"
        "5,7,3,total,score,Total,user\n",
        name="campus",
    )
    rec = next(parse(doc({"CampusCode": "0042", "Total": "99", "ibt26_total": 4.5}),
                     layout=custom))
    assert rec.values == {"campus_code": "0042", "total": 99}
    assert rec.extra == {"ibt26_total": 4.5} and rec.layout == "campus"


def test_to_object_round_trip() -> None:
    for r in gen.Gen(4).reports(20):
        record = next(parse(r.line()))
        obj = to_object(record)
        assert None not in obj.values()
        assert next(parse_json([obj])).values == r.values


# -- the same report, as JSON and as a fixed-length line ---------------------------------------


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), layout=st.sampled_from(gen.LAYOUTS),
       keys=st.sampled_from(["canonical", "camel", "label", "shout", "mixed"]),
       strings=st.booleans(), nulls=st.booleans(), trim=st.booleans())
def test_the_same_report_as_json_and_as_text_gives_equal_records(
    seed: int, layout: str, keys: str, strings: bool, nulls: bool, trim: bool
) -> None:
    r = gen.Gen(seed).report(layout)
    obj = r.json_object(keys=keys, strings=strings, nulls=nulls, rng=random.Random(seed),
                        extra={"Vendor Field": seed})
    from_json = next(parse(gen.json_bytes([obj]), layout=layout))
    from_text = next(parse(r.line(trim=trim), layout=layout))
    assert from_json.same_report(from_text) and from_text.same_report(from_json)
    assert from_json.values == from_text.values == r.values
    assert from_json.warnings == from_text.warnings == []
    assert from_json.extra == {"Vendor Field": seed}
