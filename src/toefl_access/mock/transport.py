"""The mock API as httpx transports: the same answers in-process, without sockets.

>>> import httpx
>>> from toefl_access.mock import MockApi
>>> client = httpx.Client(transport=MockApi().transport())   # doctest: +SKIP

The body streams chunk by chunk as the client reads it. Faults arrive as httpx would report
them from a real socket: ``reset`` raises :class:`httpx.ReadError` mid-body and
``truncate-close`` :class:`httpx.RemoteProtocolError` (the peer closed before the body was
complete). ``--latency`` and ``slow`` really sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from time import sleep

import anyio
import httpx

from .answer import Answer, ConnectionDropped, Handler


def _handle(api: Handler, request: httpx.Request) -> Answer:
    return api.handle(
        request.method, request.url.path, request.url.params.multi_items(), request.headers
    )


def _as_httpx(exc: ConnectionDropped, request: httpx.Request) -> httpx.TransportError:
    if exc.how == "reset":
        return httpx.ReadError("[Errno 104] Connection reset by peer (mock fault)", request=request)
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body (mock fault)",
        request=request,
    )


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, answer: Answer, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        answer = self._answer
        stalled = not answer.stall
        try:
            for chunk in answer.body:
                yield chunk
                if not stalled:
                    sleep(answer.stall)
                    stalled = True
        except ConnectionDropped as exc:
            raise _as_httpx(exc, self._request) from None
        if not stalled:
            sleep(answer.stall)

    def close(self) -> None:
        close = getattr(self._answer.body, "close", None)
        if close is not None:
            close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, answer: Answer, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        answer = self._answer
        stalled = not answer.stall
        try:
            for chunk in answer.body:
                yield chunk
                if not stalled:
                    await anyio.sleep(answer.stall)
                    stalled = True
        except ConnectionDropped as exc:
            raise _as_httpx(exc, self._request) from None
        if not stalled:
            await anyio.sleep(answer.stall)

    async def aclose(self) -> None:
        close = getattr(self._answer.body, "close", None)
        if close is not None:
            close()


class MockTransport(httpx.BaseTransport):
    """A synchronous httpx transport answering with a :class:`~.api.MockApi`."""

    def __init__(self, api: Handler) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = _handle(self.api, request)
        if answer.delay:
            sleep(answer.delay)
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_SyncBody(answer, request),
            request=request,
        )


class AsyncMockTransport(httpx.AsyncBaseTransport):
    """An asynchronous httpx transport answering with a :class:`~.api.MockApi`."""

    def __init__(self, api: Handler) -> None:
        self.api = api

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = _handle(self.api, request)
        if answer.delay:
            await anyio.sleep(answer.delay)
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_AsyncBody(answer, request),
            request=request,
        )
