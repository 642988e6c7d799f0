"""``db upgrade`` repairs a database that the code before schema revision 0004 wrote in the
wrong order: reports whose current row was the revision that arrived last, not the one
reported last.

``fixtures/v0003-recent-first-then-backfill.db.gz`` was written by that code (commit
59cd58d): the mock API (seed 9, 12 reports a day), ``sync --since 2026-02-10 --until
2026-03-01`` then ``sync --since 2026-01-01 --until 2026-03-01``, now 2026-03-05. Three of its
694 reports carry an old score as the current row. On PostgreSQL the same rows are copied
into a database at revision 0003 first.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import canonical

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.cli import main
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.store import Store, open_store
from toefl_access.store import schema as s
from toefl_access.sync import SyncSettings, sync

FIXTURE = Path(__file__).parent / "fixtures" / "v0003-recent-first-then-backfill.db.gz"
J1 = dt.datetime(2026, 1, 1, tzinfo=UTC)
M1 = dt.datetime(2026, 3, 1, tzinfo=UTC)
NOW = dt.datetime(2026, 3, 5, tzinfo=UTC)
#: Tables in an order that respects their foreign keys.
TABLES = (
    "sync_runs", "response_archive", "score_reports", "report_revisions", "window_coverage",
    "window_failures", "cancellations", "export_bookmarks", "store_meta",
)  # fmt: skip


def sync_clean(store: Store) -> None:
    """January and February, in order, from the mock the fixture was written from."""
    with Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
                transport=MockApi(seed=9, per_day=12).transport()) as client:  # fmt: skip
        assert sync(client, store, SyncSettings(since=J1, until=M1), now=NOW).exit_code == 0


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with open_store(f"sqlite:///{tmp_path_factory.mktemp('clean')}/clean.db") as store:
        sync_clean(store)
        return canonical(store)


def _old_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "old.db"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return f"sqlite:///{path}"


def _copy_to_postgres(sqlite_url: str, pg_url: str) -> None:
    """The fixture's rows in a PostgreSQL database at schema revision 0003."""
    with open_store(pg_url, upgrade=False) as target:
        assert target.upgrade("0003") == "0003"
    source, target_engine = sa.create_engine(sqlite_url), sa.create_engine(
        pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    with source.connect() as src, target_engine.begin() as dst:
        for name in TABLES:
            table = s.metadata.tables[name]
            present = [c["name"] for c in sa.inspect(src).get_columns(name)]
            cols = [table.c[c] for c in present]
            rows = [dict(row._mapping) for row in src.execute(sa.select(*cols))]
            if rows:
                dst.execute(table.insert(), rows)
            if "id" in present:
                dst.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {name}))"
                ))  # fmt: skip
    source.dispose()
    target_engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = _old_sqlite(tmp_path)
    if request.param == "sqlite":
        yield url
        return
    from conftest import fresh_pg_database

    with fresh_pg_database("upgrade") as pg_url:
        _copy_to_postgres(url, pg_url)
        yield pg_url


def _bookmark_everything(url: str) -> None:
    """An export bookmark that has seen every revision the old code wrote."""
    with open_store(url, upgrade=False) as store, store.engine.begin() as conn:
        top = conn.execute(sa.select(sa.func.max(s.report_revisions.c.id))).scalar_one()
        conn.execute(s.export_bookmarks.insert().values(
            name="crm", revision_id=top, cancellation_id=0, exported_at=NOW, rows=694,
        ))  # fmt: skip


def test_db_upgrade_repairs_the_order_of_an_old_database(old_url: str, clean: Any) -> None:
    with open_store(old_url, upgrade=False) as store:
        assert store.revision() == "0003"
        assert canonical_reports(store) != clean[0]  # the old code got it wrong
    _bookmark_everything(old_url)

    result = CliRunner().invoke(main, ["db", "upgrade", "--db", old_url])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Database at revision {s.HEAD}.\nRevisions recomputed in the order the vendor "
        "reported them: 3 report(s) had an older revision as their current row and were "
        "corrected (the next `export --since-last` lists them as changed); 5 report(s) in all "
        "had their history reordered.\n"
    )

    with open_store(old_url) as store:
        assert store.revision() == s.HEAD
        assert canonical(store) == clean
        status = store.status()
        assert status.misordered == 0
        (ledger,) = [run for run in status.runs if run.params.get("upgrade") == "0004"]
        assert ledger.params["corrected"] == 3
        # the corrected reports are news for the CRM: changed, with the rescored score
        with store.export_rows(since_last="crm") as batch:
            rows = list(batch.rows)
        assert len(rows) == 3 and {row["change"] for row in rows} == {"changed"}


def canonical_reports(store: Any) -> set[tuple[Any, ...]]:
    t = s.score_reports
    fields = [t.c[n] for n in s.FIELDS if n != "security_id_number"]
    with store.engine.connect() as conn:
        return {
            tuple(row)
            for row in conn.execute(
                sa.select(t.c.report_key, t.c.content_hash, t.c.revisions, t.c.raw, *fields)
            )
        }


def test_status_warns_of_a_misordered_report_and_db_upgrade_repairs_it(
    store_url: str, clean: Any
) -> None:
    with open_store(store_url) as store:
        sync_clean(store)
        assert store.status().misordered == 0
        r = s.report_revisions
        with store.engine.begin() as conn:  # another program swaps two revisions
            key = conn.execute(sa.select(r.c.report_key).where(r.c.revision == 2)).scalars().first()
            conn.execute(r.update().where(r.c.report_key == key).values(revision=-r.c.revision))
            conn.execute(r.update().where(r.c.report_key == key, r.c.revision == -1)
                         .values(revision=2))  # fmt: skip
            conn.execute(r.update().where(r.c.report_key == key, r.c.revision == -2)
                         .values(revision=1))  # fmt: skip
        assert store.status().misordered == 1
    status = CliRunner().invoke(main, ["status", "--db", store_url])
    assert status.exit_code == 0
    assert ("Warning: 1 report(s) have a current row that is not their latest reported "
            "revision") in status.stderr  # fmt: skip
    repaired = CliRunner().invoke(main, ["db", "upgrade", "--db", store_url])
    assert repaired.exit_code == 0, repaired.output
    assert "0 report(s) had an older revision as their current row" in repaired.output
    assert "1 report(s) in all had their history reordered" in repaired.output
    with open_store(store_url) as store:
        assert store.status().misordered == 0
        assert canonical(store) == clean
