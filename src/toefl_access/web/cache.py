"""The page's cache: a value kept while the database's :func:`version` is the same, for at
most ``ttl``.

The overview's charts and counts cost a scan of the reports (about 0.6 s at 100,000 of
them); an uptime monitor polls ``/api/status`` every minute and people reload ``/``. The
cache keeps each for up to ``ttl`` (60 s), keyed on a few primary-key lookups
(:func:`toefl_access.store.dashboard.version`): a run that starts or ends, a new alert or a
cancellation shows at once. A value being computed is computed once: other requests for it
wait for that one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["Cache"]

T = TypeVar("T")


class Cache:
    """Named values, each with the version and the time it was computed at."""

    def __init__(self, ttl: dt.timedelta) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[Hashable, dt.datetime, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str, version: Hashable, now: dt.datetime, compute: Callable[[], T]) -> T:
        """The value of ``name`` computed at ``version`` less than ``ttl`` before ``now``,
        else ``compute()`` (kept for the next call)."""
        if self.ttl <= dt.timedelta(0):
            return compute()
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            kept = self._values.get(name)
            if kept is not None and kept[0] == version:
                age = now - kept[1]
                if dt.timedelta(0) <= age < self.ttl:
                    value: T = kept[2]
                    return value
            value = compute()
            self._values[name] = (version, now, value)
            return value

