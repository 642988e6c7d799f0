"""Matching applicants to test sittings: the store side of ``toefl-access match``.

A *pair* is an applicant (a roster's ``applicant_id``) and a test *sitting*: a registration
number and a test date, which covers every institution and department copy (report) of that
test. Three tables hold what is known about pairs (:mod:`.schema`):

- ``match_decisions``: what people decided, ``confirmed`` or ``rejected``. Append-only: a
  pair's current decision is its latest row, and the history stays (who, when, from where).
- ``match_runs``: one row per run of the matcher (roster file name, sizes, counts, settings).
- ``match_proposals``: the pairs the latest run proposed (``match`` or ``review``, with a
  score and its reasons); each run replaces them.

The applicant a sitting is handed off with (``export --applicant-id``, ``show``) is, in this
order: the applicant confirmed for it; else the latest run's ``match`` proposal, unless
that pair's current decision is ``rejected``. Never two: a sitting with two candidates at the
same level gets none (:meth:`MatchKeeper.applicant_ids`).
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import sqlalchemy as sa

from ..errors import UsageError
from . import schema as s
from .core import StoreCore, _encode, _new_id
from .structs import MatchDecision, MatchProposal, MatchRun

if TYPE_CHECKING:
    import pyarrow as pa

#: The decisions people make about a pair.
DECISIONS = ("confirmed", "rejected")
#: The decisions a match run proposes.
PROPOSALS = ("match", "review")
#: The columns of :meth:`MatchKeeper.match_reports`, in order.
MATCH_COLUMNS = (
    "registration_number", "test_date", "institution_code", "department_code", "last_name",
    "first_name", "middle_name", "date_of_birth", "email", "country_code", "country_name",
    "native_country_code", "native_country_name", "security_id_number",
)  # fmt: skip
_DATES = frozenset(("test_date", "date_of_birth"))
_CHUNK = 500  # registration numbers per IN (...): below every backend's parameter limit
_SHOWN = 20  # problems listed in one error message

Sitting = tuple[str, dt.date]

_PROPOSAL_COLUMNS = ("run_id", "registration_number", "test_date", "applicant_id", "score",
                     "decision", "reasons")  # fmt: skip
_COPY_PROPOSALS = f"COPY match_proposals ({', '.join(_PROPOSAL_COLUMNS)}) FROM STDIN"
_INSERT_PROPOSALS = (
    f"INSERT INTO match_proposals ({', '.join(_PROPOSAL_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_PROPOSAL_COLUMNS))})"
)


class MatchReportCounts(NamedTuple):
    """How many reports the matcher reads (not cancelled) and how many are cancelled (left
    out: a cancelled score is attached to nobody). Reports without a registration number or
    test date cannot form a sitting and are in neither."""

    reports: int
    cancelled: int


class MatchKeeper(StoreCore):
    """Match decisions, match runs and their proposals (see the module's docstring)."""

    # -- what the matcher reads -----------------------------------------------------------

    def match_reports(self, *, chunk: int = 20_000) -> pa.Table:
        """Every report that is not cancelled, as an Arrow table of :data:`MATCH_COLUMNS`,
        ordered by registration number, test date, institution and department.

        Dates (``test_date``, ``date_of_birth``) are ``date32``, everything else nullable
        strings (``security_id_number`` as stored: a keyed hash under ``sensitive =
        hash``). Reports without a registration number or test date are left out. Read in
        chunks of ``chunk`` rows, only these columns: 100,000 reports take well under a
        second.
        """
        import pyarrow as pa

        schema = pa.schema([pa.field(n, pa.date32() if n in _DATES else pa.string())
                            for n in MATCH_COLUMNS])  # fmt: skip
        t = s.score_reports
        # SQLite keeps dates as ISO text: read the text and let Arrow parse it in one go.
        cols = [sa.type_coerce(t.c[n], sa.Text) if n in _DATES and self._text_values
                else t.c[n] for n in MATCH_COLUMNS]  # fmt: skip
        query = (
            sa.select(*cols)
            .where(t.c.cancelled_at.is_(None), t.c.registration_number.is_not(None),
                   t.c.test_date.is_not(None))
            .order_by(t.c.registration_number, t.c.test_date, t.c.institution_code,
                      t.c.department_code)
        )  # fmt: skip
        batches = []
        with self._guard("reading the reports to match"), self._read() as conn:
            result = conn.execution_options(yield_per=chunk).execute(query)
            for part in result.partitions():
                values = list(zip(*part, strict=True))
                batches.append(pa.record_batch(
                    [_array(v, f.type) for v, f in zip(values, schema, strict=True)],
                    schema=schema,
                ))  # fmt: skip
        return pa.Table.from_batches(batches, schema=schema)

    def match_report_counts(self) -> MatchReportCounts:
        """``(reports, cancelled)``: the reports :meth:`match_reports` gives, and the
        cancelled ones it leaves out (for the matcher's summary)."""
        t = s.score_reports
        query = sa.select(sa.func.count(), sa.func.count(t.c.cancelled_at)).where(
            t.c.registration_number.is_not(None), t.c.test_date.is_not(None))
        with self._guard("counting the reports to match"), self._read() as conn:
            total, cancelled = conn.execute(query).one()
        return MatchReportCounts(int(total) - int(cancelled), int(cancelled))

    # -- decisions ------------------------------------------------------------------------

    def decide(self, decisions: Sequence[MatchDecision]) -> list[MatchDecision]:
        """Record what people decided, all or nothing, in ONE transaction; returns the rows
        appended (with ``id`` and ``decided_at``, now in UTC unless given).

        Every decision is checked first, each seeing the ones before it in the batch (a
        rejection then a confirmation of another applicant works): the decision is
        ``confirmed`` or ``rejected``; a report with that registration number and test
        date is stored (cancelled or not); a sitting confirmed for one applicant cannot be
        confirmed for another (reject that first). Any problem raises
        :class:`~toefl_access.errors.UsageError` listing every problem, and nothing is
        written. A decision equal to the pair's current one (same decision, and no new
        note) is not appended again: importing the same file twice changes nothing.
        """
        now = dt.datetime.now(dt.UTC)
        problems = [p for x in decisions if (p := _shape_problem(x))]
        if problems:
            raise UsageError(_problems(problems, len(decisions)))
        d = s.match_decisions
        sittings = {(x.registration_number, x.test_date) for x in decisions}
        appended: list[MatchDecision] = []
        with self._guard("recording match decisions"), self._write() as conn:
            self._match_lock(conn)
            stored = _stored_sittings(conn, sittings)
            state = _current_on(conn, sittings)  # sitting -> applicant -> current decision
            for x in decisions:
                sitting = (x.registration_number, x.test_date)
                reg, date = x.registration_number, x.test_date.isoformat()
                if sitting not in stored:
                    problems.append(
                        f"{_where(x)}no report with registration number {reg} and test date "
                        f"{date} in {self.url}; check the number and date "
                        f"(toefl-access show {shlex.quote(reg)})"
                    )
                    continue
                on = state.setdefault(sitting, {})
                held = on.get(x.applicant_id)
                if held is not None and held.decision == x.decision and x.note in (None,
                                                                                   held.note):
                    continue  # the pair's current decision already
                if x.decision == "confirmed":
                    holder = next((a for a, c in on.items()
                                   if c.decision == "confirmed" and a != x.applicant_id), None)
                    if holder is not None:
                        problems.append(
                            f"{_where(x)}registration number {reg}, test date {date} is "
                            f"confirmed for applicant {holder}; reject that first: "
                            f"toefl-access match reject {shlex.quote(holder)} "
                            f"{shlex.quote(reg)} {date}"
                        )
                        continue
                row = msgspec.structs.replace(
                    x, decided_at=s.to_utc(x.decided_at or now), id=None)
                on[x.applicant_id] = row
                appended.append(row)
            if problems:
                raise UsageError(_problems(problems, len(decisions)))
            if not appended:
                return []
            result = conn.execute(
                d.insert().returning(d.c.id, sort_by_parameter_order=True),
                [{"applicant_id": x.applicant_id, "registration_number": x.registration_number,
                  "test_date": x.test_date, "decision": x.decision, "decided_at": x.decided_at,
                  "source": x.source, "note": x.note} for x in appended],
            )  # fmt: skip
            ids = list(result.scalars())
        return [msgspec.structs.replace(x, id=int(i)) for x, i in zip(appended, ids, strict=True)]

    def match_decisions(
        self,
        *,
        registration_number: str | None = None,
        applicant_id: str | None = None,
        current: bool = True,
    ) -> list[MatchDecision]:
        """The decisions (of one registration number and/or one applicant), oldest first:
        each pair's current one (``current=True``), or every row ever recorded."""
        d = s.match_decisions
        where = _filters(d, registration_number, applicant_id)
        query = sa.select(d).where(*where).order_by(d.c.id)
        if current:
            latest = (sa.select(sa.func.max(d.c.id)).where(*where)
                      .group_by(d.c.applicant_id, d.c.registration_number, d.c.test_date))
            query = query.where(d.c.id.in_(latest))
        with self._guard("reading match decisions"), self._read() as conn:
            return [_decision(row._mapping) for row in conn.execute(query)]

    # -- runs and proposals ---------------------------------------------------------------

    def record_match_run(
        self,
        *,
        roster: str,
        applicants: int,
        reports: int,
        settings: dict[str, Any],
        proposals: Iterable[MatchProposal],
        counts: Mapping[str, int] | None = None,
        at: dt.datetime | None = None,
    ) -> MatchRun:
        """Record a match run and make ``proposals`` the current ones, in ONE transaction
        (the previous run's proposals are deleted; the run ledger keeps every run).

        ``roster`` is kept as its file name only. The run's counts are ``match`` and
        ``review`` counted from the proposals, plus any ``counts`` the matcher adds (e.g.
        confirmed pairs it respected). Proposals are checked first and :class:`ValueError`
        (a bug in the caller) leaves everything as it was: a decision other than
        ``match`` or ``review``, a pair proposed twice, or a sitting at ``match`` for two
        applicants (ties belong in ``review``). Bulk-inserted (COPY on PostgreSQL).
        """
        rows: list[tuple[Any, ...]] = []
        tally: Counter[str] = Counter()
        pairs: set[tuple[str, dt.date, str]] = set()
        matched: dict[Sitting, str] = {}
        text = self._text_values
        for p in proposals:
            if p.decision not in PROPOSALS:
                raise ValueError(f"a match proposal's decision is match or review, not "
                                 f"{p.decision!r} ({_pair(p)})")  # fmt: skip
            pair = (p.registration_number, p.test_date, p.applicant_id)
            if pair in pairs:
                raise ValueError(f"{_pair(p)} is proposed twice in one match run")
            pairs.add(pair)
            if p.decision == "match":
                other = matched.setdefault((p.registration_number, p.test_date), p.applicant_id)
                if other != p.applicant_id:
                    raise ValueError(
                        f"registration number {p.registration_number}, test date "
                        f"{p.test_date.isoformat()} is proposed at match for two applicants "
                        f"({other} and {p.applicant_id}); a tie belongs in review"
                    )
            tally[p.decision] += 1
            rows.append((p.registration_number, p.test_date.isoformat() if text else p.test_date,
                         p.applicant_id, float(p.score), p.decision, "; ".join(p.reasons)))
        totals = {**(counts or {}), "match": tally["match"], "review": tally["review"]}
        at = s.to_utc(at or dt.datetime.now(dt.UTC))
        name = re.split(r"[\\/]", roster)[-1] or roster
        with self._guard("recording a match run"), self._write() as conn:
            self._match_lock(conn)
            run_id = _new_id(conn.execute(s.match_runs.insert().values(
                at=at, roster=name, applicants=applicants, reports=reports,
                counts=_encode(totals).decode(), settings=_encode(settings).decode(),
            )))  # fmt: skip
            conn.execute(sa.delete(s.match_proposals))
            if rows:
                self._insert_proposals(conn, run_id, rows)
        return MatchRun(id=run_id, at=at, roster=name, applicants=applicants, reports=reports,
                        counts=totals, settings=settings)  # fmt: skip

    def _insert_proposals(self, conn: sa.Connection, run_id: int,
                          rows: list[tuple[Any, ...]]) -> None:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.backend == "postgresql":
                with cur.copy(_COPY_PROPOSALS) as copy:
                    for row in rows:
                        copy.write_row((run_id, *row))
            else:
                cur.executemany(_INSERT_PROPOSALS, [(run_id, *row) for row in rows])
        finally:
            cur.close()

    def latest_match_run(self) -> MatchRun | None:
        """The latest match run, or None when there has been none."""
        r = s.match_runs
        with self._guard("reading the match runs"), self._read() as conn:
            row = conn.execute(sa.select(r).order_by(r.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        m = row._mapping
        return MatchRun(id=m["id"], at=m["at"], roster=m["roster"], applicants=m["applicants"],
                        reports=m["reports"], counts=msgspec.json.decode(m["counts"]),
                        settings=msgspec.json.decode(m["settings"]))  # fmt: skip

    def match_proposals(
        self, *, registration_number: str | None = None, applicant_id: str | None = None
    ) -> list[MatchProposal]:
        """The latest run's proposals (of one registration number and/or one applicant), by
        sitting, best score first."""
        p = s.match_proposals
        query = (
            sa.select(p.c.applicant_id, p.c.registration_number, p.c.test_date, p.c.score,
                      p.c.decision, p.c.reasons)
            .where(*_filters(p, registration_number, applicant_id))
            .order_by(p.c.registration_number, p.c.test_date, p.c.score.desc(),
                      p.c.applicant_id)
        )  # fmt: skip
        with self._guard("reading match proposals"), self._read() as conn:
            return [
                MatchProposal(applicant_id=a, registration_number=r, test_date=t, score=sc,
                              decision=dec, reasons=tuple(why.split("; ")) if why else ())
                for a, r, t, sc, dec, why in conn.execute(query)
            ]  # fmt: skip

    # -- the hand-off ---------------------------------------------------------------------

    def applicant_ids(self, registration_number: str | None = None) -> dict[Sitting, str]:
        """The applicant of each sitting (of one registration number, or all), as
        ``export --applicant-id`` writes it: the applicant confirmed for it, else the
        latest run's ``match`` proposal unless that pair's current decision is
        ``rejected``. Sittings with neither are absent. Never a guess between two: a sitting
        confirmed for two applicants (only possible by editing the database by hand), or
        at ``match`` for two, gets none, and a confirmation is never overridden by a
        proposal."""
        d, p = s.match_decisions, s.match_proposals
        where = _filters(d, registration_number, None)
        latest = (sa.select(sa.func.max(d.c.id)).where(*where)
                  .group_by(d.c.applicant_id, d.c.registration_number, d.c.test_date))
        decisions = (sa.select(d.c.registration_number, d.c.test_date, d.c.applicant_id,
                               d.c.decision).where(d.c.id.in_(latest)))  # fmt: skip
        matches = sa.select(p.c.registration_number, p.c.test_date, p.c.applicant_id).where(
            p.c.decision == "match", *_filters(p, registration_number, None))
        confirmed: dict[Sitting, set[str]] = {}
        rejected: set[tuple[str, dt.date, str]] = set()
        proposed: dict[Sitting, set[str]] = {}
        with self._guard("reading the applicants of the reports"), self._read() as conn:
            for reg, date, applicant, decision in conn.execute(decisions):
                if decision == "confirmed":
                    confirmed.setdefault((reg, date), set()).add(applicant)
                else:
                    rejected.add((reg, date, applicant))
            for reg, date, applicant in conn.execute(matches):
                if (reg, date, applicant) not in rejected:
                    proposed.setdefault((reg, date), set()).add(applicant)
        out = {k: next(iter(v)) for k, v in confirmed.items() if len(v) == 1}
        out.update((k, next(iter(v))) for k, v in proposed.items()
                   if len(v) == 1 and k not in confirmed)
        return out

    def match_changes_since(self, at: dt.datetime) -> tuple[int, int]:
        """``(decisions, runs)`` recorded at or after ``at``: whether the applicants of
        reports may have changed since then (``export --since-last`` says so)."""
        d, r = s.match_decisions, s.match_runs
        at = s.to_utc(at)
        with self._guard("reading the match ledger"), self._read() as conn:
            decided = conn.execute(
                sa.select(sa.func.count()).where(d.c.decided_at >= at)).scalar_one()
            runs = conn.execute(sa.select(sa.func.count()).where(r.c.at >= at)).scalar_one()
        return int(decided), int(runs)


# -- helpers ------------------------------------------------------------------------------


def _array(values: Sequence[Any], kind: Any) -> Any:
    """An Arrow array of one column's values (dates from ISO text or date objects)."""
    import pyarrow as pa

    if kind != pa.date32() or not any(isinstance(v, str) for v in values):
        return pa.array(values, type=kind)
    try:
        return pa.array(values, type=pa.string()).cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a value not written by us
        return pa.array([_date(v) for v in values], type=kind)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) or value is None:
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _filters(table: sa.Table, registration_number: str | None,
             applicant_id: str | None) -> list[sa.ColumnElement[bool]]:
    out = []
    if registration_number is not None:
        out.append(table.c.registration_number == registration_number)
    if applicant_id is not None:
        out.append(table.c.applicant_id == applicant_id)
    return out


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _stored_sittings(conn: sa.Connection, sittings: set[Sitting]) -> set[Sitting]:
    """Those of ``sittings`` that have at least one stored report (cancelled or not)."""
    t = s.score_reports
    found: set[Sitting] = set()
    for part in _chunks(sorted({reg for reg, _ in sittings})):
        query = (sa.select(t.c.registration_number, t.c.test_date)
                 .where(t.c.registration_number.in_(part)).distinct())
        found.update((reg, date) for reg, date in conn.execute(query))
    return found & sittings


def _current_on(conn: sa.Connection, sittings: set[Sitting]) -> dict[Sitting, dict[str,
                                                                              MatchDecision]]:
    """The current decision of every pair on ``sittings``, by sitting and applicant."""
    d = s.match_decisions
    out: dict[Sitting, dict[str, MatchDecision]] = {}
    for part in _chunks(sorted({reg for reg, _ in sittings})):
        query = sa.select(d).where(d.c.registration_number.in_(part)).order_by(d.c.id)
        for row in conn.execute(query):
            x = _decision(row._mapping)
            sitting = (x.registration_number, x.test_date)
            if sitting in sittings:
                out.setdefault(sitting, {})[x.applicant_id] = x  # later rows win
    return out


def _decision(m: Any) -> MatchDecision:
    return MatchDecision(
        applicant_id=m["applicant_id"], registration_number=m["registration_number"],
        test_date=m["test_date"], decision=m["decision"], source=m["source"], note=m["note"],
        decided_at=m["decided_at"], id=m["id"],
    )


def _where(x: MatchDecision) -> str:
    """Where a decision came from, as a prefix for messages: ``FILE line N: `` for
    ``csv:FILE:N``, nothing for ``cli``."""
    if x.source == "cli":
        return ""
    if x.source.startswith("csv:"):
        name, _, line = x.source[4:].rpartition(":")
        if name and line.isdigit():
            return f"{name} line {line}: "
    return f"{x.source}: "


def _shape_problem(x: MatchDecision) -> str | None:
    """What is wrong with a decision by itself (before the database is read), or None."""
    if x.decision not in DECISIONS:
        return (f"{_where(x)}the decision {x.decision!r} is not one of confirmed, rejected "
                f"(applicant {x.applicant_id}, registration number {x.registration_number})")
    for name in ("applicant_id", "registration_number", "source"):
        if not str(getattr(x, name)).strip():
            return f"{_where(x)}the {name} of a {x.decision} decision is empty; fill it in"
    return None


def _problems(problems: list[str], total: int) -> str:
    if len(problems) == 1 and total == 1:
        return f"{problems[0]}. Nothing was recorded."
    shown = problems[:_SHOWN]
    if len(problems) > _SHOWN:
        shown.append(f"... and {len(problems) - _SHOWN} more")
    return (f"{len(problems)} of {total} decisions cannot be recorded, so none was (fix or "
            "remove them and run again):\n  " + "\n  ".join(shown))


def _pair(p: MatchProposal) -> str:
    return (f"applicant {p.applicant_id}, registration number {p.registration_number}, "
            f"test date {p.test_date.isoformat()}")
