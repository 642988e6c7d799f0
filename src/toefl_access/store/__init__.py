"""Where score reports are kept: SQLite or PostgreSQL, behind one contract.

>>> from toefl_access.store import open_store
>>> with open_store("sqlite:///toefl-access.db") as store:    # doctest: +SKIP
...     print(store.status().watermark)

``open_store`` creates the database if needed (a SQLite file readable by its owner only)
and applies the schema migrations on first use. ``postgresql://user:pass@host/db`` needs
the ``[postgres]`` extra (psycopg 3). See :mod:`toefl_access.store.schema` for the tables.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from ..errors import UsageError
from .base import Store
from .matching import MatchReportCounts
from .structs import (
    AlertEvent,
    DepartmentCount,
    FailedWindow,
    Incoming,
    KeyHistory,
    LockHolder,
    MatchDecision,
    MatchProposal,
    MatchRun,
    RunSummary,
    StoreStatus,
    WindowCounts,
    incoming_from_records,
    report_key,
)
from .writing import compress_body

__all__ = [
    "AlertEvent",
    "DepartmentCount",
    "FailedWindow",
    "Incoming",
    "KeyHistory",
    "LockHolder",
    "MatchDecision",
    "MatchProposal",
    "MatchReportCounts",
    "MatchRun",
    "RunSummary",
    "Store",
    "StoreStatus",
    "WindowCounts",
    "compress_body",
    "incoming_from_records",
    "mask_url",
    "open_store",
    "report_key",
]

_SCHEMES = {
    "sqlite": "sqlite", "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql", "postgres": "postgresql", "postgresql+psycopg": "postgresql",
}  # fmt: skip


def mask_url(url: str) -> str:
    """The URL with any password (``user:***@`` or ``password=***``) masked."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&;\s]*", r"\1***", url)


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open (creating if needed) the store at ``url`` and bring its schema up to date.

    ``sqlite:///path.db`` (relative to the current folder; ``sqlite:////abs/path.db``) or
    ``postgresql://user:password@host:port/database``. ``upgrade=False`` leaves the schema
    as it is (for ``toefl-access db`` and tests).
    """
    display = mask_url(url)
    try:
        if "\x00" in url:
            raise ValueError("a NUL character")
        parsed = sa.make_url(url)
        parsed.port  # noqa: B018 (a port that is not a number raises here)
    except (sa.exc.ArgumentError, ValueError):
        raise UsageError(
            f"{display!r} is not a database URL; use sqlite:///toefl-access.db or "
            "postgresql://user:password@host/database (--db / TOEFL_ACCESS_DB)"
        ) from None
    backend = _SCHEMES.get(parsed.drivername)
    if backend is None:
        raise UsageError(
            f"unsupported database {parsed.drivername!r} in {display}; use sqlite:///FILE "
            "or postgresql://... (--db / TOEFL_ACCESS_DB)"
        )
    store: Store
    if backend == "sqlite":
        from .sqlite import SQLiteStore

        store = SQLiteStore(parsed, display_url=display)
    else:
        from .postgres import PostgresStore

        store = PostgresStore(parsed, display_url=display)
    if upgrade:
        try:
            store._ensure_schema()
        except BaseException:
            store.close()
            raise
    return store
