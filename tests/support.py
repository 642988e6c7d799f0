"""Helpers shared by the sync tests and the drills."""

from __future__ import annotations

from typing import Any

from toefl_access.store import Store


def snapshot(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the database holds, by content: current reports and every revision, by hash."""
    reports = {(r["report_key"], r["content_hash"], r["revisions"]) for r in store.reports()}
    revisions = {
        (key, rev["revision"], rev["content_hash"])
        for key, _, _ in reports
        for rev in store.revisions(key)
    }
    return reports, revisions
