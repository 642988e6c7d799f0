"""Reading a store: current reports, revisions, archived bodies and the status."""

from __future__ import annotations

import datetime as dt
import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from . import schema as s
from .core import StoreCore, _current_revision, merge
from .structs import (
    DepartmentCount,
    FailedWindow,
    KeyHistory,
    RunSummary,
    StoreStatus,
    WindowCounts,
)


class StoreReader(StoreCore):
    """The read side of a store."""

    def reports(self) -> Iterator[dict[str, Any]]:
        """Every current report as a dict of its columns (typed; JSON columns decoded)."""
        t = s.score_reports
        with self._guard("reading the reports"), self._read() as conn:
            columns = [s.last_seen(t) if c.name == "last_seen" else c for c in t.c]
            query = sa.select(*columns).select_from(s.with_seen(t)).order_by(t.c.id)
            result = conn.execution_options(yield_per=2000).execute(query)
            for row in result:
                d = dict(row._mapping)
                d["extra"] = msgspec.json.decode(d["extra"]) if d["extra"] else {}
                d["warnings"] = msgspec.json.decode(d["warnings"]) if d["warnings"] else []
                yield d

    def revisions(self, report_key: str) -> list[dict[str, Any]]:
        """Every revision of one report, oldest first, each with its content (``raw``,
        ``layout``, ``format``, ``fields`` (typed values), ``extra``, ``warnings``)."""
        t, r = s.score_reports, s.report_revisions
        with self._guard("reading revisions"), self._read() as conn:
            rows = conn.execute(
                sa.select(r).where(r.c.report_key == report_key).order_by(r.c.revision)
            ).all()
            current = conn.execute(sa.select(t).where(t.c.report_key == report_key)).first()
        out = []
        for row in rows:
            d = dict(row._mapping)
            if d["raw"] is None and current is not None:  # the current revision
                cur = current._mapping
                d.update(raw=cur["raw"], layout=cur["layout"], format=cur["format"],
                         extra=cur["extra"], warnings=cur["warnings"])
                fields = {n: cur[n] for n in s.FIELDS if cur[n] is not None}
            else:
                fields = _typed(msgspec.json.decode(d["fields"] or "{}"))
            d["fields"] = fields
            d["extra"] = msgspec.json.decode(d["extra"]) if d["extra"] else {}
            d["warnings"] = msgspec.json.decode(d["warnings"]) if d["warnings"] else []
            out.append(d)
        return out

    def archived_body(self, archive_id: int) -> bytes:
        """The decompressed body of an archive row (following a de-duplicated row)."""
        a = s.response_archive
        with self._guard("reading the archive"), self._read() as conn:
            sha, body = conn.execute(
                sa.select(a.c.sha256, a.c.body).where(a.c.id == archive_id)
            ).one()
            if body is None:
                body = conn.execute(
                    sa.select(a.c.body).where(a.c.sha256 == sha, a.c.body.is_not(None)).limit(1)
                ).scalar_one()
        return zlib.decompress(body)

    def status(self, *, runs: int = 10) -> StoreStatus:
        """The watermark, gaps, the last ``runs`` runs, counts by scale and by department."""
        c = s.score_reports.c
        with self._guard("reading the status"), self._read() as conn:
            count = sa.func.count()
            reports, last_new = conn.execute(sa.select(count, sa.func.max(c.first_seen))).one()
            t = count_tallies(conn)
            ledger = self._runs(conn, runs)
            misordered = _misordered(conn)
            wc = s.window_coverage.c
            cov = merge([(a, b) for a, b in conn.execute(sa.select(wc.window_start,
                                                                    wc.window_end))])
        return StoreStatus(
            url=self.url,
            backend=self.backend,
            revision=t.schema,
            reports=reports,
            revisions=t.revisions,
            archived_responses=t.archived_responses,
            watermark=cov[-1][1] if cov else None,
            coverage=cov,
            gaps=[(a[1], b[0]) for a, b in itertools.pairwise(cov)],
            last_new_report=last_new,
            by_scale=t.by_scale,
            by_department=t.by_department,
            runs=ledger,
            lock=self.lock_holder(),
            misordered=misordered,
        )

    def runs(
        self,
        limit: int = 10,
        *,
        kind: str | None = None,
        with_records: bool = False,
        before: int | None = None,
    ) -> list[RunSummary]:
        """The last ``limit`` runs of the ledger, newest first (a light :meth:`status`).

        ``kind`` keeps only ``sync`` runs (``replay`` and ``repair`` runs read no API);
        ``with_records`` only runs that stored new or changed reports; ``before`` only runs
        older than that run id.
        """
        r = s.sync_runs.c
        where: list[sa.ColumnElement[bool]] = []
        if kind is not None:
            where.append(run_kind(r.params) == kind)
        if with_records:
            where.append(r.new_reports + r.changed_reports > 0)
        if before is not None:
            where.append(r.id < before)
        with self._guard("reading the run ledger"), self._read() as conn:
            return self._runs(conn, limit, where)

    def counts(self) -> tuple[int, dt.datetime | None]:
        """How many reports the database holds, and when the newest new one arrived."""
        c = s.score_reports.c
        with self._guard("counting the reports"), self._read() as conn:
            n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(c.first_seen))).one()
        return n, s.to_utc(last) if last else None

    def key_history(self) -> KeyHistory:
        """The key's story in the run ledger (see :class:`KeyHistory`)."""
        r = s.sync_runs.c
        syncs = run_kind(r.params) == "sync"
        with self._guard("reading the key's history"), self._read() as conn:
            fingerprint = conn.execute(
                sa.select(r.key_fingerprint).where(r.key_fingerprint.is_not(None))
                .order_by(r.id.desc()).limit(1)
            ).scalar_one_or_none()
            since = None
            if fingerprint is not None:
                other = (sa.select(sa.func.coalesce(sa.func.max(r.id), 0))
                         .where(r.key_fingerprint != fingerprint).scalar_subquery())
                since = conn.execute(
                    sa.select(sa.func.min(r.started_at))
                    .where(r.key_fingerprint == fingerprint, r.id > other)
                ).scalar_one()
            accepted, refused = conn.execute(
                sa.select(
                    sa.func.max(sa.case((r.windows_done > 0, r.finished_at))),
                    sa.func.max(sa.case((r.exit_code == 2, r.finished_at))),
                ).where(syncs)
            ).one()
        return KeyHistory(fingerprint, s.to_utc(since) if since else None,
                          s.to_utc(accepted) if accepted else None,
                          s.to_utc(refused) if refused else None)

    def _runs(self, conn: sa.Connection, limit: int,
              where: list[sa.ColumnElement[bool]] | None = None) -> list[RunSummary]:
        r = s.sync_runs
        rows = conn.execute(
            sa.select(r).where(*(where or ())).order_by(r.c.id.desc()).limit(limit)
        ).all()
        out: list[RunSummary] = []
        for row in rows:
            m = row._mapping
            done = m["finished_at"] is not None
            out.append(
                RunSummary(
                    id=m["id"], started_at=m["started_at"], finished_at=m["finished_at"],
                    pid=m["pid"], params=msgspec.json.decode(m["params"]),
                    windows_planned=m["windows_planned"], windows_done=m["windows_done"],
                    windows_failed=m["windows_failed"],
                    statuses={int(k): v for k, v in msgspec.json.decode(m["statuses"]).items()}
                    if m["statuses"] else {},
                    counts=WindowCounts(m["new_reports"], m["changed_reports"],
                                        m["unchanged_reports"], m["warnings"],
                                        m["older_reports"] or 0) if done else None,
                    nbytes=m["bytes_received"], duration_s=m["duration_s"], error=m["error"],
                    exit_code=m["exit_code"], key_fingerprint=m["key_fingerprint"],
                )
            )
        if out:
            f = s.window_failures
            by_id = {run.id: run for run in out}
            for row in conn.execute(
                sa.select(f).where(f.c.run_id.in_(list(by_id))).order_by(f.c.id)
            ):
                m = row._mapping
                by_id[m["run_id"]].failures.append(
                    FailedWindow(m["window_start"], m["window_end"], m["status"], m["error"],
                                 m["failed_at"])
                )
        return out


#: The scale keys of :func:`~toefl_access.store.schema.scale_of`, as ``by_scale`` has them.
SCALES = ("0-120", "1-6", "both", "none")


@dataclass(frozen=True)
class Tallies:
    """Reports by scale (over :data:`SCALES`) and by department (most reports first), and
    the size of the database: its schema revision, revisions and archived answers."""

    by_scale: dict[str, int]
    by_department: list[DepartmentCount]
    schema: str
    revisions: int
    archived_responses: int


def count_tallies(conn: sa.Connection) -> Tallies:
    """The counts of :class:`Tallies` (``status`` and the status page). By scale is one
    ``GROUP BY`` over the reports; by department reads only its index (grouping both in one
    query was slower: the scale needs every row, so the department index could not serve
    it)."""
    c = s.score_reports.c
    count = sa.func.count()
    scale = s.scale_of()
    by_scale = dict.fromkeys(SCALES, 0)
    for name, n in conn.execute(sa.select(scale, count).group_by(scale)):
        by_scale[name] = n
    departments = [
        DepartmentCount(inst, dept, n)
        for inst, dept, n in conn.execute(
            sa.select(c.institution_code, c.department_code, count)
            .group_by(c.institution_code, c.department_code)
            .order_by(count.desc(), c.institution_code, c.department_code)
        )
    ]
    revisions, archived = (
        conn.execute(sa.select(count).select_from(t)).scalar_one()
        for t in (s.report_revisions, s.response_archive)
    )
    return Tallies(by_scale, departments, _current_revision(conn), revisions, archived)


def run_kind(params: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``sync``, ``replay`` or ``repair`` (a ``db upgrade`` reordering) from a ledger row's
    ``params`` (JSON text whose first key tells: see :func:`RunSummary.kind`)."""
    return sa.case(
        (params.like('{"replay":%'), "replay"),
        (sa.or_(params.like('{"upgrade":%'), params.like('{"repair":%')), "repair"),
        else_="sync",
    )


def _misordered(conn: sa.Connection) -> int:
    """Reports whose current row is not their last revision, or whose revisions are not in
    reported order (:mod:`.ordering`): none, unless something outside toefl-access wrote."""
    t, r = s.score_reports, s.report_revisions
    last = r.alias("last")
    a, b = r.alias("a"), r.alias("b")
    not_last = sa.select(t.c.report_key).where(
        ~sa.exists().where(
            last.c.report_key == t.c.report_key, last.c.revision == t.c.revisions,
            last.c.content_hash == t.c.content_hash, last.c.raw.is_(None),
        )
        | sa.exists().where(r.c.report_key == t.c.report_key, r.c.revision > t.c.revisions)
    )  # fmt: skip
    backwards = sa.select(a.c.report_key).select_from(
        a.join(b, sa.and_(b.c.report_key == a.c.report_key, b.c.revision == a.c.revision + 1))
    ).where(  # the order key of ordering.reported: window start, answer, line
        sa.tuple_(b.c.window_start, sa.func.coalesce(b.c.archive_id, 0),
                  sa.func.coalesce(b.c.line, 0))
        < sa.tuple_(a.c.window_start, sa.func.coalesce(a.c.archive_id, 0),
                    sa.func.coalesce(a.c.line, 0))
    )  # fmt: skip
    keys = sa.union(not_last, backwards).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(keys)).scalar_one())


def _typed(fields: dict[str, Any]) -> dict[str, Any]:
    """Revision values decoded from JSON, with dates as dates again."""
    for name in s.DATE_FIELDS:
        v = fields.get(name)
        if isinstance(v, str):
            fields[name] = dt.date.fromisoformat(v)
    return fields
