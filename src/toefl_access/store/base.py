"""The store contract, implemented once: :class:`Store`; the backends add their bulk paths
and their lock."""

from __future__ import annotations

from .alerting import AlertKeeper
from .exporting import ExportReader
from .history import HistoryKeeper
from .matching import MatchKeeper
from .reading import StoreReader
from .writing import WindowWriter


class Store(WindowWriter, StoreReader, ExportReader, HistoryKeeper, AlertKeeper, MatchKeeper):
    """A score-report database (SQLite or PostgreSQL). Open it with :func:`open_store`.

    Every method translates database errors into :class:`~toefl_access.errors.StoreError`
    (whose message names the database, with any password masked, and what to do). Writers
    hold :meth:`sync_lock`; readers (``status``, ``reports``) never wait for a writer.
    """
