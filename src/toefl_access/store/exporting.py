"""Store queries for exports and deltas (``export --since-last``)."""

from __future__ import annotations

from .core import StoreCore


class ExportReader(StoreCore):
    """What the exporters read from the store."""
