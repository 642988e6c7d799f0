"""The parts a mock report is made of: people, institutions and score sets.

A report (see :mod:`.population`) is a choice among pooled parts plus a few values of its
own: registration number, test date, how many times taken. Each part holds its canonical
values and their wire bytes in both formats, rendered once (see :mod:`.wire`), so that
streaming a report joins a dozen byte strings instead of formatting a hundred fields.

========================= ================================================================
pool                      what it holds
========================= ================================================================
people (per seed)         :data:`PEOPLE` test takers: names as they write them, date of
                          birth, address, e-mail, gender, security ID (see :mod:`.names`),
                          and where they sit the test (an iBT centre or Home Edition, and a
                          centre for the paper edition)
places                    every institution and department code, with its weight
score sets (per scale)    :data:`SCORE_SETS` tests: four sections drawn around an ability,
                          an earlier test's sections for MyBest, and what a rescore gives
========================= ================================================================

Pool entries are made from their own keyed generator the first time a report asks for them,
so a pool costs nothing until used and is the same whatever order it fills in.
"""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..formats.record import CEFR_OF_BAND, ESTIMATED_0_120_OF_BAND, SECTIONS, band_total
from . import wire
from .draws import Draws, cumulative
from .names import ASCII_FOLD, DEPARTMENTS, EMAIL_DOMAINS, INSTITUTIONS, PROFILES, Profile

PEOPLE = 2048
SCORE_SETS = 512
#: Everyone is 17 to 40 on this day; a test sat before its taker turns 15 (a window years
#: in the past) makes them 20 years older for that report (see :func:`born_for`).
_AGE_ON = dt.date(2026, 1, 21).toordinal()
YOUNGEST = 15 * 365
#: A person's groups: names to gender, the test centre, e-mail to security ID.
_PERSON_GROUPS = ("person", "born", "gender", "centre", "email", "ibt_centre", "identity")
_CENTRE = ("centre", "ibt_centre")


@dataclass(frozen=True, slots=True)
class Part:
    """Canonical values and their wire pieces, one per group, in text and in JSON; ``index``
    is the part's place in its table."""

    values: dict[str, Any]
    text: tuple[bytes, ...]
    json: tuple[bytes, ...]
    index: int


def part(values: dict[str, Any], groups: Sequence[str], index: int) -> Part:
    text, json = wire.pieces(values, groups)
    return Part(values, text, json, index)


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


def _centre(draws: Draws, *, paper: bool) -> dict[str, Any]:
    code = draws.between(10_000, 99_999)
    ibt = f"PDT{code}" if paper else f"STN{code}{draws.pick('ABC')}"
    return {"test_center_code": str(code), "ibt_test_center_code": ibt}


_HOME = {"test_center_code": "HOME", "ibt_test_center_code": "HOME EDITION"}


class Person:
    """A test taker, rendered once for the two places a test can be sat.

    ``text[paper]`` and ``json[paper]`` (``paper`` for an rPDT report) are three pieces:
    the fields from ``last_name`` to ``gender`` (date of birth included), the test centre
    code, and the fields from ``email`` to ``security_id_country`` (the iBT or rPDT centre
    code included). ``unborn_text`` and ``unborn_json`` are ``last_name`` to
    ``native_language_name`` and ``gender``, for a report with another date of birth.
    """

    __slots__ = (
        "born", "centres", "index", "json", "text", "unborn_json", "unborn_text", "values",
    )  # fmt: skip

    def __init__(self, draws: Draws, index: int) -> None:
        self.index = index  # in its pool
        self.values = _draw_person(draws)
        self.born = _AGE_ON - draws.between(17 * 365, 40 * 365)
        home = draws.random() < 0.25
        ibt = _HOME if home else _centre(draws, paper=False)
        #: The test centre fields of an iBT (or Home Edition) test and of a paper one.
        self.centres = (ibt, _centre(draws, paper=True))
        own = {**self.values, "date_of_birth": dt.date.fromordinal(self.born), **ibt}
        text, json = wire.pieces(own, _PERSON_GROUPS)
        named, born, gender, code, email, ibt_code, identity = text
        j_named, j_born, j_gender, j_code, j_email, j_ibt_code, j_identity = json
        (paper, paper_ibt), (j_paper, j_paper_ibt) = wire.pieces(self.centres[1], _CENTRE)
        head, j_head = named + born + gender, j_named + j_born + j_gender
        self.text = (
            (head, code, email + ibt_code + identity),
            (head, paper, email + paper_ibt + identity),
        )
        self.json = (
            (j_head, j_code, j_email + j_ibt_code + j_identity),
            (j_head, j_paper, j_email + j_paper_ibt + j_identity),
        )
        self.unborn_text = (named, gender)
        self.unborn_json = (j_named, j_gender)


def born_for(person: Person, test_date: int) -> int:
    """``person``'s date of birth in a report of a test on ``test_date`` (ordinals)."""
    born = person.born
    while test_date - born < YOUNGEST:
        born -= 20 * 365
    return born


class Pool:
    """The people of one seed, each made the first time it is asked for."""

    def __init__(self, namespace: str) -> None:
        self._key = f"toefl-access-mock/{namespace}"
        #: Each person as made so far (None until first asked for): read it with ``or``.
        self.people: list[Person | None] = [None] * PEOPLE

    def person(self, i: int) -> Person:
        found = self.people[i]
        if found is None:  # two threads may both make it: the same person, harmlessly
            found = self.people[i] = Person(Draws(f"{self._key}/person/{i}"), i)
        return found


_pool_lock = threading.Lock()


@lru_cache(maxsize=8)
def _pool(namespace: str) -> Pool:
    return Pool(namespace)


def pool(namespace: str) -> Pool:
    """The pool of ``namespace`` (a seed, or ``sample``), kept for the last few used."""
    with _pool_lock:  # one Pool per namespace even when requests start together
        return _pool(namespace)


#: How many times the test was taken (1-3), each as its part.
TIMES = tuple(part({"times_taken": str(n)}, ("times",), n - 1) for n in (1, 2, 3))


# -- places ---------------------------------------------------------------------------------


def _place(index: int, institution: str, department: str) -> Part:
    values = {"institution_code": institution, "department_code": department}
    p = part(values, ("place",), index)
    return Part(p.values, p.text, (b",{" + p.json[0][1:],), index)  # it opens the JSON object


#: Every (institution, department) pair, and its weight.
PLACES = tuple(
    _place(n, i, d)
    for n, (i, d) in enumerate((i, d) for i, _ in INSTITUTIONS for d, _ in DEPARTMENTS)
)
#: Running sums of their weights.
PLACE_CUM = cumulative([wi * wd for _, wi in INSTITUTIONS for _, wd in DEPARTMENTS])


# -- score sets ---------------------------------------------------------------------------


#: A score set's ``scores`` and ``best`` pieces: text, text, JSON, JSON.
Rendered = tuple[bytes, bytes, bytes, bytes]


class Scores:
    """One test's four sections on one scale (0-120 or 1-6), and an earlier test's.

    Whether the earlier test counts for MyBest is the report's business (it may fall on the
    other scale); :meth:`rendered` keeps the wire pieces of each combination, and
    :meth:`rescored` the scores a rescore gives.
    """

    __slots__ = ("_rescores", "code", "earlier", "key", "scale", "sections", "variants")

    def __init__(
        self,
        key: str,
        code: int,
        scale: str,
        sections: tuple[float, ...],
        earlier: tuple[float, ...],
    ) -> None:
        self.key = key
        self.code = code  # see scores_of
        self.scale = scale
        self.sections = sections
        self.earlier = earlier
        #: :meth:`rendered` as made so far, at ``2 * rpdt + prior`` (read it with ``or``).
        self.variants: list[Rendered | None] = [None] * 4
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

    def rendered(self, rpdt: bool, prior: bool) -> Rendered:
        """The ``scores`` and ``best`` groups as text and as JSON, MyBest dates left as
        holes (see :mod:`.wire`)."""
        index = 2 * rpdt + prior
        found = self.variants[index]
        if found is None:
            holes = self.values(
                rpdt=rpdt, prior=prior, test=wire.TEST_HOLE, earlier=wire.EARLIER_HOLE
            )
            (scores, best), (j_scores, j_best) = wire.pieces(holes, ("scores", "best"))
            found = self.variants[index] = (scores, best, j_scores, j_best)
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
            code = self.code + which + 1
            found = Scores(draws.key, code, self.scale, tuple(sections), self.earlier)
            self._rescores[which] = found
        return found


#: The sections a rescore changes: speaking, writing or both.
RESCORED = ((2,), (3,), (2, 3))
_STEPS = {"0-120": (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0), "1-6": (-1.0, -0.5, 0.5, 1.0)}


def _draw_scores(draws: Draws, code: int, scale: str) -> Scores:
    if scale == "0-120":
        ability = min(118.0, max(20.0, draws.normal(86, 14))) / 4
        sections = tuple(
            float(min(30, max(0, round(draws.normal(ability, 2.5))))) for _ in SECTIONS
        )
        earlier = tuple(float(min(30, max(0, s + draws.between(-4, 2)))) for s in sections)
        return Scores(draws.key, code, scale, sections, earlier)
    level = min(5.9, max(1.2, draws.normal(4.3, 0.7)))
    sections = tuple(min(6.0, max(1.0, round(draws.normal(level, 0.4) * 2) / 2)) for _ in SECTIONS)
    steps = (-1.0, -0.5, 0.0, 0.5)
    earlier = tuple(min(6.0, max(1.0, s + draws.pick(steps))) for s in sections)
    return Scores(draws.key, code, scale, sections, earlier)


_SCALES = ("0-120", "1-6")
#: The score sets of each scale made so far, the 0-120 ones first (read them with ``or``).
SETS: tuple[list[Scores | None], list[Scores | None]] = ([None] * SCORE_SETS, [None] * SCORE_SETS)


def score_set(new_scale: bool, i: int) -> Scores:
    """Score set ``i`` of the 0-120 scale or (``new_scale``) the 1-6 one, for every seed."""
    found = SETS[new_scale][i]
    if found is None:
        scale = _SCALES[new_scale]
        draws = Draws(f"toefl-access-mock/scores/{scale}/{i}")
        found = SETS[new_scale][i] = _draw_scores(draws, (new_scale * SCORE_SETS + i) << 2, scale)
    return found


def scores_of(code: int) -> Scores:
    """The scores of ``code``: a score set (scale and index) and which rescore of it, if any."""
    new_scale, i = divmod(code >> 2, SCORE_SETS)
    scores = score_set(bool(new_scale), i)
    return scores.rescored((code & 3) - 1) if code & 3 else scores
