"""Options shared by the commands that take their defaults from the settings.

``--config PATH`` names the settings file (else ``$TOEFL_ACCESS_CONFIG``, else
``./toefl-access.toml``); ``--db`` overrides the database of the file and of
``TOEFL_ACCESS_DB``. Flags default to None so that :func:`toefl_access.settings.load` can
tell a flag from a default and apply file < environment < flag.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import UsageError
from ..settings import Settings, load

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file (TOML). Default: $TOEFL_ACCESS_CONFIG, else ./toefl-access.toml.",
)
db_option = click.option(
    "--db",
    "db_url",
    default=None,
    help="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB. Default: "
    "TOEFL_ACCESS_DB, else db in the settings file, else sqlite:///toefl-access.db.",
)


def settings_options(f: F) -> F:
    """``--config`` and ``--db`` on a command (in that order in its help)."""
    return config_option(db_option(f))


def load_settings(config_path: str | None, **flags: Any) -> Settings:
    """The effective settings: the file, then the environment, then the given flags."""
    return load(config=config_path, **flags)


def existing_db(url: str) -> str:
    """The URL, unless it names a SQLite file that does not exist: a command that reads
    would otherwise create an empty database and report that it holds nothing."""
    import sqlalchemy as sa

    from ..settings import NAME_SLOT

    if NAME_SLOT in url:
        raise UsageError(
            f"db {url!r} is the template of the [[integration]] databases: name one with "
            "--db, or with --integration NAME where the command has it"
        )
    try:
        parsed = sa.make_url(url)
        database = parsed.database or ""
        missing = (parsed.drivername.startswith("sqlite") and database
                   and database != ":memory:" and not os.path.exists(database))  # fmt: skip
    except (sa.exc.ArgumentError, ValueError):
        return url  # open_store explains
    if missing:
        raise UsageError(
            f"there is no database at {database}: run `toefl-access sync` first, or "
            "point --db (or TOEFL_ACCESS_DB, or db in the settings file) at yours"
        )
    return url
