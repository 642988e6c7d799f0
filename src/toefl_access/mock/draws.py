"""Counter-based random draws: the same key gives the same numbers, on any Python version.

A :class:`Draws` hashes its key with a block counter (SHAKE-128, 192 bytes a block) and hands
the result out as 32-bit numbers. It costs a hash per 48 numbers (about one report) and no
generator state to seed, which matters when every report of a population has its own key.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist
from typing import TypeVar

T = TypeVar("T")

_BLOCK = 192
_UNPACK = struct.Struct(f"<{_BLOCK // 4}I").unpack
_SCALE = 1.0 / 2**32
#: Quantiles of the standard normal distribution at 1024 equally likely points.
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / 1024) for i in range(1024))


class Draws:
    """Random numbers derived from ``key`` alone."""

    __slots__ = ("_block", "_buffer", "_key", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self._key = key.encode("utf-8")
        self._block = 0
        self._buffer: list[int] = []

    def _refill(self) -> None:
        data = self._key + b"#" + str(self._block).encode("ascii")
        self._block += 1
        digest = hashlib.shake_128(data).digest(_BLOCK)
        self._buffer = list(reversed(_UNPACK(digest)))

    def u32(self) -> int:
        """A number in ``[0, 2**32)``."""
        if not self._buffer:
            self._refill()
        return self._buffer.pop()

    def random(self) -> float:
        """A number in ``[0, 1)``."""
        if not self._buffer:
            self._refill()
        return self._buffer.pop() * _SCALE

    def below(self, n: int) -> int:
        """A whole number in ``[0, n)``, for ``n`` up to 2**32."""
        if not self._buffer:
            self._refill()
        return (self._buffer.pop() * n) >> 32

    def between(self, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        if not self._buffer:
            self._refill()
        return low + ((self._buffer.pop() * (high - low + 1)) >> 32)

    def pick(self, items: Sequence[T]) -> T:
        if not self._buffer:
            self._refill()
        return items[(self._buffer.pop() * len(items)) >> 32]

    def weighted(self, items: Sequence[T], cumulative: Sequence[int]) -> T:
        """One of ``items``, with ``cumulative`` the running sums of their weights."""
        return items[bisect.bisect_right(cumulative, self.below(cumulative[-1]))]

    def normal(self, mu: float, sigma: float) -> float:
        """An approximately normal number (1024 quantiles)."""
        return mu + sigma * _NORMAL[self.u32() >> 22]

    def digits(self, pattern: str) -> str:
        """``pattern`` with every ``#`` replaced by a random digit."""
        n = pattern.count("#")
        value = 0
        for _ in range((n + 8) // 9):
            value = value * 1_000_000_000 + self.below(1_000_000_000)
        text = f"{value % 10**n:0{n}d}"
        return text if n == len(pattern) else _template(pattern).format(*text)


@lru_cache(maxsize=64)
def _template(pattern: str) -> str:
    return pattern.replace("{", "{{").replace("}", "}}").replace("#", "{}")


def cumulative(weights: Sequence[int]) -> list[int]:
    """Running sums of ``weights``, as :meth:`Draws.weighted` wants them."""
    return list(itertools.accumulate(weights))
