"""What an export writes, shared by every writer: the columns (:class:`Column`), how
(:class:`Spec`), and the text of values that have no cell type of their own."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import msgspec

from ..errors import MissingExtraError
from ..formats.record import RecordWarning

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Column:
    """One export column: canonical name, kind (a layout kind, or ``int``, ``instant``,
    ``bool``, ``warnings``, ``json``), label, and the key of its value in a stored row."""

    name: str
    kind: str
    label: str
    source: str


def getter(cols: Sequence[Column]) -> Callable[[Row], Sequence[Any]]:
    get = itemgetter(*(c.source for c in cols))
    if len(cols) == 1:
        return lambda row: (get(row),)
    return get


@dataclass(slots=True)
class Spec:
    """How to write: the columns, whether they were chosen (``--columns``), labels or
    names as headers, Excel-safe CSV; writers add ``notes`` for stderr."""

    columns: tuple[Column, ...]
    chosen: bool = False
    labels: bool = False
    excel: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [c.label if self.labels else c.name for c in self.columns]


def iso_instant(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def warnings_text(value: list[RecordWarning]) -> str:
    return "; ".join(w.describe() for w in value)


def json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode() if value else ""


def require(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, module, purpose) from None
