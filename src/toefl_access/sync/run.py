"""The incremental sync: API windows into the store, exactly once, with history.

This is the only module that knows both the client and the store. One run:

1. takes the database's sync lock (a second sync waits or exits with a clear message);
2. plans UTC windows from the watermark (:mod:`toefl_access.sync.windows`);
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
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..api.dates import UTC, api_format, format_duration
from ..errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    InputError,
    LayoutError,
    ToeflAccessError,
    TransportError,
)
from ..formats import layout as layouts
from ..formats.record import IDENTITY
from ..formats.sensitive import Protector, protector_for
from ..store import Store, WindowCounts
from ..store.writing import compress_body
from .preparing import Prepared, prepare_answer
from .windows import DEFAULT_LAG, DEFAULT_LOOKBACK, DEFAULT_WINDOW, Window, in_flight, plan

log = logging.getLogger("toefl_access.sync")

EXIT_OK, EXIT_FAILED_WINDOWS, EXIT_KEY_REFUSED, EXIT_UNREACHABLE = 0, 1, 2, 3


class BodySource(Protocol):
    """What sync needs of a client: :meth:`toefl_access.api.client.Client.fetch_body`."""

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
    counts: WindowCounts = field(default_factory=lambda: WindowCounts())
    nbytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    stopped: str | None = None
    exit_code: int = EXIT_OK
    watermark: dt.datetime | None = None
    #: Things the user should know that are not failures (e.g. the sensitive mode changed).
    notices: list[str] = field(default_factory=list)


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
    #: How ID numbers are kept: ``keep``, ``hash`` or ``drop``
    #: (:mod:`toefl_access.formats.sensitive`).
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
            retry=store.failed_windows() if settings.since is None else None,
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
        result.run_id = store.begin_run(
            started_at=dt.datetime.now(UTC), params=settings.describe(),
            windows_planned=len(windows),
            key_fingerprint=getattr(client, "key_fingerprint", None),
        )
        exit_code: int | None = None
        try:
            _run(client, store, settings, result, on_window, protector, layout)
            exit_code = result.exit_code
        except ToeflAccessError as exc:
            exit_code = exc.exit_code
            raise
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
                exit_code=exit_code,
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
    total = WindowCounts()
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

        fmt = settings.format
        stream = in_flight(
            result.windows, lambda w: pool.submit(_fetch, client, w, fmt, finish),
            settings.concurrency,
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
            total = total + counts
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
