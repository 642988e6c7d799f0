"""A test taker's history, cancellations from a file, and replaying the archive.

**Replay** re-reads every archived answer (``response_archive``), in archive order, with
today's layout (or a given one) and applies it to the reports as a sync would, without the
API. This is how a corrected layout (the iBT26 1-6 block is provisional) reaches the data
already stored.

What counts as *changed* in a replay: the content digest is over the stored raw bytes, which
a new layout does not change, so digests alone cannot see a correction. A replayed record is
compared by digest **and** by typed values:

- its bytes are the current revision's and its values (read again) equal the stored ones:
  unchanged (a replay with the same layout therefore changes nothing);
- its bytes are the current revision's but its values differ: a **new revision** with the
  same bytes and digest and the new values; its ``run`` and ``received_at`` are the
  replay's (when the stored data changed, which ``export --changed-since`` and deltas go
  by), its window, archive row and line those of the answer that brought the bytes;
- its bytes are an earlier revision's: a resend, nothing happens (as in a sync; history is
  not rewritten, the correction lands on the current revision);
- bytes never stored for that report (the layout moved an identity field, or ``sensitive``
  changed since): new or changed, as in a sync.

The ``sensitive`` mode is the one the last sync recorded unless one is asked for (a flag,
a variable or the settings file): a replay under another mode re-stores the current
reports under it (a keep -> hash switch masks and hashes them) and says so.

Identical archived bodies (same SHA-256: a lookback re-read of an unchanged window) are
read once; a second reading could not change anything. Archived ID numbers are masked
(``sensitive = hash``): a replayed record keeps the stored hash of its current revision.
Each replay is a run in the ledger (``params`` ``{"replay": true, ...}``) and holds the sync
lock, so it never interleaves with a sync.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.dates import UTC
from ..errors import InputError, ToeflAccessError
from ..formats import layout as layouts
from ..formats.record import to_date
from ..formats.sensitive import DEFAULT_MODE, META_MODE, protector_for
from ..store import Store, WindowCounts
from ..store.history import ArchiveEntry, CancelRequest, ReportHistory
from ..sync.preparing import prepare_answer
from ..sync.run import check_layout


@dataclass(slots=True)
class ReplayResult:
    """What a replay did."""

    run_id: int
    answers: int = 0
    duplicates: int = 0
    records: int = 0
    counts: WindowCounts = field(default_factory=WindowCounts)
    reports_updated: int = 0
    layouts: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def replay(
    store: Store,
    *,
    layout: str | layouts.Layout | None = None,
    sensitive: str | None = None,
    hash_key_file: str | None = None,
    wait: bool = False,
    on_answer: Callable[[ArchiveEntry, int], None] | None = None,
) -> ReplayResult:
    """Re-read every archived answer with ``layout`` (default: the built-in layouts,
    detected as a sync does) and update reports and revisions; see the module docstring.

    ``sensitive`` None keeps the mode the last sync recorded (``hash`` if none): a replay
    is for layouts, and converting stored ID numbers to another mode should be asked for.
    ``on_answer`` sees each archived answer re-read and its number of records. An answer
    that cannot be read stops the replay with an :class:`InputError` naming it; the answers
    before it are applied (each in its own transaction) and a new replay is harmless.
    """
    lay = layouts.load(layout) if isinstance(layout, str) else layout
    if lay is not None:
        check_layout(lay)
    started = time.monotonic()
    with store.sync_lock(wait=wait):
        if sensitive is None:
            sensitive = store.meta_get(META_MODE) or DEFAULT_MODE
        protector, notices = protector_for(store, sensitive, key_file=hash_key_file)
        params: dict[str, Any] = {"replay": True, "layout": lay.name if lay else "built-in",
                                  "sensitive": sensitive}  # fmt: skip
        now = dt.datetime.now(UTC)
        run_id = store.begin_run(started_at=now, params=params)
        result = ReplayResult(run_id=run_id, notices=notices)
        updated: set[str] = set()
        seen: set[str] = set()
        error: str | None = None
        try:
            for entry in store.archive_entries():
                if entry.sha256 in seen:
                    result.duplicates += 1
                    continue
                seen.add(entry.sha256)
                body = store.archived_body(entry.id)
                try:
                    ready = prepare_answer(body, entry.format, protector=protector, layout=lay)
                except ToeflAccessError as exc:
                    span = f"{entry.window_start:%Y-%m-%d %H:%M}..{entry.window_end:%Y-%m-%d %H:%M}"
                    error = (
                        f"the archived answer {entry.id} (window {span} UTC) cannot be read "
                        f"with {lay.name if lay else 'the built-in layouts'}: {exc}"
                    )
                    raise InputError(error) from None
                counts, keys = store.replay_answer(
                    entry=entry, run_id=run_id, received_at=now, items=ready.items,
                    parse=ready.parse, premasked=ready.premasked, arrived=ready.arrived(),
                )  # fmt: skip
                result.answers += 1
                result.records += len(ready.items)
                result.counts = result.counts + counts
                result.layouts[ready.layout] = result.layouts.get(ready.layout, 0) + 1
                updated |= keys
                if on_answer:
                    on_answer(entry, len(ready.items))
        finally:
            result.reports_updated = len(updated)
            result.elapsed = time.monotonic() - started
            store.finish_run(
                run_id, finished_at=dt.datetime.now(UTC), windows_done=0, windows_failed=0,
                counts=result.counts, nbytes=0, statuses={}, error=error, windows_planned=0,
            )  # fmt: skip
    return result


# -- cancellations from a file ------------------------------------------------------------

_HEADINGS = {
    "registrationnumber": "registration_number", "registration": "registration_number",
    "registrationorappointmentnumber": "registration_number",
    "appointmentnumber": "registration_number", "testdate": "test_date",
    "administrationdate": "test_date", "date": "test_date", "reason": "reason",
}  # fmt: skip
_EXCEL_NUMBER = re.compile(r"\d(\.\d+)?E\+\d+", re.IGNORECASE)


def _heading(cell: str) -> str:
    return _HEADINGS.get(re.sub(r"[^0-9a-z]", "", cell.lower()), "")


def _unquote(cell: str) -> str:
    """A cell without blanks and without Excel's ``="0123"`` text guard (our CSV exports)."""
    cell = cell.strip()
    if cell.startswith('="') and cell.endswith('"'):
        cell = cell[2:-1]
    return cell.strip()


def parse_registration(text: str) -> str:
    """A registration number as given by a person; ValueError saying what is wrong."""
    reg = _unquote(text)
    if not reg:
        raise ValueError("the registration number is empty")
    if _EXCEL_NUMBER.fullmatch(reg):
        raise ValueError(
            f"registration number {reg!r} looks like a number Excel reformatted; format the "
            "column as text and type the number again (all 16 digits)"
        )
    if len(reg) > 16 or not reg.isascii() or not reg.isalnum():
        raise ValueError(
            f"registration number {reg!r} is not 7 to 16 letters and digits (rPDT numbers "
            "have 7 characters, iBT appointment numbers 16 digits)"
        )
    return reg


def parse_test_date(text: str) -> dt.date:
    """A test date as ``YYYY-MM-DD`` or ``YYYYMMDD``; ValueError saying what to write."""
    value = _unquote(text)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{8}", value):
            raise ValueError(value)
        return to_date(value)
    except ValueError:
        raise ValueError(
            f"test date {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2026-01-24)"
        ) from None


def _csv_rows(reader: Any, path: str) -> Iterator[list[str]]:
    """The rows of a CSV reader; a row it cannot read is an InputError naming it."""
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(f"cannot read the line: {exc}", source=path,
                         line=reader.line_num) from None  # fmt: skip


def read_cancellations(path: str) -> list[CancelRequest]:
    """The cancellations of a CSV file: ``registration_number,test_date[,reason]``.

    A heading row is optional (recognised by its names, in any order; without one the
    columns are taken in that order). Commas, semicolons or tabs separate the columns;
    UTF-8 (with or without BOM) or Latin-1. Every problem is reported with its line, and a
    file with any problem cancels nothing.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("the file does not exist", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in ",;\t" if d in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = {"registration_number": 0, "test_date": 1, "reason": 2}
    requests: list[CancelRequest] = []
    problems: list[str] = []
    for row in _csv_rows(reader, path):
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if not requests and not problems and _heading(row[0]):
            names = [_heading(cell) for cell in row]
            missing = [n for n in ("registration_number", "test_date") if n not in names]
            if missing:
                raise InputError(
                    f"the heading has no {' and no '.join(missing)} column; expected "
                    "registration_number,test_date[,reason]", source=path, line=line,
                )  # fmt: skip
            columns = {n: names.index(n) for n in columns if n in names}
            continue
        cells = [*row, *[""] * (max(columns.values()) + 1 - len(row))]
        try:
            reg = parse_registration(cells[columns["registration_number"]])
            date = parse_test_date(cells[columns["test_date"]])
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        reason = cells[columns["reason"]].strip() if "reason" in columns else ""
        requests.append(CancelRequest(reg, date, reason or None, where=f"line {line}"))
    if problems:
        shown = problems[:20]
        if len(problems) > 20:
            shown.append(f"... and {len(problems) - 20} more")
        raise InputError(
            f"{len(problems)} line(s) cannot be used, so nothing was cancelled:\n  "
            + "\n  ".join(shown),
            source=path,
        )
    if not requests:
        raise InputError(
            "no cancellations in the file; expected lines of "
            "registration_number,test_date[,reason]", source=path,
        )  # fmt: skip
    return requests


# -- what changed between revisions -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: Any
    new: Any


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """The fields whose values differ between two revisions (``fields`` plus ``extra``),
    in the order of the newer one."""
    old = {**before.get("extra", {}), **before["fields"]}
    new = {**after.get("extra", {}), **after["fields"]}
    names = list(dict.fromkeys([*new, *old]))
    return [Change(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)]


def history_changes(report: ReportHistory) -> list[list[Change]]:
    """For each revision, what changed from the one before (empty for the first)."""
    revs = report.revisions
    return [[]] + [changes(a, b) for a, b in itertools.pairwise(revs)]


def arrived_after(report: ReportHistory) -> list[int | None]:
    """For each revision (in reported order), the newest later-reported revision that had
    arrived before it, or None: a revision with a number here arrived later, by a backfill
    or a retried window, and joined the history without becoming current."""
    revs = report.revisions
    out: list[int | None] = []
    for i, rev in enumerate(revs):
        newer = [r["revision"] for r in revs[i + 1 :] if r["received_at"] < rev["received_at"]]
        out.append(max(newer) if newer else None)
    return out


def same_person(store: Store, reports: Iterable[ReportHistory], registration: str) -> list[
    tuple[str, dt.date | None, str]
]:
    """Reports of other registration numbers carrying the same (hashed) ID number."""
    values = {
        v
        for r in reports
        for rev in r.revisions
        if (v := rev["fields"].get("security_id_number")) and not set(v) <= {"*"}
    }
    return store.reports_with_values(
        "security_id_number", sorted(values), other_than=registration
    )
