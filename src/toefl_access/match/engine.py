"""Matching applicants to test sittings: blocking, scoring, one decision per pair.

A *sitting* is one test taken (a registration number and a test date); its reports (one
per institution and department it was sent to) share its decision. The steps:

1. **Blocking.** Each sitting is filed under a few keys: its registration number, e-mail,
   ID-number hash, date of birth (day and month in either order) with the initial of
   each of its names, and its first and last names in either order. An applicant is
   scored only against the sittings that share a key with it, so the work grows with the
   roster, not with roster x reports.
2. **Scoring** (:mod:`.score`): every candidate pair that can reach ``review_at`` gets
   points and reasons. A pair that meets a *deterministic key* (a registration number,
   or an ID number, or the exact names, each with the exact date of birth) says so first
   in its reasons.
3. **Decisions.** A pair at or above ``match_at`` is a ``match``, one between
   ``review_at`` and ``match_at`` is for ``review``, anything lower is dropped. A sitting
   is a ``match`` for one applicant at most: when another applicant scores within
   ``margin`` of the best, every such pair goes to ``review`` (a tie); when the best
   leads by more, the others are dropped. An applicant may match several sittings
   (retakes), but of one test taker (see :func:`_one_person`); a review pair on a retake
   of the test taker it matches (the same ID number or e-mail) is a match too
   (:func:`_same_taker`). People's decisions come first: a ``rejected`` pair is never
   proposed again, a ``confirmed`` sitting is that applicant's and nobody else's.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from . import compare
from . import score as sc
from .roster import Roster

#: ``(applicant_id, registration_number, test_date)``
PairKey = tuple[str, str, dt.date]


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Where a score becomes a ``match`` or a ``review``, and the lead a match needs."""

    match_at: int = 80
    review_at: int = 45
    margin: int = 10

    def __post_init__(self) -> None:
        if not self.review_at <= self.match_at:
            raise ValueError("review_at must not be above match_at")


@dataclass(frozen=True, slots=True)
class Pair:
    """A proposed (or confirmed) pair: an applicant and one sitting."""

    applicant: int  #: row in the roster
    sitting: int  #: row in :attr:`Sittings.keys`
    score: int
    decision: str  #: ``match``, ``review`` or ``confirmed``
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Sittings:
    """The sittings of the stored reports: their keys, people and reports."""

    keys: list[tuple[str, dt.date]] = field(default_factory=list)
    people: list[sc.Person] = field(default_factory=list)
    #: each sitting's reports: ``(institution_code, department_code)``
    reports: list[list[tuple[str, str]]] = field(default_factory=list)
    #: each sitting's first row in :attr:`table`
    rows: list[int] = field(default_factory=list)
    table: pa.Table | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def values(self, sitting: int) -> dict[str, Any]:
        """The :data:`REVIEW_FIELDS` of a sitting's first report."""
        assert self.table is not None
        row = self.table.select(list(REVIEW_FIELDS)).slice(self.rows[sitting], 1)
        return {name: row.column(name)[0].as_py() for name in REVIEW_FIELDS}


@dataclass(slots=True)
class Outcome:
    """What a match run found."""

    pairs: list[Pair]
    sittings: Sittings
    roster: Roster
    reports: int
    counts: dict[str, int]
    #: applicants with no pair at all
    unmatched: int
    #: lookups of a block too big (more than :data:`MOST_IN_BLOCK` tests) that used
    #: narrower keys, and narrower blocks still too big (skipped)
    narrowed: int = 0
    skipped: int = 0


def sittings_from(table: pa.Table) -> Sittings:
    """Group report rows (sorted by registration number and test date) into sittings."""
    cols = {name: table.column(name).to_pylist() for name in PERSON_FIELDS}
    regs = table.column("registration_number").to_pylist()
    dates = table.column("test_date").to_pylist()
    institutions = table.column("institution_code").to_pylist()
    departments = table.column("department_code").to_pylist()
    out = Sittings(table=table)
    last: tuple[str, dt.date] | None = None
    for i in range(table.num_rows):
        key = (regs[i] or "", dates[i])
        report = (institutions[i] or "", departments[i] or "")
        if key == last:
            out.reports[-1].append(report)
            continue
        last = key
        out.keys.append(key)
        out.reports.append([report])
        out.rows.append(i)
        out.people.append(sc.person(
            cols["first_name"][i], cols["middle_name"][i], cols["last_name"][i],
            cols["date_of_birth"][i], cols["email"][i], key[0], cols["security_id_number"][i],
            (cols["country_code"][i], cols["country_name"][i],
             cols["native_country_code"][i], cols["native_country_name"][i]),
        ))
    return out


#: The report values a sitting's person is made of.
PERSON_FIELDS = ("first_name", "middle_name", "last_name", "date_of_birth", "email",
                 "security_id_number", "country_code", "country_name", "native_country_code",
                 "native_country_name")
#: The report values the review file shows next to the roster's.
REVIEW_FIELDS = ("first_name", "middle_name", "last_name", "date_of_birth", "email",
                 "country_code")


def roster_people(roster: Roster) -> list[sc.Person]:
    return [
        sc.person(roster.first_names[i], roster.middle_names[i], roster.last_names[i],
                  roster.dates_of_birth[i], roster.emails[i],
                  roster.registration_numbers[i], roster.id_numbers[i],
                  (roster.countries[i],))
        for i in range(len(roster))
    ]


#: A block larger than this many tests is narrowed (see :func:`_keys`).
MOST_IN_BLOCK = 250


def _keys(p: sc.Person) -> Iterator[tuple[str, tuple[str, ...]]]:
    """A person's blocking keys, each with the narrower keys used instead when its block is
    too big (a birthday with an initial: the first three letters of each name; names: the
    names with the birth year, and with the birthday; an e-mail or a number: none)."""
    if p.registration_number:
        yield "r" + p.registration_number, ()
    if p.email:
        yield "e" + p.email, ()
    if p.id_hash:
        yield "i" + p.id_hash, ()
    tokens = p.first.tokens + p.middle.tokens + p.last.tokens
    if p.dob:  # with each initial: a pair with the same birthday shares a name's initial
        lo, hi = sorted((p.dob.month, p.dob.day))
        day = f"{p.dob.year}-{lo}-{hi}"
        for initial in sorted({t[0] for t in tokens}):
            yield (f"d{day}{initial}",
                   tuple(sorted({f"D{day}{t[:3]}" for t in tokens if t[0] == initial})))
    if p.first.loose and p.last.loose:
        names = ["|".join(sorted((p.first.loose, p.last.loose)))]
        a, b = p.first.tokens[0], p.last.tokens[0]
        if (a, b) != (p.first.folded, p.last.folded):
            names.append("|".join(sorted((compare.name(a).loose, compare.name(b).loose))))
        for n in names:
            finer: tuple[str, ...] = ()
            if p.dob:
                lo, hi = sorted((p.dob.month, p.dob.day))
                finer = (f"y{n}{p.dob.year}", f"m{n}{lo}-{hi}")
            yield "n" + n, finer


class _Blocks:
    """The tests filed under their keys; a key's narrower index is built the first time
    its block is found too big."""

    def __init__(self, people: list[sc.Person]) -> None:
        self.people = people
        self.index: dict[str, list[int]] = defaultdict(list)
        for s, taker in enumerate(people):
            for key, _ in _keys(taker):
                self.index[key].append(s)
        self.narrow: dict[str, dict[str, list[int]]] = {}
        self.narrowed = 0  #: lookups that used narrower keys
        self.skipped = 0  #: lookups whose narrower blocks were still too big

    def candidates(self, person: sc.Person) -> set[int]:
        found: set[int] = set()
        for key, finer in _keys(person):
            block = self.index.get(key, ())
            if len(block) <= MOST_IN_BLOCK:
                found.update(block)
                continue
            self.narrowed += 1
            sub = self.narrow.get(key)
            if sub is None:
                sub = self.narrow[key] = defaultdict(list)
                for s in block:
                    for k, fine in _keys(self.people[s]):
                        if k == key:
                            for f in fine:
                                sub[f].append(s)
            for f in finer:
                small = sub.get(f, ())
                if len(small) <= MOST_IN_BLOCK:
                    found.update(small)
                else:
                    self.skipped += 1
        return found


def match(
    roster: Roster,
    sittings: Sittings,
    *,
    thresholds: Thresholds | None = None,
    decisions: Mapping[PairKey, str] | None = None,
    reports: int | None = None,
) -> Outcome:
    """Match every applicant of ``roster`` against ``sittings``.

    ``decisions`` are people's current decisions by pair (``confirmed`` or ``rejected``).
    """
    decisions = decisions or {}
    t = thresholds or Thresholds()
    blocks = _Blocks(sittings.people)
    sitting_of = {key: s for s, key in enumerate(sittings.keys)}
    ids = roster.applicant_ids
    row_of = {a: i for i, a in enumerate(ids)}
    confirmed: dict[int, int] = {}  # sitting -> applicant row (-1: not in this roster)
    for (applicant, reg, date), decision in decisions.items():
        at = sitting_of.get((reg, date))
        if decision == "confirmed" and at is not None:
            confirmed[at] = row_of.get(applicant, -1)

    by_sitting: dict[int, list[tuple[int, sc.Scored]]] = defaultdict(list)
    people = roster_people(roster)

    def floor(s: int) -> int | None:  # a confirmed sitting is scored whatever its score
        return None if s in confirmed else t.review_at

    for a, person in enumerate(people):
        for s in sorted(blocks.candidates(person)):
            if s in confirmed and confirmed[s] != a:
                continue
            found = sc.score(person, sittings.people[s], floor=floor(s))
            if found is None:
                continue
            keep = found.points >= t.review_at or s in confirmed
            if keep and decisions.get((ids[a], *sittings.keys[s])) != "rejected":
                by_sitting[s].append((a, found))
    for s, a in confirmed.items():  # confirmed for an applicant the blocks did not reach
        if a >= 0 and all(x != a for x, _ in by_sitting.get(s, ())):
            found = sc.score(people[a], sittings.people[s])
            assert found is not None
            by_sitting[s].append((a, found))

    pairs, behind = _decide(by_sitting, confirmed, t)
    pairs = _one_person(pairs, behind, sittings, t)
    pairs = _same_taker(pairs, sittings)
    pairs.sort(key=lambda p: (sittings.keys[p.sitting], -p.score, ids[p.applicant]))
    counts = {"match": 0, "review": 0, "confirmed": 0}
    for p in pairs:
        counts[p.decision] += 1
    paired = {p.applicant for p in pairs}
    return Outcome(
        pairs, sittings, roster,
        reports if reports is not None else sum(map(len, sittings.reports)),
        counts, len(roster) - len(paired), blocks.narrowed, blocks.skipped,
    )


def _decide(
    by_sitting: Mapping[int, list[tuple[int, sc.Scored]]], confirmed: Mapping[int, int],
    t: Thresholds,
) -> tuple[list[Pair], dict[int, list[Pair]]]:
    """Each test's pairs, and the candidates a clear match left out (as review pairs, for
    when that match is taken back)."""
    pairs: list[Pair] = []
    behind: dict[int, list[Pair]] = {}
    for s, found in by_sitting.items():
        if s in confirmed:
            for a, f in found:
                if a == confirmed[s]:
                    pairs.append(Pair(a, s, f.points, "confirmed",
                                      ("confirmed by a person", *f.reasons)))
            continue
        found.sort(key=lambda x: -x[1].points)
        best = found[0][1].points
        close = [(a, f) for a, f in found if f.points >= best - t.margin]
        if len(close) == 1 and best >= t.match_at:
            a, f = found[0]
            pairs.append(Pair(a, s, f.points, "match", _labelled(f)))
            behind[s] = [Pair(a, s, f.points, "review", _labelled(f))
                         for a, f in found[1:] if f.points >= t.review_at]
            continue
        tie = len(close) > 1
        for a, f in found:
            if f.points < t.review_at:
                continue
            reasons = _labelled(f)
            if tie and f.points >= best - t.margin:
                others = len(close) - 1
                reasons += (f"tie with {others} other applicant" + ("s" if others > 1 else ""),)
            pairs.append(Pair(a, s, f.points, "review", reasons))
    return pairs, behind


def _labelled(f: sc.Scored) -> tuple[str, ...]:
    return (f"key: {f.key}", *f.reasons) if f.key else f.reasons


_RANK = {"review": 0, "match": 1, "confirmed": 2}


def _one_person(
    pairs: list[Pair], behind: Mapping[int, list[Pair]], sittings: Sittings, t: Thresholds
) -> list[Pair]:
    """An applicant matches one test taker. Its matches on tests of another person (another
    date of birth, other names, or another ID number) than its best pair's go to review, and
    all of them when another person comes within the margin of the best (a confirmed pair
    is never outranked). A test whose match goes back to review offers its other
    candidates again."""
    def person(p: Pair) -> tuple[object, ...]:
        who = sittings.people[p.sitting]
        return who.dob, who.first.loose, who.last.loose

    best: dict[int, dict[tuple[object, ...], tuple[int, int]]] = defaultdict(dict)
    ids: dict[int, dict[tuple[object, ...], set[str]]] = defaultdict(lambda: defaultdict(set))
    for p in pairs:
        if p.decision != "review":
            group = best[p.applicant]
            rank = (_RANK[p.decision], p.score)
            group[person(p)] = max(group.get(person(p), rank), rank)
            if sittings.people[p.sitting].id_hash:
                ids[p.applicant][person(p)].add(sittings.people[p.sitting].id_hash)
    keep: dict[int, tuple[object, ...] | None] = {}
    for applicant, group in best.items():
        top = max(group.values())
        contenders = [who for who, (rank, score) in group.items()
                      if rank == top[0] and score >= top[1] - (0 if rank == 2 else t.margin)]
        if len(group) > 1 or len(ids[applicant][contenders[0]]) > 1:
            one = len(contenders) == 1 and len(ids[applicant][contenders[0]]) <= 1
            keep[applicant] = contenders[0] if one else None
    out: list[Pair] = []
    for p in pairs:
        if (p.decision == "match" and p.applicant in keep
                and (keep[p.applicant] is None or keep[p.applicant] != person(p))):
            p = Pair(p.applicant, p.sitting, p.score, "review",
                     (*p.reasons, "applicant also matches another test taker"))
            out.extend(behind.get(p.sitting, ()))
        out.append(p)
    return out


def _same_taker(pairs: list[Pair], sittings: Sittings) -> list[Pair]:
    """A review pair on a test of the very test taker an applicant matches (same names and
    date of birth, and the same ID number or e-mail on both reports: a retake) is a match
    too, unless another applicant is tied for that test."""
    def who(s: int) -> tuple[object, ...]:
        p = sittings.people[s]
        return p.dob, p.first.loose, p.last.loose

    matched: dict[int, dict[tuple[object, ...], list[int]]] = defaultdict(lambda: defaultdict(list))
    for p in pairs:
        if p.decision in ("match", "confirmed"):
            matched[p.applicant][who(p.sitting)].append(p.sitting)
    tied = {p.sitting for p in pairs if p.reasons and p.reasons[-1].startswith("tie with")}
    taken = {p.sitting for p in pairs if p.decision != "review"}
    promote: dict[int, str] = {}  # pair index -> reason
    for i, p in enumerate(pairs):
        if (p.decision != "review" or p.sitting in tied or p.sitting in taken
                or p.applicant not in matched
                or p.reasons[-1] == "applicant also matches another test taker"):
            continue
        here = sittings.people[p.sitting]
        for s in matched[p.applicant].get(who(p.sitting), ()):
            there = sittings.people[s]
            if here.id_hash and there.id_hash and here.id_hash != there.id_hash:
                continue  # two ID numbers are two people, whatever the e-mail
            same = ("id_number" if here.id_hash and here.id_hash == there.id_hash else
                    "email" if here.email and here.email == there.email else "")
            if same:
                promote[i] = f"same test taker as {sittings.keys[s][0]} ({same})"
                break
    per_test = Counter(pairs[i].sitting for i in promote)  # never two applicants at match
    return [
        Pair(p.applicant, p.sitting, p.score, "match", (promote[i], *p.reasons))
        if i in promote and per_test[p.sitting] == 1 else p
        for i, p in enumerate(pairs)
    ]
