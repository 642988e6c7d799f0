"""Commands that keep a database: ``sync``, ``status``, ``demo`` and ``db upgrade``."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api.dates import UTC, api_format, parse_duration, parse_instant
from ..errors import KEY_ADVICE, UsageError
from ..settings import NAME_SLOT
from ..sync.windows import Window
from .base import main
from .configured import existing_db, load_settings, settings_options

if TYPE_CHECKING:  # the store and sync (SQLAlchemy) load only for the commands that use them
    from ..settings import Settings
    from ..store import Store
    from ..sync.run import SyncResult, SyncSettings

DEFAULT_DB = "sqlite:///toefl-access.db"
DEMO_DB = "toefl-access-demo.db"

db_option = click.option(
    "--db",
    "db_url",
    envvar="TOEFL_ACCESS_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB (env TOEFL_ACCESS_DB).",
)


def _instant(what: str) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        return None if value is None else parse_instant(value, what=what)

    return convert


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[tuple[Any, Any]]:
    """``on_plan`` and ``on_window`` callbacks drawing a progress bar on stderr (or nothing)."""
    if not enabled:
        yield None, None
        return
    bar = Progress(
        TextColumn("[bold]sync"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TextColumn("{task.fields[records]} records"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("sync", total=None, records=0)
    seen = [0]

    def on_plan(windows: list[Window]) -> None:
        bar.update(task, total=len(windows))

    def on_window(w: Window, counts: Any, records: int) -> None:
        seen[0] += records
        bar.update(task, advance=1, records=seen[0])

    with bar:
        yield on_plan, on_window


def print_summary(result: SyncResult, console: Console) -> None:
    """The closing table of a run: new, changed, unchanged, warnings, failed windows."""
    if not result.windows:
        console.print(
            f"Nothing to do: the database is up to date (watermark {_when(result.watermark)})."
        )
        return
    table = Table(title=f"Sync run {result.run_id}", show_header=True)
    for column in (
        "windows",
        "new",
        "changed",
        "unchanged",
        "older",
        "warnings",
        "failed",
        "MB",
        "s",
    ):
        table.add_column(column, justify="right")
    c = result.counts
    table.add_row(
        f"{result.done}/{len(result.windows)}",
        str(c.new),
        str(c.changed),
        str(c.unchanged),
        str(c.older),
        str(c.warnings),
        str(len(result.failures)),
        f"{result.nbytes / 1e6:.1f}",
        f"{result.elapsed:.1f}",
    )
    console.print(table)
    for failure in result.failures[:10]:
        console.print(f"[red]failed[/red] {failure.window}: {failure.error}")
    if len(result.failures) > 10:
        console.print(f"... and {len(result.failures) - 10} more failed windows (see status)")
    console.print(f"Watermark: {_when(result.watermark)}")


def _when(value: dt.datetime | None) -> str:
    return api_format(value) + "Z" if value else "none yet"


@main.command("sync")
@click.option(
    "--since",
    callback=_instant("--since"),
    help="Start of the first window (required on an empty database).",
)
@click.option(
    "--until", callback=_instant("--until"), help="End of a backfill (default: now minus --lag)."
)
@click.option("--window", help="Size of each UTC window.  [default: 1d]")
@click.option(
    "--lookback", help="Overlap re-read before the watermark, for late reports.  [default: 3d]"
)
@click.option("--lag", help="Safety distance from now for the last window's end.  [default: 5m]")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Windows fetched at the same time (writes stay serialized).  [default: 4]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    help="Ask the API for fixed-length records or JSON.  [default: text]",
)
@click.option(
    "--sensitive",
    type=click.Choice(["keep", "hash", "drop"]),
    help="How ID numbers are stored: keyed hash, nothing, or in clear.  [default: hash]",
)
@click.option(
    "--layout",
    metavar="NAME|PATH",
    help="Read text records of its length with this layout (default: built-in, detected).",
)
@click.option("--wait", is_flag=True, help="Wait for another running sync instead of exiting.")
@click.option("--sandbox", is_flag=True, help="Use the vendor's test endpoint.")
@click.option("--all", "all_", is_flag=True,
              help="Sync every [[integration]] of the settings, each into its own database.")
@click.option("--integration", "only", multiple=True, metavar="NAME",
              help="Sync only this [[integration]] (again for more): --all for some.")
@click.option("--pool", type=click.IntRange(1, 256), default=16, show_default=True,
              help="With --all: requests in flight at most, across all the integrations.")
@settings_options
def sync_cmd(
    since: dt.datetime | None,
    until: dt.datetime | None,
    window: str | None,
    lookback: str | None,
    lag: str | None,
    concurrency: int | None,
    fmt: str | None,
    sensitive: str | None,
    layout: str | None,
    wait: bool,
    sandbox: bool,
    all_: bool,
    only: tuple[str, ...],
    pool: int,
    config_path: str | None,
    db_url: str | None,
) -> None:
    """Fetch every score report released since the watermark into the database.

    Run it from cron or a systemd timer. Defaults come from the settings file and the
    environment (see `toefl-access config`). Exit codes: 0 all windows done, 1 some windows
    failed (they are retried next run), 2 the API key was refused, 3 server unreachable.
    After the run, or when it fails, alerts go out through the [alerts] channels (see
    `alerts --help`); they never change the exit code.

    --all syncs every [[integration]] of the settings (--integration NAME: that one) at
    once, each with its own key and database, with at most --pool requests in flight across
    them; it prints a line per
    integration and exits with the worst code (2 before 3 before 1), naming who set it.
    """
    from ..store import open_store
    from ..sync.run import SyncSettings
    from .alert_cmds import send_alerts, send_failure_alert
    from .api_cmds import make_client

    conf = load_settings(
        config_path, db=db_url, window=window, lookback=lookback, lag=lag,
        concurrency=concurrency, format=fmt, sensitive=sensitive, layout=layout,
    )  # fmt: skip
    if only:  # some of the integrations, as --all runs them
        conf = replace(conf, integrations=tuple(conf.integration(name)
                                                for name in dict.fromkeys(only)))
        all_ = True
    if all_ and (db_url or sandbox):
        raise UsageError(
            f"--all syncs each [[integration]] into its own database with its own URL; "
            f"{'--db' if db_url else '--sandbox'} goes with a single sync"
        )
    if not all_ and NAME_SLOT in conf.db:
        raise UsageError(
            f"db {conf.db!r} (from {conf.where('db')}) is the template of the integrations' "
            "databases: sync them with --all, or name one database with --db"
        )
    alerted = False  # alerts never raise nor change the exit code or the error shown
    try:
        settings = SyncSettings(
            since=since,
            until=until,
            window=parse_duration(conf.window, what="--window"),
            lookback=parse_duration(conf.lookback, what="--lookback"),
            lag=parse_duration(conf.lag, what="--lag"),
            concurrency=int(conf.concurrency),
            format=conf.format,
            wait=wait,
            sensitive=conf.sensitive,
            hash_key_file=conf.hash_key_file,
            layout=conf.layout,
        )
        if all_:
            from .integrations import run_all

            alerted = True  # each integration's alerts go to its own database
            sys.exit(run_all(conf, settings, pool=pool))
        with (
            make_client(sandbox=sandbox, **client_settings(conf, sandbox)) as client,
            open_store(conf.db) as store,
        ):
            try:
                result = run_sync(client, store, settings)
            except Exception as exc:
                alerted = True
                send_alerts(store, conf, exc)  # sync_failed, in the database still open
                raise
            alerted = True
            send_alerts(store, conf)
    except Exception as exc:
        if not alerted:  # it failed before the database was open, or opening it
            send_failure_alert(conf, exc)
        raise
    sys.exit(result.exit_code)


def client_settings(conf: Settings, sandbox: bool) -> dict[str, Any]:
    """The key and URL for :func:`make_client` from the settings: ``base_url`` (unless
    ``sandbox``) and the key read from ``authcode_file`` when the environment has no key."""
    import os

    from ..api.apikey import ENV_AUTHCODE, ENV_AUTHCODE_FILE, read_authcode

    out: dict[str, Any] = {}
    if conf.base_url and not sandbox:
        out["base_url"] = conf.base_url
    if conf.authcode_file and not os.environ.get(ENV_AUTHCODE, "").strip():
        out["authcode"] = read_authcode({ENV_AUTHCODE_FILE: conf.authcode_file})
    return out


def run_sync(
    client: Any, store: Store, settings: SyncSettings, now: dt.datetime | None = None
) -> SyncResult:
    """Sync with a progress bar on a terminal, then print the summary and any key advice."""
    from ..sync.run import sync

    console = Console()
    with progress_reporter(sys.stderr.isatty()) as (on_plan, on_window):
        result = sync(client, store, settings, now=now, on_plan=on_plan, on_window=on_window)
    print_summary(result, console)
    for notice in result.notices:
        click.echo(f"Warning: {notice}", err=True)
    if result.exit_code == 2:
        click.echo(f"Error: the API refused the key; the run stopped. {KEY_ADVICE}", err=True)
    elif result.exit_code == 3:
        click.echo(f"Error: the API could not be reached: {result.stopped}", err=True)
    elif result.exit_code != 0:
        click.echo(f"{len(result.failures)} window(s) failed; the next run retries them.", err=True)
    return result


@main.command("status")
@click.option("--runs", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="How many recent runs to show.")
@click.option("--max-age", default="2d", show_default=True,
              help="The watermark is healthy up to this age.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the health as JSON (the body of the status page's /api/status).")
@click.option("--check", is_flag=True,
              help="Exit with 1 when the feed is not healthy (for monitoring scripts).")
@click.option("--integration", "integration", metavar="NAME",
              help="Show this [[integration]] of the settings in full.")
@settings_options
def status_cmd(runs: int, max_age: str, as_json: bool, check: bool, integration: str | None,
               config_path: str | None, db_url: str | None) -> None:
    """Show the feed's health, the watermark, coverage gaps, recent runs and what the
    database holds.

    With [[integration]] tables in the settings (and no --db), a table of every
    integration's health instead; --json gives {"integrations": {NAME: health}, "healthy":
    ...} and --check exits 1 when any is not healthy.
    """
    from ..formats.sensitive import META_MODE, describe
    from ..ops.health import age as how_old
    from ..ops.health import health
    from ..store import open_store

    age = parse_duration(max_age, what="--max-age")
    conf = load_settings(config_path, db=db_url)
    if integration and db_url:
        raise UsageError("--integration and --db both name a database: give one of them")
    if integration is None and db_url is None and conf.integrations:
        from .integrations import status_all

        status_all(conf, max_age=age, as_json=as_json, check=check)
        return
    url = existing_db(conf.integration(integration).db if integration else conf.db)
    with open_store(url) as store:
        h = health(store, max_age=age)
        if as_json:
            click.echo(json.dumps(h.to_json(), indent=2))
            sys.exit(1 if check and not h.healthy else 0)
        st = store.status(runs=runs)
        personal = describe(store.meta_get(META_MODE))
        alerts = store.open_alerts()
    console = Console()
    now = dt.datetime.now(UTC)
    console.print(f"Database: {st.url} ({st.backend}, schema {st.revision})")
    if h.healthy:
        console.print("Health: [green]ok[/green]")
    else:
        console.print("Health: [red]NOT OK[/red]")
        for reason in h.reasons:
            console.print(f"  - {escape(reason)}")
    k = h.key
    key = f"Key: {k.state}"
    if k.fingerprint:
        key += f" (sha256 {k.fingerprint}…, in use since {_when(k.in_use_since)})"
    console.print(f"[red]{escape(key)}[/red]" if k.state == "refused" else escape(key))
    console.print(f"  last accepted {_when(k.last_accepted) if k.last_accepted else 'never'}, "
                  f"last refused {_when(k.last_refused) if k.last_refused else 'never'}")
    for ev in alerts.values():
        console.print(f"[yellow]Open alert: {ev.event} since {_when(ev.at)}[/yellow]")
    loose = _loose_file(url)
    if loose:
        click.echo(f"Warning: {loose}", err=True)
    console.print(
        f"Reports: {st.reports}   revisions: {st.revisions}   "
        f"archived answers: {st.archived_responses}"
    )
    console.print(f"Watermark: {_when(st.watermark)}")
    console.print(f"[yellow]{personal}[/yellow]" if "CLEAR" in personal else personal)
    if st.last_new_report is not None:
        last = st.last_new_report
        console.print(f"Last new report: {_when(last)} ({how_old(now - last)} ago)")
    else:
        console.print("Last new report: none yet")
    if st.lock is not None:
        console.print(f"[yellow]A sync is running: {st.lock.describe()}[/yellow]")
    if st.misordered:
        click.echo(
            f"Warning: {st.misordered} report(s) have a current row that is not their latest "
            "reported revision (something other than toefl-access wrote to the database?): "
            "`toefl-access db upgrade` recomputes them.", err=True,
        )
    if st.gaps:
        console.print(f"[yellow]Gaps in coverage ({len(st.gaps)}):[/yellow]")
        for start, end in st.gaps[:20]:
            console.print(f"  {_when(start)} .. {_when(end)}")
    else:
        console.print("Gaps in coverage: none")
    scales = Table("scale", "reports", title="By scale")
    for key, count in st.by_scale.items():
        scales.add_row(key, str(count))
    departments = Table("institution", "department", "reports", title="By department")
    for d in st.by_department:
        departments.add_row(d.institution_code or "", d.department_code or "", str(d.reports))
    console.print(scales, departments)
    table = Table(
        "run",
        "started (UTC)",
        "windows done",
        "failed",
        "new",
        "changed",
        "unchanged",
        "older",
        "warnings",
        "error",
        title="Recent runs",
    )
    for r in st.runs:
        c = r.counts
        table.add_row(
            str(r.id),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            str(r.windows_done or 0),
            str(r.windows_failed or 0),
            *(str(getattr(c, k)) if c else ""
              for k in ("new", "changed", "unchanged", "older", "warnings")),
            (r.error or "")[:80] if r.finished_at else "[yellow]running or interrupted[/yellow]",
        )
    console.print(table)
    if check and not h.healthy:
        sys.exit(1)


def _loose_file(url: str) -> str | None:
    """A warning when a SQLite file holding personal data is readable by other users."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"the database file {path} can be read by other users (mode {mode:o}) and holds "
        f"personal data: chmod 600 {path}"
    )



@main.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@settings_options
def db_upgrade_cmd(config_path: str | None, db_url: str | None) -> None:
    """Create the schema or upgrade it in place to the current version.

    Upgrading a database written before revision 0004 recomputes every report's revisions
    in the order the vendor reported them and says how many reports had an older revision
    as their current row (the run ledger keeps the numbers). A database in which `status`
    finds such a report is repaired the same way.
    """
    from ..store import open_store

    with open_store(load_settings(config_path, db=db_url).db, upgrade=False) as store:
        before = store.revision()
        store.upgrade()
        click.echo(f"Database at revision {store.revision()}.")
        status = store.status(runs=50)
        if before and before < "0004":
            for ledger in status.runs:
                if ledger.params.get("upgrade") == "0004":
                    _say_reordered(ledger.params["corrected"], ledger.params["reordered"])
                    break
        if status.misordered:
            counts = store.repair_order()
            _say_reordered(counts.corrected, counts.reordered)


def _say_reordered(corrected: int, reordered: int) -> None:
    click.echo(
        f"Revisions recomputed in the order the vendor reported them: {corrected} report(s) "
        f"had an older revision as their current row and were corrected (the next "
        f"`export --since-last` lists them as changed); {reordered} report(s) in all had "
        "their history reordered."
    )


DEMO_MARK = "created_by"


def _check_demo_db(store: Any, path: Path, *, created: bool) -> None:
    """Mark a database the demo creates; refuse one it did not (the mock's made-up reports
    would mix with real ones and move their watermark). An unmarked database that was never
    synced, or the default demo file of an earlier version, is taken and marked."""
    mark = store.meta_get(DEMO_MARK)
    if mark == "demo":
        return
    status = store.status(runs=1)
    reports, unused = status.reports, not status.runs and not status.reports
    if created or (mark is None and (unused or path.name == DEMO_DB)):
        store.meta_set(DEMO_MARK, "demo")
        return
    raise UsageError(
        f"{path} is not a database the demo created (it holds {reports} reports): the demo "
        f"writes made-up reports, so it only uses its own file. Give --db another file, or "
        f"leave it out for {DEMO_DB}."
    )


@main.command("demo")
@click.option("--days", default=60, show_default=True, help="How many days to sync.")
@click.option("--per-day", default=40, show_default=True, help="Reports the mock releases a day.")
@click.option(
    "--db", "db_path", default=DEMO_DB, show_default=True, help="The SQLite file the demo writes."
)
def demo_cmd(days: int, per_day: int, db_path: str) -> None:
    """Sync the last 60 days from a local mock API into a SQLite file: no key, no network.

    Run it twice: the second run writes nothing new, since every report is stored once.
    """
    from ..api.client import Client
    from ..mock import DEMO_AUTHCODE, MockApi, serve
    from ..store import open_store
    from ..sync.run import SyncSettings

    started = time.monotonic()
    now = dt.datetime.now(UTC).replace(microsecond=0)
    api = MockApi(authcode=DEMO_AUTHCODE, seed=2026, per_day=per_day)
    path = Path(db_path).resolve()
    url = "sqlite:///" + str(path)
    console = Console()
    existed = path.exists()
    with open_store(url) as store:
        _check_demo_db(store, path, created=not existed)
    with serve(api) as base_url:
        console.print(f"Mock TOEFL Access API running at {base_url}")
        settings = SyncSettings(since=now - dt.timedelta(days=days), concurrency=4)
        with Client(authcode=DEMO_AUTHCODE, base_url=base_url) as client, open_store(url) as store:
            result = run_sync(client, store, settings, now=now)
    console.print(f"Done in {time.monotonic() - started:.1f} s. The database is {db_path}.")
    db = f"--db sqlite:///{db_path}"
    console.print("Try next:")
    console.print(f"  toefl-access status {db}")
    console.print(f"  toefl-access serve {db}")
    console.print(
        f"  sqlite3 {db_path} 'select last_name, total, ibt26_total from score_reports limit 5'"
    )
    console.print("  toefl-access demo            (again: nothing new is written)")
    console.print("  toefl-access mock-server     (then point TOEFL_ACCESS_BASE_URL at it)")
    sys.exit(result.exit_code)
