"""The incremental sync: windows planned with their overlap (:mod:`.windows`), each answer
made ready for the store (:mod:`.preparing`), and the run that fetches and stores them
(:mod:`.run`).

>>> from toefl_access.sync import SyncSettings, sync      # doctest: +SKIP
>>> result = sync(client, store, SyncSettings(since=...))
"""

from .run import BodySource, SyncResult, SyncSettings, WindowFailure, check_layout, sync

__all__ = ["BodySource", "SyncResult", "SyncSettings", "WindowFailure", "check_layout", "sync"]
