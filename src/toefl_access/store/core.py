"""The core of a store: connections, error translation, schema migrations, the run ledger
and coverage. Writing (:mod:`.writing`) and reading (:mod:`.reading`) build on it; the
backends (:mod:`.sqlite`, :mod:`.postgres`) fill in the hooks.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import msgspec
import sqlalchemy as sa

from ..errors import StoreError, ToeflAccessError
from . import schema as s
from .structs import LockHolder, WindowCounts

_encode = msgspec.json.Encoder().encode

Interval = tuple[dt.datetime, dt.datetime]
StateRow = tuple[str, int, bytes, int, Any, int | None, bytes | None]


def merge(intervals: Sequence[Interval]) -> list[Interval]:
    """Sorted, merged intervals; touching ones (``[a,b)`` and ``[b,c)``) join."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


class StoreCore:
    """What every part of a store shares (see :class:`toefl_access.store.Store`)."""

    backend: ClassVar[str] = ""
    #: SQLite takes dates and instants as text; PostgreSQL takes Python objects.
    _text_values: ClassVar[bool] = False

    def __init__(self, engine: sa.Engine, *, display_url: str) -> None:
        self.engine = engine
        self.url = display_url

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection (the store cannot be used afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # -- backend hooks --------------------------------------------------------------------

    def _translate(self, exc: BaseException, doing: str) -> StoreError:
        """A driver error as a StoreError with advice (backends refine it)."""
        return StoreError(f"the database at {self.url} failed while {doing}: {exc}")

    def _write(self) -> AbstractContextManager[sa.Connection]:
        """A connection in a write transaction (committed on success, else rolled back)."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return self.engine.begin()

    def _migration_lock(self, conn: sa.Connection) -> None:
        """Serialise concurrent upgrades (inside the upgrade's transaction)."""

    def _cancel_lock(self, conn: sa.Connection) -> None:
        """Serialise concurrent cancellations (inside their transaction), so that the ids
        of ``cancellations`` rows are committed in order (what export bookmarks go by).
        SQLite needs nothing: its write transactions are serial already."""

    def _match_lock(self, conn: sa.Connection) -> None:
        """Serialise match decisions and match runs (inside their transaction), so that two
        people cannot confirm one test for two applicants at once, nor two runs leave their
        proposals mixed. SQLite needs nothing (serial write transactions)."""

    def sync_lock(self, wait: bool = False) -> AbstractContextManager[None]:
        """Hold the database's sync lock for a whole run.

        ``wait=False`` raises :class:`~toefl_access.errors.LockedError` at once when another
        process holds it; ``wait=True`` blocks until it is free.
        """
        raise NotImplementedError

    def lock_holder(self) -> LockHolder | None:
        """Who holds the sync lock now, or None."""
        raise NotImplementedError

    def _load_state(self, cur: Any, keys: list[str], since: Any) -> Iterator[StateRow]:
        """For the stored ones among ``keys``: ``(report_key, id, content_hash, revisions,
        window_start, line, sighting content_hash)``, one row per sighting in a window
        starting at or after ``since`` (a window start as :meth:`_value` gives it), or one
        row with the last three None when there is none."""
        raise NotImplementedError

    def _insert_sightings(self, cur: Any, rows: list[list[Any]]) -> None:
        """Insert ``report_sightings`` rows: key, window start, line, content hash, window end,
        run id, received at, archive id."""
        raise NotImplementedError

    def _insert_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        raise NotImplementedError

    def _update_reports(self, cur: Any, rows: list[list[Any]]) -> None:
        raise NotImplementedError

    def _touch(self, cur: Any, ids: list[int], when: Any) -> None:
        """Set ``last_seen`` of the reports with these ids."""
        raise NotImplementedError

    def _insert_revisions(self, cur: Any, rows: list[list[Any]]) -> None:
        raise NotImplementedError

    # -- errors ---------------------------------------------------------------------------

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Translate database errors (and only those) into StoreError."""
        try:
            yield
        except ToeflAccessError:
            raise
        except sa.exc.DBAPIError as exc:
            raise self._translate(exc.orig or exc, doing) from None
        except sa.exc.SQLAlchemyError as exc:
            raise self._translate(exc, doing) from None
        except Exception as exc:
            if _is_driver_error(exc):
                raise self._translate(exc, doing) from None
            raise

    # -- schema ---------------------------------------------------------------------------

    def revision(self) -> str:
        """The schema revision of the database (``""`` when it has no schema yet)."""
        with self._guard("reading the schema revision"), self._read() as conn:
            return _current_revision(conn)

    def upgrade(self, revision: str = "head") -> str:
        """Create or upgrade the schema (to ``revision``, default the newest); returns it.

        Safe to run concurrently: the upgrade holds a lock for its transaction.
        """
        from alembic import command
        from alembic.util import CommandError

        with self._guard("upgrading the schema"), self._write() as conn:
            self._migration_lock(conn)
            current = _current_revision(conn)
            if current and current not in _known_revisions():
                raise StoreError(
                    f"the database at {self.url} has schema revision {current}, which this "
                    "version of toefl-access does not know: it was written by a newer "
                    "version; upgrade toefl-access"
                )
            if current != (s.HEAD if revision == "head" else revision):
                try:
                    with _ALEMBIC:
                        command.upgrade(_alembic_config(conn), revision)
                except CommandError as exc:
                    raise StoreError(f"cannot upgrade the schema to {revision!r}: {exc}") from None
            return _current_revision(conn)

    def _ensure_schema(self) -> None:
        """Upgrade on first use; cheap when the schema is current."""
        if self.revision() != s.HEAD:
            self.upgrade()

    # -- the run ledger -------------------------------------------------------------------

    def begin_run(
        self,
        *,
        started_at: dt.datetime,
        params: dict[str, Any],
        windows_planned: int | None = None,
        key_fingerprint: str | None = None,
    ) -> int:
        """Open a ledger row for a run; returns its id. ``key_fingerprint`` tells keys apart
        on the status page (a short hash, never the key)."""
        import os

        with self._guard("starting a run in the ledger"), self._write() as conn:
            result = conn.execute(
                s.sync_runs.insert().values(
                    started_at=started_at,
                    params=_encode(params).decode(),
                    windows_planned=windows_planned,
                    pid=os.getpid(),
                    key_fingerprint=key_fingerprint,
                )
            )
            return _new_id(result)

    def finish_run(
        self,
        run_id: int,
        *,
        finished_at: dt.datetime,
        windows_done: int,
        windows_failed: int,
        counts: WindowCounts,
        nbytes: int,
        statuses: dict[int, int],
        error: str | None,
        windows_planned: int | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Close the ledger row of a run with its totals and exit code (0-3)."""
        with self._guard("finishing a run in the ledger"), self._write() as conn:
            started = conn.execute(
                sa.select(s.sync_runs.c.started_at).where(s.sync_runs.c.id == run_id)
            ).scalar_one_or_none()
            if started is None:
                raise StoreError(f"there is no run {run_id} in the ledger of {self.url}")
            values: dict[str, Any] = dict(
                finished_at=finished_at,
                windows_done=windows_done,
                windows_failed=windows_failed,
                new_reports=counts.new,
                changed_reports=counts.changed,
                unchanged_reports=counts.unchanged,
                older_reports=counts.older,
                warnings=counts.warnings,
                bytes_received=nbytes,
                statuses=_encode({str(k): v for k, v in sorted(statuses.items())}).decode(),
                duration_s=(s.to_utc(finished_at) - started).total_seconds(),
                error=error,
                exit_code=exit_code,
            )
            if windows_planned is not None:
                values["windows_planned"] = windows_planned
            conn.execute(s.sync_runs.update().where(s.sync_runs.c.id == run_id).values(**values))

    def record_failure(
        self,
        *,
        run_id: int,
        start: dt.datetime,
        end: dt.datetime,
        error: str,
        status: int | None,
    ) -> None:
        """Record a window that failed (the run goes on; coverage does not move)."""
        with self._guard("recording a failed window"), self._write() as conn:
            conn.execute(
                s.window_failures.insert().values(
                    run_id=run_id, window_start=start, window_end=end, error=error,
                    status=status, failed_at=dt.datetime.now(dt.UTC),
                )
            )

    # -- coverage -------------------------------------------------------------------------

    def coverage(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The completed UTC intervals, merged and sorted (aware datetimes)."""
        c = s.window_coverage.c
        with self._guard("reading the coverage"), self._read() as conn:
            rows = conn.execute(sa.select(c.window_start, c.window_end)).all()
        return merge([(a, b) for a, b in rows])

    def watermark(self) -> dt.datetime | None:
        """The end of the newest contiguous covered run: where the next run continues (minus
        the lookback). A backfill of older windows never moves it back; a window that
        failed is retried by the next runs (:meth:`failed_windows`), not by holding it."""
        cov = self.coverage()
        return cov[-1][1] if cov else None

    def failed_windows(self) -> list[Interval]:
        """The windows that failed in some run and are not completely covered since."""
        f = s.window_failures.c
        with self._guard("reading the failed windows"), self._read() as conn:
            rows = conn.execute(sa.select(f.window_start, f.window_end).distinct()).all()
        cov = self.coverage()
        return sorted(
            (a, b) for a, b in {(s.to_utc(a), s.to_utc(b)) for a, b in rows}
            if not any(c <= a and b <= d for c, d in cov)
        )


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (restored after, even on error).

    Writing a window allocates tens of thousands of lists and dicts that die by reference
    counting; each allocation burst would trigger collections that walk every live object
    (the window's rows included) for nothing: a fifth of the write's CPU time. Cycles made
    meanwhile, in any thread, are collected after the block. Nests and overlaps safely: only
    the block that found collection enabled enables it again.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _is_driver_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    mod = type(exc).__module__
    return mod.startswith("psycopg")


def _current_revision(conn: sa.Connection) -> str:
    if not sa.inspect(conn).has_table(s.VERSION_TABLE):
        return ""
    value = conn.execute(sa.text(f"SELECT version_num FROM {s.VERSION_TABLE}")).scalar()
    return str(value) if value else ""


#: Alembic's migration context is one per process (``alembic.context`` is a module-level
#: proxy): upgrades of several databases from threads (``sync --all``) take turns.
_ALEMBIC = threading.Lock()


def _migrations_dir() -> Path:
    return Path(__file__).with_name("migrations")


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def _alembic_config(conn: sa.Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.attributes["connection"] = conn
    return cfg
