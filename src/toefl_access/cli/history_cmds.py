"""Commands on people and history: ``show``, ``cancel add``, ``cancel import``, ``replay``,
and ``config`` (the effective settings)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import UsageError, printable
from .base import main
from .configured import existing_db, load_settings, settings_options

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only for the commands that use it
    from ..handoff.history import Change
    from ..store import MatchDecision, MatchProposal, MatchRun
    from ..store.history import CancelOutcome, CancelRequest, ReportHistory

#: The fields ``show`` lists without ``--all`` (when they hold a value), besides every field
#: that changed between revisions.
SUMMARY = (
    "institution_code", "department_code", "last_name", "first_name", "middle_name",
    "date_of_birth", "test_date", "test_type", "security_id_number",
    "listening", "reading", "speaking", "writing", "total", "rpdt_listening", "rpdt_reading",
    "rpdt_writing", "mybest_total", "ibt26_listening", "ibt26_reading", "ibt26_speaking",
    "ibt26_writing", "ibt26_total", "ibt26_total_cefr", "ibt26_comparable_total",
    "mybest26_total",
)  # fmt: skip


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _shown(name: str, value: Any) -> str:
    """A value as ``show`` prints it: a hashed ID number shortened (it is 64 hex digits)."""
    text = _text(value)
    if name == "security_id_number" and len(text) == 64:
        return f"hash {text[:12]}…"
    return text


def _when(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else ""


def _window(rev: dict[str, Any]) -> str:
    start, end = rev["window_start"], rev["window_end"]
    return f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}"


def _describe(report: dict[str, Any]) -> str:
    inst, dept = report["institution_code"] or "-", report["department_code"] or "-"
    return f"test date {_text(report['test_date'])}, institution {inst}, department {dept}"


# -- show ---------------------------------------------------------------------------------


@main.command("show")
@click.argument("registration_number")
@click.option("--all", "all_fields", is_flag=True,
              help="Every field that holds a value, not only names, dates, scores and the "
              "fields that changed.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="A table for people, or JSON for programs.")  # fmt: skip
@settings_options
def show_cmd(
    registration_number: str, all_fields: bool, fmt: str, config_path: str | None,
    db_url: str | None,
) -> None:
    """Show a test taker's reports, each one's revisions side by side, and what changed.

    For each report (one per test date, institution and department): every revision in the
    order the vendor reported them (window, then line; the last is the current one), with
    when it arrived (received_at, the sync or replay run) and a note when it arrived after a
    newer one (a backfill), the fields that changed from the revision before (field: old ->
    new), and whether the report is cancelled, with the reason. Reports of other
    registration numbers that carry the same hashed ID number are listed at the end, then
    the applicant the test is attached to, if any (see `toefl-access match`): people's
    current decisions and the latest match run's proposals.
    """
    from ..handoff.history import arrived_after, history_changes, parse_registration, same_person
    from ..store import open_store

    try:
        reg = parse_registration(registration_number)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    conf = load_settings(config_path, db=db_url)
    with open_store(existing_db(conf.db)) as store:
        reports = store.person(reg)
        if not reports:
            raise UsageError(
                f"no report with registration number {reg} in {store.url}; check the number "
                "(16 digits for iBT, 7 characters for the paper edition) and --db"
            )
        runs = store.run_params(sorted({r["run_id"] for h in reports for r in h.revisions}))
        others = same_person(store, reports, reg)
        matches = _matches(store, reg)
    kinds = {i: "replay" if p.get("replay") else "sync" for i, p in runs.items()}
    diffs = [history_changes(h) for h in reports]
    lates = [arrived_after(h) for h in reports]
    if fmt == "json":
        _show_json(reg, reports, diffs, lates, kinds, others, matches)
        return
    console = Console(highlight=False)
    current = reports[-1].revisions[-1]["fields"] if reports[-1].revisions else {}
    name = ", ".join(n for n in (current.get("last_name"), current.get("first_name")) if n)
    console.print(
        f"[bold]Registration number {escape(reg)}[/bold]: {len(reports)} report"
        f"{'s' if len(reports) != 1 else ''}" + (f" ({escape(name)})" if name else "")
    )
    for history, changed, late in zip(reports, diffs, lates, strict=True):
        _show_report(console, history, changed, late, kinds, all_fields)
    if others:
        console.print()
        console.print("The same ID number (by its keyed hash) is also on:")
        for other, test_date, _key in others:
            console.print(f"  registration number {escape(other)}, test date {_text(test_date)}")
    if matches.decisions or matches.proposals:
        _show_matches(console, matches)


class _Matches(NamedTuple):
    """What is known of the applicant of a registration number's tests."""

    attached: dict[dt.date, str]
    decisions: list[MatchDecision]
    run: MatchRun | None
    proposals: list[MatchProposal]


def _matches(store: Any, reg: str) -> _Matches:
    decisions = store.match_decisions(registration_number=reg)
    proposals = store.match_proposals(registration_number=reg)
    if not (decisions or proposals):
        return _Matches({}, [], None, [])
    attached = {date: a for (_, date), a in store.applicant_ids(reg).items()}
    return _Matches(attached, decisions, store.latest_match_run() if proposals else None,
                    proposals)  # fmt: skip


def _safe(text: str) -> str:
    """Text from a roster or a decisions file, safe for the terminal and for rich."""
    return escape(printable(text))


def _show_matches(console: Console, m: _Matches) -> None:
    """The applicant section: what export --applicant-id writes for each test date, the
    current decisions, and the latest match run's proposals."""
    console.print()
    console.print("[bold]Applicant[/bold]")
    dates = sorted({d.test_date for d in m.decisions} | {p.test_date for p in m.proposals})
    for date in dates:
        who = m.attached.get(date)
        console.print(f"  test date {date.isoformat()}: " + (
            f"applicant {_safe(who)} (export --applicant-id writes it)" if who
            else "no applicant attached"))  # fmt: skip
    for d in m.decisions:
        note = f": {_safe(d.note)}" if d.note else ""
        console.print(f"  {d.decision} {_safe(d.applicant_id)} for test date "
                      f"{d.test_date.isoformat()}, {_when(d.decided_at)} "
                      f"({_safe(d.source)}){note}")  # fmt: skip
    if m.proposals:
        run = (f"match run {m.run.id} ({_when(m.run.at)}, roster {_safe(m.run.roster)})"
               if m.run else "the latest match run")  # fmt: skip
        console.print(f"  proposed by {run}:")
        for p in m.proposals:
            why = f": {_safe('; '.join(p.reasons))}" if p.reasons else ""
            console.print(f"    {p.decision} {_safe(p.applicant_id)} for test date "
                          f"{p.test_date.isoformat()}, score {round(p.score, 3):g}{why}")


def _late(after: int | None) -> str:
    return f"arrived later, by backfill (after revision {after})" if after else ""


def _show_report(
    console: Console, history: ReportHistory, changed: list[list[Change]],
    late: list[int | None], kinds: dict[int, str], all_fields: bool,
) -> None:
    report, revs = history.report, history.revisions
    console.print()
    status = ""
    if report.get("cancelled_at"):
        why = f": {report['cancel_reason']}" if report.get("cancel_reason") else ""
        status = f" [bold red]CANCELLED {_when(report['cancelled_at'])}{escape(why)}[/bold red]"
    console.print(
        f"[bold]Report[/bold] {escape(_describe(report))} · {len(revs)} revision"
        f"{'s' if len(revs) != 1 else ''}{status}"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("field")
    for rev in revs:
        label = f"revision {rev['revision']}"
        table.add_column(label + (" (current)" if rev is revs[-1] else ""))
    table.add_row("received", *(_when(r["received_at"]) for r in revs))
    table.add_row("run", *(f"{r['run_id']} ({kinds.get(r['run_id'], '?')})" for r in revs))
    table.add_row("window (UTC)", *(_window(r) for r in revs))
    table.add_row("line", *(str(r["line"]) if r["line"] is not None else "" for r in revs))
    if any(late):
        table.add_row("note", *(_late(after) for after in late))
    table.add_row("layout", *(f"{r['layout']} ({r['format']})" for r in revs))
    table.add_row("warnings", *(str(len(r["warnings"])) if r["warnings"] else "" for r in revs))
    moved = {c.field for changes in changed for c in changes}
    values = [{**r.get("extra", {}), **r["fields"]} for r in revs]
    names = list(dict.fromkeys(n for v in values for n in v))
    for n in names:
        if not (all_fields or n in moved or n in SUMMARY):
            continue
        cells = []
        for i, v in enumerate(values):
            text = escape(_shown(n, v.get(n)))
            differs = i > 0 and values[i - 1].get(n) != v.get(n)
            cells.append(f"[bold yellow]{text}[/bold yellow]" if differs else text)
        table.add_row(n, *cells)
    console.print(table)
    for rev, changes, after in zip(revs[1:], changed[1:], late[1:], strict=True):
        what = ", ".join(_change(c) for c in changes) or "no field changed"
        note = f", {_late(after)}" if after else ""
        console.print(
            f"  revision {rev['revision']} (received {_when(rev['received_at'])}, run "
            f"{rev['run_id']} {kinds.get(rev['run_id'], '')}, window {_window(rev)}{note}): "
            f"{escape(what)}"
        )
    if late[0]:
        console.print(f"  revision 1: {_late(late[0])}")
    for rev in revs:
        for w in rev["warnings"]:
            console.print(f"  revision {rev['revision']} warning: {escape(_warning(w))}")
    for c in history.cancellations:
        why = f": {c['reason']}" if c["reason"] else ""
        when, source = _when(c["cancelled_at"]), escape(c["source"])
        done = "reinstated" if c.get("action") == "reinstate" else "cancelled"
        console.print(f"  {done} {when} ({source}){escape(why)}")


def _change(c: Change) -> str:
    """``field old -> new`` (blank values written as such)."""
    old, new = _shown(c.field, c.old) or "(blank)", _shown(c.field, c.new) or "(blank)"
    return f"{c.field} {old} -> {new}"


def _warning(w: Any) -> str:
    if isinstance(w, dict):
        return f"{w.get('field', '')}: {w.get('message', '')}"
    return str(w)


def _show_json(
    reg: str, reports: list[ReportHistory], diffs: list[list[list[Change]]],
    lates: list[list[int | None]], kinds: dict[int, str],
    others: list[tuple[str, dt.date | None, str]], matches: _Matches,
) -> None:
    import msgspec

    out: dict[str, Any] = {"registration_number": reg, "reports": []}
    for history, changed, late in zip(reports, diffs, lates, strict=True):
        r = history.report
        revisions = []
        for rev, changes, after in zip(history.revisions, changed, late, strict=True):
            revisions.append({
                "revision": rev["revision"], "received_at": rev["received_at"],
                "run_id": rev["run_id"], "run": kinds.get(rev["run_id"]),
                "window_start": rev["window_start"], "window_end": rev["window_end"],
                "line": rev["line"], "arrived_after_revision": after,
                "layout": rev["layout"], "format": rev["format"], "fields": rev["fields"],
                "extra": rev["extra"], "warnings": rev["warnings"],
                "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes],
            })  # fmt: skip
        out["reports"].append({
            "report_key": r["report_key"], "test_date": r["test_date"],
            "institution_code": r["institution_code"], "department_code": r["department_code"],
            "cancelled_at": r["cancelled_at"], "cancel_reason": r["cancel_reason"],
            "revisions": revisions,
            "cancellations": [{k: v for k, v in c.items() if k != "id"}
                              for c in history.cancellations],
        })  # fmt: skip
    out["same_id_number"] = [
        {"registration_number": o, "test_date": d, "report_key": k} for o, d, k in others
    ]
    out["matches"] = {
        "applicants": [{"test_date": d, "applicant_id": a}
                       for d, a in sorted(matches.attached.items())],
        "decisions": matches.decisions, "run": matches.run, "proposals": matches.proposals,
    }  # fmt: skip
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(out)) + b"\n")
    sys.stdout.flush()


# -- cancel -------------------------------------------------------------------------------


@main.group("cancel")
def cancel_group() -> None:
    """Mark reports cancelled (never deleted), or withdraw a cancellation.

    TOEFL announces cancellations by e-mail and in the TOEFL Access web UI, not through the
    feed: record them here. A later feed record for a cancelled report keeps it cancelled
    and carries a warning. Cancellations and their withdrawals (`cancel remove`) appear in
    `export --since-last` deltas.
    """


def _request(registration_number: str, test_date: str, reason: str | None) -> CancelRequest:
    """The arguments of ``cancel add`` and ``cancel remove``, checked."""
    from ..handoff.history import parse_registration, parse_test_date
    from ..store.history import CancelRequest

    try:
        return CancelRequest(
            parse_registration(registration_number), parse_test_date(test_date),
            (reason or "").strip() or None,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@cancel_group.command("add")
@click.argument("registration_number")
@click.argument("test_date")
@click.option("--reason", help="Why (e.g. the vendor's notice); kept with the cancellation.")
@settings_options
def cancel_add_cmd(
    registration_number: str, test_date: str, reason: str | None, config_path: str | None,
    db_url: str | None,
) -> None:
    """Cancel every report of REGISTRATION_NUMBER on TEST_DATE (YYYY-MM-DD).

    All institution and department copies of that test are marked. Running it again
    changes nothing. A registration number and date with no stored report is an error
    (exit 1) and nothing is written.
    """
    from ..store import open_store

    request = _request(registration_number, test_date, reason)
    with open_store(existing_db(load_settings(config_path, db=db_url).db)) as store:
        outcomes = store.cancel([request], source="cancel add")
    _print_outcomes(outcomes, verbose=True)


@cancel_group.command("remove")
@click.argument("registration_number")
@click.argument("test_date")
@click.option("--reason", help="Why the cancellation is withdrawn; kept in the ledger.")
@settings_options
def cancel_remove_cmd(
    registration_number: str, test_date: str, reason: str | None, config_path: str | None,
    db_url: str | None,
) -> None:
    """Withdraw the cancellation of REGISTRATION_NUMBER on TEST_DATE (un-cancel).

    The reports are current again; the ledger keeps the cancellation and its withdrawal
    (`show` prints both), and the next `export --since-last` delta lists them as
    `reinstated`. A report that is not cancelled is left alone; a registration number and
    date with no stored report is an error (exit 1) and nothing is written.
    """
    from ..store import open_store

    request = _request(registration_number, test_date, reason)
    with open_store(existing_db(load_settings(config_path, db=db_url).db)) as store:
        (outcome,) = store.reinstate([request], source="cancel remove")
    what = f"{request.registration_number}, test date {request.test_date.isoformat()}"
    for c in outcome.reinstated:
        click.echo(f"reinstated {what}, institution {c.institution_code or '-'} department "
                   f"{c.department_code or '-'} (cancelled {c.cancelled_at:%Y-%m-%d})")  # fmt: skip
    click.echo(f"{len(outcome.reinstated)} report(s) reinstated now, "
               f"{len(outcome.not_cancelled)} not cancelled.")  # fmt: skip


@cancel_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@settings_options
def cancel_import_cmd(file: str, config_path: str | None, db_url: str | None) -> None:
    """Cancel the reports listed in a CSV file: registration_number,test_date[,reason].

    A heading row is optional; dates are YYYY-MM-DD. The file is checked whole first: any
    line that cannot be read, or that names no stored report, is reported with its line
    number and nothing is cancelled. Importing the same file again changes nothing.
    """
    from ..handoff.history import read_cancellations
    from ..store import open_store

    requests = read_cancellations(file)
    with open_store(existing_db(load_settings(config_path, db=db_url).db)) as store:
        outcomes = store.cancel(requests, source=f"cancel import {os.path.basename(file)}")
    _print_outcomes(outcomes, verbose=len(outcomes) <= 20)


def _print_outcomes(outcomes: list[CancelOutcome], *, verbose: bool) -> None:
    new = sum(len(o.cancelled) for o in outcomes)
    old = sum(len(o.already) for o in outcomes)
    if verbose:
        for o in outcomes:
            req = o.request
            what = f"{req.registration_number}, test date {req.test_date.isoformat()}"
            where = f"{req.where}: " if req.where else ""
            for c in o.cancelled:
                click.echo(f"{where}cancelled {what}, institution {c.institution_code or '-'}"
                           f" department {c.department_code or '-'}")  # fmt: skip
            for c in o.already:
                why = f" ({c.reason})" if c.reason else ""
                click.echo(f"{where}already cancelled on {c.cancelled_at:%Y-%m-%d}{why}: {what}, "
                           f"institution {c.institution_code or '-'} department "
                           f"{c.department_code or '-'}")  # fmt: skip
    click.echo(f"{new} report(s) cancelled now, {old} already cancelled.")


# -- replay -------------------------------------------------------------------------------


@main.command("replay")
@click.option("--layout", metavar="NAME|PATH",
              help="Read the archived answers with this layout (a built-in name or a layout "
              "file); default: the layout setting, else the built-in layouts, "
              "detected.")  # fmt: skip
@click.option("--sensitive", type=click.Choice(["keep", "hash", "drop"]),
              help="Re-store ID numbers under this mode (default: the settings if they set "
              "one, else the mode the last sync used).")  # fmt: skip
@click.option("--wait", is_flag=True, help="Wait for a running sync instead of exiting.")
@settings_options
def replay_cmd(
    layout: str | None, sensitive: str | None, wait: bool, config_path: str | None,
    db_url: str | None,
) -> None:
    """Re-read every archived API answer and update reports as a sync would, offline.

    This is how a corrected layout (the 1-6 block is provisional) reaches the data already
    stored: a report whose values read differently gets a new revision (with the same
    bytes); a replay with an unchanged layout changes nothing. No API call is made.
    """
    from ..handoff.history import replay
    from ..store import open_store

    conf = load_settings(config_path, db=db_url, layout=layout, sensitive=sensitive)
    mode = None if conf.where("sensitive") == "default" else conf.sensitive
    err = Console(stderr=True)
    with open_store(existing_db(conf.db)) as store:
        if sys.stderr.isatty():
            with err.status("replaying the archive…") as status:

                def on_answer(entry: Any, records: int) -> None:
                    status.update(f"replaying the archive: answer {entry.id}")

                result = replay(store, layout=conf.layout, sensitive=mode,
                                hash_key_file=conf.hash_key_file, wait=wait,
                                on_answer=on_answer)  # fmt: skip
        else:
            result = replay(store, layout=conf.layout, sensitive=mode,
                            hash_key_file=conf.hash_key_file, wait=wait)  # fmt: skip
    c = result.counts
    used = ", ".join(f"{name} ({n} answers)" for name, n in sorted(result.layouts.items()))
    click.echo(
        f"Replay run {result.run_id}: {result.answers} archived answers re-read "
        f"({result.duplicates} identical copies skipped), {result.records} records, "
        f"read with {used or 'no layout (the archive is empty)'}."
    )
    click.echo(
        f"Reports updated: {result.reports_updated}   revisions created: {c.changed + c.new}   "
        f"new reports: {c.new}   unchanged: {c.unchanged}   with warnings: {c.warnings}   "
        f"({result.elapsed:.1f} s)"
    )
    for notice in result.notices:
        click.echo(f"Warning: {notice}", err=True)


# -- config -------------------------------------------------------------------------------


@main.command("config")
@settings_options
def config_cmd(config_path: str | None, db_url: str | None) -> None:
    """Print the effective settings and where each comes from (the key masked).

    Settings come from a TOML file (--config, TOEFL_ACCESS_CONFIG, or ./toefl-access.toml),
    overridden by environment variables, overridden by a command's flags. The API key is
    never read from the file or a flag: only from TOEFL_ACCESS_AUTHCODE or the key file.
    """
    conf = load_settings(config_path, db=db_url)
    table = Table("setting", "value", "from", title="Effective settings")
    for name, value, source in conf.shown():
        table.add_row(name, escape(value), escape(source))
    Console(highlight=False).print(table)
