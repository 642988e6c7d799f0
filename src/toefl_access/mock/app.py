"""The mock API as a Starlette ASGI app: every path goes to :meth:`MockApi.handle`.

Bodies are made in the thread pool about 256 KiB at a time (the first chunk holds a few
records) and sent as they come, so a large window starts answering at once and many requests
are served together. A ``reset`` or ``truncate-close`` fault raises
:class:`~.api.ConnectionDropped` from the body: the server then closes the connection without
finishing the chunked body, which the client sees as an incomplete body. (ASGI cannot send a
TCP RST, so on a socket both look like an early close; the in-process transport tells them
apart.) :func:`quiet_drops` keeps these deliberate drops out of uvicorn's error log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .answer import Answer, ConnectionDropped, Handler

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _body(answer: Answer) -> AsyncIterator[bytes]:
    """The body, made chunk by chunk in the thread pool, with the ``slow`` stall after its
    first chunk (waited on the event loop, so a stalled answer holds no thread)."""
    chunks = iter(answer.body)
    stalled = not answer.stall
    try:
        while (chunk := await run_in_threadpool(next, chunks, None)) is not None:
            yield chunk
            if not stalled:
                await anyio.sleep(answer.stall)
                stalled = True
        if not stalled:
            await anyio.sleep(answer.stall)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def build_app(api: Handler) -> Starlette:
    """A Starlette app answering every request with ``api``."""

    async def endpoint(request: Request) -> Response:
        answer = await run_in_threadpool(
            api.handle,
            request.method,
            request.url.path,
            request.query_params.multi_items(),
            request.headers,
        )
        if answer.delay:
            await anyio.sleep(answer.delay)
        return StreamingResponse(_body(answer), answer.status, headers=answer.headers)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)])


def _is_drop(exc: BaseException | None, depth: int = 0) -> bool:
    if exc is None or depth > 8:
        return False
    if isinstance(exc, ConnectionDropped):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_drop(e, depth + 1) for e in exc.exceptions)
    return _is_drop(exc.__cause__ or exc.__context__, depth + 1)


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_drop(record.exc_info[1]))


def quiet_drops() -> None:
    """Keep deliberate connection drops out of uvicorn's error log (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())
