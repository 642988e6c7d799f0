"""The canonical record and the score rules (validation is separate from parsing)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import gen
import pytest

from toefl_access.formats import record as rec
from toefl_access.formats.record import Record, RecordWarning, validate

TODAY = dt.date(2026, 6, 1)
SPANS = {"listening": (559, 560), "total": (567, 569), "test_date": (539, 546)}


def values(**kw: Any) -> dict[str, Any]:
    v: dict[str, Any] = dict.fromkeys(gen.names(gen.CURRENT))
    v.update(kw)
    return v


def fields_of(warnings: list[RecordWarning]) -> list[str]:
    return [w.field for w in warnings]


def old_scale(*secs: int, total: int | None = None) -> dict[str, Any]:
    return values(**dict(zip(rec.SECTIONS, secs, strict=True)),
                  total=sum(secs) if total is None else total)


def new_scale(*bands: float, total: float) -> dict[str, Any]:
    return values(**{f"ibt26_{s}": b for s, b in zip(rec.SECTIONS, bands, strict=True)},
                  ibt26_total=total)


# -- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "band"),
    [(5.125, 5.0), (5.25, 5.5), (5.375, 5.5), (4.875, 5.0), (4.75, 5.0), (4.625, 4.5),
     (1.0, 1.0), (6.0, 6.0), (3.5, 3.5)],
)
def test_round_half_up(mean: float, band: float) -> None:
    assert rec.round_half_up(mean) == band


def test_band_total_matches_decimal_rounding_for_every_combination() -> None:
    for bands in itertools.product(gen.BANDS, repeat=4):
        mean = Decimal(sum(Decimal(str(b)) for b in bands)) / 4
        expected = float((mean * 2).quantize(Decimal(1), ROUND_HALF_UP) / 2)
        assert rec.band_total(list(bands)) == expected, bands


# -- the rules ----------------------------------------------------------------------------


def test_valid_generated_reports_have_no_warnings() -> None:
    g = gen.Gen(5)
    for layout in gen.LAYOUTS:
        for r in g.reports(300, layout):
            date_fields = tuple(s.name for s in gen.data_specs(layout) if s.kind == "date")
            assert validate(r.values, date_fields=date_fields) == [], r.values


def test_section_scores_0_to_30_and_total_the_sum() -> None:
    assert validate(old_scale(30, 0, 15, 22)) == []
    w = validate(old_scale(31, 20, 20, 20), spans=SPANS)
    assert fields_of(w) == ["listening"]
    assert (w[0].start, w[0].end, w[0].value) == (559, 560, "31")
    assert "outside 0-30" in w[0].message
    w = validate(old_scale(20, 20, 20, 20, total=81), spans=SPANS)
    assert fields_of(w) == ["total"]
    assert (w[0].start, w[0].end, w[0].value) == (567, 569, "81")
    assert "not the sum of the sections (80)" in w[0].message
    assert fields_of(validate(values(total=121))) == ["total"]
    assert fields_of(validate(values(listening=-1))) == ["listening"]


def test_total_is_not_checked_when_a_section_is_missing() -> None:
    v = old_scale(20, 20, 20, 20, total=99)
    v["writing"] = None
    assert validate(v) == []


@pytest.mark.parametrize(
    "name",
    ["rpdt_listening", "rpdt_reading", "rpdt_writing", "mybest_listening", "mybest_speaking"],
)
def test_rpdt_and_mybest_sections_are_0_to_30(name: str) -> None:
    assert validate(values(**{name: 30})) == []
    assert fields_of(validate(values(**{name: 31}))) == [name]


@pytest.mark.parametrize("name", ["mybest_total", "ibt26_comparable_total"])
def test_other_totals_are_0_to_120(name: str) -> None:
    assert validate(values(**{name: 120})) == []
    assert fields_of(validate(values(**{name: 121}))) == [name]


@pytest.mark.parametrize("band", [0.5, 4.3, 6.5, 0.0, 7.0])
def test_bands_are_1_to_6_in_half_steps(band: float) -> None:
    w = validate(values(ibt26_listening=band, mybest26_total=band))
    assert fields_of(w) == ["ibt26_listening", "mybest26_total"]
    assert all("not a 1-6 band in 0.5 steps" in x.message for x in w)


def test_band_total_is_the_mean_rounded_half_up() -> None:
    assert validate(new_scale(5.0, 5.0, 5.0, 5.5, total=5.0)) == []  # mean 5.125
    assert validate(new_scale(5.0, 5.0, 5.5, 5.5, total=5.5)) == []  # mean 5.25
    w = validate(new_scale(5.0, 5.0, 5.0, 5.5, total=5.5))
    assert fields_of(w) == ["ibt26_total"]
    assert "rounded half up (5.0)" in w[0].message
    assert fields_of(validate(new_scale(5.0, 5.0, 5.5, 5.5, total=5.0))) == ["ibt26_total"]


@pytest.mark.parametrize(("band", "level"), sorted(gen.CEFR.items()))
def test_cefr_table(band: float, level: str) -> None:
    assert validate(values(ibt26_reading=band, ibt26_reading_cefr=level)) == []
    wrong = next(x for x in ("A1", "B2", "C2") if x != level)
    w = validate(values(ibt26_reading=band, ibt26_reading_cefr=wrong))
    assert fields_of(w) == ["ibt26_reading_cefr"]
    assert f"does not match band {band} ({level})" in w[0].message


def test_cefr_must_be_a_level() -> None:
    w = validate(values(ibt26_total_cefr="D1"))
    assert fields_of(w) == ["ibt26_total_cefr"] and "not a CEFR level" in w[0].message


def test_future_dates() -> None:
    fields = ("test_date", "date_of_birth")
    assert validate(values(test_date=TODAY), today=TODAY, date_fields=fields) == []
    w = validate(values(test_date=TODAY + dt.timedelta(days=1)), today=TODAY,
                 date_fields=fields, spans=SPANS)
    assert fields_of(w) == ["test_date"]
    assert (w[0].value, w[0].start, w[0].end) == ("2026-06-02", 539, 546)
    assert "in the future" in w[0].message
    # only the fields named are checked
    assert validate(values(test_date=dt.date(2999, 1, 1)), today=TODAY) == []


def test_default_today_is_utc_today() -> None:
    assert rec.utc_today() == dt.datetime.now(dt.UTC).date()
    tomorrow = rec.utc_today() + dt.timedelta(days=1)
    assert fields_of(validate(values(test_date=tomorrow), date_fields=("test_date",))) == [
        "test_date"
    ]


def test_every_broken_rule_is_reported_once() -> None:
    v = old_scale(31, 31, 20, 20, total=10)
    v.update(ibt26_listening=4.3, ibt26_total_cefr="Z9")
    assert fields_of(validate(v)) == [
        "listening", "reading", "total", "ibt26_listening", "ibt26_total_cefr",
    ]


def test_legacy_layout_values_validate() -> None:
    v = dict.fromkeys(gen.names(gen.LEGACY))
    v.update(old_scale(10, 10, 10, 10))
    v = {k: v[k] for k in gen.names(gen.LEGACY)}
    assert validate(v, date_fields=("report_date",)) == []


# -- the record -----------------------------------------------------------------------------


def record(**kw: Any) -> Record:
    return Record(values=values(**kw), layout=gen.CURRENT, line=3, raw=b"x")


def test_record_access_and_identity() -> None:
    r = record(registration_number="0000123456789012", test_date=dt.date(2025, 1, 2),
               institution_code="0123", department_code="99", last_name="Müller")
    assert r["last_name"] == "Müller" and r.get("middle_name") is None
    assert r.get("nope", 5) == 5
    assert r.identity == ("0000123456789012", dt.date(2025, 1, 2), "0123", "99")
    with pytest.raises(KeyError):
        r["nope"]


@pytest.mark.parametrize(
    ("kw", "scales"),
    [
        ({}, ()),
        ({"total": 80}, ("0-120",)),
        ({"reading": 20}, ("0-120",)),
        ({"ibt26_total": 4.5}, ("1-6",)),
        ({"total": 80, "ibt26_listening": 4.0}, ("0-120", "1-6")),
        ({"mybest_total": 80}, ()),
    ],
)
def test_scales(kw: dict[str, Any], scales: tuple[str, ...]) -> None:
    assert record(**kw).scales == scales


def test_scales_of_generated_reports() -> None:
    g = gen.Gen(9)
    for scale, expected in [("0-120", ("0-120",)), ("1-6", ("1-6",)),
                            ("both", ("0-120", "1-6"))]:
        r = g.report(gen.CURRENT, scale=scale)
        assert r.scales == expected
        assert rec.scales_of(r.values) == expected


def test_same_report_ignores_format_line_raw_and_blank_fields() -> None:
    a = record(last_name="Lee", total=80)
    b = Record(values={"last_name": "Lee", "total": 80}, layout="x", line=9, raw=b"{}",
               format="json")
    assert a.same_report(b) and b.same_report(a)
    c = record(last_name="Lee", total=81)
    assert not a.same_report(c)
    assert not a.same_report(record(last_name="Lee"))


def test_warning_describe() -> None:
    w = RecordWarning(field="total", message="is not the sum", value="81", start=567, end=569)
    assert w.describe() == "total (bytes 567-569) = '81': is not the sum"
    assert RecordWarning(field="total", message="m", value="x").describe() == "total = 'x': m"


def test_a_record_view_on_a_batch_behaves_as_one_built_from_a_dict() -> None:
    from toefl_access.formats.batch import from_records
    from toefl_access.formats.layout import Field, validate

    names = ("registration_number", "test_date", "institution_code", "department_code",
             "listening")
    layout = validate("x", [Field(1, 16, 16, names[0], "code"), Field(17, 24, 8, names[1], "date"),
                            Field(25, 28, 4, names[2], "code"), Field(29, 30, 2, names[3], "code"),
                            Field(31, 32, 2, names[4], "score")])
    row = ["0000123456789012", dt.date(2026, 3, 1), "1234", "99", 27]
    source = Record(values=dict(zip(names, row, strict=True)), layout="x", line=3, raw=b"raw")
    batch = from_records([source, source], layout)
    lazy, other = batch.records()
    assert lazy._values is None  # a view: nothing built yet
    eager = Record(values=dict(zip(names, row, strict=True)), layout="x", line=3, raw=b"raw")
    assert lazy.names == eager.names == names
    assert lazy.row() == eager.row() == row
    assert lazy["listening"] == 27 and lazy.get("nope", "default") == "default"
    assert lazy.identity == eager.identity == tuple(row[:4])
    with pytest.raises(KeyError):
        lazy["nope"]
    lazy.put("listening", 28)
    eager.put("listening", 28)
    assert lazy["listening"] == 28 and other["listening"] == 27  # one row only
    assert lazy == eager and repr(lazy) == repr(eager)
    assert lazy.values == {**dict(zip(names, row, strict=True)), "listening": 28}
    lazy.values["listening"] = 29  # once built, values is the record's own dict
    assert lazy["listening"] == 29 and lazy.row()[-1] == 29 and lazy != eager
    copy = lazy.replace(line=4)
    assert copy.line == 4 and copy.values == lazy.values and copy.raw == b"raw"
