"""The incremental sync: API windows into the store, exactly once, with history.

This is the only module that knows both the client and the store. One run:

1. takes the database's sync lock (a second sync waits or exits with a clear message);
2. plans UTC windows from the watermark (:mod:`toefl_access.windows`);
3. fetches ``concurrency`` windows at a time while writes stay serialized **in window
   order**, so a rescore released in a later window always ends up as the current revision;
4. writes each window in one transaction with its archive and coverage rows
   (:meth:`Store.write_window`): a crash leaves a window wholly written or not at all;
5. records failed windows in the ledger and goes on, except for a refused key, which stops
   the run at once.

An unchanged resend is recognised by its identity and content hash before any typed
parsing, which makes a re-sync of the same range cheap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import msgspec

from . import layout as layouts
from .dates import UTC, api_format, format_duration
from .errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    InputError,
    LayoutError,
    ToeflAccessError,
    TransportError,
)
from .jsonformat import iter_objects, key_map, normalize_key, parse_json
from .record import IDENTITY, Record
from .sensitive import KEEP, Protector, is_mask, protector_for
from .sensitive import spans as sensitive_spans
from .store import Incoming, Store, WindowCounts, incoming_from_records, report_key
from .store.structs import digest
from .store.writing import compress_body
from .textformat import BOM, codec, detect_layout
from .windows import DEFAULT_LAG, DEFAULT_LOOKBACK, DEFAULT_WINDOW, Window, plan

log = logging.getLogger("toefl_access.sync")

EXIT_OK, EXIT_FAILED_WINDOWS, EXIT_KEY_REFUSED, EXIT_UNREACHABLE = 0, 1, 2, 3


class BodySource(Protocol):
    """What sync needs of a client: :meth:`toefl_access.client.Client.fetch_body`."""

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = ...) -> Any: ...


@dataclass(slots=True)
class WindowFailure:
    window: Window
    error: str
    status: int | None


@dataclass(slots=True)
class SyncResult:
    """What one run did; ``exit_code`` follows the CLI's contract (0, 1, 2, 3)."""

    run_id: int | None
    windows: list[Window]
    done: int = 0
    failures: list[WindowFailure] = field(default_factory=list)
    counts: WindowCounts = field(default_factory=lambda: WindowCounts(0, 0, 0, 0))
    nbytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    stopped: str | None = None
    exit_code: int = EXIT_OK
    watermark: dt.datetime | None = None
    #: Things the user should know that are not failures (e.g. the sensitive mode changed).
    notices: list[str] = field(default_factory=list)


# -- turning a body into store input ------------------------------------------------------


def _key_of_line(spans: tuple[tuple[int, int], ...], line: bytes) -> str | None:
    """The report key straight from the bytes, or None when only a full parse can tell.
    ``spans`` is :func:`identity_spans` of the layout, looked up once per body: hashing a
    layout (a tuple of every field) costs more than the rest of this function."""
    reg, date, inst, dept = (line[s - 1 : e] for s, e in spans)
    if not (date.isdigit() and len(date) == 8) or not (reg + inst + dept).isascii():
        return None
    try:
        day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    except ValueError:
        return None
    return report_key(
        reg.decode().rstrip(" ") or None,
        day,
        inst.decode().rstrip(" ") or None,
        dept.decode().rstrip(" ") or None,
    )


def prepare(body: bytes, fmt: str) -> tuple[list[Incoming], Callable[[Incoming], Record]]:
    """The store's input for one answer body as received (no ``sensitive`` processing), and
    how to parse one item of it on demand. Sync uses :func:`prepare_answer`."""
    prepared = prepare_answer(body, fmt, protector=KEEP)
    return prepared.items, prepared.parse


@dataclass(slots=True)
class Prepared:
    """One answer body made ready for the store (see :func:`prepare_answer`)."""

    items: list[Incoming]
    parse: Callable[[Incoming], Record]
    #: ``parse`` for many items at once (faster).
    parse_many: Callable[[Sequence[Incoming]], list[Record]]
    #: What the archive keeps: the body with sensitive values masked (as received if none).
    body: bytes
    #: The SHA-256 of ``body`` when it differs from the body received, else None.
    sha256: str | None
    #: The layout the records were read with.
    layout: str
    #: By item line: the sensitive fields that arrived masked already (a re-read archive).
    premasked: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: By item line, for the records protection changed: the digest of the record as it
    #: arrived (how a replay recognises content stored under another ``sensitive`` mode).
    arrived: dict[int, bytes] = field(default_factory=dict)


def prepare_answer(
    body: bytes,
    fmt: str,
    *,
    protector: Protector,
    layout: layouts.Layout | None = None,
) -> Prepared:
    """The store's input for one answer body, with the ``sensitive`` fields protected.

    Clear values never leave this function except through ``parse``, which puts what the
    mode allows (the keyed hash, nothing, or the value) in the typed field; the items'
    ``raw`` and digest, and the body to archive, carry the masked bytes. ``layout`` reads
    text answers whose records have its length (others: the built-in layout, detected) and
    JSON answers.
    """
    if fmt == "json":
        return _prepare_json(body, protector, layout)
    return _prepare_text(body, protector, layout)


def _prepare_text(body: bytes, protector: Protector, layout: layouts.Layout | None) -> Prepared:
    bom = body.startswith(BOM)
    pieces = (body[3:] if bom else body).split(b"\n")
    lines: list[tuple[int, bytes]] = []
    for number, piece in enumerate(pieces, start=1):
        line = piece[:-1] if piece.endswith(b"\r") else piece
        if line.strip():
            lines.append((number, line))
    lengths = [len(line) for _, line in lines[:200]]
    if layout is not None and lengths and all(n == layout.record_length for n in lengths):
        c = codec(layout)
    else:
        c = codec(detect_layout(lengths))
    fields = sensitive_spans(c.layout)
    spans = identity_spans(c.layout)
    names = tuple(name for _, _, name, _ in fields)
    clear: dict[int, dict[str, bytes]] = {}
    premasked: dict[int, tuple[str, ...]] = {}
    arrived: dict[int, bytes] = {}
    changed = False
    items: list[Incoming] = []
    for number, line in lines:
        if len(line) != c.length:
            raise InputError(
                f"the record is {len(line)} bytes, not the {c.length} of {c.layout.name}",
                source="the API answer",
                line=number,
            )
        if fields:
            stored, found, masked = protector.line(line, fields)
            if stored is not line:
                cr = b"\r" if pieces[number - 1].endswith(b"\r") else b""
                pieces[number - 1] = stored + cr
                arrived[number] = digest(line)
                line, changed = stored, True
            if found:
                clear[number] = found
            if masked:
                premasked[number] = masked
        key = _key_of_line(spans, line)
        if key is None:
            key = report_key(*c.decode(line, number, check=False).identity)
        items.append(Incoming(key=key, digest=digest(line), raw=line, line=number))

    def parse(item: Incoming) -> Record:
        return parse_many([item])[0]

    def parse_many(items: Sequence[Incoming]) -> list[Record]:
        records = c.decode_many([i.raw for i in items], [i.line for i in items])
        if names:
            for record in records:
                _settle(record, names, clear.get(record.line), protector)
        return records

    archived = body
    if changed:
        archived = (BOM if bom else b"") + b"\n".join(pieces)
    return Prepared(
        items=items,
        parse=parse,
        parse_many=parse_many,
        body=archived,
        sha256=hashlib.sha256(archived).hexdigest() if changed else None,
        layout=c.layout.name,
        premasked=premasked,
        arrived=arrived,
    )


def _settle(
    record: Record, names: tuple[str, ...], clear: dict[str, Any] | None, protector: Protector
) -> None:
    """Put in the record's sensitive fields what the mode allows (None for a mask)."""
    for name in names:
        if clear and name in clear:
            record.put(name, protector.value(clear[name]))
        else:
            value = record.get(name, _ABSENT)
            if value is not _ABSENT and (protector.mode != "keep" or is_mask(value)):
                record.put(name, None)


_ABSENT: Any = object()


def _prepare_json(body: bytes, protector: Protector, layout: layouts.Layout | None) -> Prepared:
    lay = layout or layouts.builtin(layouts.CURRENT)
    objects = list(iter_objects(io.BufferedReader(io.BytesIO(body))))
    sizes = {f.name: f.size for f in lay.data_fields if f.kind == "sensitive"}
    keys = key_map(lay)
    clear: dict[int, dict[str, str]] = {}
    premasked: dict[int, tuple[str, ...]] = {}
    arrived: dict[int, bytes] = {}
    changed = False
    if sizes:
        names: dict[str, str | None] = {}
        for index, obj in enumerate(objects, start=1):
            if not isinstance(obj, dict):
                continue  # parse_json names it
            for member, value in list(obj.items()):
                if member not in names:
                    names[member] = keys.get(normalize_key(member))
                name = names[member]
                if name not in sizes:
                    continue
                assert name is not None
                stored, text, masked = protector.json_value(value, sizes[name])
                if stored is not value:
                    if index not in arrived:
                        arrived[index] = digest(msgspec.json.encode(obj))
                    obj[member] = stored
                    changed = True
                if text is not None:
                    clear.setdefault(index, {})[name] = text
                if masked:
                    premasked[index] = (*premasked.get(index, ()), name)
    records = list(parse_json(objects, layout=lay))
    if sizes:
        for r in records:
            _settle(r, tuple(sizes), clear.get(r.line), protector)
    by_line = {r.line: r for r in records}
    archived = _json_body(body, objects) if changed else body
    return Prepared(
        items=incoming_from_records(records),
        parse=lambda item: by_line[item.line],
        parse_many=lambda items: [by_line[item.line] for item in items],
        body=archived,
        sha256=hashlib.sha256(archived).hexdigest() if changed else None,
        layout=lay.name,
        premasked=premasked,
        arrived=arrived,
    )


def _json_body(body: bytes, objects: list[Any]) -> bytes:
    """The answer again with its records replaced by ``objects`` (the masked ones)."""
    try:
        top = msgspec.json.decode(body[3:] if body.startswith(BOM) else body)
    except msgspec.DecodeError:
        top = {}
    if isinstance(top, dict):
        top["data"] = objects
    else:
        top = objects
    return msgspec.json.encode(top)


# -- the run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncSettings:
    """The settings of one run (all keyword-only, with the documented defaults)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    window: dt.timedelta = DEFAULT_WINDOW
    lookback: dt.timedelta = DEFAULT_LOOKBACK
    lag: dt.timedelta = DEFAULT_LAG
    concurrency: int = 4
    format: str = "text"
    wait: bool = False
    #: How ID numbers are kept: ``keep``, ``hash`` or ``drop`` (:mod:`toefl_access.sensitive`).
    sensitive: str = "hash"
    #: A file holding the key of the ID-number hash (default: a key kept in the database).
    hash_key_file: str | None = None
    #: A layout name or file for text records of its length (default: built-in, detected).
    layout: str | None = None

    def describe(self) -> dict[str, Any]:
        out = {
            "since": self.since and api_format(self.since),
            "until": self.until and api_format(self.until),
            "window": format_duration(self.window),
            "lookback": format_duration(self.lookback),
            "lag": format_duration(self.lag),
            "concurrency": self.concurrency,
            "format": self.format,
            "sensitive": self.sensitive,
        }
        if self.layout:
            out["layout"] = self.layout
        return out


Progress = Callable[[Window, WindowCounts | None, int], None]


def sync(
    client: BodySource,
    store: Store,
    settings: SyncSettings = SyncSettings(),
    *,
    now: dt.datetime | None = None,
    on_plan: Callable[[list[Window]], None] | None = None,
    on_window: Progress | None = None,
) -> SyncResult:
    """Run one sync. ``on_plan`` sees the planned windows, ``on_window`` each finished one
    (its counts, or None when it failed, and the number of records)."""
    if settings.concurrency < 1:
        raise ToeflAccessError("--concurrency must be at least 1")
    if settings.format not in ("text", "json"):
        raise ToeflAccessError(f"--format must be text or json, not {settings.format!r}")
    layout = check_layout(layouts.load(settings.layout)) if settings.layout else None
    now = now or dt.datetime.now(UTC)
    with store.sync_lock(wait=settings.wait):
        protector, notices = protector_for(
            store, settings.sensitive, key_file=settings.hash_key_file
        )
        windows = plan(
            watermark=store.watermark(),
            now=now,
            since=settings.since,
            until=settings.until,
            window=settings.window,
            lookback=settings.lookback,
            lag=settings.lag,
        )
        result = SyncResult(run_id=None, windows=windows, notices=notices)
        if on_plan:
            on_plan(windows)
        if not windows:
            result.watermark = store.watermark()
            return result
        started = time.monotonic()
        result.run_id = store.begin_run(started_at=dt.datetime.now(UTC), params=settings.describe())
        try:
            _run(client, store, settings, result, on_window, protector, layout)
        finally:
            result.elapsed = time.monotonic() - started
            store.finish_run(
                result.run_id,
                finished_at=dt.datetime.now(UTC),
                windows_done=result.done,
                windows_failed=len(result.failures),
                counts=result.counts,
                nbytes=result.nbytes,
                statuses=result.statuses,
                error=result.stopped,
            )
        result.watermark = store.watermark()
    return result


def _fetch(
    client: BodySource, w: Window, fmt: str, finish: Callable[[bytes, str], Any] | None = None
) -> Any:
    """The body of a window; with ``finish``, ``(body, finish(content, sha256))``, or
    ``(body, the exception finish raised)``, for the writer to raise in window order after
    counting the body. Runs in a fetch thread: zlib and hashing release the GIL there and
    the rest overlaps with the writer's database work."""
    body = client.fetch_body(w.start, w.end, format=fmt)
    if finish is None:
        return body
    try:
        return body, finish(body.content, body.sha256)
    except Exception as exc:
        return body, exc


def _ahead(
    pool: ThreadPoolExecutor, client: BodySource, windows: Sequence[Window], fmt: str, depth: int,
    finish: Callable[[bytes, str], Any] | None = None,
) -> Iterator[tuple[Window, Future[Any]]]:
    """Windows with their fetches, in order, keeping ``depth`` fetches in flight."""
    pending: deque[tuple[Window, Future[Any]]] = deque()
    todo = iter(windows)
    for w in todo:
        pending.append((w, pool.submit(_fetch, client, w, fmt, finish)))
        if len(pending) >= depth:
            break
    while pending:
        yield pending.popleft()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append((nxt, pool.submit(_fetch, client, nxt, fmt, finish)))


def _run(
    client: BodySource,
    store: Store,
    settings: SyncSettings,
    result: SyncResult,
    on_window: Progress | None,
    protector: Protector,
    layout: layouts.Layout | None,
) -> None:
    assert result.run_id is not None
    total = WindowCounts(0, 0, 0, 0)
    unreachable = 0
    archived = (
        store.archived_bodies(result.windows[0].start, result.windows[-1].end)
        if result.windows else set()
    )
    with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="fetch") as pool:

        def finish(content: bytes, sha256: str) -> tuple[Prepared, bytes | None]:
            ready = prepare_answer(content, settings.format, protector=protector, layout=layout)
            if (ready.sha256 or sha256) in archived:
                return ready, None  # the archive has it: the writer will not store it again
            return ready, compress_body(ready.body)

        stream = _ahead(
            pool, client, result.windows, settings.format, settings.concurrency, finish
        )
        for w, future in stream:
            try:
                body, done = future.result()
                result.statuses[body.status] = result.statuses.get(body.status, 0) + 1
                result.nbytes += body.nbytes
                if isinstance(done, Exception):
                    raise done
                ready, compressed = done
                items = ready.items
                counts = store.write_window(
                    run_id=result.run_id,
                    start=w.start,
                    end=w.end,
                    fmt=settings.format,
                    body=ready.body,
                    sha256=ready.sha256 or body.sha256,
                    status=body.status,
                    incoming=items,
                    parse=ready.parse,
                    parse_many=ready.parse_many,
                    received_at=dt.datetime.now(UTC),
                    compressed=compressed,
                )
            except (AuthenticationError, ForbiddenError) as exc:
                _fail(store, result, w, exc)
                result.stopped = str(exc)
                result.exit_code = EXIT_KEY_REFUSED
                for _, rest in stream:
                    rest.cancel()
                break
            except (ApiError, InputError) as exc:
                unreachable += isinstance(exc, TransportError)
                _fail(store, result, w, exc)
                if on_window:
                    on_window(w, None, 0)
                continue
            result.done += 1
            total = WindowCounts(
                total.new + counts.new,
                total.changed + counts.changed,
                total.unchanged + counts.unchanged,
                total.warnings + counts.warnings,
            )
            result.counts = total
            log.info(
                "window %s: %d new, %d changed, %d unchanged",
                w,
                counts.new,
                counts.changed,
                counts.unchanged,
            )
            if on_window:
                on_window(w, counts, len(items))
    if result.exit_code == EXIT_OK and result.failures:
        everything_unreachable = unreachable == len(result.windows) and not result.done
        result.exit_code = EXIT_UNREACHABLE if everything_unreachable else EXIT_FAILED_WINDOWS
        if everything_unreachable:
            result.stopped = result.failures[-1].error


def _fail(store: Store, result: SyncResult, w: Window, exc: ToeflAccessError) -> None:
    status = getattr(exc, "status", None)
    if status is not None:
        result.statuses[status] = result.statuses.get(status, 0) + 1
    log.warning("window %s failed: %s", w, exc)
    result.failures.append(WindowFailure(w, str(exc), status))
    assert result.run_id is not None
    store.record_failure(
        run_id=result.run_id, start=w.start, end=w.end, error=str(exc), status=status
    )


def check_layout(layout: layouts.Layout) -> layouts.Layout:
    """The layout, if it has the four fields that identify a report (else LayoutError)."""
    missing = [n for n in IDENTITY if not layout.has(n)]
    if missing:
        raise LayoutError(
            f"the layout has no {', '.join(missing)}: a report is identified by "
            f"{', '.join(IDENTITY)}",
            source=layout.name,
        )
    return layout


@cache
def identity_spans(layout: layouts.Layout) -> tuple[tuple[int, int], ...]:
    """Byte ranges of registration number, test date, institution and department codes."""
    return tuple(
        (f.start, f.end)
        for f in (
            layout.field(n)
            for n in ("registration_number", "test_date", "institution_code", "department_code")
        )
    )
