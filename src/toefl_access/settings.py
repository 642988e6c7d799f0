"""Effective settings: a TOML file, overridden by environment variables, overridden by flags.

The file is ``--config PATH``, else ``$TOEFL_ACCESS_CONFIG``, else ``toefl-access.toml`` in
the current folder when it exists. Example::

    db = "postgresql://toefl@db.example.edu/admissions"
    base_url = "https://toeflaccess-api.ets.org/scores"
    authcode_file = "/etc/toefl-access/key"
    sensitive = "hash"            # keep | hash | drop
    hash_key_file = "/etc/toefl-access/hash-key"    # optional; else kept in the database
    layout = "/etc/toefl-access/scorelink-fixed.csv" # optional; else the built-in layouts

    [sync]
    window = "1d"
    lookback = "3d"
    lag = "5m"
    concurrency = 4
    format = "text"

    [[integration]]               # several integrations: `sync --all`, each in its own db
    name = "graduate"             # letters, digits, - and _; unique
    authcode_file = "/etc/toefl-access/graduate.key"
    db = "sqlite:///data/graduate.db"   # or leave it out when db holds {name}
    since = "2025-01-01"          # optional: where its first run starts

    [alerts]                      # see AlertSettings; sync sends them after each run
    webhook = "https://hooks.slack.com/services/T000/B000/XXXX"
    email_to = ["admissions-it@example.edu"]
    smtp_host = "smtp.example.edu"
    smtp_user = "toefl-access"
    smtp_password_file = "/etc/toefl-access/smtp-password"

Environment variables: ``TOEFL_ACCESS_DB``, ``TOEFL_ACCESS_BASE_URL``,
``TOEFL_ACCESS_AUTHCODE_FILE``, ``TOEFL_ACCESS_SENSITIVE``, ``TOEFL_ACCESS_HASH_KEY_FILE``,
``TOEFL_ACCESS_LAYOUT``, ``TOEFL_ACCESS_ALERT_WEBHOOK``. The API key itself never goes in the
file or on the command line (other users of the machine can read arguments): it comes from
``TOEFL_ACCESS_AUTHCODE`` or the key file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .api.dates import parse_duration, parse_instant
from .errors import UsageError
from .formats.sensitive import MODES as SENSITIVE_MODES

__all__ = [
    "DEFAULT_CONFIG", "SENSITIVE_MODES", "AlertSettings", "Integration", "Settings", "load",
    "mask_webhook",
]  # fmt: skip

DEFAULT_CONFIG = "toefl-access.toml"
ENV_CONFIG = "TOEFL_ACCESS_CONFIG"
ENV_AUTHCODE = "TOEFL_ACCESS_AUTHCODE"
_ENV = {
    "db": "TOEFL_ACCESS_DB",
    "base_url": "TOEFL_ACCESS_BASE_URL",
    "authcode_file": "TOEFL_ACCESS_AUTHCODE_FILE",
    "sensitive": "TOEFL_ACCESS_SENSITIVE",
    "hash_key_file": "TOEFL_ACCESS_HASH_KEY_FILE",
    "layout": "TOEFL_ACCESS_LAYOUT",
}
#: The settings of the ``[sync]`` table (shown as ``sync.NAME``).
SYNC_KEYS = ("window", "lookback", "lag", "concurrency", "format")
_TOP_KEYS = ("db", "base_url", "authcode_file", "sensitive", "hash_key_file", "layout")
_FLAG_NAMES = {"db": "--db", "format": "--format"}
#: The settings of the ``[alerts]`` table (shown as ``alerts.NAME``).
ALERT_KEYS = (
    "webhook", "email_to", "smtp_host", "smtp_port", "smtp_user", "smtp_password_file",
    "email_from", "failing_runs", "no_new_reports_days", "months", "layout_warnings_points",
    "layout_warnings_min_records",
)  # fmt: skip
ENV_ALERT_WEBHOOK = "TOEFL_ACCESS_ALERT_WEBHOOK"
#: The settings of an ``[[integration]]`` table.
INTEGRATION_KEYS = ("name", "authcode_file", "base_url", "db", "since")
#: What a top-level ``db`` holds to give each integration its own database.
NAME_SLOT = "{name}"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STR_ALERTS = ("webhook", "smtp_host", "smtp_user", "smtp_password_file", "email_from")
#: Whole-number settings of ``[alerts]`` with their allowed range.
_INT_ALERTS = {
    "smtp_port": (1, 65535), "failing_runs": (1, 1000), "no_new_reports_days": (1, 3650),
    "layout_warnings_min_records": (1, 10**9),
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """The ``[alerts]`` table: where alerts go, and when events open.

    No channel is configured by default: events are still recorded in the database
    (``toefl-access alerts list``), and sent once a channel is configured while one is open.
    """

    #: An incoming-webhook URL (Slack, Teams, any JSON receiver); may hold a secret token,
    #: so it is shown masked (:func:`mask_webhook`).
    webhook: str | None = None
    #: Who gets e-mail; empty: no e-mail.
    email_to: tuple[str, ...] = ()
    smtp_host: str = "localhost"
    #: None: 587 (submission, STARTTLS) when ``smtp_user`` is set, else 25. 465 means TLS
    #: from the first byte (SMTPS); any other port uses STARTTLS when the server offers it.
    smtp_port: int | None = None
    smtp_user: str | None = None
    #: A file holding the SMTP password, read when a message is sent (never logged).
    smtp_password_file: str | None = None
    #: The sender; None: ``toefl-access@`` this machine's name.
    email_from: str | None = None
    #: ``windows_failing`` opens when one window failed in this many consecutive runs.
    failing_runs: int = 3
    #: ``no_new_reports`` opens when no new report arrived for this many days ...
    no_new_reports_days: int = 7
    #: ... in these months (1-12; default: all year).
    months: tuple[int, ...] = tuple(range(1, 13))
    #: ``layout_warnings`` opens when a run's share of records with warnings is at least this
    #: many percentage points above, and twice, the median of the 10 runs before ...
    layout_warnings_points: float = 5.0
    #: ... and the run parsed at least this many new or changed records.
    layout_warnings_min_records: int = 20

    @property
    def port(self) -> int:
        """The SMTP port in effect."""
        if self.smtp_port is not None:
            return self.smtp_port
        return 587 if self.smtp_user else 25

    @property
    def sender(self) -> str:
        """The ``From`` address in effect."""
        if self.email_from:
            return self.email_from
        import socket

        return f"toefl-access@{socket.getfqdn() or 'localhost'}"

    @property
    def configured(self) -> list[str]:
        """The channels set up: ``webhook``, ``email``."""
        return (["webhook"] if self.webhook else []) + (["email"] if self.email_to else [])


@dataclass(frozen=True, slots=True, kw_only=True)
class Integration:
    """One ``[[integration]]`` table: a TOEFL Access integration with its own key, synced
    into its own database (its own sync lock, run ledger, watermark and migrations)."""

    name: str
    #: The file holding this integration's key (the key itself is never in the settings).
    authcode_file: str
    #: The API's URL; None: the top-level ``base_url``, else production.
    base_url: str | None = None
    #: The database URL: the table's ``db``, or the top-level one with ``{name}`` filled in.
    db: str
    #: Where the first run starts (later runs go on from the watermark).
    since: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting with its default; ``source`` says where each non-default came from
    (the config file's path, ``env NAME`` or ``flag --NAME``)."""

    db: str = "sqlite:///toefl-access.db"
    base_url: str | None = None
    authcode_file: str | None = None
    sensitive: str = "hash"
    hash_key_file: str | None = None
    layout: str | None = None
    window: str = "1d"
    lookback: str = "3d"
    lag: str = "5m"
    concurrency: int = 4
    format: str = "text"
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: The ``[[integration]]`` tables, in the file's order (empty: one integration, the
    #: key from the environment and ``db``).
    integrations: tuple[Integration, ...] = ()
    config_path: str | None = None
    source: Mapping[str, str] = field(default_factory=dict)

    def where(self, name: str) -> str:
        """Where a setting came from: ``default``, a file path, ``env X`` or ``flag --x``."""
        return self.source.get(name, "default")

    def integration(self, name: str) -> Integration:
        """The ``[[integration]]`` called ``name``, or a UsageError listing the names."""
        for integration in self.integrations:
            if integration.name == name:
                return integration
        known = ", ".join(i.name for i in self.integrations) or "none is configured"
        raise UsageError(
            f"no [[integration]] is called {name!r} in the settings ({known}); "
            "`toefl-access config` shows them"
        )

    def shown(self) -> list[tuple[str, str, str]]:
        """``(setting, value, from)`` rows as shown to people: secrets masked."""
        from .store import mask_url

        key = os.environ.get(ENV_AUTHCODE, "").strip()
        if key:
            fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
            authcode = (f"set (sha256 {fingerprint}…)", f"env {ENV_AUTHCODE}")
        elif self.authcode_file:
            authcode = (f"read from {self.authcode_file}", self.where("authcode_file"))
        else:
            authcode = ("not set", "default")
        rows = [
            ("config", self.config_path or "(none)", self.where("config_path")),
            ("db", mask_url(self.db), self.where("db")),
            ("base_url", self.base_url or "(production)", self.where("base_url")),
            ("authcode", *authcode),
            ("sensitive", self.sensitive, self.where("sensitive")),
            ("hash_key_file", self.hash_key_file or "(key kept in the database)",
             self.where("hash_key_file")),
            ("layout", self.layout or "(built-in, detected)", self.where("layout")),
        ]
        for name in SYNC_KEYS:
            rows.append((f"sync.{name}", str(getattr(self, name)), self.where(name)))
        for i in self.integrations:
            where = self.where(f"integration.{i.name}")
            since = f"{i.since:%Y-%m-%dT%H:%M:%S}Z" if i.since else "(none: give --since)"
            rows += [
                (f"integration.{i.name}.db", mask_url(i.db), where),
                (f"integration.{i.name}.authcode", f"read from {i.authcode_file}", where),
                (f"integration.{i.name}.base_url", i.base_url or "(production)", where),
                (f"integration.{i.name}.since", since, where),
            ]
        return rows + self._shown_alerts()

    def _shown_alerts(self) -> list[tuple[str, str, str]]:
        a = self.alerts

        def row(name: str, value: str) -> tuple[str, str, str]:
            return (f"alerts.{name}", value, self.where(f"alerts.{name}"))

        port = str(a.port)
        if a.smtp_port is None:
            port += " (STARTTLS submission: smtp_user is set)" if a.smtp_user else " (no login)"
        months = "all" if len(a.months) == 12 else ", ".join(MONTHS[m - 1] for m in a.months)
        return [
            row("webhook", mask_webhook(a.webhook) if a.webhook else "(none)"),
            row("email_to", ", ".join(a.email_to) or "(none)"),
            row("smtp_host", a.smtp_host),
            row("smtp_port", port),
            row("smtp_user", a.smtp_user or "(no login)"),
            row("smtp_password_file", f"read from {a.smtp_password_file} when sending"
                if a.smtp_password_file else "(none)"),
            row("email_from", a.sender),
            row("failing_runs", str(a.failing_runs)),
            row("no_new_reports_days", str(a.no_new_reports_days)),
            row("months", months),
            row("layout_warnings_points", f"{a.layout_warnings_points:g}"),
            row("layout_warnings_min_records", str(a.layout_warnings_min_records)),
        ]


def mask_webhook(url: str) -> str:
    """A webhook URL as shown in ``config``, logs and errors: its scheme, host and port
    only. Slack and Teams webhook URLs carry their secret in the path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a webhook URL that cannot be read)"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return shown + ("/***" if parts.path.strip("/") or parts.query or parts.fragment else "/")


def load(
    *, config: str | None = None, env: Mapping[str, str] | None = None, **flags: Any
) -> Settings:
    """Read the file, then the environment, then the non-None ``flags`` (setting names:
    ``db``, ``sensitive``, ``layout``, ``window``, ``concurrency``, ...)."""
    env = os.environ if env is None else env
    known = {f.name for f in fields(Settings)} - {"config_path", "source", "alerts"}
    unknown_flags = set(flags) - known
    if unknown_flags:
        raise TypeError(f"unknown settings {sorted(unknown_flags)}")
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    path = config
    if path:
        source["config_path"] = "flag --config"
    elif env.get(ENV_CONFIG):
        path = env[ENV_CONFIG]
        source["config_path"] = f"env {ENV_CONFIG}"
    elif Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
        source["config_path"] = "current folder"
    alerts: dict[str, Any] = {}
    tables: list[dict[str, Any]] = []
    if path:
        for key, value in _read_file(path).items():
            if key == "integration":
                tables = value
                continue
            if key == "alerts":
                alerts.update(value)
                source.update({f"alerts.{k}": path for k in value})
                continue
            values[key] = value
            source[key] = path
    for key, var in _ENV.items():
        if env.get(var, "").strip():
            values[key] = env[var].strip()
            source[key] = f"env {var}"
    if env.get(ENV_ALERT_WEBHOOK, "").strip():
        alerts["webhook"] = env[ENV_ALERT_WEBHOOK].strip()
        source["alerts.webhook"] = f"env {ENV_ALERT_WEBHOOK}"
    values["alerts"] = _alert_settings(alerts, source)
    if tables:  # before the flags: --db names one database, not the integrations' template
        values["integrations"] = _integrations(
            tables, str(path), db=values.get("db", Settings().db),
            base_url=values.get("base_url"), origin=source.get("db", "default"),
        )  # fmt: skip
        source.update({f"integration.{i.name}": str(path) for i in values["integrations"]})
    for key, value in flags.items():
        if value is not None:
            values[key] = value
            source[key] = f"flag {_FLAG_NAMES.get(key, '--' + key.replace('_', '-'))}"
    settings = replace(Settings(), **values, config_path=path, source=source)
    _check(settings)
    return settings


def _read_file(path: str) -> dict[str, Any]:
    """The settings of a config file, flattened (``[sync] window`` -> ``window``)."""
    data = _read_toml(path)
    if "authcode" in data or "authcode" in data.get("sync", {}):
        raise UsageError(
            f"{path}: do not put the API key in the config file; set authcode_file to a "
            "file only you can read, or the TOEFL_ACCESS_AUTHCODE environment variable"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("alerts", "sync") and not isinstance(value, dict):
            raise UsageError(f"{path}: {key} must be a table: a line [{key}], then its settings")
        if key == "alerts" and isinstance(value, dict):
            unknown = sorted(set(value) - set(ALERT_KEYS))
            if unknown:
                raise UsageError(
                    f"{path}: unknown setting alerts.{unknown[0]}; known in [alerts]: "
                    f"{', '.join(ALERT_KEYS)}"
                )
            out["alerts"] = value
        elif key == "sync" and isinstance(value, dict):
            for sub, v in value.items():
                if sub not in SYNC_KEYS:
                    raise UsageError(
                        f"{path}: unknown setting sync.{sub}; known in [sync]: "
                        f"{', '.join(SYNC_KEYS)}"
                    )
                out[sub] = v
        elif key == "integration":
            if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
                raise UsageError(
                    f"{path}: integration must be a list of tables: write [[integration]] "
                    "(two brackets) above each integration's settings"
                )
            out[key] = value
        elif key in _TOP_KEYS:
            out[key] = value
        else:
            raise UsageError(
                f"{path}: unknown setting {key!r}; known: {', '.join(_TOP_KEYS)}, a "
                f"[sync] table with {', '.join(SYNC_KEYS)}, an [alerts] table and "
                "[[integration]] tables"
            )
    for key, value in out.items():
        if key in ("alerts", "integration"):
            continue
        wanted = int if key == "concurrency" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            label = f"sync.{key}" if key in SYNC_KEYS else key
            kind = "a whole number" if wanted is int else "a string (in quotes)"
            raise UsageError(f"{path}: {label} = {value!r} must be {kind}")
    return out


def _integrations(
    tables: list[dict[str, Any]], path: str, *, db: str, base_url: str | None, origin: str
) -> tuple[Integration, ...]:
    """The ``[[integration]]`` tables, checked: names unique, a key file each, one database
    each (``db``, the top-level database URL, may hold ``{name}``)."""
    out: list[Integration] = []
    names: dict[str, int] = {}
    databases: dict[str, int] = {}
    for number, table in enumerate(tables, 1):
        label = f"{path}: [[integration]] number {number}"
        if isinstance(table.get("name"), str):
            label += f" ({table['name']!r})"

        def bad(key: str, why: str, label: str = label) -> UsageError:
            return UsageError(f"{label}: {key} {why}")

        if "authcode" in table:
            raise bad("authcode", "must not be in the config file: put the key in a file only "
                      "you can read and name it in authcode_file")  # fmt: skip
        unknown = sorted(set(table) - set(INTEGRATION_KEYS))
        if unknown:
            raise bad(unknown[0], f"is not a setting of [[integration]]; known: "
                      f"{', '.join(INTEGRATION_KEYS)}")  # fmt: skip
        for key, value in table.items():
            if key != "since" and not isinstance(value, str):
                raise bad(key, f"= {value!r} must be a string (in quotes)")
        name = table.get("name", "")
        if not _NAME.fullmatch(name):
            raise bad("name", f"= {name!r} must be 1-64 letters, digits, - or _ (it names the "
                      "integration in commands, and may name its database)" if name else
                      "is missing: give each integration a unique name")  # fmt: skip
        if name in names:
            raise bad("name", f"{name!r} is taken by [[integration]] number {names[name]}: "
                      "names must be unique")  # fmt: skip
        names[name] = number
        key_file = table.get("authcode_file", "").strip()
        if not key_file:
            raise bad("authcode_file", "is missing: name the file holding this integration's "
                      "API key (a file only you can read; the key never goes in the settings)")
        url = table.get("db", "").strip()
        if not url:
            if NAME_SLOT not in db:
                raise bad("db", f"is missing: give this integration its own database, or "
                          f"set the top-level db to a URL holding {NAME_SLOT} (e.g. "
                          f"sqlite:///data/{NAME_SLOT}.db), now {db!r} from {origin}")
            url = db.replace(NAME_SLOT, name)
        same = _database_identity(url)
        if same in databases:
            raise bad("db", f"{url!r} is the database of [[integration]] number "
                      f"{databases[same]} too: each integration needs its own (its own sync "
                      "lock, run ledger and watermark)")  # fmt: skip
        databases[same] = number
        since = table.get("since")
        if since is not None and not isinstance(since, str | dt.date):
            raise bad("since", f"= {since!r} is not a date; write it like \"2025-01-01\"")
        start = None if since is None else parse_instant(since, what=f"{label}: since")
        own_url = table.get("base_url", "").strip() or None
        out.append(Integration(name=name, authcode_file=key_file, base_url=own_url or base_url,
                               db=url, since=start))  # fmt: skip
    return tuple(out)


def _database_identity(url: str) -> str:
    """What tells two database URLs apart: a SQLite file's absolute path, else the URL
    without its user, password and options."""
    url = url.strip()
    if url.lower().startswith("sqlite:///"):
        return "sqlite:" + os.path.abspath(url[len("sqlite:///"):].split("?", 1)[0])
    return re.sub(r"//[^@/]*@", "//", url.split("?", 1)[0]).lower()


def _alert_settings(values: dict[str, Any], source: Mapping[str, str]) -> AlertSettings:
    """``[alerts]`` values (from the file, or a variable) checked and typed."""

    def bad(name: str, why: str) -> UsageError:
        value = values[name]
        shown = mask_webhook(value) if name == "webhook" and isinstance(value, str) else value
        origin = source.get(f"alerts.{name}", "default")
        return UsageError(f"alerts.{name} = {shown!r} (from {origin}) {why}")

    typed: dict[str, Any] = {}
    for name, value in values.items():
        if name in _STR_ALERTS:
            if not isinstance(value, str):
                raise bad(name, "must be a string (in quotes)")
            typed[name] = value.strip() or None
        elif name in _INT_ALERTS:
            low, high = _INT_ALERTS[name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise bad(name, f"must be a whole number from {low} to {high}")
            typed[name] = value
        elif name == "layout_warnings_points":
            if not isinstance(value, int | float) or isinstance(value, bool) \
                    or not 0 < value <= 100:
                raise bad(name, "must be a number of percentage points above 0, at most 100")
            typed[name] = float(value)
        elif name == "email_to":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise bad(name, 'must be a list of addresses, or "a@x.edu, b@x.edu"')
            addresses = tuple(i.strip() for i in items if i.strip())
            wrong = [a for a in addresses if "@" not in a or any(c.isspace() for c in a)]
            if wrong:
                raise bad(name, f"holds {wrong[0]!r}, which is not an e-mail address")
            typed[name] = addresses
        elif name == "months":
            typed[name] = _months(value, lambda why: bad("months", why))
    if typed.get("smtp_host") is None:
        typed.pop("smtp_host", None)
    alerts = AlertSettings(**typed)
    if alerts.webhook and not alerts.webhook.lower().startswith(("https://", "http://")):
        raise bad("webhook", "must be an https:// (or http://) URL")
    if alerts.email_from and "@" not in alerts.email_from:
        raise bad("email_from", "is not an e-mail address")
    if bool(alerts.smtp_user) != bool(alerts.smtp_password_file):
        name = "smtp_user" if alerts.smtp_user else "smtp_password_file"
        raise bad(name, "needs both smtp_user and smtp_password_file to log in "
                  "(leave both out for a server that takes mail without a login)")
    return alerts


def _months(value: Any, bad: Any) -> tuple[int, ...]:
    """Months as numbers 1-12 from ``[3, 4, "Sep"]``, ``"mar, apr"`` or ``"all"``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise bad('must be a list of months like [1, 2, 3] or ["Jan", "Feb"], or "all"')
    out: set[int] = set()
    for item in items:
        text = str(item).strip().lower()
        if text == "all":
            out.update(range(1, 13))
            continue
        names = [i + 1 for i, m in enumerate(MONTHS) if len(text) >= 3
                 and m.lower().startswith(text[:3]) and text.isalpha()]  # fmt: skip
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 12:
            out.add(item)
        elif names:
            out.add(names[0])
        elif text.isdigit() and 1 <= int(text) <= 12:
            out.add(int(text))
        else:
            raise bad(f"holds {item!r}, which is not a month (1-12 or Jan-Dec)")
    return tuple(sorted(out))


def _check(s: Settings) -> None:
    def origin(name: str) -> str:
        return f" (from {s.where(name)})"

    if s.sensitive not in SENSITIVE_MODES:
        raise UsageError(
            f"sensitive = {s.sensitive!r}{origin('sensitive')} is not one of "
            f"{', '.join(SENSITIVE_MODES)}"
        )
    for name in ("window", "lookback", "lag"):
        parse_duration(getattr(s, name), what=f"sync.{name}{origin(name)}")
    try:
        concurrency = int(s.concurrency)
    except (TypeError, ValueError):
        concurrency = 0
    if not 1 <= concurrency <= 64:
        raise UsageError(
            f"sync.concurrency = {s.concurrency!r}{origin('concurrency')} must be 1 to 64"
        )
    if s.format not in ("text", "json"):
        raise UsageError(f"sync.format = {s.format!r}{origin('format')} must be text or json")


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"the config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.start + 1} cannot be read); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from None
