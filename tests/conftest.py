"""Shared fixtures. ``store_url`` runs a test on SQLite and on PostgreSQL.

PostgreSQL needs a server: ``scripts/test.sh`` starts a private one and sets
``TOEFL_ACCESS_TEST_PG_URL`` (or, by hand, ``. scripts/pg.sh; pg_start``). Each test gets a
fresh database on it, dropped afterwards. Without the variable the PostgreSQL cases skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG_ENV = "TOEFL_ACCESS_TEST_PG_URL"


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on exit (skips without a server)."""
    base = pg_base_url()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV}: run scripts/test.sh, or `. scripts/pg.sh; "
            "pg_start` before pytest"
        )
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database (dropped after the test)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """The URL of a SQLite database file that does not exist yet."""
    return f"sqlite:///{os.fspath(tmp_path)}/toefl-access.db"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest) -> str:
    """A database URL for each backend: a SQLite file, then a fresh PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))
