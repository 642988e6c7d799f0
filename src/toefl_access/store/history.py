"""Store operations on people and history: cancellations, revisions side by side, replay."""

from __future__ import annotations

from .core import StoreCore


class HistoryKeeper(StoreCore):
    """Cancellations, a test taker's reports and revisions, and re-parsing the archive."""
