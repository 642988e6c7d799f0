"""The mock's population: deterministic, realistic, valid, and the same in both wire formats."""

from __future__ import annotations

import collections
import datetime as dt
import io
import itertools
from collections.abc import Iterable

import msgspec
import pytest

from toefl_access.formats import layout as layouts
from toefl_access.formats.jsonformat import parse_json, to_object
from toefl_access.formats.record import (
    CEFR_OF_BAND,
    ESTIMATED_0_120_OF_BAND,
    SECTIONS,
    Record,
    band_total,
    validate,
)
from toefl_access.formats.textformat import render
from toefl_access.formats.textread import parse_lines
from toefl_access.mock import population, wire
from toefl_access.mock.draws import Draws
from toefl_access.mock.wire import json_object, text_line

UTC = dt.UTC
DATE_FIELDS = tuple(
    f.name for f in layouts.builtin("scorelink-1600").data_fields if f.kind == "date"
)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def season() -> list[population.Release]:
    """About four months across the scale change, 40 reports a day."""
    return list(population.releases(at("2025-12-01"), at("2026-03-25"), seed=7, per_day=40))


def values(records: list[Record]) -> list[dict[str, object]]:
    return [r.values for r in records]


# -- determinism and windows -------------------------------------------------------------


def test_same_seed_same_answer_and_other_seed_other_answer() -> None:
    a = values(list(population.released(at("2025-05-01"), at("2025-05-02"), seed=3)))
    b = values(list(population.released(at("2025-05-01"), at("2025-05-02"), seed=3)))
    c = values(list(population.released(at("2025-05-01"), at("2025-05-02"), seed=4)))
    assert a == b
    assert a != c


def test_a_window_is_the_concatenation_of_its_parts() -> None:
    whole = list(population.released(at("2025-05-01T00:00:00"), at("2025-05-04T00:00:00")))
    cuts = ["2025-05-01T00:00:00", "2025-05-02T00:00:00", "2025-05-03T00:00:00",
            "2025-05-04T00:00:00"]  # fmt: skip
    days = [r for lo, hi in itertools.pairwise(cuts)
            for r in population.released(at(lo), at(hi))]  # fmt: skip
    assert values(whole) == values(days)
    # odd cuts, including fractions of a second, change nothing either
    odd = ["2025-05-01T00:00:00", "2025-05-01T13:37:21.500000", "2025-05-02T23:59:59",
           "2025-05-03T00:00:00.000001", "2025-05-04T00:00:00"]  # fmt: skip
    pieces = [r for lo, hi in itertools.pairwise(odd)
              for r in population.released(at(lo), at(hi))]  # fmt: skip
    assert values(whole) == values(pieces)


def test_exactly_per_day_reports_every_day_in_release_order() -> None:
    got = list(population.releases(at("2024-02-27"), at("2024-03-02"), seed=1, per_day=30))
    per_day = collections.Counter(r.at.date() for r in got)
    assert per_day == {dt.date(2024, 2, d): 30 for d in (27, 28, 29)} | {dt.date(2024, 3, 1): 30}
    times = [r.at for r in got]
    assert times == sorted(times)
    assert all(at("2024-02-27") <= t < at("2024-03-02") for t in times)
    assert population.count(at("2024-02-27"), at("2024-03-02"), seed=1, per_day=30) == 120


def test_half_open_window_and_empty_windows() -> None:
    day = list(population.releases(at("2025-05-01"), at("2025-05-02")))
    first = day[0].at
    just_after = list(population.released(first + dt.timedelta(microseconds=1), at("2025-05-02")))
    assert len(just_after) == len(day) - sum(r.at == first for r in day)
    assert not list(population.released(first, first))
    assert population.count(at("2025-05-02"), at("2025-05-01")) == 0
    assert not list(population.released(at("2025-05-01"), at("2025-05-02"), per_day=0))


@pytest.mark.parametrize(
    ("lo", "hi"),
    [("2025-05-01T00:00:00", "2025-05-01T00:00:01"), ("2025-05-01T13:05:00", "2025-05-03T02:00:00"),
     ("2025-04-30T23:59:59.999999", "2025-05-01T14:00:00.000001")],
)  # fmt: skip
def test_count_matches_the_records_of_any_window(lo: str, hi: str) -> None:
    got = list(population.releases(at(lo), at(hi), per_day=300))
    assert population.count(at(lo), at(hi), per_day=300) == len(got)
    assert all(at(lo) <= r.at < at(hi) for r in got)
    if len(got) > 300:
        assert len({r.at.hour for r in got}) == 24  # releases spread over the whole day


def test_strings_and_naive_datetimes_are_utc() -> None:
    a = values(list(population.released("2025-05-01", "2025-05-01T06:00:00")))
    b = values(list(population.released(dt.datetime(2025, 5, 1), dt.datetime(2025, 5, 1, 6))))
    c = values(
        list(
            population.released(
                dt.datetime(2025, 5, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                at("2025-05-01T06:00"),
            )
        )
    )
    assert a == b == c and a


# -- realism -------------------------------------------------------------------------------


def test_every_record_validates_and_no_date_is_after_its_release(
    season: list[population.Release],
) -> None:
    for release in season:
        v = release.record.values
        assert validate(v, today=release.at.date(), date_fields=DATE_FIELDS) == []
        assert v["test_date"] <= release.at.date()
        assert v["date_of_birth"] < v["test_date"]


def test_both_scales_split_at_2026_01_21(season: list[population.Release]) -> None:
    for release in season:
        r = release.record
        if r["test_date"] < dt.date(2026, 1, 21):
            assert r.scales == ("0-120",)
            assert r["total"] == sum(r[s] for s in SECTIONS)
            assert r["mybest_total"] == sum(r[f"mybest_{s}"] for s in SECTIONS)
            assert all(r[f"mybest_{s}"] >= r[s] for s in SECTIONS)
        else:
            assert r.scales == ("1-6",)
            assert r["ibt26_total"] == band_total([r[f"ibt26_{s}"] for s in SECTIONS])
            assert r["ibt26_total_cefr"] == CEFR_OF_BAND[r["ibt26_total"]]
            assert r["ibt26_comparable_total"] == ESTIMATED_0_120_OF_BAND[r["ibt26_total"]]
            assert all(r[f"mybest26_{s}"] >= r[f"ibt26_{s}"] for s in SECTIONS)
    after = [r.record for r in season if r.at >= at("2026-02-15")]
    # a feed after the change mixes both scales (late sends of older tests)
    assert {s for r in after for s in r.scales} == {"0-120", "1-6"}


def test_names_codes_and_paper_edition(season: list[population.Release]) -> None:
    records = [r.record for r in season]
    names = {r["last_name"] for r in records} | {r["first_name"] for r in records}
    assert any(not n.isascii() for n in names)
    assert len({r["institution_code"] for r in records}) >= 3
    assert len({r["department_code"] for r in records}) >= 3
    assert all(len(r["institution_code"]) == 4 and len(r["department_code"]) == 2 for r in records)
    regs = collections.Counter(len(r["registration_number"]) for r in records)
    assert set(regs) == {16, 7} and regs[7] < regs[16]
    paper = [r for r in records if len(r["registration_number"]) == 7]
    assert all(r["test_type"] == "P" and r["rpdt_reading"] == r["reading"] for r in paper)
    assert all(r["security_id_number"] and r["email"].isascii() for r in records)


def test_rescores_resends_late_sends_and_reinstatements(
    season: list[population.Release],
) -> None:
    kinds = collections.Counter(r.kind for r in season)
    assert set(kinds) == {"original", "rescore", "resend", "late-send", "reinstatement"}
    by_identity: dict[tuple[object, ...], list[population.Release]] = collections.defaultdict(list)
    for release in season:
        by_identity[release.record.identity].append(release)
    rescored = 0
    for release in season:
        r = release.record
        if release.kind == "rescore":
            originals = [e for e in by_identity[r.identity] if e.kind == "original"]
            if originals:  # the original may fall before the season
                rescored += 1
                first = originals[0].record
                assert first.values != r.values
                assert {k for k in r.values if r[k] != first[k]} <= {
                    "speaking", "writing", "total", "rpdt_writing", "mybest_speaking",
                    "mybest_speaking_date", "mybest_writing", "mybest_writing_date",
                    "mybest_total", "ibt26_speaking", "ibt26_writing", "ibt26_total",
                    "ibt26_speaking_cefr", "ibt26_writing_cefr", "ibt26_total_cefr",
                    "ibt26_comparable_total", "mybest26_speaking", "mybest26_speaking_date",
                    "mybest26_writing", "mybest26_writing_date", "mybest26_total",
                }  # fmt: skip
                assert (release.at - originals[0].at).days >= 6
        elif release.kind == "resend":
            earlier = [e for e in by_identity[r.identity] if e.at < release.at]
            assert all(e.record.values == r.values for e in earlier if e.kind == "original")
        elif release.kind in ("late-send", "reinstatement"):
            assert (release.at.date() - r["test_date"]).days >= 21
    assert rescored >= 3
    # every report is new exactly once: one original per identity
    assert all(sum(e.kind == "original" for e in group) <= 1 for group in by_identity.values())


# -- the two wire formats ------------------------------------------------------------------


def test_text_and_json_carry_equal_records(season: list[population.Release]) -> None:
    records = [r.record for r in season[:600]]
    lines = [render(r) + b"\n" for r in records]
    assert {len(line) for line in lines} == {1601}
    text = list(parse_lines(iter(lines), pad=False))
    body = b'{"data":[' + b",".join(msgspec.json.encode(to_object(r)) for r in records) + b"]}"
    data = list(parse_json(io.BufferedReader(io.BytesIO(body))))
    assert len(text) == len(data) == len(records)
    for original, t, j in zip(records, text, data, strict=True):
        assert not t.warnings and not j.warnings
        assert original.same_report(t) and original.same_report(j) and t.same_report(j)


def test_fast_encoders_equal_the_package_renderers(season: list[population.Release]) -> None:
    for release in season:
        r = release.record
        assert text_line(r) == render(r)
        assert json_object(r) == msgspec.json.encode(to_object(r))
    # records from elsewhere (own raw bytes, extras) go through the general renderers
    parsed = next(parse_lines(iter([render(season[0].record)])))
    assert text_line(parsed) == render(parsed)


def test_streamed_pieces_equal_the_package_renderers(season: list[population.Release]) -> None:
    """What the API streams is ``render`` and ``to_object`` of the records, byte for byte."""
    reports = list(population.reports(at("2025-12-01"), at("2026-03-25"), seed=7, per_day=40))
    assert len(reports) == len(season)
    assert {r.kind for r in season} >= {"rescore", "late-send"}
    assert any(r.rpdt for r in reports) and any(r.earlier for r in reports)
    text: list[bytes] = []
    assert wire.text_lines(reports, text) == len(reports)
    assert b"".join(text) == b"".join(render(r.record) + b"\n" for r in season)
    objects: list[bytes] = []
    assert wire.json_objects(reports, objects) == len(reports)
    want = b"".join(b"," + msgspec.json.encode(to_object(r.record)) for r in season)
    assert b"".join(objects) == want


def test_a_window_long_ago_has_people_born_before_their_tests() -> None:
    """People have one date of birth; a test sat before they were 15 makes them older."""
    got = list(population.releases(at("1996-03-01"), at("1996-03-03"), seed=2, per_day=300))
    reports = list(population.reports(at("1996-03-01"), at("1996-03-03"), seed=2, per_day=300))
    assert any(r.born != r.person.born for r in reports)
    for release in got:
        v = release.record.values
        assert validate(v, today=release.at.date(), date_fields=DATE_FIELDS) == []
        assert (v["test_date"] - v["date_of_birth"]).days >= 15 * 365
    text: list[bytes] = []
    wire.text_lines(reports, text)
    assert b"".join(text) == b"".join(render(r.record) + b"\n" for r in got)
    objects: list[bytes] = []
    wire.json_objects(reports, objects)
    assert b"".join(objects) == b"".join(b"," + json_object(r.record) for r in got)


def test_sandbox_samples() -> None:
    samples = population.sample_records()
    assert len(samples) == 11
    assert collections.Counter(r.scales for r in samples) == {("0-120",): 9, ("1-6",): 2}
    assert all(not validate(r.values, date_fields=DATE_FIELDS) for r in samples)
    assert values(samples) == values(population.sample_records())


def test_draws_are_reproducible_and_in_range() -> None:
    a, b = Draws("k"), Draws("k")
    assert [a.u32() for _ in range(40)] == [b.u32() for _ in range(40)]
    d = Draws("range")
    assert all(3 <= d.between(3, 5) <= 5 for _ in range(200))
    assert {d.between(3, 5) for _ in range(200)} == {3, 4, 5}
    assert all(len(d.digits("#####-###")) == 9 for _ in range(20))
    assert d.digits("0000############").startswith("0000")


def test_every_generated_text_fits_its_field() -> None:
    """The fast encoder relies on it: the longest value of every text field fits."""
    from toefl_access.mock.names import EMAIL_DOMAINS, PROFILES
    from toefl_access.mock.parts import ascii_handle as _ascii

    size = {f.name: f.size for f in layouts.builtin("scorelink-1600").data_fields}

    def longest(texts: Iterable[str]) -> int:
        return max(len(t.encode()) for t in texts)

    for p in PROFILES:
        given = p.female + p.male
        assert longest(p.last_names) <= size["last_name"]
        assert longest(given) <= min(size["first_name"], size["middle_name"])
        assert longest(c for c, _ in p.cities) <= size["city"]
        assert longest(s for _, s in p.cities) <= size["state"]
        assert longest(p.streets) + len(" 240") <= size["address_line1"]
        assert len(p.postal) <= size["postal_code"]
        country = len(p.country_name.encode())
        assert country <= min(size["country_name"], size["test_center_country"])
        assert len(p.language_name.encode()) <= size["native_language_name"]
        assert len(p.country_code) <= min(size["country_code"], size["security_id_country"])
        handle = max(len(_ascii(n)) for n in given) + 1 + max(len(_ascii(n)) for n in p.last_names)
        assert handle + len("999@") + longest(EMAIL_DOMAINS) <= size["email"]
