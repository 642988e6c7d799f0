"""The score of one applicant against one test sitting, with its reasons.

A score is the sum of the points of what was found (:data:`POINTS`); every term that counts
is named in the pair's reasons, so a person can see why a pair scored what it did. Names
are compared folded (see :mod:`.compare`); the better of the straight reading and the
first/last swapped one counts.

================================== ======= ==============================================
reason                             points  when
================================== ======= ==============================================
``registration_number exact``        +40   the number the applicant gave is the report's
``registration_number one off``      +10   one character added, dropped or changed
``id_number exact``                  +40   same keyed hash of the passport / ID number
``email exact``                      +25   same address (case ignored)
``email differs``                     -5   both give one, and they differ
``last_name exact``                  +30   same folded name (``Müller`` = ``MUELLER``,
                                           ``García-Márquez`` = ``garcia marquez``)
``last_name part of compound``       +20   one's names are some of the other's
                                           (``García`` in ``García Márquez``)
``last_name close``                  +24   one edit apart, or ratio >= 0.90
``last_name similar``                +14   ratio >= 0.80
``last_name differs``                -15
``first_name exact``                 +20   (also: first + middle names the same)
``first_name part of compound``       +8   ``María`` in ``María José`` (with the last
                                           name, the birth date and the country, only a
                                           review; with an e-mail or a number, a match)
``first_name close``                 +16
``first_name initial``               +10   ``J`` for ``Jun``
``first_name similar``                +9
``first_name differs``               -10
``first/last swapped``                -2   on top of the swapped names' points
``names reordered``                  +45   the same names in another order (instead of
                                           the name terms above)
``single name exact``                +45   one name on each side, the same (a one-name
                                           person; its first or last name field)
``single name close``                +34   one name on each side, close
``middle_name exact``                 +3
``dob exact``                        +35
``dob day-month swapped``            +22
``dob one digit off``                +18
``dob one year off``                 +12
``dob differs``                      -30
``country exact``                     +4   the roster's country is the report's country
                                           or native country (code or name)
``country differs``                   -3
================================== ======= ==============================================
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import NamedTuple

from ..formats.sensitive import normal_id
from . import compare as c
from .compare import Name

POINTS: dict[str, int] = {
    "registration_number exact": 40,
    "registration_number one off": 10,
    "id_number exact": 40,
    "email exact": 25,
    "email differs": -5,
    "last_name exact": 30,
    "last_name part of compound": 20,
    "last_name close": 24,
    "last_name similar": 14,
    "last_name differs": -15,
    "first_name exact": 20,
    "first_name part of compound": 8,
    "first_name close": 16,
    "first_name initial": 10,
    "first_name similar": 9,
    "first_name differs": -10,
    "first/last swapped": -2,
    "names reordered": 45,
    "single name exact": 45,
    "single name close": 34,
    "middle_name exact": 3,
    "dob exact": 35,
    "dob day-month swapped": 22,
    "dob one digit off": 18,
    "dob one year off": 12,
    "dob differs": -30,
    "country exact": 4,
    "country differs": -3,
}
_DOB = {"exact": "dob exact", "swapped": "dob day-month swapped", "digit": "dob one digit off",
        "year": "dob one year off", "differs": "dob differs"}
CLOSE, SIMILAR = 0.90, 0.80


class Person(NamedTuple):
    """One side of a pair (an applicant or a sitting), ready to compare."""

    first: Name
    middle: Name
    last: Name
    dob: dt.date | None
    email: str  #: folded, "" when unknown
    registration_number: str
    id_hash: str  #: the ID number as the store holds it (its keyed hash), normalized
    countries: frozenset[str]  #: folded codes and names


def person(
    first: str | None, middle: str | None, last: str | None, dob: dt.date | None,
    email: str | None, registration_number: str | None, id_hash: str | None,
    countries: tuple[str | None, ...],
) -> Person:
    """A :class:`Person` from raw values (blanks and None are unknown)."""
    return Person(
        c.name(first), c.name(middle), c.name(last), dob, c.fold_text(email),
        (registration_number or "").strip().upper(), normal_id(id_hash) if id_hash else "",
        _countries(countries),
    )


@lru_cache(maxsize=4096)
def _countries(names: tuple[str | None, ...]) -> frozenset[str]:
    return frozenset(f for f in map(c.fold_text, names) if f)


class Scored(NamedTuple):
    """A pair's score, its reasons (strongest first as found) and whether a deterministic
    key holds (``key``: the key's name, or "")."""

    points: int
    reasons: tuple[str, ...]
    key: str


def _same(a: Name, b: Name) -> bool:
    return a.key == b.key or a.loose == b.loose


def _last(r: Name, t: Name) -> str:
    if r.key == t.key or r.loose == t.loose:
        return "last_name exact"
    if len(r.tokens) != len(t.tokens):
        rs, ts = set(r.tokens), set(t.tokens)
        if (rs < ts or ts < rs) and min(len(rs), len(ts)) and all(len(x) > 1 for x in rs & ts):
            return "last_name part of compound"
    return _fuzzy("last_name", r.key, t.key)


def _first(r: Name, rm: Name, t: Name, tm: Name) -> str:
    if _same(r, t):
        return "first_name exact"
    if not r.key or not t.key:
        return "first_name differs"
    if (rm.key or tm.key) and (r.key + rm.key == t.key + tm.key):
        return "first_name exact"  # a middle name moved into the first name field
    if len(r.key) == 1 or len(t.key) == 1:
        return "first_name initial" if r.key[0] == t.key[0] else "first_name differs"
    if len(r.tokens) != len(t.tokens):
        rs, ts = set(r.tokens), set(t.tokens)
        if (rs < ts or ts < rs) and rs & ts:
            return "first_name part of compound"
    return _fuzzy("first_name", r.key, t.key)


def _fuzzy(what: str, a: str, b: str) -> str:
    if not a or not b:
        return f"{what} differs"
    if min(len(a), len(b)) >= 4 and c.edits(a, b) <= 1:
        return f"{what} close"
    similar = c.ratio(a, b)
    if similar >= CLOSE:
        return f"{what} close"
    return f"{what} similar" if similar >= SIMILAR else f"{what} differs"


def _names(r: Person, t: Person) -> tuple[int, list[str]]:
    r_one, t_one = _single(r), _single(t)
    if r_one is not None and t_one is not None:  # one-name people, in either field
        found = _last(r_one, t_one).replace("last_name", "single name")
        if found in POINTS:
            return POINTS[found], [found]
    straight = [_last(r.last, t.last), _first(r.first, r.middle, t.first, t.middle)]
    best = sum(POINTS[x] for x in straight), straight
    if r.first.key and r.last.key and not _same(r.last, t.last):
        swapped = [_last(r.first, t.last), _first(r.last, EMPTY_NAME, t.first, EMPTY_NAME)]
        if all(not x.endswith("differs") for x in swapped):
            points = sum(POINTS[x] for x in swapped) + POINTS["first/last swapped"]
            if points > best[0]:
                best = points, ["first/last swapped", *swapped]
    if best[0] < POINTS["names reordered"]:
        rt = sorted(r.first.tokens + r.middle.tokens + r.last.tokens)
        tt = sorted(t.first.tokens + t.middle.tokens + t.last.tokens)
        if len(rt) > 1 and rt == tt:
            best = POINTS["names reordered"], ["names reordered"]
    points, reasons = best
    if r.middle.key and t.middle.key and _same(r.middle, t.middle):
        points += POINTS["middle_name exact"]
        reasons = [*reasons, "middle_name exact"]
    return points, reasons


EMPTY_NAME = c.EMPTY


def _single(p: Person) -> Name | None:
    """The one name of a person who has only a first or only a last name (no middle)."""
    if p.middle.key or bool(p.first.key) == bool(p.last.key):
        return None
    return p.first if p.first.key else p.last


#: The most the name terms can add (the best names, plus the middle name).
_NAMES_MOST = POINTS["last_name exact"] + POINTS["first_name exact"] + POINTS["middle_name exact"]


def score(r: Person, t: Person, *, floor: int | None = None) -> Scored | None:
    """The score of applicant ``r`` against sitting ``t``; None when it cannot reach
    ``floor`` (a pair without the exact date of birth whose other terms are too weak for
    any names to lift it there)."""
    reasons: list[str] = []
    points = 0
    if r.registration_number and t.registration_number:
        if r.registration_number == t.registration_number:
            reasons.append("registration_number exact")
        elif c.edits(r.registration_number, t.registration_number) <= 1:
            reasons.append("registration_number one off")
    if r.id_hash and r.id_hash == t.id_hash:
        reasons.append("id_number exact")
    if r.email and t.email:
        reasons.append("email exact" if r.email == t.email else "email differs")
    dob = c.dob_relation(r.dob, t.dob) if r.dob and t.dob else ""
    if dob:
        reasons.append(_DOB[dob])
    if r.countries and t.countries:
        reasons.append("country exact" if r.countries & t.countries else "country differs")
    for x in reasons:
        points += POINTS[x]
    if floor is not None and dob != "exact" and points + _NAMES_MOST < floor:
        return None
    names, name_reasons = _names(r, t)
    at = sum(1 for x in reasons if not x.startswith(("dob", "country")))
    reasons[at:at] = name_reasons
    key = ""
    if dob == "exact":
        if "registration_number exact" in reasons:
            key = "registration_number + dob"
        elif "id_number exact" in reasons:
            key = "id_number + dob"
        elif ("last_name exact" in name_reasons and "first_name exact" in name_reasons
              and "first/last swapped" not in name_reasons):
            key = "names + dob"
    return Scored(points + names, tuple(reasons), key)
