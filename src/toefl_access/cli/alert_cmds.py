"""Commands: ``alerts test`` and ``alerts list``; and the alerts ``sync`` sends after a run."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ToeflAccessError, UsageError, printable
from .base import main
from .configured import existing_db, load_settings, settings_options

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store import Store


def send_alerts(store: Store, conf: Settings, failure: BaseException | None = None) -> None:
    """After a sync run: judge the events, record and send what opened or cleared (see
    :mod:`toefl_access.ops.alerts`); ``failure`` is the error that stopped the sync, if one
    did (``sync_failed``). Says on stderr what was sent; a channel that failed is logged as
    a warning there (by the library), and nothing here raises or changes the sync's exit
    code."""
    try:
        from ..ops.alerts import evaluate

        sent = evaluate(store, conf.alerts, failure=failure)
    except Exception as exc:  # alerts must never fail the sync
        click.echo(f"Warning: alerts were not evaluated: {_why(exc)}", err=True)
        return
    for ev in sent:
        what = f"{ev.event} ({ev.status})"
        ok = [name for name, said in ev.delivered.items() if said == "ok"]
        if not ev.delivered:
            click.echo(
                f"Alert {what} recorded; no alert channel is configured ([alerts] webhook "
                "or email_to in the settings file)", err=True,
            )  # fmt: skip
            continue
        if ok:
            click.echo(f"Alert {what} sent by {', '.join(ok)}.", err=True)


def send_failure_alert(conf: Settings, failure: BaseException) -> None:
    """After a sync that failed before its database was open (a key file that cannot be
    read, the database itself): open the database and :func:`send_alerts`. When it cannot
    be opened, nothing is sent (alerts are recorded there first, so that none is sent twice)
    and, when a channel is configured, a warning says so. Never raises."""
    from ..store import open_store
    from .configured import existing_db

    try:
        with open_store(existing_db(conf.db)) as store:
            send_alerts(store, conf, failure)
    except Exception as exc:
        if conf.alerts.webhook or conf.alerts.email_to:
            why = _why(exc)
            if isinstance(failure, Exception) and why == _why(failure):
                why = "see the error below"
            click.echo(
                "Warning: no alert was sent about this failed sync: alerts are recorded in "
                f"the database before they are sent, and it cannot be opened ({why}).",
                err=True,
            )


def _why(exc: Exception) -> str:
    return printable(str(exc) if isinstance(exc, ToeflAccessError) else type(exc).__name__)


@main.group("alerts")
def alerts_group() -> None:
    """Alerts about the feed: a refused key, failing windows, no new reports, a layout
    change, a sync that could not run.

    `sync` sends them after each run, and when it fails, through the channels of the
    [alerts] settings (a webhook, e-mail): once when a problem appears, once when it clears.
    """


@alerts_group.command("test")
@settings_options
def alerts_test_cmd(config_path: str | None, db_url: str | None) -> None:
    """Send a test message through every configured channel and say how each went.

    Exit code 0 when every channel took it, 1 otherwise (or when none is configured).
    """
    from ..ops.alerts import trial_message
    from ..ops.notify import channels_for
    from ..store import mask_url

    conf = load_settings(config_path, db=db_url)
    channels = channels_for(conf.alerts)
    if not channels:
        raise UsageError(
            "no alert channel is configured: set webhook (or TOEFL_ACCESS_ALERT_WEBHOOK) or "
            "email_to in the [alerts] table of the settings file; `toefl-access config` "
            "shows what is set"
        )
    message = trial_message(mask_url(conf.db))
    failed = 0
    for channel in channels:
        try:
            channel.send(message)
        except ToeflAccessError as exc:
            failed += 1
            click.echo(f"{channel.name}: FAILED: {printable(str(exc))}")
        else:
            click.echo(f"{channel.name}: ok ({channel.describe()})")
    if failed:
        raise SystemExit(1)


@alerts_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many alerts to show, newest first.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="A table, or JSON (one object per alert).")
@settings_options
def alerts_list_cmd(limit: int, fmt: str, config_path: str | None, db_url: str | None) -> None:
    """Show the latest alerts recorded in the database: what opened or cleared, when, and
    whether each channel delivered it."""
    import msgspec

    from ..store import open_store

    url = existing_db(load_settings(config_path, db=db_url).db)
    with open_store(url) as store:
        alerts = store.alerts(limit=limit)
        still_open = {ev.id for ev in store.open_alerts().values()}
    if fmt == "json":
        for ev in alerts:
            click.echo(msgspec.json.encode({**msgspec.structs.asdict(ev),
                                            "current": ev.id in still_open}).decode())  # fmt: skip
        return
    if not alerts:
        click.echo("No alerts recorded yet.")
        return
    table = Table(title="Alerts, newest first (`--format json` for the whole text)")
    for name in ("id", "at (UTC)", "event", "status", "run", "delivered"):
        table.add_column(name, no_wrap=True)
    table.add_column("what", ratio=1, min_width=30)
    for ev in alerts:
        status = ev.status + (" (current)" if ev.id in still_open else "")
        delivered = ", ".join(
            f"{name} ok" if said == "ok" else f"{name} failed" for name, said in
            ev.delivered.items()
        ) or "no channel"  # fmt: skip
        text = _headline(ev.text)
        table.add_row(
            str(ev.id), f"{ev.at.astimezone(dt.UTC):%Y-%m-%d %H:%M}", ev.event, status,
            str(ev.run_id or ""), delivered, escape(printable(text)),
        )  # fmt: skip
    Console(highlight=False).print(table)


def _headline(text: str, limit: int = 120) -> str:
    """The first sentence of an alert's text, at most ``limit`` characters."""
    first = text.split(". ", 1)[0].split("\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"
