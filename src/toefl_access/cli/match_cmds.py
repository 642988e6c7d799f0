"""The ``match`` commands: a roster against the stored reports, and people's decisions."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError, printable
from .base import main, output_stream
from .configured import existing_db, load_settings, settings_options

if TYPE_CHECKING:
    from ..store import MatchDecision, Store


@main.group("match", invoke_without_command=True)
@click.option("--roster", type=click.Path(dir_okay=False), metavar="APPLICANTS.csv",
              help="The applicants: a CSV with applicant_id, first_name, last_name, "
              "date_of_birth and optionally middle_name, email, registration_number, country, "
              "id_number.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write matches.csv here (atomically) instead of standard output.")
@click.option("--review", "review", type=click.Path(dir_okay=False),
              help="Also write the pairs to review, roster values next to report values, "
              "with a decision column to fill in for `match import`.")
@click.option("--columns", metavar="COLUMN=HEADING,...",
              help="Roster headings that differ from the column names, e.g. "
              "applicant_id=ID,first_name=Given,last_name=Family,date_of_birth=DOB.")
@click.option("--day-first", is_flag=True,
              help="Read slashed dates as DD/MM/YYYY (default MM/DD/YYYY); YYYY-MM-DD is "
              "always read.")
@click.option("--match-at", type=click.IntRange(0, 300), default=80, show_default=True,
              help="The score a pair needs to be a match.")
@click.option("--review-at", type=click.IntRange(0, 300), default=45, show_default=True,
              help="The score a pair needs to be offered for review.")
@click.option("--plain", is_flag=True,
              help="CSV for loaders rather than Excel: no BOM, values without the "
              "=\"0123\" protection.")
@click.option("--replace", is_flag=True,
              help="Run even when the previous run matched applicants who are not in this "
              "roster (their proposals are replaced; confirmed pairs always stay).")
@settings_options
@click.pass_context
def match_group(
    ctx: click.Context, roster: str | None, out: str | None, review: str | None,
    columns: str | None, day_first: bool, match_at: int, review_at: int, plain: bool,
    replace: bool, config_path: str | None, db_url: str | None,
) -> None:
    """Match a roster of applicants to the stored score reports.

    Deterministic keys first (a registration number, an ID number, or the exact names,
    each with the date of birth), then a score with its reasons for the rest. A pair
    scoring MATCH_AT or more is a match, REVIEW_AT or more goes to review; one applicant
    per report at most (ties go to review). People's decisions (`match confirm`, `match
    reject`, `match import`) are kept in the database and always respected. Nothing is
    written when a roster line is bad: the error names the file, line and column.

    \b
    toefl-access match --roster applicants.csv -o matches.csv --review review.csv
    toefl-access match confirm A0001234 0000000012345678 2026-03-14
    toefl-access match import review.csv
    """
    if ctx.invoked_subcommand is not None:
        if roster or out or review or columns:
            raise UsageError(f"--roster, -o, --review and --columns go with `match` alone, "
                             f"not with `match {ctx.invoked_subcommand}`")
        ctx.obj = {"config_path": config_path, "db_url": db_url}
        return
    if not roster:
        raise UsageError("name the roster: toefl-access match --roster APPLICANTS.csv "
                         "(or a subcommand: confirm, reject, import)")
    from ..match import (
        Thresholds,
        id_hasher,
        match_store,
        parse_columns,
        read_roster,
        record_run,
    )
    from ..match.engine import MOST_IN_BLOCK
    from ..match.files import MATCH_COLUMNS, REVIEW_COLUMNS, match_rows, review_rows, write_csv
    from ..store import open_store

    mapping = parse_columns(columns) if columns else None
    if review_at > match_at:
        raise UsageError(f"--review-at {review_at} is above --match-at {match_at}")
    _distinct(roster, out, review)
    settings = load_settings(config_path, db=db_url)
    started = time.perf_counter()
    with open_store(existing_db(settings.db)) as store:
        hasher, notice = id_hasher(store, key_file=settings.hash_key_file)
        people = read_roster(roster, columns=mapping, day_first=day_first, hash_id=hasher)
        if not replace:
            _keeps_attachments(store, people.applicant_ids)
        thresholds = Thresholds(match_at=match_at, review_at=review_at)
        outcome = match_store(store, people, thresholds=thresholds, record=False)
        cancelled = store.match_report_counts().cancelled
        reviewed = 0
        # the files are renamed into place only once the run is recorded: all or nothing
        with contextlib.ExitStack() as files:
            fh = files.enter_context(output_stream(out, binary=True))
            rows = write_csv(fh, MATCH_COLUMNS, match_rows(outcome), excel=not plain)
            if review:
                fh = files.enter_context(output_stream(review, binary=True))
                reviewed = write_csv(fh, REVIEW_COLUMNS, review_rows(outcome), excel=not plain)
            record_run(store, outcome, thresholds)
    sys.stdout.flush()
    n = outcome.counts

    def echo(text: str) -> None:
        click.echo(text, err=True)

    if notice and people.id_numbers_given:
        echo(f"Note: {notice}")
    if people.registration_numbers_padded:
        echo(f"Note: {_many(people.registration_numbers_padded, 'registration number')} had "
             "lost their leading zeros (a spreadsheet?) and were padded to 16 digits.")
    if cancelled:
        echo(f"Note: {_many(cancelled, 'cancelled report')} left out (a cancelled score is "
             "attached to nobody).")
    if outcome.skipped:
        echo(f"Note: {outcome.skipped:,} lookups met a block of more than "
             f"{MOST_IN_BLOCK:,} tests even when narrowed (a birthday or names shared by very "
             "many) and skipped it; those pairs were found by their other keys or not at all.")
    echo(f"{_many(len(people), 'applicant')} in {printable(people.source)}, "
         f"{outcome.reports:,} reports ({len(outcome.sittings):,} tests) in the database.")
    echo(f"{n['match']:,} match, {n['review']:,} to review, {n['confirmed']:,} confirmed "
         f"(pairs of an applicant and a test); {_many(outcome.unmatched, 'applicant')} "
         "without a candidate.")
    echo(f"{rows:,} rows written to {out if out not in (None, '-') else 'standard output'}"
         + (f"; {reviewed:,} pairs to review in {review}" if review else "")
         + f" ({time.perf_counter() - started:.1f} s).")


def _distinct(roster: str, out: str | None, review: str | None) -> None:
    """The roster and the two outputs are three different files."""
    named = {"--roster": roster, "-o": out, "--review": review}
    seen: dict[str, str] = {}
    for option, path in named.items():
        if path in (None, "-"):
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{option} and {seen[real]} name the same file {path!r}; "
                             "each needs its own")
        seen[real] = option


def _keeps_attachments(store: Store, applicants: list[str]) -> None:
    """Refuse a run that would silently drop the previous run's matches of applicants who
    are not in this roster (a run replaces the previous run's proposals)."""
    run = store.latest_match_run()
    if run is None:
        return
    here = set(applicants)
    decided = {(d.applicant_id, d.registration_number, d.test_date)
               for d in store.match_decisions()}  # confirmed stay, rejected are not theirs
    gone = {(p.applicant_id, p.registration_number, p.test_date)
            for p in store.match_proposals() if p.decision == "match"
            and p.applicant_id not in here} - decided
    if gone:
        people = len({a for a, _, _ in gone})
        raise UsageError(
            f"the latest match run ({printable(run.roster)}, {run.at:%Y-%m-%d %H:%M} UTC) "
            f"matched {_many(len(gone), 'test')} to {_many(people, 'applicant')} who "
            "are not in this roster; this run replaces its proposals, so `export "
            "--applicant-id` would lose them. Match one roster with every applicant (join "
            "the files), confirm what you keep first (`toefl-access match confirm`, or "
            "`match import` of a file with a decision column), or pass --replace"
        )


def _many(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _open(ctx: click.Context, config_path: str | None, db_url: str | None) -> Store:
    """The database of the subcommand's --config/--db, else of the group's."""
    from ..store import open_store

    obj = ctx.find_object(dict) or {}
    settings = load_settings(config_path or obj.get("config_path"),
                             db=db_url or obj.get("db_url"))
    return open_store(existing_db(settings.db))


def _decision(applicant_id: str, registration_number: str, test_date: str, decision: str,
              note: str | None) -> MatchDecision:
    from ..handoff.history import parse_registration, parse_test_date
    from ..store import MatchDecision

    applicant = applicant_id.strip()
    if not applicant:
        raise UsageError("APPLICANT_ID is empty")
    try:
        reg, date = parse_registration(registration_number), parse_test_date(test_date)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return MatchDecision(applicant, reg, date, decision, source="cli",
                         note=(note or "").strip() or None)


def _said(store: Store, decisions: list[MatchDecision]) -> None:
    appended = store.decide(decisions)
    for d in appended:
        click.echo(f"{d.decision} applicant {printable(d.applicant_id)} for registration "
                   f"{d.registration_number}, test date {d.test_date.isoformat()}")
    same = len(decisions) - len(appended)
    if same:
        click.echo(f"{same} decision(s) already recorded; nothing changed for them.")
    _unproposed(store, appended)


def _unproposed(store: Store, decided: list[MatchDecision]) -> None:
    """A note for confirmations of pairs the latest run did not propose (a mistyped
    applicant ID is accepted: the database does not keep the roster)."""
    confirmed = [d for d in decided if d.decision == "confirmed"]
    if not confirmed or store.latest_match_run() is None:
        return
    fresh = {d.id for d in decided}
    proposed = {(p.applicant_id, p.registration_number, p.test_date)
                for p in store.match_proposals()} | {
                (d.applicant_id, d.registration_number, d.test_date)
                for d in store.match_decisions(current=False) if d.id not in fresh}
    odd = [d for d in confirmed
           if (d.applicant_id, d.registration_number, d.test_date) not in proposed]
    for d in odd[:10]:
        click.echo(f"Note: the latest match run did not propose applicant "
                   f"{printable(d.applicant_id)} for {d.registration_number} on "
                   f"{d.test_date.isoformat()}; check the applicant ID (`toefl-access match "
                   "reject` undoes a confirmation).", err=True)
    if len(odd) > 10:
        click.echo(f"Note: and {len(odd) - 10} more confirmations the latest run did not "
                   "propose.", err=True)


def _pair_command(name: str, decision: str, doc: str) -> None:
    """``match confirm`` and ``match reject``: one decision on one pair."""

    def command(ctx: click.Context, applicant_id: str, registration_number: str,
                test_date: str, note: str | None, config_path: str | None,
                db_url: str | None) -> None:
        said = _decision(applicant_id, registration_number, test_date, decision, note)
        with _open(ctx, config_path, db_url) as store:
            _said(store, [said])

    command.__doc__ = doc
    decorated: Any = command
    for decorate in (click.pass_context, settings_options,
                     click.option("--note", help="Why (kept with the decision)."),
                     click.argument("test_date"), click.argument("registration_number"),
                     click.argument("applicant_id")):
        decorated = decorate(decorated)
    match_group.command(name)(decorated)


_pair_command("confirm", "confirmed", """Confirm that APPLICANT_ID took the test
    REGISTRATION_NUMBER on TEST_DATE.

    The test's reports (every institution and department copy) are that applicant's from
    now on: later runs list the pair as `confirmed`, offer the test to nobody else, `show`
    prints it and `export --applicant-id` fills it in. A test confirmed for another
    applicant is an error: reject that one first.
    """)
_pair_command("reject", "rejected", """Reject the pair APPLICANT_ID and test
    REGISTRATION_NUMBER on TEST_DATE.

    Later runs never propose this pair again (other applicants may still match the
    test). Rejecting a confirmed pair withdraws the confirmation; the history keeps both.
    """)


@match_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--day-first", is_flag=True, help="Read slashed test dates as DD/MM/YYYY.")
@settings_options
@click.pass_context
def import_cmd(ctx: click.Context, file: str, day_first: bool, config_path: str | None,
               db_url: str | None) -> None:
    """Record the decisions of a CSV file (a filled-in review.csv, for instance).

    Columns applicant_id, registration_number, test_date, decision (confirm or reject;
    blank lines are skipped) and optionally note. The file is checked whole first: a bad
    line, or one naming no stored report, is an error with its line and nothing is
    recorded. Importing the same file again changes nothing.
    """
    from ..match.files import read_decisions
    from ..store import MatchDecision

    name = os.path.basename(file)
    decisions = [
        MatchDecision(applicant, reg, date, decision, source=f"csv:{name}:{line}",
                      note=note or None)
        for applicant, reg, date, decision, note, line in read_decisions(file,
                                                                          day_first=day_first)
    ]
    with _open(ctx, config_path, db_url) as store:
        appended = store.decide(decisions)
        _unproposed(store, appended)
    counts = {"confirmed": 0, "rejected": 0}
    for d in appended:
        counts[d.decision] += 1
    click.echo(f"{counts['confirmed']} confirmed, {counts['rejected']} rejected from "
               f"{printable(name)}; {len(decisions) - len(appended)} already recorded.")
