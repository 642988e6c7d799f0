"""The incremental sync: windows planned with their overlap (:mod:`.windows`), each answer
made ready for the store (:mod:`.preparing`), the run that fetches and stores them
(:mod:`.run`), and many integrations run together with one pool of requests (:mod:`.many`).

>>> from toefl_access.sync import SyncSettings, sync      # doctest: +SKIP
>>> result = sync(client, store, SyncSettings(since=...))

The names come from :mod:`.run` on first use, so that importing :mod:`.windows` does not
load the store (and SQLAlchemy) with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .many import AllResult, sync_all
    from .run import BodySource, SyncResult, SyncSettings, WindowFailure, check_layout, sync

__all__ = [
    "AllResult", "BodySource", "SyncResult", "SyncSettings", "WindowFailure", "check_layout",
    "sync", "sync_all",
]  # fmt: skip
_MANY = ("AllResult", "sync_all")


def __getattr__(name: str) -> Any:
    if name in _MANY:
        from . import many

        return getattr(many, name)
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module 'toefl_access.sync' has no attribute {name!r}")
