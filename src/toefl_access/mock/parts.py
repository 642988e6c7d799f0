"""The parts a mock report is made of: people, test centres, institutions and score sets.

A report (see :mod:`.population`) is a choice among pooled parts plus a few values of its
own: registration number, dates, how many times taken. Each part holds its canonical values
and their wire bytes in both formats, rendered once (see :mod:`.wire`), so that streaming a
report joins bytes instead of formatting fields.

========================= ================================================================
pool                      what it holds
========================= ================================================================
people (per seed)         :data:`PEOPLE` test takers: names as they write them, address,
                          e-mail, gender, security ID (see :mod:`.names`)
test centres (per seed)   :data:`CENTRES` iBT centres and :data:`PAPER_CENTRES` rPDT ones,
                          besides the Home Edition
places                    every institution and department code, with its weight
score sets (per scale)    :data:`SCORE_SETS` tests: four sections drawn around an ability,
                          and the sections of an earlier test for MyBest
========================= ================================================================

Pool entries are made from their own keyed generator the first time a report asks for them,
so a pool costs nothing until used and is the same whatever order it fills in.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..record import CEFR_OF_BAND, ESTIMATED_0_120_OF_BAND, SECTIONS, band_total
from . import wire
from .draws import Draws, cumulative
from .names import ASCII_FOLD, DEPARTMENTS, EMAIL_DOMAINS, INSTITUTIONS, PROFILES, Profile

PEOPLE = 4096
CENTRES = 1024
PAPER_CENTRES = 256
SCORE_SETS = 1024
PERSON_GROUPS = ("person", "gender", "email", "identity")
CENTRE_GROUPS = ("centre", "ibt_centre")
SCORE_GROUPS = ("scores", "best")


@dataclass(frozen=True, slots=True)
class Part:
    """Canonical values and their wire pieces, one per group, in text and in JSON."""

    values: dict[str, Any]
    text: tuple[bytes, ...]
    json: tuple[bytes, ...]


def part(values: dict[str, Any], groups: Sequence[str]) -> Part:
    text, json = wire.pieces(values, groups)
    return Part(values, text, json)


# -- people -------------------------------------------------------------------------------

_PROFILE_CUM = cumulative([p.weight for p in PROFILES])
_GENDERS = {True: ("2", "2", "2", "1", "0"), False: ("1", "1", "1", "0")}


@lru_cache(maxsize=1024)
def ascii_handle(text: str) -> str:
    """``text`` folded to lower-case ASCII letters and digits, for an e-mail address."""
    folded = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def _draw_person(draws: Draws) -> dict[str, Any]:
    p: Profile = draws.weighted(PROFILES, _PROFILE_CUM)
    female = draws.random() < 0.5
    given = p.female if female else p.male
    first, last = draws.pick(given), draws.pick(p.last_names)
    middle = draws.pick(given) if draws.random() < 0.15 else None
    city, state = draws.pick(p.cities)
    street, number = draws.pick(p.streets), draws.between(1, 240)
    line1 = f"{number} {street}" if p.number_first else f"{street} {number}"
    line2 = f"Apt {draws.between(1, 30)}{draws.pick('ABCD')}" if draws.random() < 0.3 else None
    handle = f"{ascii_handle(first)}.{ascii_handle(last)}{draws.between(1, 999)}"
    return {
        "last_name": last,
        "first_name": first,
        "middle_name": middle,
        "address_line1": line1,
        "address_line2": line2,
        "city": city,
        "state": state or None,
        "country_code": p.country_code,
        "country_name": p.country_name,
        "postal_code": draws.digits(p.postal),
        "native_country_code": p.country_code,
        "native_country_name": p.country_name,
        "native_language_code": p.language_code,
        "native_language_name": p.language_name,
        "gender": draws.pick(_GENDERS[female]),
        "email": f"{handle}@{draws.pick(EMAIL_DOMAINS)}",
        "test_center_country": p.country_name,
        "security_id_type": "Passport" if draws.random() < 0.8 else "National ID",
        "security_id_number": p.passport_prefix + draws.digits("########"),
        "security_id_country": p.country_code,
    }


def _draw_centre(draws: Draws, *, paper: bool) -> dict[str, Any]:
    code = draws.between(10_000, 99_999)
    ibt = f"PDT{code}" if paper else f"STN{code}{draws.pick('ABC')}"
    return {"test_center_code": str(code), "ibt_test_center_code": ibt}


class Pool:
    """The people and test centres of one seed, each made the first time it is asked for."""

    def __init__(self, namespace: str) -> None:
        self._key = f"toefl-access-mock/{namespace}"
        #: Each entry as made so far (None until first asked for): read them with ``or``.
        self.people: list[Part | None] = [None] * PEOPLE
        self.centres: list[Part | None] = [None] * CENTRES
        self._paper: list[Part | None] = [None] * PAPER_CENTRES

    def person(self, i: int) -> Part:
        found = self.people[i]
        if found is None:  # two threads may both make it: the same part, harmlessly
            values = _draw_person(Draws(f"{self._key}/person/{i}"))
            found = self.people[i] = part(values, PERSON_GROUPS)
        return found

    def centre(self, i: int) -> Part:
        found = self.centres[i]
        if found is None:
            values = _draw_centre(Draws(f"{self._key}/centre/{i}"), paper=False)
            found = self.centres[i] = part(values, CENTRE_GROUPS)
        return found

    def paper_centre(self, i: int) -> Part:
        found = self._paper[i]
        if found is None:
            values = _draw_centre(Draws(f"{self._key}/paper-centre/{i}"), paper=True)
            found = self._paper[i] = part(values, CENTRE_GROUPS)
        return found


_pool_lock = threading.Lock()


@lru_cache(maxsize=8)
def _pool(namespace: str) -> Pool:
    return Pool(namespace)


def pool(namespace: str) -> Pool:
    """The pool of ``namespace`` (a seed, or ``sample``), kept for the last few used."""
    with _pool_lock:  # one Pool per namespace even when requests start together
        return _pool(namespace)


HOME = part({"test_center_code": "HOME", "ibt_test_center_code": "HOME EDITION"}, CENTRE_GROUPS)
#: How many times the test was taken (1-3), each as its part.
TIMES = tuple(part({"times_taken": str(n)}, ("times",)) for n in (1, 2, 3))


# -- places ---------------------------------------------------------------------------------


def _place(institution: str, department: str) -> Part:
    p = part({"institution_code": institution, "department_code": department}, ("place",))
    return Part(p.values, p.text, (b"{" + p.json[0][1:],))  # the place opens the JSON object


#: Every (institution, department) pair, and its weight.
PLACES = tuple(_place(i, d) for i, _ in INSTITUTIONS for d, _ in DEPARTMENTS)
#: Running sums of their weights.
PLACE_CUM = cumulative([wi * wd for _, wi in INSTITUTIONS for _, wd in DEPARTMENTS])


# -- score sets ---------------------------------------------------------------------------


class Scores:
    """One test's four sections on one scale (0-120 or 1-6), and an earlier test's.

    Whether the earlier test counts for MyBest is the report's business (it may fall on the
    other scale); :meth:`rendered` keeps the wire pieces of each combination, and
    :meth:`rescored` the scores a rescore gives.
    """

    __slots__ = ("_rescores", "earlier", "key", "scale", "sections", "variants")

    def __init__(
        self, key: str, scale: str, sections: tuple[float, ...], earlier: tuple[float, ...]
    ) -> None:
        self.key = key
        self.scale = scale
        self.sections = sections
        self.earlier = earlier
        #: :meth:`rendered` as made so far, at ``2 * rpdt + prior`` (read it with ``or``).
        self.variants: list[Part | None] = [None] * 4
        self._rescores: list[Scores | None] = [None] * len(RESCORED)

    def values(self, *, rpdt: bool, prior: bool, test: Any, earlier: Any) -> dict[str, Any]:
        """The test type and score fields; MyBest dates are ``test`` or ``earlier``."""
        best, when = list(self.sections), [test] * 4
        if prior:
            for i, score in enumerate(self.earlier):
                if score > best[i]:
                    best[i], when[i] = score, earlier
        if self.scale == "0-120":
            v: dict[str, Any] = {"test_type": "P" if rpdt else "I"}
            scores = [int(s) for s in self.sections]
            v.update(zip(SECTIONS, scores, strict=True))
            v["total"] = sum(scores)
            if rpdt:
                for name in ("listening", "reading", "writing"):
                    v[f"rpdt_{name}"] = v[name]
            for name, score, date in zip(SECTIONS, best, when, strict=True):
                v[f"mybest_{name}"], v[f"mybest_{name}_date"] = int(score), date
            v["mybest_total"] = int(sum(best))
            v["mybest_total_date"] = test
            return v
        v = {"test_type": "I"}
        total = band_total(list(self.sections))
        for name, band in zip(SECTIONS, self.sections, strict=True):
            v[f"ibt26_{name}"], v[f"ibt26_{name}_cefr"] = band, CEFR_OF_BAND[band]
        v["ibt26_total"], v["ibt26_total_cefr"] = total, CEFR_OF_BAND[total]
        v["ibt26_comparable_total"] = ESTIMATED_0_120_OF_BAND[total]
        for name, band, date in zip(SECTIONS, best, when, strict=True):
            v[f"mybest26_{name}"], v[f"mybest26_{name}_date"] = band, date
        v["mybest26_total"] = band_total(best)
        v["mybest26_total_date"] = test
        return v

    def rendered(self, rpdt: bool, prior: bool) -> Part:
        """The ``scores`` and ``best`` pieces, MyBest dates left as holes (see :mod:`.wire`)."""
        index = 2 * rpdt + prior
        found = self.variants[index]
        if found is None:
            holes = self.values(
                rpdt=rpdt, prior=prior, test=wire.TEST_HOLE, earlier=wire.EARLIER_HOLE
            )
            found = self.variants[index] = part(holes, SCORE_GROUPS)
        return found

    def rescored(self, which: int) -> Scores:
        """These scores after a rescore of the sections ``RESCORED[which]``.

        Each changes by a step drawn once per score set (a step that the scale's bounds
        swallow goes the other way), so every rescore of a set gives the same new scores.
        """
        found = self._rescores[which]
        if found is None:
            draws = Draws(f"{self.key}/rescore/{which}")
            low, high, unit = (0.0, 30.0, 1.0) if self.scale == "0-120" else (1.0, 6.0, 0.5)
            steps = _STEPS[self.scale]
            sections = list(self.sections)
            for i in RESCORED[which]:
                old = sections[i]
                new = min(high, max(low, old + draws.pick(steps)))
                sections[i] = new if new != old else (old - unit if old > low else old + unit)
            found = Scores(draws.key, self.scale, tuple(sections), self.earlier)
            self._rescores[which] = found
        return found


#: The sections a rescore changes: speaking, writing or both.
RESCORED = ((2,), (3,), (2, 3))
_STEPS = {"0-120": (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0), "1-6": (-1.0, -0.5, 0.5, 1.0)}


def _draw_scores(draws: Draws, scale: str) -> Scores:
    key = draws.key
    if scale == "0-120":
        ability = min(118.0, max(20.0, draws.normal(86, 14))) / 4
        sections = tuple(
            float(min(30, max(0, round(draws.normal(ability, 2.5))))) for _ in SECTIONS
        )
        earlier = tuple(float(min(30, max(0, s + draws.between(-4, 2)))) for s in sections)
        return Scores(key, scale, sections, earlier)
    level = min(5.9, max(1.2, draws.normal(4.3, 0.7)))
    sections = tuple(min(6.0, max(1.0, round(draws.normal(level, 0.4) * 2) / 2)) for _ in SECTIONS)
    steps = (-1.0, -0.5, 0.0, 0.5)
    earlier = tuple(min(6.0, max(1.0, s + draws.pick(steps))) for s in sections)
    return Scores(key, scale, sections, earlier)


_SCALES = ("0-120", "1-6")
#: The score sets of each scale made so far, the 0-120 ones first (read them with ``or``).
SETS: tuple[list[Scores | None], list[Scores | None]] = ([None] * SCORE_SETS, [None] * SCORE_SETS)


def score_set(new_scale: bool, i: int) -> Scores:
    """Score set ``i`` of the 0-120 scale or (``new_scale``) the 1-6 one, for every seed."""
    found = SETS[new_scale][i]
    if found is None:
        scale = _SCALES[new_scale]
        found = _draw_scores(Draws(f"toefl-access-mock/scores/{scale}/{i}"), scale)
        SETS[new_scale][i] = found
    return found
