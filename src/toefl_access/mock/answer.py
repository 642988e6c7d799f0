"""What the mock answers, in terms its carriers share: :class:`Answer` (status, headers, a
body of chunks), :class:`ConnectionDropped` (a body that ends the connection), and
:class:`Handler`, what :mod:`.app` (Starlette) and :mod:`.transport` (httpx) need of
:class:`~.api.MockApi`. The carriers import this module, never the API itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol


class ConnectionDropped(Exception):
    """Raised by an answer's body to end the connection early.

    ``how`` is ``reset`` (dropped) or ``close`` (closed before the body is complete);
    ``offset`` is the number of body bytes sent before it.
    """

    def __init__(self, how: str, offset: int) -> None:
        super().__init__(f"mock fault: connection {how} after {offset} body bytes")
        self.how = how
        self.offset = offset


@dataclass
class Answer:
    """What the mock answers: status, headers, a body of chunks, and how to deliver it.

    ``delay`` is the wait in seconds before the status line (``--latency``); ``stall`` the
    wait after the first body chunk (a ``slow`` fault). The body may raise
    :class:`ConnectionDropped`. ``fault`` names the fault that shaped the answer, if any.
    """

    status: int
    headers: dict[str, str]
    body: Iterator[bytes]
    delay: float = 0.0
    stall: float = 0.0
    fault: str | None = None


class Handler(Protocol):
    """Anything that answers a request as :meth:`MockApi.handle <.api.MockApi.handle>`."""

    def handle(
        self,
        method: str,
        path: str,
        params: Iterable[tuple[str, str]] | Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer: ...
