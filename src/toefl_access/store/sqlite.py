"""The SQLite backend: a single file, owner-only, in WAL mode; bulk writes by executemany.

Transactions are explicit: the ``sqlite3`` module's own implicit transactions are turned
off and every write transaction starts with ``BEGIN IMMEDIATE`` (so two writers queue for
the write lock at the start instead of failing halfway), every read with a plain
``BEGIN`` (WAL readers never wait for the writer).

The sync lock is a row in ``sync_locks`` taken in a ``BEGIN IMMEDIATE`` transaction, with the
holder's pid, host and a heartbeat. Why a row and not a transaction held open for the whole
run: the run commits one transaction per window, and SQLite has a single write lock, so a
transaction held open by the lock would block the run's own writes. Why not a lock file: the
row lives in the database itself (nothing else to clean up or to keep next to a moved file)
and ``status`` can show who holds it. A holder that died is detected without waiting: on the
same host its pid no longer exists; on another host (a shared folder) its heartbeat, renewed
every :data:`HEARTBEAT` seconds by a background thread, is older than :data:`STALE`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from ..errors import LockedError, StoreError
from . import schema as s
from .base import Store
from .core import StateRow
from .structs import LockHolder
from .writing import INSERT_COLUMNS, REVISION_COLUMNS, UPDATE_COLUMNS, quoted, update_params

BUSY_TIMEOUT_S = 60
HEARTBEAT = 20.0
STALE = dt.timedelta(minutes=5)
WAIT_POLL = 0.25
_CHUNK = 900  # keys per IN (...) query: below every SQLite version's variable limit
_LOCK = "sync"

_INSERT = (
    f"INSERT INTO score_reports ({quoted(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
)
_UPDATE = (
    f"UPDATE score_reports SET {', '.join(f'{chr(34)}{c}{chr(34)} = ?' for c in UPDATE_COLUMNS)} "
    "WHERE report_key = ?"
)
_INSERT_REVISION = (
    f"INSERT INTO report_revisions ({quoted(REVISION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REVISION_COLUMNS))})"
)
_INSERT_SIGHTING = (
    "INSERT INTO report_sightings (report_key, window_start, line, content_hash, window_end, "
    "run_id, received_at, archive_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# The current revision's content columns are NULL: leave them out rather than bind NULLs
# (binding None is the slow path of the sqlite3 module).
_LEAN_COLUMNS = tuple(c for i, c in enumerate(REVISION_COLUMNS) if not 3 <= i < 9)
_INSERT_LEAN_REVISION = (
    f"INSERT INTO report_revisions ({quoted(_LEAN_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_LEAN_COLUMNS))})"
)


# Parameter adapters (process-wide in the sqlite3 module; each one converts exactly as the
# module itself would, so nothing else in the process sees a difference):
# - dates go in as ISO text, as the module's own adapter (deprecated since 3.12) does;
# - None and bytes are not on the module's fast path: without an adapter each one costs two
#   failed attribute lookups before binding (a report row binds ~40 NULLs), with a C-level
#   identity adapter it is a dict hit. This halves the cost of inserting a report row.
sqlite3.register_adapter(dt.date, dt.date.isoformat)
_NOTHING: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)  # _NOTHING.get(None) is None: NULL
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b: binds the BLOB


def _instant(value: dt.datetime) -> str:
    return s.to_utc(value).replace(tzinfo=None).strftime(s.SQLITE_INSTANT)


def _parse_instant(text: str) -> dt.datetime:
    return s.to_utc(dt.datetime.fromisoformat(text))


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SQLiteStore(Store):
    backend = "sqlite"
    _text_values = True

    def __init__(self, url: sa.URL, *, display_url: str) -> None:
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise StoreError(
                f"{display_url}: give the SQLite database as a file path, e.g. "
                "sqlite:///toefl-access.db (an in-memory database cannot hold a sync)"
            )
        self.path = Path(database)
        _create_private(self.path, display_url)
        engine = sa.create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, display_url=display_url)

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def _translate(self, exc: BaseException, doing: str) -> StoreError:
        text = str(exc)
        if "database is locked" in text or "database is busy" in text:
            return StoreError(
                f"the SQLite database {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_S} s while {doing}; try again when it has finished"
            )
        if "unable to open database file" in text:
            return StoreError(
                f"cannot open the SQLite database {self.path}: check that its folder exists "
                "and that you may write there (--db / TOEFL_ACCESS_DB)"
            )
        if "file is not a database" in text:
            return StoreError(
                f"{self.path} is not a SQLite database (or it is damaged); check --db / "
                "TOEFL_ACCESS_DB"
            )
        if "disk is full" in text or "disk I/O error" in text:
            return StoreError(
                f"the disk of the SQLite database {self.path} failed while {doing}: {text}"
            )
        return StoreError(f"the SQLite database {self.path} failed while {doing}: {text}")

    # -- bulk paths -----------------------------------------------------------------------

    def _load_state(self, cur: Any, keys: list[str], since: Any) -> Iterator[StateRow]:
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            cur.execute(
                "SELECT r.report_key, r.id, r.content_hash, r.revisions, g.window_start, g.line,"
                " g.content_hash FROM score_reports r LEFT JOIN report_sightings g"
                " ON g.report_key = r.report_key AND g.window_start >= ?"
                f" WHERE r.report_key IN ({', '.join('?' * len(part))})",
                [since, *part],
            )
            yield from cur.fetchall()

    def _insert_sightings(self, cur: Any, rows: list[list[Any]]) -> None:
        cur.executemany(_INSERT_SIGHTING, rows)

    def _insert_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        cur.executemany(_INSERT, rows)

    def _update_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        cur.executemany(_UPDATE, [update_params(r) for r in rows])

    def _touch(self, cur: Any, ids: list[int], when: Any) -> None:
        # The narrow table, never the wide report row (see schema.report_seen).
        cur.executemany(
            "INSERT INTO report_seen (report_id, last_seen) VALUES (?, ?) ON CONFLICT "
            "(report_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
            [(i, when) for i in ids],
        )

    def _insert_revisions(self, cur: Any, rows: list[list[Any]]) -> None:
        # In runs, so that ids keep the order of arrival.
        for lean, run in itertools.groupby(rows, key=lambda r: r[3] is None):
            if lean:
                cur.executemany(_INSERT_LEAN_REVISION, [r[:3] + r[9:] for r in run])
            else:
                cur.executemany(_INSERT_REVISION, run)

    # -- the sync lock --------------------------------------------------------------------

    @contextmanager
    def sync_lock(self, wait: bool = False) -> Iterator[None]:
        token = uuid.uuid4().hex
        with self._guard("taking the sync lock"):
            while True:
                holder = self._try_lock(token)
                if holder is None:
                    break
                if not wait:
                    raise LockedError(
                        f"another toefl-access sync is running on this database "
                        f"({holder.describe()}); wait for it or use --wait"
                    )
                time.sleep(WAIT_POLL)
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(token, stop), name="toefl-access-lock", daemon=True
        )
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()
            with self._guard("releasing the sync lock"), self._write() as conn:
                conn.exec_driver_sql(
                    "DELETE FROM sync_locks WHERE name = ? AND token = ?", (_LOCK, token)
                )

    def _try_lock(self, token: str) -> LockHolder | None:
        """Take the lock (returning None) or return its live holder."""
        now = dt.datetime.now(dt.UTC)
        host = socket.gethostname()
        with self._write() as conn:
            row = conn.exec_driver_sql(
                "SELECT pid, host, since, heartbeat FROM sync_locks WHERE name = ?", (_LOCK,)
            ).first()
            if row is not None:
                holder = LockHolder(
                    pid=row[0], host=row[1], since=_parse_instant(row[2]),
                    heartbeat=_parse_instant(row[3]),
                )
                if not self._stale(holder, now, host):
                    return holder
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO sync_locks (name, token, pid, host, since, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_LOCK, token, os.getpid(), host, _instant(now), _instant(now)),
            )
        return None

    @staticmethod
    def _stale(holder: LockHolder, now: dt.datetime, host: str) -> bool:
        if holder.host == host and not _alive(holder.pid):
            return True
        return now - holder.heartbeat > STALE

    def _heartbeat(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT):
            try:
                with self._write() as conn:
                    conn.exec_driver_sql(
                        "UPDATE sync_locks SET heartbeat = ? WHERE name = ? AND token = ?",
                        (_instant(dt.datetime.now(dt.UTC)), _LOCK, token),
                    )
            except Exception:  # the next beat tries again; the run must not die of it
                continue

    def lock_holder(self) -> LockHolder | None:
        with self._guard("reading the sync lock"), self._read() as conn:
            if not sa.inspect(conn).has_table("sync_locks"):
                return None
            row = conn.exec_driver_sql(
                "SELECT pid, host, since, heartbeat FROM sync_locks WHERE name = ?", (_LOCK,)
            ).first()
        if row is None:
            return None
        holder = LockHolder(
            pid=row[0], host=row[1], since=_parse_instant(row[2]),
            heartbeat=_parse_instant(row[3]),
        )
        stale = self._stale(holder, dt.datetime.now(dt.UTC), socket.gethostname())
        return None if stale else holder


def _create_private(path: Path, display: str) -> None:
    """Create the database file readable and writable by its owner only (0600)."""
    if path.exists():
        return
    if not path.parent.is_dir():
        raise StoreError(
            f"cannot create the SQLite database {path}: the folder {path.parent} does not "
            "exist; create it or choose another --db / TOEFL_ACCESS_DB"
        )
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create the SQLite database {path}: {exc.strerror}") from None
    os.close(fd)


def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Turn off the module's implicit transactions: _on_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    # A report row is about 2 KB: 16 KB pages hold seven where 4 KB pages hold one (the
    # rest wasted). Only takes effect while the file is still empty.
    cur.execute("PRAGMA page_size = 16384")
    _wal(cur)
    # In WAL mode NORMAL never corrupts; a power cut may lose the last commits, and then
    # their coverage rows with them, so the next run fetches those windows again.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA cache_size = -65536")
    cur.execute("PRAGMA temp_store = MEMORY")
    cur.close()


def _wal(cur: sqlite3.Cursor) -> None:
    """Put the database in WAL mode (once: it stays so). Switching needs the file to itself
    and SQLite's busy handler does not wait for that, so several first connections to a new
    file at once (concurrent first opens) wait for each other here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _on_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
