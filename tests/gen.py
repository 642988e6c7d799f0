"""The tests' own ScoreLink generator: valid reports, lines, files and JSON, from a seed.

It is deliberately independent of the library's parser and renderer: it reads the layout
CSVs shipped in the package with the ``csv`` module and formats every field itself, so a
test that compares the library with it compares two implementations of the spec.

>>> g = Gen(7)
>>> report = g.report(CURRENT, scale="1-6", encoding="latin-1")
>>> line = report.line()            # 1600 bytes, names in Latin-1
>>> report.values["ibt26_total"]    # typed as the record must be   # doctest: +SKIP
4.5

Everything is deterministic from the seed (one ``random.Random`` per ``Gen``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

CURRENT = "scorelink-1600"
LEGACY = "scorelink-900"
LAYOUTS = (CURRENT, LEGACY)
SECTIONS = ("listening", "reading", "speaking", "writing")
SCALES = ("0-120", "1-6", "both")
ENCODINGS = ("ascii", "utf-8", "latin-1", "mixed")

# The spec's tables, typed in again here (not imported from the library on purpose).
CEFR = {
    6.0: "C2", 5.5: "C1", 5.0: "C1", 4.5: "B2", 4.0: "B2", 3.5: "B1",
    3.0: "B1", 2.5: "A2", 2.0: "A2", 1.5: "A1", 1.0: "A1",
}  # fmt: skip
ESTIMATE = {
    6.0: 114, 5.5: 107, 5.0: 95, 4.5: 86, 4.0: 72, 3.5: 58,
    3.0: 44, 2.5: 34, 2.0: 24, 1.5: 12, 1.0: 0,
}  # fmt: skip
BANDS = tuple(x / 2 for x in range(2, 13))  # 1.0 .. 6.0
IBT26_START = dt.date(2026, 1, 21)
# Every generated date is on or before this one, so golden files never hold future dates.
LATEST = dt.date(2026, 11, 1)

ASCII_NAMES = (
    "Smith", "Nguyen", "Garcia", "O'Brien", "van der Berg", "Lee", "Kim", "Patel",
    "Okafor", "Johansson", "MacDonald", "Ali", "Chen", "Rossi", "Dubois", "Ng",
)  # fmt: skip
# Latin-1 names whose Latin-1 bytes are not valid UTF-8 (checked in _latin1_ok).
LATIN1_NAMES = (
    "Müller", "José", "Françoise", "Øyvind", "Ångström", "Núñez", "Sørensen", "Gómez",
    "Zoë", "Strauß", "Þórsdóttir", "Désirée", "Ærø", "Ibáñez", "Renée",
)  # fmt: skip
UTF8_NAMES = (
    "Łukasz", "Đặng", "Nguyễn", "王小明", "Иванов", "Dvořák", "Kovač", "Ağaoğlu",
    "Ψάλτης", "김민준", "Šimková", "Ōtsuka", "José", "Müller", "محمد",
)  # fmt: skip
CITIES_ASCII = ("Princeton", "Lagos", "Hanoi", "Lyon", "Toronto", "Seoul", "Pune")
CITIES_LATIN1 = ("München", "Córdoba", "Malmö", "Tromsø", "Besançon", "Reykjavík")
CITIES_UTF8 = ("Łódź", "Đà Nẵng", "東京", "Київ", "Kraków", "İzmir")
COUNTRIES = (
    ("USA", "United States"), ("NGA", "Nigeria"), ("VNM", "Viet Nam"), ("FRA", "France"),
    ("DEU", "Germany"), ("KOR", "Korea, Republic of"), ("IND", "India"), ("BRA", "Brazil"),
)  # fmt: skip
LANGUAGES = (("ENG", "English"), ("YOR", "Yoruba"), ("VIE", "Vietnamese"),
             ("FRE", "French"), ("GER", "German"), ("KOR", "Korean"), ("POR", "Portuguese"))


@dataclass(frozen=True)
class Spec:
    """One row of a layout CSV, read without the library."""

    start: int
    end: int
    size: int
    name: str
    kind: str
    label: str

    @property
    def slice(self) -> slice:
        return slice(self.start - 1, self.end)


@cache
def spec(layout: str) -> tuple[Spec, ...]:
    """The rows of a built-in layout, straight from the package's CSV."""
    folder = resources.files("toefl_access.formats").joinpath("layouts")
    text = folder.joinpath(f"{layout}.csv").read_text("utf-8")
    return tuple(
        Spec(int(r["start"]), int(r["end"]), int(r["size"]), r["name"], r["kind"], r["label"])
        for r in csv.DictReader(io.StringIO(text))
    )


def data_specs(layout: str) -> tuple[Spec, ...]:
    return tuple(s for s in spec(layout) if s.kind != "filler")


def length(layout: str) -> int:
    return spec(layout)[-1].end


def names(layout: str) -> tuple[str, ...]:
    return tuple(s.name for s in data_specs(layout))


def half_up(x: float) -> float:
    """Nearest 0.5, halves up (exact for the quarter steps a mean of four bands takes)."""
    return math.floor(x * 2 + 0.5) / 2


def _latin1_ok(text: str) -> bool:
    """True when ``text`` encodes to Latin-1 and those bytes do not also read as UTF-8."""
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


assert all(_latin1_ok(n) for n in LATIN1_NAMES + CITIES_LATIN1)


def wire_text(s: Spec, value: Any) -> str:
    """The wire text of one typed value, as the spec describes it (no padding)."""
    if value is None:
        return ""
    if s.kind == "score":
        return str(value).zfill(s.size)
    if s.kind == "band":
        return f"{value:.1f}"
    if s.kind == "date":
        return str(value.strftime("%Y%m%d"))
    return str(value)


@dataclass
class Report:
    """One generated score report: the typed values a parser must produce, and its wire form.

    ``latin1`` names the text fields written in Latin-1 (every other field is UTF-8,
    which for ASCII text is the same bytes).
    """

    layout: str
    values: dict[str, Any]
    latin1: set[str] = field(default_factory=set)

    @property
    def scales(self) -> tuple[str, ...]:
        v = self.values
        old = any(v.get(n) is not None for n in (*SECTIONS, "total"))
        new = any(v.get(f"ibt26_{n}") is not None for n in (*SECTIONS, "total"))
        return (("0-120",) if old else ()) + (("1-6",) if new else ())

    def field_bytes(self, s: Spec) -> bytes:
        return wire_text(s, self.values.get(s.name)).encode(
            "latin-1" if s.name in self.latin1 else "utf-8"
        )

    def line(self, *, trim: bool = False) -> bytes:
        """The fixed-length line (no line ending); ``trim`` drops the trailing blanks."""
        buf = bytearray(b" " * length(self.layout))
        for s in data_specs(self.layout):
            data = self.field_bytes(s)
            if len(data) > s.size:
                raise AssertionError(f"gen bug: {s.name} {data!r} exceeds {s.size} bytes")
            buf[s.start - 1 : s.start - 1 + len(data)] = data
        out = bytes(buf)
        return out.rstrip(b" ") if trim else out

    def json_object(
        self, *, keys: str = "canonical", strings: bool = False, nulls: bool = True,
        extra: dict[str, Any] | None = None, rng: random.Random | None = None,
    ) -> dict[str, Any]:
        """The report as an API JSON object.

        ``keys``: ``canonical`` (``registration_number``), ``camel``
        (``RegistrationNumber``), ``label`` (``Registration or Appointment Number``),
        ``shout`` (``REGISTRATION-NUMBER``) or ``mixed`` (each key picked at random).
        ``strings`` sends numbers as strings; ``nulls=False`` leaves blank fields out.
        """
        rng = rng or random.Random(0)
        obj: dict[str, Any] = {}
        for s in data_specs(self.layout):
            v = self.values.get(s.name)
            if v is None and not nulls:
                continue
            style = keys
            if keys == "mixed":
                style = rng.choice(("canonical", "camel", "label", "shout"))
            if isinstance(v, dt.date):
                v = v.isoformat() if rng.random() < 0.8 else v.strftime("%Y%m%d")
            elif isinstance(v, int | float) and strings:
                v = str(v)
            obj[json_key(s, style)] = v
        obj.update(extra or {})
        return obj


def json_key(s: Spec, style: str) -> str:
    """One spelling of a field's key that the library must map back to ``s.name``."""
    if style == "camel":
        return "".join(part.capitalize() for part in s.name.split("_"))
    if style == "label":
        label = " ".join(re.sub(r"\(.*?\)", " ", s.label).split())
        return label or s.name
    if style == "shout":
        return s.name.upper().replace("_", "-")
    return s.name


class Gen:
    """A deterministic source of valid reports (``Gen(seed)``)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    # -- small helpers ---------------------------------------------------------------

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def digits(self, n: int, *, zero_first: float = 0.3) -> str:
        first = "0" if self.maybe(zero_first) else self.rng.choice("123456789")
        return first + "".join(self.rng.choice(string.digits) for _ in range(n - 1))

    def alnum(self, n: int) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))

    def date(self, low: dt.date, high: dt.date) -> dt.date:
        return low + dt.timedelta(days=self.rng.randrange((high - low).days + 1))

    def pick_text(self, encoding: str, ascii_pool: tuple[str, ...], latin1_pool: tuple[str, ...],
                  utf8_pool: tuple[str, ...]) -> tuple[str, bool]:
        """A text value and whether it is written in Latin-1."""
        enc = self.rng.choice(("ascii", "utf-8", "latin-1")) if encoding == "mixed" else encoding
        if enc == "ascii" or self.maybe(0.35):
            return self.rng.choice(ascii_pool), False
        if enc == "latin-1":
            return self.rng.choice(latin1_pool), True
        return self.rng.choice(utf8_pool + latin1_pool), False

    # -- scores ----------------------------------------------------------------------

    def old_scale(self, v: dict[str, Any]) -> None:
        secs = [self.rng.randint(0, 30) for _ in SECTIONS]
        v.update(zip(SECTIONS, secs, strict=True))
        v["total"] = sum(secs)

    def new_scale(self, v: dict[str, Any], prefix: str = "ibt26") -> None:
        bands = [self.rng.choice(BANDS) for _ in SECTIONS]
        total = half_up(sum(bands) / 4)
        for s, b in zip(SECTIONS, bands, strict=True):
            v[f"{prefix}_{s}"] = b
            if prefix == "ibt26":
                v[f"ibt26_{s}_cefr"] = CEFR[b]
        v[f"{prefix}_total"] = total
        if prefix == "ibt26":
            v["ibt26_total_cefr"] = CEFR[total]
            v["ibt26_comparable_total"] = ESTIMATE[total]

    # -- reports ---------------------------------------------------------------------

    def report(
        self,
        layout: str = CURRENT,
        *,
        scale: str | None = None,
        encoding: str | None = None,
        mybest: bool | None = None,
        rpdt: bool | None = None,
        essentials: bool | None = None,
    ) -> Report:
        """One valid report. Unset options are drawn at random.

        ``scale``: ``0-120``, ``1-6`` or ``both`` (1-6 and both only in the current
        layout); ``encoding``: ``ascii``, ``utf-8``, ``latin-1`` or ``mixed`` (per field).
        """
        rng = self.rng
        current = layout == CURRENT
        scale = scale or (rng.choice(SCALES) if current else "0-120")
        encoding = encoding or rng.choice(ENCODINGS)
        mybest = self.maybe(0.4) if mybest is None else mybest
        rpdt = self.maybe(0.15) if rpdt is None else rpdt
        essentials = self.maybe(0.1) if essentials is None else essentials
        if not current and scale != "0-120":
            raise ValueError("the legacy layout carries only 0-120 scores")

        v: dict[str, Any] = dict.fromkeys(names(layout))
        latin1: set[str] = set()

        def text(name: str, pools: tuple[tuple[str, ...], ...], size: int) -> None:
            value, is_latin1 = self.pick_text(encoding, *pools)
            data = value.encode("latin-1" if is_latin1 else "utf-8")
            while len(data) > size:  # cut whole characters until it fits
                value = value[:-1].rstrip(" ")
                data = value.encode("latin-1" if is_latin1 else "utf-8")
            v[name] = value or None
            if is_latin1 and value and not value.isascii():
                latin1.add(name)

        names_pools = (ASCII_NAMES, LATIN1_NAMES, UTF8_NAMES)
        city_pools = (CITIES_ASCII, CITIES_LATIN1, CITIES_UTF8)
        v["institution_code"] = self.digits(4)
        v["department_code"] = self.digits(2) if self.maybe(0.7) else None
        v["registration_number"] = ("R" + self.digits(6)) if rpdt else self.digits(16)
        for name in ("last_name", "first_name", "middle_name"):
            if name != "middle_name" or self.maybe(0.3):
                text(name, names_pools, 30)
                if v[name] and self.maybe(0.5):  # many distinct names, as in real files
                    v[name] = f"{v[name]} {self.alnum(3).capitalize()}"
        street, _ = self.pick_text("ascii", ("Main Street", "Rue de la Paix", "High Road"), (), ())
        v["address_line1"] = f"{rng.randint(1, 999)} {street}"
        if self.maybe(0.4):
            text("address_line2", city_pools, 55)
            v["address_line2"] = f"c/o {v['address_line2']}" if v["address_line2"] else None
        text("city", city_pools, 30)
        if self.maybe(0.5):
            v["state"] = rng.choice(("NJ", "CA", "ON", "BY", "LA"))
        code, cname = rng.choice(COUNTRIES)
        v["country_code"], v["country_name"] = code, cname
        v["postal_code"] = self.digits(5, zero_first=0.5) if self.maybe(0.7) else "SW1A 1AA"
        code, cname = rng.choice(COUNTRIES)
        v["native_country_code"], v["native_country_name"] = code, cname
        code, lname = rng.choice(LANGUAGES)
        v["native_language_code"], v["native_language_name"] = code, lname
        v["date_of_birth"] = self.date(dt.date(1960, 1, 1), dt.date(2010, 12, 31))
        v["gender"] = rng.choice("012")
        if scale == "0-120":
            test_date = self.date(dt.date(2018, 1, 1), IBT26_START - dt.timedelta(days=1))
        else:
            test_date = self.date(IBT26_START, LATEST)
        v["test_date"] = test_date
        v["test_center_code"] = f"T{rng.randrange(5000):04d}"  # about as many as there are
        v["test_type"] = "I"
        v["listening_indicator"] = rng.choice(("Y", "N", None))
        v["speaking_indicator"] = rng.choice(("Y", "N", None))
        v["interpretive_info_year"] = str(test_date.year)
        v["times_taken"] = str(rng.randint(1, 9))
        v["email"] = f"{self.alnum(6).lower()}@example.edu"
        v["ibt_test_center_code"] = self.alnum(rng.randint(6, 15))
        v["test_center_country"] = rng.choice(COUNTRIES)[1]
        v["security_id_type"] = rng.choice(("Passport", "National ID"))
        v["security_id_number"] = self.alnum(rng.randint(6, 12))
        v["security_id_country"] = rng.choice(COUNTRIES)[0]
        if scale in ("0-120", "both"):
            self.old_scale(v)
        if scale in ("1-6", "both"):
            self.new_scale(v)
        if not current:
            v["report_date"] = self.date(test_date, LATEST)
            return Report(layout, v, latin1)
        if rpdt:
            for s in ("listening", "reading", "writing"):
                v[f"rpdt_{s}"] = rng.randint(0, 30)
        if mybest and scale in ("0-120", "both"):
            best = []
            for s in SECTIONS:
                best.append(max(v[s] if v[s] is not None else 0, rng.randint(0, 30)))
                v[f"mybest_{s}"] = best[-1]
                v[f"mybest_{s}_date"] = self.date(test_date - dt.timedelta(days=700), test_date)
            v["mybest_total"] = sum(best)
            v["mybest_total_date"] = test_date
        if mybest and scale in ("1-6", "both"):
            self.new_scale(v, prefix="mybest26")
            for s in (*SECTIONS, "total"):
                v[f"mybest26_{s}_date"] = self.date(IBT26_START, test_date)
        if essentials:
            for s in ("listening", "reading", "writing", "speaking"):
                v[f"essentials_{s}"] = rng.randint(1, 12)
                v[f"essentials_{s}_cefr"] = rng.choice(("A1", "A2", "B1", "B2", "C1", "C2"))
            v["essentials_total"] = rng.choice(("6", "7.5", "10", "11.5", "12"))
            v["essentials_total_cefr"] = rng.choice(("B1", "B2", "C1"))
            v["essentials_sentence_construction"] = rng.randint(1, 99)
            v["essentials_vocabulary"] = rng.randint(1, 99)
        return Report(layout, v, latin1)

    def reports(self, n: int, layout: str = CURRENT, **options: Any) -> list[Report]:
        return [self.report(layout, **options) for _ in range(n)]


def file_bytes(
    lines: Iterable[bytes],
    *,
    crlf: bool = False,
    bom: bool = False,
    blank_lines: bool = False,
    final_newline: bool = True,
) -> bytes:
    """Lines joined into a file as they are seen in practice.

    ``blank_lines`` puts an empty line after the first record and a blank (spaces) line at
    the end; ``final_newline=False`` leaves the last line without one.
    """
    eol = b"\r\n" if crlf else b"\n"
    parts = list(lines)
    if blank_lines and parts:
        parts = [parts[0], b"", *parts[1:], b"   "]
    body = eol.join(parts) + (eol if final_newline else b"")
    return (b"\xef\xbb\xbf" if bom else b"") + body


def json_bytes(objects: list[dict[str, Any]], *, bare: bool = False) -> bytes:
    doc: Any = objects if bare else {"data": objects}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


# -- the expected outputs, written from the generator's values ----------------------------


def jsonl_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def expected_jsonl(
    reports: Iterable[Report], line_numbers: Iterable[int], *, extras: Iterable[Any] = ()
) -> bytes:
    """The JSON Lines the library must write for ``reports`` (the output contract)."""
    out = []
    extras = list(extras)
    for i, (r, lineno) in enumerate(zip(reports, line_numbers, strict=True)):
        row = {k: jsonl_value(v) for k, v in r.values.items()}
        row |= {"_layout": r.layout, "_line": lineno, "_warnings": []}
        if i < len(extras) and extras[i]:
            row["_extra"] = extras[i]
        out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return b"".join(out)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value.isdigit():
        return f'="{value}"'
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def expected_csv(reports: list[Report], line_numbers: Iterable[int]) -> bytes:
    """The CSV the library must write: UTF-8 with BOM, CRLF, ``="0123"`` digit codes."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([*names(reports[0].layout), "_layout", "_line", "_warnings"])
    for r, lineno in zip(reports, line_numbers, strict=True):
        w.writerow([*(csv_cell(v) for v in r.values.values()), r.layout, lineno, ""])
    return buf.getvalue().encode("utf-8-sig")
