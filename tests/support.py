"""Helpers shared by the tests and the drills."""

from __future__ import annotations

import os
from typing import Any

import pytest

from toefl_access.store import Store

#: The variables that carry a user's settings: the tests that read settings run without them.
USER_VARIABLES = (
    "TOEFL_ACCESS_CONFIG", "TOEFL_ACCESS_DB", "TOEFL_ACCESS_BASE_URL", "TOEFL_ACCESS_AUTHCODE",
    "TOEFL_ACCESS_AUTHCODE_FILE", "TOEFL_ACCESS_SENSITIVE", "TOEFL_ACCESS_HASH_KEY_FILE",
    "TOEFL_ACCESS_LAYOUT", "TOEFL_ACCESS_ALERT_WEBHOOK",
)  # fmt: skip


def away_from_the_user(folder: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in ``folder`` (no ./toefl-access.toml) without the user's variables."""
    monkeypatch.chdir(folder)
    for var in USER_VARIABLES:
        monkeypatch.delenv(var, raising=False)


def snapshot(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the database holds, by content: current reports and every revision, by hash."""
    reports = {(r["report_key"], r["content_hash"], r["revisions"]) for r in store.reports()}
    revisions = {
        (key, rev["revision"], rev["content_hash"])
        for key, _, _ in reports
        for rev in store.revisions(key)
    }
    return reports, revisions


def canonical(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the database holds by content, without ids, clocks, runs or the hash key: every
    current report (typed fields but the hashed ID number, raw line, content hash, number of
    revisions) and every revision in its place (window, line) with its stored content."""
    import sqlalchemy as sa

    from toefl_access.store import schema as s

    t, r = s.score_reports, s.report_revisions
    fields = [t.c[n] for n in s.FIELDS if n != "security_id_number"]
    with store.engine.connect() as conn:
        reports = {
            tuple(row)
            for row in conn.execute(
                sa.select(t.c.report_key, t.c.content_hash, t.c.revisions, t.c.raw, *fields)
            )
        }
        revisions = {
            tuple(row)
            for row in conn.execute(
                sa.select(r.c.report_key, r.c.revision, r.c.content_hash, r.c.window_start,
                          r.c.window_end, r.c.line, r.c.raw)
            )
        }  # fmt: skip
    return reports, revisions
