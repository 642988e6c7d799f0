"""The PostgreSQL backend, through psycopg 3: bulk inserts by binary COPY.

The sync lock is a session advisory lock (``pg_advisory_lock``) held on a dedicated
connection for the whole run: the server releases it by itself when that connection ends,
so a killed run never leaves a stale lock. A row in ``sync_locks`` tells ``status`` and a
refused second run who holds it. Schema upgrades, cancellations and match decisions take a
transaction-level advisory lock each.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ..errors import LockedError, MissingExtraError, StoreError
from .base import Store
from .core import StateRow
from .schema import FIELD_KINDS, REPORT_META
from .structs import LockHolder
from .writing import INSERT_COLUMNS, REVISION_COLUMNS, UPDATE_COLUMNS, quoted, update_params

#: The advisory lock keys: (namespace, what). The namespace is "tfla" as 32 bits.
LOCK_NAMESPACE = 0x74666C61
SYNC_LOCK = 1
MIGRATION_LOCK = 2
CANCEL_LOCK = 3
MATCH_LOCK = 4
_LOCK = "sync"

_PG_TYPES = {"score": "int4", "band": "float8", "date": "date"}
_META_TYPES = {
    "raw": "bytea", "layout": "text", "format": "text", "extra": "text", "warnings": "text",
    "content_hash": "bytea", "first_seen": "timestamptz", "last_seen": "timestamptz",
    "revisions": "int4",
}  # fmt: skip
REPORT_TYPES = ["text", *(_PG_TYPES.get(k, "text") for k in FIELD_KINDS.values()),
                *(_META_TYPES[c] for c in REPORT_META)]
REVISION_TYPES = [
    "text", "int4", "bytea", "bytea", "text", "text", "text", "text", "text", "timestamptz",
    "int4", "timestamptz", "timestamptz", "int8", "int4",
]
_COPY_REPORTS = f"COPY score_reports ({quoted(INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_REVISIONS = f"COPY report_revisions ({quoted(REVISION_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
SIGHTING_TYPES = ["text", "timestamptz", "int4", "bytea", "timestamptz", "int4", "timestamptz",
                  "int8"]
_COPY_SIGHTINGS = (
    "COPY report_sightings (report_key, window_start, line, content_hash, window_end, run_id, "
    "received_at, archive_id) FROM STDIN (FORMAT BINARY)"
)
_UPDATE = (
    f"UPDATE score_reports SET {', '.join(f'{chr(34)}{c}{chr(34)} = %s' for c in UPDATE_COLUMNS)} "
    "WHERE report_key = %s"
)


def require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise MissingExtraError("postgres", "psycopg", "A PostgreSQL database") from None


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: sa.URL, *, display_url: str) -> None:
        require_psycopg()
        self._password = url.password
        engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
        super().__init__(engine, display_url=display_url)

    def _translate(self, exc: BaseException, doing: str) -> StoreError:
        import psycopg

        text = str(exc).strip()
        if self._password:
            text = text.replace(str(self._password), "***")
        first = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, psycopg.OperationalError) and (
            "connection" in text.lower() or "connect" in text.lower()
        ):
            return StoreError(
                f"cannot connect to the database at {self.url}: {first}; "
                "check --db / TOEFL_ACCESS_DB and that the server is running"
            )
        return StoreError(f"the PostgreSQL database at {self.url} failed while {doing}: {text}")

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _migration_lock(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATION_LOCK)
        )

    def _cancel_lock(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, CANCEL_LOCK))

    def _match_lock(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, MATCH_LOCK))

    # -- bulk paths -----------------------------------------------------------------------

    def _load_state(self, cur: Any, keys: list[str], since: Any) -> Iterator[StateRow]:
        # Two queries, each on its index: as one join, the planner takes a freshly loaded
        # sightings table for a small one and scans it for every key (10x slower re-syncs).
        cur.execute(
            "SELECT report_key, id, content_hash, revisions FROM score_reports "
            "WHERE report_key = ANY(%s)",
            (keys,),
        )
        stored = {key: (id_, bytes(digest), n) for key, id_, digest, n in cur.fetchall()}
        if not stored:
            return
        cur.execute(
            "SELECT report_key, window_start, line, content_hash FROM report_sightings "
            "WHERE report_key = ANY(%s) AND window_start >= %s",
            (list(stored), since),
        )
        seen: set[str] = set()
        for key, start, line, digest in cur.fetchall():
            seen.add(key)
            yield key, *stored[key], start, line, bytes(digest)
        for key, state in stored.items():
            if key not in seen:
                yield key, *state, None, None, None

    def _insert_sightings(self, cur: Any, rows: list[list[Any]]) -> None:
        with cur.copy(_COPY_SIGHTINGS) as copy:
            copy.set_types(SIGHTING_TYPES)
            for row in rows:
                copy.write_row(row)

    def _insert_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        with cur.copy(_COPY_REPORTS) as copy:
            copy.set_types(REPORT_TYPES)
            for row in rows:
                copy.write_row(row)

    def _update_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        cur.executemany(_UPDATE, [update_params(r) for r in rows])

    def _touch(self, cur: Any, ids: list[int], when: Any) -> None:
        # The narrow table, never the wide report row (see schema.report_seen).
        cur.execute(
            "INSERT INTO report_seen (report_id, last_seen) SELECT unnest(%s::bigint[]), %s "
            "ON CONFLICT (report_id) DO UPDATE SET last_seen = "
            "GREATEST(report_seen.last_seen, EXCLUDED.last_seen)", (ids, when))

    def _insert_revisions(self, cur: Any, rows: list[list[Any]]) -> None:
        with cur.copy(_COPY_REVISIONS) as copy:
            copy.set_types(REVISION_TYPES)
            for row in rows:
                copy.write_row(row)

    # -- the sync lock --------------------------------------------------------------------

    @contextmanager
    def sync_lock(self, wait: bool = False) -> Iterator[None]:
        with self._guard("taking the sync lock"):
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            with self._guard("taking the sync lock"):
                got = conn.exec_driver_sql(
                    "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, SYNC_LOCK)
                ).scalar()
                if not got and not wait:
                    holder = self._holder_row(conn)
                    who = f" ({holder.describe()})" if holder else ""
                    raise LockedError(
                        f"another toefl-access sync is running on this database{who}; "
                        "wait for it or use --wait"
                    )
                if not got:
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, SYNC_LOCK)
                    )
                now = dt.datetime.now(dt.UTC)
                conn.exec_driver_sql(
                    "INSERT INTO sync_locks (name, token, pid, host, since, heartbeat) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                    "token = excluded.token, pid = excluded.pid, host = excluded.host, "
                    "since = excluded.since, heartbeat = excluded.heartbeat",
                    (_LOCK, str(os.getpid()), os.getpid(), socket.gethostname(), now, now),
                )
            try:
                yield
            finally:
                with self._guard("releasing the sync lock"):
                    conn.exec_driver_sql("DELETE FROM sync_locks WHERE name = %s", (_LOCK,))
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, SYNC_LOCK)
                    )
        finally:
            conn.close()

    def _holder_row(self, conn: sa.Connection) -> LockHolder | None:
        row = conn.exec_driver_sql(
            "SELECT pid, host, since, heartbeat FROM sync_locks WHERE name = %s", (_LOCK,)
        ).first()
        if row is None:
            return None
        return LockHolder(
            pid=row[0], host=row[1], since=row[2].astimezone(dt.UTC),
            heartbeat=row[3].astimezone(dt.UTC),
        )

    def lock_holder(self) -> LockHolder | None:
        with self._guard("reading the sync lock"), self._read() as conn:
            held = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::int8 = %s AND objid::int8 = %s AND objsubid = 2 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (LOCK_NAMESPACE, SYNC_LOCK),
            ).scalar()
            if not held:
                return None
            if not sa.inspect(conn).has_table("sync_locks"):
                return None
            return self._holder_row(conn)
