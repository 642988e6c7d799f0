"""Decoding one step ahead: batches made by a worker thread while the caller uses the last.

Decoding a batch is mostly numpy and Arrow work, which releases the GIL, and so is writing
Parquet or CSV from it; with :func:`ahead` the next batch is decoded while the last one is
written (or iterated), so the two use two cores. Order, errors and early exits behave as
with the plain iterator: items come in order, an error comes after the items before it, and
a caller that stops early stops the worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_ITEM, _DONE, _ERROR = 0, 1, 2


def ahead(items: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """The items of ``items``, made by a worker thread up to ``depth`` ahead of the caller."""
    box: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the caller, raised there
            put((_ERROR, exc))

    worker = threading.Thread(target=work, name="toefl-access-decode", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                raise value
    finally:
        stop.set()
        worker.join(timeout=1.0)  # it notices within a put's timeout, or is reading input
