"""Fault specs for the mock API: what can go wrong, and how often.

=============================== ==============================================================
spec                            effect
=============================== ==============================================================
``429:P[:SECONDS]``             answer 429 with probability P, ``Retry-After: SECONDS``
                                (default 1; ``-`` sends no ``Retry-After``)
``500:P``                       answer 500 with probability P
``reset:P``                     drop the connection mid-body (in-process: ``httpx.ReadError``)
``truncate:P``                  cut the body inside a record, one of the two ways below at
                                random
``truncate-close:P``            ... the connection is closed before the body is complete
``truncate-short:P``            ... the response completes, but its last record is cut short
``slow:MS[:P]``                 stall MS milliseconds after the first chunk of the body
                                (always, or with probability P)
``expire-key-at:INSTANT``       from INSTANT (UTC, ``YYYY-MM-DDTHH:mm:ss``) on, the key gets 401
=============================== ==============================================================

P is a probability from 0 to 1. The draws are reproducible from the mock's seed and a request
counter: the n-th request sees the same faults on every run, and a retry is a new draw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..errors import UsageError

KINDS = (
    "429", "500", "reset", "truncate", "truncate-close", "truncate-short", "slow",
    "expire-key-at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed ``--fault`` spec; see the module documentation for the kinds."""

    kind: str
    probability: float = 1.0
    ms: int = 0
    at: dt.datetime | None = None
    retry_after: float | None = 1.0

    def __str__(self) -> str:
        if self.kind == "expire-key-at" and self.at is not None:
            return f"expire-key-at:{self.at.strftime('%Y-%m-%dT%H:%M:%S')}"
        if self.kind == "slow":
            return f"slow:{self.ms}" + (f":{self.probability:g}" if self.probability < 1 else "")
        if self.kind == "429":
            after = "-" if self.retry_after is None else f"{self.retry_after:g}"
            return f"429:{self.probability:g}:{after}"
        return f"{self.kind}:{self.probability:g}"


def _bad(spec: str, why: str) -> UsageError:
    return UsageError(
        f"fault {spec!r}: {why}; write it like 429:0.1, 500:0.05, reset:0.05, truncate:0.05, "
        "slow:2000 or expire-key-at:2026-03-01T00:00:00"
    )


def _probability(spec: str, text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not a probability") from None
    if not 0.0 <= p <= 1.0:
        raise _bad(spec, f"the probability {text} is not between 0 and 1")
    return p


def parse_fault(spec: str) -> Fault:
    """Parse one fault spec such as ``429:0.1`` or ``expire-key-at:2026-03-01T00:00:00``."""
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise _bad(spec, f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if not sep or not rest:
        raise _bad(spec, "a value is missing after the colon")
    if kind == "expire-key-at":
        try:
            at = dt.datetime.strptime(rest, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
        except ValueError:
            raise _bad(spec, f"{rest!r} is not a UTC time like 2026-03-01T00:00:00") from None
        return Fault(kind, at=at)
    parts = rest.split(":")
    if kind == "slow":
        if len(parts) > 2 or not parts[0].isdigit():
            raise _bad(spec, f"{parts[0]!r} is not a whole number of milliseconds")
        p = _probability(spec, parts[1]) if len(parts) == 2 else 1.0
        return Fault(kind, probability=p, ms=int(parts[0]))
    if kind == "429" and len(parts) == 2:
        if parts[1] == "-":
            return Fault(kind, probability=_probability(spec, parts[0]), retry_after=None)
        try:
            after = float(parts[1])
        except ValueError:
            raise _bad(spec, f"Retry-After {parts[1]!r} is not a number of seconds") from None
        if after < 0:
            raise _bad(spec, "Retry-After cannot be negative")
        return Fault(kind, probability=_probability(spec, parts[0]), retry_after=after)
    if len(parts) != 1:
        raise _bad(spec, "too many values")
    return Fault(kind, probability=_probability(spec, parts[0]))
