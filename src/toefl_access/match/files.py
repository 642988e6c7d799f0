"""The files of a match: ``matches.csv`` for the hand-off, ``review.csv`` for a person, and
a decisions file read back.

``matches.csv`` has one row per report of every pair at ``match``, ``review`` or
``confirmed``: ``applicant_id, registration_number, test_date, institution_code,
department_code, score, decision, reasons`` (reasons joined by ``"; "``).

``review.csv`` has one row per pair to review, the candidates of one sitting together and
the best first: the pair, its score and reasons, then each value the roster gave next to
the report's (``roster_last_name, report_last_name, ...``), and two empty columns,
``decision`` and ``note``. Fill in ``decision`` (``confirm`` or ``reject``; blank: not yet)
and read it back with ``toefl-access match import review.csv``.

Both are written for Excel by default (UTF-8 with a byte order mark; numbers, dates and
text that would start a formula written as ``="..."``, as ``export`` does); ``excel=False``
writes plain CSV for loaders. Reading a decisions file undoes that protection.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, printable
from ..handoff.export import excel_text
from .engine import REVIEW_FIELDS, Outcome
from .roster import decode, parse_date, sniff_delimiter

MATCH_COLUMNS = ("applicant_id", "registration_number", "test_date", "institution_code",
                 "department_code", "score", "decision", "reasons")
_ROSTER_SIDE = {"first_name": "first_names", "middle_name": "middle_names",
                "last_name": "last_names", "date_of_birth": "dates_of_birth",
                "email": "emails", "country_code": "countries"}
REVIEW_COLUMNS = (
    "applicant_id", "registration_number", "test_date", "score", "candidates", "reasons",
    *(f"{side}_{name if name != 'country_code' else 'country'}"
      for name in REVIEW_FIELDS for side in ("roster", "report")),
    "roster_registration_number", "decision", "note",
)
DECISIONS = {"confirm": "confirmed", "confirmed": "confirmed", "reject": "rejected",
             "rejected": "rejected"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def match_rows(outcome: Outcome) -> Iterator[list[Any]]:
    """The rows of ``matches.csv`` (without its header)."""
    ids, keys, reports = (outcome.roster.applicant_ids, outcome.sittings.keys,
                          outcome.sittings.reports)
    for p in outcome.pairs:
        reg, date = keys[p.sitting]
        for institution, department in reports[p.sitting]:
            yield [ids[p.applicant], reg, date.isoformat(), institution, department, p.score,
                   p.decision, "; ".join(p.reasons)]


def review_rows(outcome: Outcome) -> Iterator[list[Any]]:
    """The rows of ``review.csv`` (without its header)."""
    r, sittings = outcome.roster, outcome.sittings
    review = [p for p in outcome.pairs if p.decision == "review"]
    per_sitting = Counter(p.sitting for p in review)
    for p in review:
        reg, date = sittings.keys[p.sitting]
        values = sittings.values(p.sitting)
        row: list[Any] = [r.applicant_ids[p.applicant], reg, date.isoformat(), p.score,
                          per_sitting[p.sitting], "; ".join(p.reasons)]
        for name in REVIEW_FIELDS:
            row += [_text(getattr(r, _ROSTER_SIDE[name])[p.applicant]), _text(values[name])]
        row += [r.registration_numbers[p.applicant], "", ""]
        yield row


def write_csv(out: IO[bytes], header: tuple[str, ...], rows: Iterator[list[Any]], *,
              excel: bool = True) -> int:
    """Write a header and rows as CSV (see the module's notes on ``excel``); returns rows."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig" if excel else "utf-8", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([excel_text(v) if isinstance(v, str) else v for v in row]
                        if excel else row)
        count += 1
    text.flush()
    text.detach()
    return count


# -- decisions read back ------------------------------------------------------------------


def _unexcel(value: str) -> str:
    value = value.strip()
    if value.startswith('="') and value.endswith('"'):
        return value[2:-1].replace('""', '"')
    return value


def read_decisions(
    path: str | Path, *, day_first: bool = False
) -> list[tuple[str, str, dt.date, str, str, int]]:
    """``(applicant_id, registration_number, test_date, decision, note, line)`` of every
    line of a decisions file whose ``decision`` is filled in (``confirm`` or ``reject``;
    ``confirmed``/``rejected`` too). Needs the columns ``applicant_id``,
    ``registration_number``, ``test_date`` and ``decision`` (``note`` is optional): a
    filled-in ``review.csv`` has them. A bad line is an error naming file, line and column.
    """
    path = Path(path)
    source = path.name
    need = ("applicant_id", "registration_number", "test_date", "decision")
    text = decode(path)
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter=sniff_delimiter(text, (*need, "note")))
    header = [h.strip().lstrip("\ufeff").lower() for h in next(reader, [])]
    missing = [n for n in need if n not in header]
    if missing:
        raise InputError(f"no column {', '.join(missing)} in the header; a decisions file "
                         f"has {', '.join(need)} (and note)", source=source, line=1)
    at = {n: header.index(n) for n in (*need, "note") if n in header}
    out = []
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1

            def cell(name: str, row: list[str] = row) -> str:
                i = at.get(name)
                return _unexcel(row[i]) if i is not None and i < len(row) else ""

            def bad(name: str, message: str, line: int = line) -> InputError:
                return InputError(f"column {name!r}: {message}", source=source, line=line)

            said = cell("decision").lower()
            if not said:
                continue
            if said not in DECISIONS:
                raise bad("decision", f"{printable(said)!r} is not a decision; write confirm "
                          "or reject (or leave it blank)")
            applicant, reg = cell("applicant_id"), cell("registration_number").upper()
            if not applicant:
                raise bad("applicant_id", "no applicant ID")
            if not reg:
                raise bad("registration_number", "no registration number")
            try:
                date = parse_date(cell("test_date"), day_first=day_first, what="test date")
            except ValueError as exc:
                raise bad("test_date", str(exc)) from None
            out.append((applicant, reg, date, DECISIONS[said], cell("note"), line))
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", source=source, line=reader.line_num) from None
    return out
