"""The values the store takes and gives: what comes in, what a write did, what is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from ..formats.record import Record


class Incoming(msgspec.Struct, frozen=True):
    """One record of an answer, before parsing: its report key, content digest and bytes.

    ``digest`` identifies the content (``blake2b(raw, digest_size=16)``); an unchanged
    resend is recognised by key and digest alone, without parsing. ``line`` is the record's
    1-based line (text) or item number (JSON) in the answer body.
    """

    key: str
    digest: bytes
    raw: bytes
    line: int


class WindowCounts(msgspec.Struct):
    """What a write did: reports ``new``, ``changed`` (a new current revision) or
    ``unchanged`` (only ``last_seen`` moved), how many of the new or changed ones carry
    warnings, and ``older``: records that arrived after a newer revision of their report (a
    backfill, a retried window) and joined its history without changing the current row."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    warnings: int = 0
    older: int = 0

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(
            self.new + other.new,
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            self.warnings + other.warnings,
            self.older + other.older,
        )


class FailedWindow(msgspec.Struct, frozen=True):
    start: dt.datetime
    end: dt.datetime
    status: int | None
    error: str
    failed_at: dt.datetime


class RunSummary(msgspec.Struct):
    """One row of the run ledger. ``finished_at`` is None for a run still going or killed."""

    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    pid: int | None
    params: dict[str, Any]
    windows_planned: int | None
    windows_done: int | None
    windows_failed: int | None
    statuses: dict[int, int]
    counts: WindowCounts | None
    nbytes: int | None
    duration_s: float | None
    error: str | None
    failures: list[FailedWindow] = msgspec.field(default_factory=list)
    #: 0-3 as the CLI's exit code; None while running, when killed, or before schema 0006.
    exit_code: int | None = None
    #: A short sha256 fingerprint of the API key the run used (never the key).
    key_fingerprint: str | None = None

    @property
    def kind(self) -> str:
        """``sync`` (a run against the API), ``replay`` (the archive re-read) or ``repair``
        (revisions reordered by ``db upgrade``)."""
        if self.params.get("replay"):
            return "replay"
        return "repair" if "upgrade" in self.params or "repair" in self.params else "sync"


class LockHolder(msgspec.Struct, frozen=True):
    """Who holds the sync lock."""

    pid: int
    host: str
    since: dt.datetime
    heartbeat: dt.datetime

    def describe(self) -> str:
        import socket

        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} since {self.since:%Y-%m-%d %H:%M:%S} UTC"


class KeyHistory(msgspec.Struct, frozen=True):
    """What the ledger knows of the API key: the fingerprint of the key the latest run used,
    since when runs have used it, and when a key was last accepted (a window answered) and
    last refused (a run ended with exit code 2)."""

    fingerprint: str | None
    in_use_since: dt.datetime | None
    last_accepted: dt.datetime | None
    last_refused: dt.datetime | None


class DepartmentCount(msgspec.Struct, frozen=True):
    institution_code: str | None
    department_code: str | None
    reports: int


class StoreStatus(msgspec.Struct):
    """What :meth:`Store.status` reports. ``url`` has any password masked.

    ``by_scale`` always holds the four keys ``0-120``, ``1-6``, ``both`` and ``none``;
    ``gaps`` are the holes between covered intervals; ``runs`` are the newest first.
    """

    url: str
    backend: str
    revision: str
    reports: int
    revisions: int
    archived_responses: int
    watermark: dt.datetime | None
    coverage: list[tuple[dt.datetime, dt.datetime]]
    gaps: list[tuple[dt.datetime, dt.datetime]]
    last_new_report: dt.datetime | None
    by_scale: dict[str, int]
    by_department: list[DepartmentCount]
    runs: list[RunSummary]
    lock: LockHolder | None
    #: Reports whose current row is not their latest reported revision (should be 0; a
    #: database written before schema revision 0004 is repaired by ``db upgrade``).
    misordered: int = 0


def report_key(
    registration_number: str | None,
    test_date: dt.date | None,
    institution_code: str | None,
    department_code: str | None,
) -> str:
    """A report's identity as one text: ``REG|YYYY-MM-DD|INST|DEPT`` (a missing part is empty)."""
    return (
        f"{registration_number or ''}|{test_date.isoformat() if test_date else ''}"
        f"|{institution_code or ''}|{department_code or ''}"
    )


def digest(raw: bytes) -> bytes:
    """The content digest the store compares: BLAKE2b, 16 bytes."""
    return hashlib.blake2b(raw, digest_size=16).digest()


def incoming_from_records(records: Iterable[Record]) -> list[Incoming]:
    """Store input from parsed records (key from ``record.identity``, digest of ``raw``)."""
    return [
        Incoming(key=report_key(*r.identity), digest=digest(r.raw), raw=r.raw, line=r.line)
        for r in records
    ]


class AlertEvent(msgspec.Struct):
    """One alert about the feed, as sent when its event opened or resolved.

    ``event`` is ``key_refused``, ``windows_failing``, ``no_new_reports``,
    ``layout_warnings`` or ``sync_failed`` (see :mod:`toefl_access.ops.alerts`);
    ``delivered`` maps each channel to ``"ok"`` or its error.
    """

    event: str
    status: str
    at: dt.datetime
    text: str
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    run_id: int | None = None
    delivered: dict[str, str] = msgspec.field(default_factory=dict)
    id: int | None = None


class MatchDecision(msgspec.Struct, frozen=True):
    """What a person decided about an applicant and a test sitting (every institution and
    department copy of ``registration_number`` on ``test_date``): ``confirmed`` (this is
    the applicant's test) or ``rejected`` (it is not). ``source`` says where it came from
    (``cli``, or ``csv:FILE:LINE`` for an imported one); ``decided_at`` (UTC) and ``id``
    are set by :meth:`Store.decide <toefl_access.store.matching.MatchKeeper.decide>`."""

    applicant_id: str
    registration_number: str
    test_date: dt.date
    decision: str
    source: str = "cli"
    note: str | None = None
    decided_at: dt.datetime | None = None
    id: int | None = None


class MatchProposal(msgspec.Struct, frozen=True):
    """A pair a match run proposes: ``match`` (attached to the applicant by
    ``export --applicant-id`` unless rejected) or ``review`` (a person decides), with its
    score and the reasons for it."""

    applicant_id: str
    registration_number: str
    test_date: dt.date
    score: float
    decision: str
    reasons: tuple[str, ...]


class MatchRun(msgspec.Struct, frozen=True):
    """One ``toefl-access match`` run: when, the roster's file name, how many applicants
    and reports it compared, its counts (``match``, ``review`` and whatever the matcher
    adds) and its settings (thresholds)."""

    id: int
    at: dt.datetime
    roster: str
    applicants: int
    reports: int
    counts: dict[str, int]
    settings: dict[str, Any]
