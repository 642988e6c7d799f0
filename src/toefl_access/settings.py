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

Environment variables: ``TOEFL_ACCESS_DB``, ``TOEFL_ACCESS_BASE_URL``,
``TOEFL_ACCESS_AUTHCODE_FILE``, ``TOEFL_ACCESS_SENSITIVE``, ``TOEFL_ACCESS_HASH_KEY_FILE``,
``TOEFL_ACCESS_LAYOUT``. The API key itself never goes in the file or on the command line
(other users of the machine can read arguments): it comes from ``TOEFL_ACCESS_AUTHCODE`` or
the key file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .api.dates import parse_duration
from .errors import UsageError
from .formats.sensitive import MODES as SENSITIVE_MODES

__all__ = ["DEFAULT_CONFIG", "SENSITIVE_MODES", "Settings", "load"]

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
    config_path: str | None = None
    source: Mapping[str, str] = field(default_factory=dict)

    def where(self, name: str) -> str:
        """Where a setting came from: ``default``, a file path, ``env X`` or ``flag --x``."""
        return self.source.get(name, "default")

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
        return rows


def load(
    *, config: str | None = None, env: Mapping[str, str] | None = None, **flags: Any
) -> Settings:
    """Read the file, then the environment, then the non-None ``flags`` (setting names:
    ``db``, ``sensitive``, ``layout``, ``window``, ``concurrency``, ...)."""
    env = os.environ if env is None else env
    known = {f.name for f in fields(Settings)} - {"config_path", "source"}
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
    if path:
        for key, value in _read_file(path).items():
            values[key] = value
            source[key] = path
    for key, var in _ENV.items():
        if env.get(var, "").strip():
            values[key] = env[var].strip()
            source[key] = f"env {var}"
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
        if key == "sync" and isinstance(value, dict):
            for sub, v in value.items():
                if sub not in SYNC_KEYS:
                    raise UsageError(
                        f"{path}: unknown setting sync.{sub}; known in [sync]: "
                        f"{', '.join(SYNC_KEYS)}"
                    )
                out[sub] = v
        elif key in _TOP_KEYS:
            out[key] = value
        else:
            raise UsageError(
                f"{path}: unknown setting {key!r}; known: {', '.join(_TOP_KEYS)} and a "
                f"[sync] table with {', '.join(SYNC_KEYS)}"
            )
    for key, value in out.items():
        wanted = int if key == "concurrency" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            label = f"sync.{key}" if key in SYNC_KEYS else key
            kind = "a whole number" if wanted is int else "a string (in quotes)"
            raise UsageError(f"{path}: {label} = {value!r} must be {kind}")
    return out


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
