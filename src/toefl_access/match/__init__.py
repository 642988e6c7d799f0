"""Matching applicants to score reports: deterministic keys first, then an explainable
score, a review queue for people, and never a guess.

>>> from toefl_access.match import read_roster, match_store        # doctest: +SKIP
>>> with open_store("sqlite:///toefl-access.db") as store:          # doctest: +SKIP
...     roster = read_roster("applicants.csv", hash_id=id_hasher(store)[0])
...     outcome = match_store(store, roster)

:func:`read_roster` checks a whole roster file (:mod:`.roster`); :func:`match_store` scores
it against the stored reports (:mod:`.engine`, :mod:`.score`), applies people's decisions
and records the run's proposals in the database; :mod:`.files` writes ``matches.csv`` and
``review.csv`` and reads decisions back. Needs the ``[match]`` extra (``rapidfuzz``,
``anyascii``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..formats import sensitive
from ..store import MatchProposal, Store
from .engine import Outcome, PairKey, Thresholds, match, sittings_from
from .roster import Roster, parse_columns, parse_date, read_roster

__all__ = [
    "Outcome", "Roster", "Thresholds", "id_hasher", "match", "match_store", "parse_columns",
    "parse_date", "read_roster", "record_run",
]


def id_hasher(
    store: Store, *, key_file: str | None = None
) -> tuple[Callable[[str], str] | None, str | None]:
    """How a roster's ID number becomes what the store holds for the reports' (the keyed
    hash under ``sensitive = hash``, the number itself under ``keep``), and a notice when
    ID numbers cannot be compared (``drop``, or no key yet)."""
    mode = store.meta_get(sensitive.META_MODE) or sensitive.DEFAULT_MODE
    if mode == "keep":
        return sensitive.normal_id, None
    if mode == "hash":
        key_hex = None if key_file else store.meta_get(sensitive.META_KEY)
        if key_file or key_hex:
            key = sensitive.read_key_file(key_file) if key_file else bytes.fromhex(key_hex or "")
            return sensitive.Protector("hash", key).hash, None
        return None, "the database has no hash key yet (no report synced): id_number not used"
    return None, "the database does not keep ID numbers (sensitive = drop): id_number not used"


def match_store(
    store: Store, roster: Roster, *, thresholds: Thresholds | None = None, record: bool = True
) -> Outcome:
    """Match ``roster`` against the reports in ``store``, respecting people's decisions;
    with ``record`` the proposals replace the previous run's in the database."""
    table = store.match_reports()
    decisions: dict[PairKey, str] = {
        (d.applicant_id, d.registration_number, d.test_date): d.decision
        for d in store.match_decisions()
    }
    outcome = match(roster, sittings_from(table), thresholds=thresholds,
                    decisions=decisions, reports=table.num_rows)
    if record:
        record_run(store, outcome, thresholds or Thresholds())
    return outcome


def record_run(store: Store, outcome: Outcome, thresholds: Thresholds) -> None:
    """Keep a run's proposals (``match`` and ``review`` pairs) in the database, in place of
    the previous run's: ``show`` prints them and ``export --applicant-id`` uses the
    matches."""
    ids, keys = outcome.roster.applicant_ids, outcome.sittings.keys
    store.record_match_run(
        roster=outcome.roster.source, applicants=len(outcome.roster), reports=outcome.reports,
        settings={"match_at": thresholds.match_at, "review_at": thresholds.review_at,
                  "margin": thresholds.margin},
        proposals=(
            MatchProposal(ids[p.applicant], *keys[p.sitting], float(p.score), p.decision,
                          p.reasons)
            for p in outcome.pairs if p.decision != "confirmed"
        ),
        counts={"confirmed": outcome.counts["confirmed"]},
    )
