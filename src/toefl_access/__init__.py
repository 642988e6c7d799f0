"""toefl-access: TOEFL score reports from the TOEFL Access API into your own database.

>>> import toefl_access
>>> with toefl_access.Client(authcode=key) as client:               # doctest: +SKIP
...     for record in client.fetch("2025-04-21", "2025-04-22"):
...         print(record["last_name"], record["total"])

The public names are re-exported here; everything else is an implementation detail.
Run a sync with ``from toefl_access.sync import sync``. The client, the store and the
sync engine are imported on first use, so that parsing a
file does not load the HTTP and database libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import ToeflAccessError
from .formats.layout import Field, Layout
from .formats.parse import parse, parse_batches, parse_table
from .formats.record import Record, RecordWarning
from .formats.textformat import render

if TYPE_CHECKING:
    from .api.client import Client
    from .store import Store, open_store
    from .sync import SyncSettings

_LAZY = {
    "Client": "api.client",
    "Store": "store",
    "open_store": "store",
    "SyncSettings": "sync",
}

__all__ = [
    "Client",
    "Field",
    "Layout",
    "Record",
    "RecordWarning",
    "Store",
    "SyncSettings",
    "ToeflAccessError",
    "__version__",
    "open_store",
    "parse",
    "parse_batches",
    "parse_table",
    "render",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'toefl_access' has no attribute {name!r}")
