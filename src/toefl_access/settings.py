"""Effective settings: a TOML file, overridden by environment variables, overridden by flags.

The file is ``--config PATH``, else ``$TOEFL_ACCESS_CONFIG``, else ``toefl-access.toml`` in
the current folder when it exists. Example::

    db = "postgresql://toefl@db.example.edu/admissions"
    base_url = "https://toeflaccess-api.ets.org/scores"
    authcode_file = "/etc/toefl-access/key"
    sensitive = "hash"            # keep | hash | drop

    [sync]
    window = "1d"
    lookback = "3d"
    concurrency = 4

The API key itself never goes in the file or on the command line (other users of the
machine can read arguments): it comes from ``TOEFL_ACCESS_AUTHCODE`` or the key file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import UsageError

SENSITIVE_MODES = ("keep", "hash", "drop")
DEFAULT_CONFIG = "toefl-access.toml"
_ENV = {
    "db": "TOEFL_ACCESS_DB",
    "base_url": "TOEFL_ACCESS_BASE_URL",
    "authcode_file": "TOEFL_ACCESS_AUTHCODE_FILE",
    "sensitive": "TOEFL_ACCESS_SENSITIVE",
    "hash_key_file": "TOEFL_ACCESS_HASH_KEY_FILE",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting with its default; ``source`` says where each non-default came from."""

    db: str = "sqlite:///toefl-access.db"
    base_url: str | None = None
    authcode_file: str | None = None
    sensitive: str = "hash"
    hash_key_file: str | None = None
    sync: Mapping[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    source: Mapping[str, str] = field(default_factory=dict)

    def masked(self) -> dict[str, Any]:
        """The settings as shown to people: secrets masked, with where each came from."""
        key = os.environ.get("TOEFL_ACCESS_AUTHCODE")
        out: dict[str, Any] = {
            "config": self.config_path or "(none)",
            "db": _mask_url(self.db),
            "base_url": self.base_url or "(production)",
            "authcode": ("set in TOEFL_ACCESS_AUTHCODE (" + _mask(key) + ")")
            if key
            else (f"from file {self.authcode_file}" if self.authcode_file else "(not set)"),
            "sensitive": self.sensitive,
            "hash_key_file": self.hash_key_file or "(kept in the database)",
        }
        for k, v in self.sync.items():
            out[f"sync.{k}"] = v
        return out


def _mask(secret: str) -> str:
    return f"{secret[:2]}…{len(secret)} chars" if len(secret) > 6 else "***"


def _mask_url(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def load(
    *, config: str | None = None, env: Mapping[str, str] | None = None, **flags: Any
) -> Settings:
    """Read the file, then the environment, then the non-None ``flags``."""
    env = os.environ if env is None else env
    path = config or env.get("TOEFL_ACCESS_CONFIG")
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    if path:
        data = _read_toml(path)
        if "authcode" in data:
            raise UsageError(
                f"{path}: do not put the API key in the config file; set authcode_file to a "
                "file only you can read, or the TOEFL_ACCESS_AUTHCODE environment variable"
            )
        known = {f.name for f in fields(Settings)} - {"config_path", "source"}
        for key, value in data.items():
            if key not in known:
                raise UsageError(
                    f"{path}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
                )
            values[key] = value
            source[key] = path
    for key, var in _ENV.items():
        if env.get(var):
            values[key] = env[var]
            source[key] = var
    for key, value in flags.items():
        if value is not None:
            values[key] = value
            source[key] = "flag"
    settings = replace(Settings(), **values, config_path=path, source=source)
    if settings.sensitive not in SENSITIVE_MODES:
        raise UsageError(
            f"sensitive = {settings.sensitive!r} (from {source.get('sensitive')}) is not one "
            f"of {', '.join(SENSITIVE_MODES)}"
        )
    return settings


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"the config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from None
