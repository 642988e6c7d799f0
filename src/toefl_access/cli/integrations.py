"""``sync --all`` and ``status`` for the ``[[integration]]`` tables of the settings: the
printing around :func:`toefl_access.sync.many.sync_all` and
:func:`toefl_access.ops.health.health` (the commands themselves are in :mod:`.sync_cmds`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import ToeflAccessError, UsageError, printable
from ..settings import ENV_AUTHCODE, Integration, Settings
from .configured import existing_db

if TYPE_CHECKING:
    from ..ops.health import Health
    from ..sync.many import AllResult, IntegrationEvent, IntegrationOutcome
    from ..sync.run import SyncSettings

_MEANING = {2: "the API refused the key", 3: "the API could not be reached",
            1: "some windows failed"}  # fmt: skip


def require_integrations(conf: Settings) -> tuple[Integration, ...]:
    """The configured integrations, or a UsageError saying how to configure them."""
    if not conf.integrations:
        where = conf.config_path or "no settings file was found (--config, "\
            "TOEFL_ACCESS_CONFIG or ./toefl-access.toml)"  # fmt: skip
        raise UsageError(
            f"--all syncs the [[integration]] tables of the settings, and none is configured "
            f"({where}); add one per integration: [[integration]], then name = \"...\", "
            "authcode_file = \"...\" and db = \"...\" (see `Several integrations` in the README)"
        )
    return conf.integrations


def run_all(conf: Settings, settings: SyncSettings, *, pool: int) -> int:
    """Sync every integration (alerts judged after each, as a single ``sync`` does), print
    a line per integration and the failing ones; returns the worst exit code."""
    from ..sync.many import sync_all
    from .alert_cmds import send_alerts, send_failure_alert

    integrations = require_integrations(conf)
    if os.environ.get(ENV_AUTHCODE, "").strip():
        click.echo(f"Warning: {ENV_AUTHCODE} is not used by sync --all: each integration's "
                   "key is read from its authcode_file.", err=True)  # fmt: skip
    lock = threading.Lock()
    live = sys.stderr.isatty()

    def on_event(event: IntegrationEvent) -> None:
        outcome = event.outcome
        if event.kind != "finished" or outcome is None:
            return
        own = replace(conf, db=event.integration.db)  # the alerts go by this one's database
        if event.store is not None:
            send_alerts(event.store, own, outcome.error)
        elif outcome.error is not None:
            send_failure_alert(own, outcome.error)
        if live:
            with lock:
                click.echo(f"{event.integration.name}: done, exit code {outcome.exit_code}",
                           err=True)  # fmt: skip

    named = _Named()
    handlers = logging.getLogger().handlers
    for handler in handlers:
        handler.addFilter(named)
    try:
        result = sync_all(integrations, pool=pool, settings_for=lambda _: settings,
                          on_event=on_event)  # fmt: skip
    finally:
        for handler in handlers:
            handler.removeFilter(named)
    print_all(result)
    return result.exit_code


class _Named(logging.Filter):
    """Log lines from an integration's worker thread start with the integration's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ..sync.many import THREAD_PREFIX

        thread = record.threadName or ""
        if thread.startswith(THREAD_PREFIX) and "integration" not in record.__dict__:
            record.__dict__["integration"] = name = thread.removeprefix(THREAD_PREFIX)
            record.msg = f"{name}: {record.msg}"
        return True


def print_all(result: AllResult) -> None:
    """One line per integration, then what failed and what to do."""
    width = max(len(name) for name in result.outcomes)
    for name, outcome in result.outcomes.items():
        click.echo(f"{name:<{width}}  {_line(outcome)}")
        run = outcome.result
        for notice in run.notices if run else []:
            click.echo(f"Warning: {name}: {notice}", err=True)
    code, n = result.exit_code, len(result.outcomes)
    summary = f"{n} integration(s) in {result.elapsed:.1f} s, {result.reports:,} reports"
    if code == 0:
        click.echo(f"{summary}: all done, exit code 0.")
        return
    click.echo(f"{summary}: {n - len(result.failed)} ok, failed: {', '.join(result.failed)}; "
               f"exit code {code} ({_MEANING.get(code, 'an integration could not run')}) "
               f"from {', '.join(result.culprits)}.")  # fmt: skip
    for name, outcome in result.outcomes.items():
        if outcome.exit_code == 2:
            click.echo(
                f"Error: {name}: the API refused the key; its run stopped. Generate a new API "
                "key in TOEFL Access (Integrations, open the integration, Generate) and put it "
                f"in {outcome.integration.authcode_file}. Note: generating a new key also "
                "changes the institution's GRE key.", err=True,
            )  # fmt: skip


def _line(outcome: IntegrationOutcome) -> str:
    code = outcome.exit_code
    if outcome.error is not None:
        error = outcome.error
        why = str(error) if isinstance(error, ToeflAccessError) else type(error).__name__
        return f"exit {code}  could not run: {printable(why)}"
    run = outcome.result
    assert run is not None
    if not run.windows:
        return f"exit {code}  up to date, nothing to fetch"
    c = run.counts
    text = (f"exit {code}  {run.done}/{len(run.windows)} windows  {c.new:,} new  "
            f"{c.changed:,} changed  {c.unchanged:,} unchanged  {len(run.failures)} failed "
            f"windows  {run.elapsed:.1f} s")  # fmt: skip
    if code == 3 and run.stopped:
        text += f"  unreachable: {printable(run.stopped)}"
    elif code == 2:
        text += "  key refused"
    return text


# -- status -------------------------------------------------------------------------------


def healths(conf: Settings, max_age: dt.timedelta) -> dict[str, Health]:
    """Each integration's health; a database that does not exist yet is "never synced",
    one that cannot be opened says why (neither stops the others)."""
    from ..ops.health import health
    from ..store import open_store

    now = dt.datetime.now(dt.UTC)
    out: dict[str, Health] = {}
    for integration in conf.integrations:
        try:
            url = existing_db(integration.db)
        except UsageError:
            out[integration.name] = _absent(
                f"never synced: there is no database at {integration.db} yet; run "
                "`toefl-access sync --all`", now, max_age,
            )  # fmt: skip
            continue
        try:
            with open_store(url) as store:
                out[integration.name] = health(store, now=now, max_age=max_age)
        except ToeflAccessError as exc:
            out[integration.name] = _absent(f"the database cannot be read: {exc}", now, max_age)
    return out


def _absent(reason: str, now: dt.datetime, max_age: dt.timedelta) -> Health:
    from ..ops.health import Health, KeyHealth

    return Health(
        watermark=None, watermark_age=None, reports=0, last_run=None, gaps=[],
        key=KeyHealth("unknown", None, None, None, None), healthy=False,
        reasons=[printable(reason)], checked_at=now, max_age=max_age,
    )  # fmt: skip


def status_all(conf: Settings, *, max_age: dt.timedelta, as_json: bool, check: bool) -> None:
    """``status`` for every integration: a table (or JSON); exits 1 with ``check`` when
    any is not healthy."""
    from ..ops.health import age, iso
    from ..store import mask_url

    found = healths(conf, max_age)
    healthy = all(h.healthy for h in found.values())
    if as_json:
        body = {"integrations": {n: h.to_json() for n, h in found.items()}, "healthy": healthy}
        click.echo(json.dumps(body, indent=2))
        sys.exit(1 if check and not healthy else 0)
    table = Table(title="Integrations (`status --integration NAME` shows one in full)")
    for column in ("integration", "database", "health", "watermark", "key", "last run",
                   "open alerts"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for integration in conf.integrations:
        h = found[integration.name]
        if h.healthy:
            state = "[green]ok[/green]"
        elif h.reasons[0].startswith("never synced"):
            state = "[yellow]never synced[/yellow]"
        else:
            state = f"[red]NOT OK[/red]: {escape(_headline(h.reasons[0]))}"
        mark = iso(h.watermark)
        watermark = "none"
        if mark and h.watermark_age is not None:
            watermark = f"{mark} ({age(max(h.watermark_age, dt.timedelta(0)))} ago)"
        key = f"[red]{h.key.state}[/red]" if h.key.state == "refused" else h.key.state
        run = h.last_run
        last = "none" if run is None else (
            f"exit {run.exit_code} (#{run.id}, {iso(run.started)})" if run.finished
            else f"never finished (#{run.id}, {iso(run.started)})"
        )  # fmt: skip
        alerts = ", ".join(a.event for a in h.open_alerts) or "none"
        table.add_row(escape(integration.name), escape(mask_url(integration.db)), state,
                      watermark, key, last, alerts)  # fmt: skip
    console = Console(highlight=False)
    console.print(table)
    ok = sum(h.healthy for h in found.values())
    console.print(f"Healthy: {ok} of {len(found)}")
    if check and not healthy:
        sys.exit(1)


def _headline(reason: str, limit: int = 100) -> str:
    """A reason up to its first colon (the rest is in `status --integration NAME`)."""
    head = reason.split(": ", 1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"

