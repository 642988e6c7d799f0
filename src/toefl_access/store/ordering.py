"""The ordering rule, in one place: which revision of a report is its current one.

**A report's revisions are ordered by when the vendor reported them: the start of the
window whose answer carried them, then their position (line, or item of a JSON answer) in
that answer. The current row is always the last revision in that order.** When, in which
run and by which window a revision *arrived* is kept on it as provenance (``received_at``,
``run_id``), never used to choose the current one. (Only when a window is read again and
its answer has *changed* does arrival count: the newer answer of that window comes after
the older one, as the vendor's later word on it. Answers read again unchanged add nothing.
Known limit: an answer that changes back, A then B then A at the same line, keeps B.)

Every record the API sends is a *sighting* (``report_sightings``: report key, window, line,
content digest, and the run that brought it). The revisions are the sightings in reported
order, consecutive equal contents taken together: one revision per run of equal contents,
placed where the run begins. So contents A, A, B, A give three revisions (A, B, A) and the
current one is A. Because the revisions are a function of the *set* of sightings, any order
of windows, runs, retries and backfills ends with the same revisions as one clean sync in
order.

In order (the common case) a new sighting comes after every stored sighting of its report,
and the write path (:mod:`.writing`) appends it. A sighting earlier than one already stored
(a backfill, a window retried in a later run) goes through :func:`reorder`,
which recomputes the report's revisions from all its sightings: it can add a revision to the
history, move the start of one or split it, and renumber them, but it never changes the
current content, which is the content of the last sighting. The revisions it adds are marked
``late`` (they arrived after a newer one): they are history, not news for an export delta.
A replay (a layout correction) adds a revision with the same digest right after the one it
corrects, so one run of sightings may carry several revisions.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec
import sqlalchemy as sa

from . import schema as s
from .core import _encode

_CHUNK = 500  # keys per IN (...): below every backend's parameter limit
_CONTENT = ("raw", "layout", "format", "fields", "extra", "warnings")
_REPORT_CONTENT = ("raw", "layout", "format", "extra", "warnings", "content_hash")
_PLACE = ("window_start", "window_end", "line", "received_at", "run_id", "archive_id")


class Sighting(NamedTuple):
    """One record of one answer: where the vendor reported it, and how it arrived."""

    window_start: dt.datetime
    line: int
    seq: int  # the sighting's id: arrival order, used only between two at the same place
    digest: bytes
    window_end: dt.datetime
    run_id: int
    received_at: dt.datetime
    archive_id: int | None


def reported(sighting: Sighting) -> tuple[dt.datetime, int, int, int]:
    """THE ordering rule as a sort key: window start, then the answer (when a window was
    read again and its answer changed, the newer answer comes after the older one), then
    the position in that answer (and the sighting's id, for a total order)."""
    return (sighting.window_start, sighting.archive_id or 0, sighting.line, sighting.seq)


def _place_key(start: dt.datetime, archive_id: int | None, line: int | None) -> tuple[Any, ...]:
    return (start, archive_id or 0, line or 0)


def runs_of(sightings: Iterable[Sighting]) -> list[list[Sighting]]:
    """The sightings in reported order, consecutive equal contents grouped: one group per
    revision (before replay corrections)."""
    runs: list[list[Sighting]] = []
    for sighting in sorted(sightings, key=reported):
        if runs and runs[-1][-1].digest == sighting.digest:
            runs[-1].append(sighting)
        else:
            runs.append([sighting])
    return runs


class StoredRevision(NamedTuple):
    """What the plan needs of a stored ``report_revisions`` row."""

    id: int
    revision: int
    digest: bytes
    window_start: dt.datetime
    line: int | None
    archive_id: int | None = None


class Slot(NamedTuple):
    """One revision of the recomputed history: its run of sightings, the stored revision
    kept for it (None: a new one) and whether it is the first of its run (it then takes
    the run's place and provenance)."""

    run: list[Sighting]
    row: StoredRevision | None
    lead: bool


def plan(sightings: Sequence[Sighting], rows: Sequence[StoredRevision]) -> list[Slot]:
    """A report's revisions under the rule, keeping every stored revision.

    Each stored revision stays with the run holding the sighting it was written for (a
    stored revision is never dropped: adding sightings never merges two runs); a run with
    none gets a new one. Several stored revisions in one run (a replay's corrections) keep
    their order.
    """
    runs = runs_of(sightings)
    if not runs:
        return []
    where = {(x.window_start, x.line, x.digest): i for i, run in enumerate(runs) for x in run}
    starts = [_place_key(run[0].window_start, run[0].archive_id, run[0].line) for run in runs]
    kept: list[list[StoredRevision]] = [[] for _ in runs]
    for row in sorted(rows, key=lambda r: (r.revision, r.id)):
        at = where.get((row.window_start, row.line or 0, row.digest))
        if at is None:  # no sighting of that content there (another sensitive mode): by place
            place = _place_key(row.window_start, row.archive_id, row.line)
            at = max(bisect.bisect_right(starts, place) - 1, 0)
        kept[at].append(row)
    slots: list[Slot] = []
    for run, stored in zip(runs, kept, strict=True):
        if not stored:
            slots.append(Slot(run, None, True))
        slots.extend(Slot(run, row, i == 0) for i, row in enumerate(stored))
    return slots


class ReorderCounts(msgspec.Struct):
    """What :func:`reorder` did: reports whose current content changed
    (``corrected``), reports whose history changed (``reordered``) and revisions added
    behind a newer one (``late``)."""

    corrected: int = 0
    reordered: int = 0
    late: int = 0
    corrected_keys: set[str] = msgspec.field(default_factory=set)
    late_by_key: dict[str, int] = msgspec.field(default_factory=dict)


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


def _place(sighting: Sighting) -> dict[str, Any]:
    return {
        "window_start": sighting.window_start, "window_end": sighting.window_end,
        "line": sighting.line, "received_at": sighting.received_at,
        "run_id": sighting.run_id, "archive_id": sighting.archive_id,
    }  # fmt: skip


def content_of_report(row: Mapping[str, Any]) -> dict[str, Any]:
    """A report row's content as a revision row holds it (``fields`` as JSON)."""
    fields = {n: row[n] for n in s.FIELDS if row.get(n) is not None}
    return {"raw": row["raw"], "layout": row["layout"], "format": row["format"],
            "fields": _encode(fields).decode(), "extra": row["extra"],
            "warnings": row["warnings"]}  # fmt: skip


def report_of_content(content: Mapping[str, Any], digest: bytes) -> dict[str, Any]:
    """A revision's content as the columns of a report row."""
    fields = msgspec.json.decode(content["fields"] or "{}")
    for name in s.DATE_FIELDS:
        if isinstance(fields.get(name), str):
            fields[name] = dt.date.fromisoformat(fields[name])
    out: dict[str, Any] = {n: fields.get(n) for n in s.FIELDS}
    out.update(raw=content["raw"], layout=content["layout"], format=content["format"],
               extra=content["extra"], warnings=content["warnings"], content_hash=digest)
    return out


def reorder(
    conn: sa.Connection,
    keys: Sequence[str],
    *,
    fresh: Mapping[tuple[str, bytes], Mapping[str, Any]] | None = None,
    seen_at: dt.datetime | None = None,
) -> ReorderCounts:
    """Make the revisions and current row of each of ``keys`` what the rule gives for its
    stored sightings, inside the caller's transaction. ``fresh`` holds report rows
    (``score_reports`` columns) of contents not stored yet, by key and digest; ``seen_at``
    moves ``last_seen``.

    Whenever a report's current content changes, its current revision gets a new row (a new
    id), so that an export delta sees the change.
    """
    fresh = fresh or {}
    counts = ReorderCounts()
    t, r, g = s.score_reports, s.report_revisions, s.report_sightings
    for part in _chunks(list(dict.fromkeys(keys))):
        sightings: dict[str, list[Sighting]] = {}
        query = sa.select(
            g.c.report_key, g.c.window_start, g.c.line, g.c.id, g.c.content_hash,
            g.c.window_end, g.c.run_id, g.c.received_at, g.c.archive_id,
        ).where(g.c.report_key.in_(part))  # fmt: skip
        for key, start, line, seq, digest, *rest in conn.execute(query):
            sightings.setdefault(key, []).append(Sighting(start, line, seq, bytes(digest), *rest))
        revisions: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(sa.select(r).where(r.c.report_key.in_(part))):
            revisions.setdefault(row.report_key, []).append(dict(row._mapping))
        reports = {
            row.report_key: dict(row._mapping)
            for row in conn.execute(sa.select(t).where(t.c.report_key.in_(part)))
        }
        for key in part:
            if key in reports and key in sightings:
                _reorder_one(conn, key, sightings[key], revisions.get(key, []), reports[key],
                             fresh, seen_at, counts)  # fmt: skip
    return counts


def reorder_all(conn: sa.Connection, *, why: dict[str, Any]) -> ReorderCounts:
    """Recompute every report that has more than one sighting or revision (the others
    cannot be out of order) and, when the database holds reports, say in the run ledger
    what was done (``params``: ``why`` plus ``corrected`` and ``reordered``)."""
    import os
    import time

    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    keys = [key for (key,) in conn.execute(sa.text(
        "SELECT report_key FROM report_sightings GROUP BY report_key HAVING count(*) > 1 UNION "
        "SELECT report_key FROM report_revisions GROUP BY report_key HAVING count(*) > 1"
    ))]  # fmt: skip
    counts = reorder(conn, sorted(keys))
    if conn.execute(sa.select(s.score_reports.c.id).limit(1)).first() is None:
        return counts  # a new or empty database: nothing to tell
    params = {**why, "corrected": counts.corrected, "reordered": counts.reordered}
    conn.execute(s.sync_runs.insert().values(
        started_at=started, finished_at=dt.datetime.now(dt.UTC), params=_encode(params).decode(),
        windows_planned=0, windows_done=0, windows_failed=0, new_reports=0,
        changed_reports=counts.corrected, unchanged_reports=0, older_reports=0, warnings=0,
        bytes_received=0, duration_s=time.monotonic() - clock, pid=os.getpid(),
    ))  # fmt: skip
    return counts


def _reorder_one(
    conn: sa.Connection, key: str, sightings: list[Sighting], stored: list[dict[str, Any]],
    report: dict[str, Any], fresh: Mapping[tuple[str, bytes], Mapping[str, Any]],
    seen_at: dt.datetime | None, counts: ReorderCounts,
) -> None:  # fmt: skip
    t, r = s.score_reports, s.report_revisions
    by_id = {row["id"]: row for row in stored}
    slots = plan(sightings, [
        StoredRevision(row["id"], row["revision"], bytes(row["content_hash"]),
                       row["window_start"], row["line"], row["archive_id"]) for row in stored
    ])  # fmt: skip
    current_digest = bytes(report["content_hash"])
    last = slots[-1]
    last_row = by_id[last.row.id] if last.row else None
    # The content of the last revision when the report row does not hold it already.
    new_current: dict[str, Any] | None = None
    if last_row is not None and last_row["raw"] is not None:
        new_current = report_of_content(last_row, bytes(last_row["content_hash"]))
    elif last_row is None and last.run[0].digest != current_digest:
        digest = last.run[0].digest
        if (key, digest) in fresh:
            row = fresh[key, digest]
            new_current = {c: row[c] for c in (*s.FIELDS, *_REPORT_CONTENT)}
        elif (source := _latest_with(stored, digest)) is not None:
            new_current = report_of_content(source, digest)
        else:  # cannot happen: every sighting's content is stored or fresh
            raise AssertionError(f"no content for a sighting of {key}")
    if new_current is None and last_row is not None and len(slots) == len(stored) and all(
        slot.row is not None and slot.row.revision == i
        and (not slot.lead or _at(by_id[slot.row.id], slot.run[0]))
        for i, slot in enumerate(slots, start=1)
    ):  # fmt: skip
        if seen_at is not None:  # already as the rule has it: only seen again
            conn.execute(t.update().where(t.c.report_key == key).values(
                last_seen=max(report["last_seen"], s.to_utc(seen_at))))
        return
    contents = _contents(key, stored, report, fresh)
    changed = new_current is not None
    late = 0
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletes: list[int] = []
    for i, slot in enumerate(slots, start=1):
        is_last = i == len(slots)
        place = _place(slot.run[0]) if slot.lead else {}
        if slot.row is None or (is_last and changed):
            digest = slot.run[0].digest
            if slot.row is not None:  # the current content changed: a new row for it
                deletes.append(slot.row.id)
                old = by_id[slot.row.id]
                place = place or {c: old[c] for c in _PLACE}
                digest = slot.row.digest
            content = dict.fromkeys(_CONTENT) if is_last else contents[digest]
            late_row = not (is_last and changed)
            late += late_row
            inserts.append({"report_key": key, "revision": i, "content_hash": digest,
                            **content, **place, "late": late_row})  # fmt: skip
            continue
        row = by_id[slot.row.id]
        values: dict[str, Any] = {"revision": i, **place}
        if not is_last and row["raw"] is None:  # the current one until now
            values.update(contents[bytes(row["content_hash"])])
        updates.append({"b_id": row["id"], **values})
    conn.execute(r.update().where(r.c.report_key == key).values(revision=-r.c.revision))
    if deletes:
        conn.execute(r.delete().where(r.c.id.in_(deletes)))
    for values in updates:
        row_id = values.pop("b_id")
        conn.execute(r.update().where(r.c.id == row_id).values(**values))
    if inserts:
        conn.execute(r.insert(), inserts)
    report_values: dict[str, Any] = {"revisions": len(slots)}
    if new_current is not None:
        report_values.update(new_current)
    if seen_at is not None:
        report_values["last_seen"] = max(report["last_seen"], s.to_utc(seen_at))
    conn.execute(t.update().where(t.c.report_key == key).values(**report_values))
    counts.reordered += 1
    counts.late += late
    if late:
        counts.late_by_key[key] = late
    if changed:
        counts.corrected += 1
        counts.corrected_keys.add(key)


def _at(row: Mapping[str, Any], sighting: Sighting) -> bool:
    """Whether a stored revision already sits at the place of this sighting."""
    return bool(
        _place_key(row["window_start"], row["archive_id"], row["line"])
        == _place_key(sighting.window_start, sighting.archive_id, sighting.line)
    )


def _latest_with(stored: Sequence[Mapping[str, Any]], digest: bytes) -> Mapping[str, Any] | None:
    """The newest stored revision with this content that holds it (not the current one)."""
    rows = [row for row in stored if bytes(row["content_hash"]) == digest and row["raw"]]
    return max(rows, key=lambda row: row["revision"]) if rows else None


def _contents(
    key: str, stored: Sequence[Mapping[str, Any]], report: Mapping[str, Any],
    fresh: Mapping[tuple[str, bytes], Mapping[str, Any]],
) -> dict[bytes, dict[str, Any]]:
    """Each content of a report as a revision row holds it, by digest (the newest reading)."""
    out: dict[bytes, dict[str, Any]] = {}
    for (k, digest), row in fresh.items():
        if k == key:
            out[digest] = content_of_report(row)
    for row in sorted(stored, key=lambda row: row["revision"]):
        if row["raw"] is not None:
            out[bytes(row["content_hash"])] = {c: row[c] for c in _CONTENT}
    out[bytes(report["content_hash"])] = content_of_report(report)
    return out


def rewrite_sightings(conn: sa.Connection, key: str, old: bytes, new: bytes) -> None:
    """Every sighting of ``key`` with content ``old`` now has content ``new`` (the same
    record stored under another ``sensitive`` mode); one that has both at a place keeps one."""
    g = s.report_sightings
    place = sa.tuple_(g.c.window_start, g.c.line)
    olds = sa.select(g.c.window_start, g.c.line).where(g.c.report_key == key,
                                                       g.c.content_hash == old)  # fmt: skip
    conn.execute(g.delete().where(g.c.report_key == key, g.c.content_hash == new,
                                  place.in_(olds)))  # fmt: skip
    conn.execute(g.update().where(g.c.report_key == key, g.c.content_hash == old)
                 .values(content_hash=new))  # fmt: skip
