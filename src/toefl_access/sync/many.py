"""Many integrations in one run: every ``[[integration]]`` synced at once, with one bounded
pool of concurrent requests across all of them.

>>> from toefl_access.settings import load
>>> from toefl_access.sync.many import sync_all
>>> outcome = sync_all(load().integrations, pool=16)          # doctest: +SKIP
>>> outcome.exit_code, outcome.culprits                       # doctest: +SKIP
(2, ['north'])

Each integration runs :func:`toefl_access.sync.run.sync`, unchanged, in a worker thread of
its own, with its own client (its own key) and its own database (its own sync lock, run
ledger and watermark); as many run at a time as fill the pool, the next starting when one
ends. What they share is the :class:`RequestPool`: every request of every
integration takes one of its ``pool`` slots before it goes out and gives it back when its
body has been read, retries and their back-off included (a rate limit on the one vendor API
slows everyone down, as it should). Within an integration, ``concurrency`` windows are still
fetched ahead and written in window order. A refused key, a dead server, a locked or broken
database fail that integration only.

The exit code of the whole is the worst of the integrations', in this order: **2** (a key
was refused: a person must generate a new key) > **3** (the API could not be reached: it may
pass by itself) > **1** (windows failed and are retried next run, or an integration could
not run at all: a missing key file, a locked database) > **0**. :attr:`AllResult.culprits`
names the integrations that set it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import ToeflAccessError
from ..settings import Integration
from ..store import Store, open_store
from .run import (
    EXIT_FAILED_WINDOWS,
    EXIT_KEY_REFUSED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    BodySource,
    SyncResult,
    SyncSettings,
    sync,
)

__all__ = [
    "EXIT_ORDER", "THREAD_PREFIX", "AllResult", "IntegrationEvent", "IntegrationOutcome",
    "PooledClient", "RequestPool", "default_client", "severity", "sync_all",
]  # fmt: skip

log = logging.getLogger("toefl_access.sync")

#: Exit codes from the worst to the best: the whole run ends with the first one any
#: integration ended with.
EXIT_ORDER = (EXIT_KEY_REFUSED, EXIT_UNREACHABLE, EXIT_FAILED_WINDOWS, EXIT_OK)
#: The most worker threads (integrations synced at the same time).
MAX_WORKERS = 64
#: An integration's worker thread is called this and its name (``%(threadName)s`` in a
#: log format tells whose run a line is about).
THREAD_PREFIX = "integration "


def severity(code: int) -> int:
    """How bad an exit code is, for comparing (higher is worse; an unknown code ranks
    with 1)."""
    return len(EXIT_ORDER) - 1 - EXIT_ORDER.index(code) if code in EXIT_ORDER else 1


class RequestPool:
    """At most ``size`` requests in flight across every client wrapped by :meth:`wrap`.

    :attr:`peak` is the most that were in flight at once. :meth:`stop` makes every request
    not yet sent fail at once (an interrupted run ends its integrations promptly, each
    recording its run in its ledger).
    """

    def __init__(self, size: int) -> None:
        if not (isinstance(size, int) and size >= 1):
            raise ToeflAccessError(f"the pool of requests must be 1 or more, not {size!r}")
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.in_flight = 0
        self.peak = 0

    def wrap(self, client: BodySource) -> PooledClient:
        """``client`` with its requests taking this pool's slots."""
        return PooledClient(client, self)

    def stop(self) -> None:
        """Fail every request that has not gone out yet."""
        self._stopped.set()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot (waiting for one to be free) for the duration of the block."""
        while not self._slots.acquire(timeout=0.25):
            self._check()
        try:
            self._check()
            with self._lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1
        finally:
            self._slots.release()

    def _check(self) -> None:
        if self._stopped.is_set():
            raise ToeflAccessError(
                "the run was interrupted before this window was fetched; the next run "
                "fetches it"
            )


class PooledClient:
    """A :class:`~toefl_access.sync.run.BodySource` whose requests take a slot of a
    :class:`RequestPool` each."""

    def __init__(self, client: BodySource, pool: RequestPool) -> None:
        self._client = client
        self._pool = pool

    @property
    def key_fingerprint(self) -> str | None:
        """The wrapped client's key fingerprint (the run ledger records it)."""
        return getattr(self._client, "key_fingerprint", None)

    def fetch_body(self, start: dt.datetime, end: dt.datetime, *, format: str = "text") -> Any:
        with self._pool.slot():
            return self._client.fetch_body(start, end, format=format)


@dataclass(slots=True)
class IntegrationOutcome:
    """How one integration's run ended: its :class:`SyncResult`, or the error that stopped
    it before or during the run."""

    integration: Integration
    result: SyncResult | None = None
    error: Exception | None = None
    elapsed: float = 0.0

    @property
    def name(self) -> str:
        return self.integration.name

    @property
    def exit_code(self) -> int:
        """The integration's exit code: the run's, or the error's (1 for a foreign one)."""
        if self.error is not None:
            return self.error.exit_code if isinstance(self.error, ToeflAccessError) else 1
        return self.result.exit_code if self.result is not None else EXIT_OK


@dataclass(slots=True)
class AllResult:
    """What :func:`sync_all` did: each integration's outcome, in the settings' order."""

    outcomes: dict[str, IntegrationOutcome] = field(default_factory=dict)
    elapsed: float = 0.0
    #: The most requests that were in flight at once, across every integration.
    peak_requests: int = 0

    @property
    def exit_code(self) -> int:
        """The worst exit code of the integrations (see :data:`EXIT_ORDER`); 0 for none."""
        codes = [o.exit_code for o in self.outcomes.values()]
        return max(codes, key=severity, default=EXIT_OK)

    @property
    def culprits(self) -> list[str]:
        """The integrations whose exit code is the whole run's (none when it is 0)."""
        worst = self.exit_code
        if worst == EXIT_OK:
            return []
        return [name for name, o in self.outcomes.items() if o.exit_code == worst]

    @property
    def failed(self) -> list[str]:
        """Every integration whose exit code is not 0."""
        return [name for name, o in self.outcomes.items() if o.exit_code != EXIT_OK]

    @property
    def reports(self) -> int:
        """Reports received in all (new, changed and unchanged)."""
        total = 0
        for o in self.outcomes.values():
            if o.result is not None:
                c = o.result.counts
                total += c.new + c.changed + c.unchanged
        return total


@dataclass(frozen=True, slots=True)
class IntegrationEvent:
    """What :func:`sync_all` tells ``on_event``: an integration ``started``, or
    ``finished`` with its ``outcome``; ``store`` is its database, still open during the
    call (None when it could not be opened): the place to judge its alerts."""

    kind: Literal["started", "finished"]
    integration: Integration
    outcome: IntegrationOutcome | None = None
    store: Store | None = None


def default_client(integration: Integration) -> BodySource:
    """A :class:`~toefl_access.api.client.Client` with the key read from the
    integration's ``authcode_file`` and its ``base_url`` (production when unset)."""
    from ..api.apikey import ENV_AUTHCODE_FILE, read_authcode
    from ..api.client import PRODUCTION_URL, Client

    key = read_authcode({ENV_AUTHCODE_FILE: integration.authcode_file})
    return Client(authcode=key, base_url=integration.base_url or PRODUCTION_URL)


def sync_all(
    integrations: Sequence[Integration],
    *,
    pool: int = 16,
    settings_for: Callable[[Integration], SyncSettings] = lambda integration: SyncSettings(),
    client_for: Callable[[Integration], BodySource] = default_client,
    workers: int | None = None,
    now: dt.datetime | None = None,
    on_event: Callable[[IntegrationEvent], None] | None = None,
) -> AllResult:
    """Sync every integration, with at most ``pool`` requests in flight across them all.

    ``settings_for`` gives each integration's :class:`SyncSettings` (default: the
    defaults); an integration's ``since`` starts its first run (when its database has no
    watermark yet and the settings give no ``since``). ``client_for`` makes its client
    (default: :func:`default_client`; closed afterwards when it has ``close``).
    ``workers`` integrations run at the same time, each in a thread (default: as many as
    fill the pool, ``pool`` divided by their ``concurrency``, rounded up: more only add
    threads that wait for a slot, and measured on two cores they cost CPU time, see
    ``bench/bench_integrations.py``); the next starts when one ends. ``on_event`` is called
    from the integrations' worker threads (see :class:`IntegrationEvent`); what it raises
    is logged and ignored.

    Never raises for one integration's failure: each outcome holds its result or error.
    An interruption (Ctrl-C, SIGTERM) stops the requests not yet sent, lets each run
    record itself, and is raised again.
    """
    names = [i.name for i in integrations]
    if len(set(names)) != len(names):
        raise ToeflAccessError(f"integration names must be unique: {', '.join(names)}")
    requests = RequestPool(pool)
    out = AllResult(outcomes={i.name: IntegrationOutcome(i) for i in integrations})
    if not integrations:
        return out
    started = time.monotonic()
    planned: dict[str, SyncSettings | Exception] = {}
    for integration in integrations:
        try:
            planned[integration.name] = settings_for(integration)
        except Exception as exc:  # that integration fails, in its turn
            planned[integration.name] = exc
    if workers is None:
        ahead = max((s.concurrency for s in planned.values() if isinstance(s, SyncSettings)),
                    default=1)  # fmt: skip
        workers = -(-pool // max(ahead, 1))
    size = max(1, min(workers, len(integrations), MAX_WORKERS))

    def one(integration: Integration) -> None:
        _run_one(out.outcomes[integration.name], requests, planned[integration.name],
                 client_for, now, on_event)  # fmt: skip

    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="integration") as threads:
        futures: list[Future[None]] = [threads.submit(one, i) for i in integrations]
        try:
            while wait(futures, timeout=0.5).not_done:  # short waits: Ctrl-C reaches us
                pass
        except BaseException:
            requests.stop()
            for future in futures:
                future.cancel()  # the integrations not started yet
            raise
        for future in futures:
            future.result()  # a bug in the runner itself, not an integration's failure
    out.elapsed = time.monotonic() - started
    out.peak_requests = requests.peak
    return out


def _run_one(
    outcome: IntegrationOutcome,
    requests: RequestPool,
    settings: SyncSettings | Exception,
    client_for: Callable[[Integration], BodySource],
    now: dt.datetime | None,
    on_event: Callable[[IntegrationEvent], None] | None,
) -> None:
    """One integration, start to end; every failure ends up in ``outcome``."""
    integration = outcome.integration
    started = time.monotonic()
    # The run's own log lines come from this thread: its name tells whose they are.
    threading.current_thread().name = f"{THREAD_PREFIX}{integration.name}"
    _emit(on_event, IntegrationEvent("started", integration))
    store: Store | None = None
    client: BodySource | None = None
    try:
        if isinstance(settings, Exception):
            raise settings
        client = client_for(integration)
        store = open_store(integration.db)
        if settings.since is None and integration.since is not None \
                and store.watermark() is None:  # fmt: skip
            settings = replace(settings, since=integration.since)
        outcome.result = sync(requests.wrap(client), store, settings, now=now)
    except Exception as exc:
        outcome.error = exc
        log.warning("integration %s: %s", integration.name, exc)
    try:
        outcome.elapsed = time.monotonic() - started
        _emit(on_event, IntegrationEvent("finished", integration, outcome, store))
    finally:
        if store is not None:
            store.close()
        close = getattr(client, "close", None)
        if close is not None:
            close()


def _emit(on_event: Callable[[IntegrationEvent], None] | None, event: IntegrationEvent) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:
        log.exception("on_event failed for integration %s", event.integration.name)
