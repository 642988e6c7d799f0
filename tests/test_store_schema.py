"""Opening a store: migrations, upgrades in place, files, URLs and the errors users see."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import stat
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from toefl_access.errors import MissingExtraError, StoreError, UsageError
from toefl_access.formats import layout
from toefl_access.store import Store, mask_url, open_store
from toefl_access.store import schema as s

UTC = dt.UTC


def schema_diff(store: Store) -> list[object]:
    """What Alembic finds different between the database and ``schema.metadata``."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": s.VERSION_TABLE})
        return list(compare_metadata(ctx, s.metadata))


def test_migrations_create_the_schema_in_an_empty_database(store_url: str) -> None:
    with open_store(store_url, upgrade=False) as store:
        assert store.revision() == ""
        assert store.upgrade() == s.HEAD
        assert store.revision() == s.HEAD
        assert schema_diff(store) == []
        assert store.upgrade() == s.HEAD  # again: nothing to do


def test_open_store_applies_the_migrations_on_first_use(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.revision() == s.HEAD
        assert schema_diff(store) == []


def test_a_database_of_revision_1_upgrades_in_place(store_url: str) -> None:
    with open_store(store_url, upgrade=False) as store:
        assert store.upgrade("0001") == "0001"
        with store.engine.begin() as conn:
            assert not sa.inspect(conn).has_table("sync_locks")
            conn.execute(
                sa.text("INSERT INTO sync_runs (started_at, params) VALUES (:t, '{}')"),
                {"t": dt.datetime(2026, 3, 1, tzinfo=UTC)},
            )
            run_id = conn.execute(sa.text("SELECT max(id) FROM sync_runs")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO score_reports (report_key, registration_number, total, raw, "
                    "layout, format, content_hash, first_seen, last_seen, revisions) VALUES "
                    "('R1||1234|', 'R1', 99, :raw, 'scorelink-1600', 'text', :h, :t, :t, 1)"
                ),
                {"raw": b"raw line", "h": b"0123456789abcdef", "t": dt.datetime(2026, 3, 1)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO window_coverage (window_start, window_end, run_id, completed_at) "
                    "VALUES (:a, :b, :r, :b)"
                ),
                {"a": dt.datetime(2026, 3, 1), "b": dt.datetime(2026, 3, 2), "r": run_id},
            )
    with open_store(store_url) as store:  # a newer toefl-access opens it
        assert store.revision() == s.HEAD
        assert schema_diff(store) == []
        (row,) = store.reports()
        assert (row["report_key"], row["total"], row["raw"]) == ("R1||1234|", 99, b"raw line")
        assert store.watermark() == dt.datetime(2026, 3, 2, tzinfo=UTC)
        runs = {run.id: run for run in store.status().runs}
        assert runs[run_id].pid is None  # a column added by revision 2
        # revision 4 recomputed the revisions and said so in the ledger
        (upgrade,) = [run for run in runs.values() if run.params.get("upgrade") == "0004"]
        assert (upgrade.params["corrected"], upgrade.params["reordered"]) == (0, 0)
        with store.sync_lock():  # the table added by revision 2
            pass


def test_the_schema_head_is_the_newest_migration() -> None:
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(s.__file__).with_name("migrations"))
    )
    assert ScriptDirectory.from_config(cfg).get_current_head() == s.HEAD


def test_every_field_of_both_layouts_has_a_typed_column() -> None:
    kinds = {"score": sa.Integer, "band": sa.Float, "date": sa.Date}
    for name in (layout.CURRENT, layout.LEGACY):
        for f in layout.builtin(name).data_fields:
            column = s.score_reports.c[f.name]
            assert isinstance(column.type, kinds.get(f.kind, sa.Text)), f.name


def test_a_newer_schema_is_refused(store_url: str) -> None:
    with open_store(store_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {s.VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer version; upgrade toefl-access"):
        open_store(store_url)


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def open_it() -> None:
        try:
            start.wait()
            with open_store(store_url) as store:
                assert store.revision() == s.HEAD
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- SQLite files ---------------------------------------------------------------------------


def test_a_new_sqlite_database_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "scores.db"
    old = os.umask(0o022)
    try:
        with open_store(f"sqlite:///{path}") as store:
            store.begin_run(started_at=dt.datetime.now(UTC), params={})
            for p in (path, Path(f"{path}-wal")):
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        os.umask(old)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_relative_sqlite_path_is_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///toefl-access.db") as store:
        assert store.revision() == s.HEAD
    assert (tmp_path / "toefl-access.db").is_file()


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/nowhere/scores.db")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 200)
    with pytest.raises(StoreError, match="is not a SQLite database"):
        open_store(f"sqlite:///{path}")


def test_an_in_memory_sqlite_database_is_refused() -> None:
    with pytest.raises(StoreError, match="as a file path"):
        open_store("sqlite://")


# -- URLs and PostgreSQL errors -----------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "scores.db", "http://example.org"])
def test_unsupported_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError, match="sqlite:///"):
        open_store(url)


def test_mask_url() -> None:
    assert mask_url("postgresql://ann:s3cret@db.example.org:5432/scores") == (
        "postgresql://ann:***@db.example.org:5432/scores"
    )
    assert mask_url("postgresql://db/scores?user=ann&password=s3cret") == (
        "postgresql://db/scores?user=ann&password=***"
    )
    assert mask_url("sqlite:///toefl-access.db") == "sqlite:///toefl-access.db"


def test_an_unreachable_postgresql_server(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://ann:s3cret-pw@127.0.0.1:{port}/scores?connect_timeout=5"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert message.startswith(f"cannot connect to the database at postgresql://ann:***@127.0.0.1:{port}/")
    assert "check --db / TOEFL_ACCESS_DB" in message
    assert "s3cret-pw" not in message and "s3cret-pw" not in repr(info.value)


def test_without_psycopg_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"toefl-access\[postgres\]"):
        open_store("postgresql://ann@127.0.0.1/scores")


def test_the_store_never_shows_the_password(pg_url: str) -> None:
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:not-needed@")
    with open_store(url) as store:
        for text in (store.url, repr(store), store.status().url):
            assert "not-needed" not in text and "postgres:***@" in text
