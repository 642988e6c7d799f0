"""The read-only status page as a Starlette app: :func:`create_app`.

========================= ================================================================
``GET /``                 the overview: health, watermark, key, runs, gaps, charts, counts
``GET /reports/REG``      a registration number's reports, revisions side by side (404
                          when there is none)
``GET /api/status``       the feed's health as JSON (:meth:`Health.to_json`), open alerts
                          included
``GET /healthz``          ``200 ok`` when healthy, else ``503`` and the reasons, as text
``GET /static/style.css`` the page's style sheet
========================= ================================================================

Every response carries a strict Content-Security-Policy (no script at all, styles only from
the app itself) and the other usual security headers; every method but GET and HEAD is
refused (405). With a ``token`` every request needs it: ``Authorization: Bearer TOKEN``, or
a cookie that opening any URL once with ``?token=TOKEN`` sets (the answer redirects to the
same URL without the token, so it stays out of the address bar and history; the cookie is
``Secure`` when the request came over https, as a TLS proxy tells uvicorn with
``--proxy-headers``). ``/healthz?token=TOKEN`` and ``/api/status?token=TOKEN`` answer at once,
with no cookie and no redirect: what an uptime monitor can call.

The health and the overview's charts and counts are cached for up to ``cache_for`` (60 s),
keyed on the newest run, alert and cancellation (:mod:`.cache`): reloading the page and
polling ``/api/status`` cost a few primary-key lookups, and a new run or alert shows at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ToeflAccessError
from ..ops.health import DEFAULT_MAX_AGE, Health, health
from ..store import Store, open_store
from ..store import dashboard as board
from . import pages
from .cache import Cache

__all__ = ["CACHE_FOR", "COOKIE", "DIRECT", "SECURITY_HEADERS", "TokenLogFilter", "create_app"]

log = logging.getLogger("toefl_access.web")
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: The cookie that carries proof of the token (a keyed hash of it, never the token).
COOKIE = "toefl_access_token"
_METHODS = ("GET", "HEAD")
#: The machine endpoints that answer ``?token=TOKEN`` directly (no cookie, no redirect).
DIRECT = ("/healthz", "/api/status")
#: How long the health, charts and counts are kept while nothing new was recorded.
CACHE_FOR = dt.timedelta(seconds=60)

Clock = dt.datetime | Callable[[], dt.datetime] | None


def create_app(
    source: str | Store | Mapping[str, str | Store | None],
    *,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    token: str | None = None,
    now: Clock = None,
    alert_channels: Sequence[str] | None = None,
    cache_for: dt.timedelta = CACHE_FOR,
) -> ASGIApp:
    """The status page over a database URL (opened now, closed when the app shuts down) or
    an open :class:`Store` (left open); or over several integrations, a mapping of their
    names to URLs or stores (None: no database yet), each under ``/i/NAME/`` with an index
    of all at ``/``. ``max_age`` is the oldest watermark still healthy; ``token`` (if any)
    is required by every request; ``now`` fixes the clock (a datetime or a function
    returning one) for tests; ``alert_channels`` are the channels the settings configure
    (``webhook``, ``email``; None: not known), which the page names; ``cache_for`` is how
    long values are kept (0: not at all)."""
    sources = source if isinstance(source, Mapping) else {"": source}
    stores: dict[str, Store | None] = {}
    owned: list[Store] = []
    try:
        for name, where in sources.items():
            if isinstance(where, str):
                owned.append(open_store(where))
                where = owned[-1]
            stores[name] = where
    except BaseException:
        for s in owned:
            s.close()
        raise

    def clock() -> dt.datetime:
        value = now() if callable(now) else now
        return (value or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)

    env = _templates()
    feeds = {
        name: _feed(store, env=env, clock=clock, max_age=max_age, channels=alert_channels,
                    cache_for=cache_for, integration=name or None)
        for name, store in stores.items() if store is not None
    }  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        for s in owned:
            s.close()

    static = Mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if not isinstance(source, Mapping):
        feed = feeds[""]
        app = Starlette(routes=[*feed.routes, static],
                        exception_handlers=feed.exception_handlers, lifespan=lifespan)
    else:
        app = _site(stores, feeds, env=env, clock=clock, static=static, lifespan=lifespan)
    return Guard(app, token=token)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(when=pages.text, ago=pages.age)
    return env


def _render(env: jinja2.Environment, request: Request, name: str, status: int = 200,
            **context: Any) -> HTMLResponse:  # fmt: skip
    context.setdefault("title", "TOEFL Access feed")
    context.setdefault("integration", None)
    context.setdefault("database", None)
    context.setdefault("site", False)
    # Under /i/NAME/ (several integrations) every link of a feed's pages starts there.
    base = str(request.scope.get("root_path", "")).rstrip("/")
    body = env.get_template(name).render(request=request, base=base, **context)
    return HTMLResponse(body, status_code=status)


def _feed(
    store: Store,
    *,
    env: jinja2.Environment,
    clock: Callable[[], dt.datetime],
    max_age: dt.timedelta,
    channels: Sequence[str] | None,
    cache_for: dt.timedelta,
    integration: str | None,
) -> Starlette:
    """One database's pages (``/``, ``/reports/REG``, ``/api/status``, ``/healthz``)."""

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return _render(env, request, name, status, database=store.url,
                       integration=integration, **context)

    cache = Cache(cache_for)
    channel_list = None if channels is None else list(channels)

    def current_health(version: object, at: dt.datetime) -> Health:
        return cache.get("health", version, at, lambda: health(store, now=at, max_age=max_age))

    def home(request: Request) -> Response:
        at, version = clock(), board.version(store)
        view = pages.overview(
            store, now=at, max_age=max_age, health_now=current_health(version, at),
            board_now=cache.get("board", version, at, lambda: pages.gather(store, now=at)),
            channels=channel_list,
        )  # fmt: skip
        return page(request, "overview.html", view=view)

    def lookup(request: Request) -> Response:
        reg = request.query_params.get("reg", "").strip()
        base = str(request.scope.get("root_path", "")).rstrip("/")
        target = f"{base}/reports/{quote(reg, safe='')}" if reg else f"{base}/"
        return RedirectResponse(target, status_code=303)

    def report(request: Request) -> Response:
        reg = request.path_params["reg"]
        who = pages.person(store, reg)
        if who is None:
            return page(request, "missing.html", 404, title="No such report", reg=reg)
        return page(request, "report.html", who=who,
                    title=f"Registration number {who.registration_number}")  # fmt: skip

    def api_status(request: Request) -> Response:
        return JSONResponse(current_health(board.version(store), clock()).to_json())

    def healthz(request: Request) -> Response:
        h = current_health(board.version(store), clock())
        if h.healthy:
            return PlainTextResponse("ok\n")
        return PlainTextResponse("unhealthy: " + "\n".join(h.reasons) + "\n", status_code=503)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return PlainTextResponse(f"{exc.status_code} {exc.detail}\n", exc.status_code)
        return page(request, "missing.html", 404, title="Not found", reg=None)

    async def unreadable(request: Request, exc: Exception) -> Response:
        # the database is down or locked: say so (503), on /healthz too
        log.warning("status page: %s", exc)
        if request.url.path.endswith(DIRECT):
            return PlainTextResponse(f"unhealthy: {exc}\n", status_code=503)
        return page(request, "error.html", 503, title="The database cannot be read",
                    message=str(exc))

    app = Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/reports", lookup, methods=["GET"]),
            Route("/reports/{reg}", report, methods=["GET"]),
            Route("/api/status", api_status, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: not_found, ToeflAccessError: unreadable},
    )
    app.state.health = lambda: current_health(board.version(store), clock())
    return app


def _site(
    stores: Mapping[str, Store | None],
    feeds: Mapping[str, Starlette],
    *,
    env: jinja2.Environment,
    clock: Callable[[], dt.datetime],
    static: Mount,
    lifespan: Any,
) -> Starlette:
    """Several integrations: an index of their health at ``/``, each one's pages under
    ``/i/NAME/``, and ``/api/status`` and ``/healthz`` for all of them."""

    def each() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, store in stores.items():
            if store is None:
                out[name] = {"healthy": False, "reasons": [
                    "never synced: there is no database yet (run `toefl-access sync --all`)"]}
                continue
            try:
                out[name] = feeds[name].state.health().to_json()
            except ToeflAccessError as exc:
                out[name] = {"healthy": False, "reasons": [f"the database cannot be read: {exc}"]}
        return out

    def index(request: Request) -> Response:
        found = each()
        rows = [
            {
                "name": name, "healthy": h["healthy"],
                "reason": (h.get("reasons") or [""])[0],
                "watermark": _instant(h.get("watermark")),
                "age": dt.timedelta(seconds=h["watermark_age_seconds"])
                if h.get("watermark_age_seconds") is not None else None,
                "key": h.get("key", "unknown"),
                "exit_code": (h.get("last_run") or {}).get("exit_code"),
                "alerts": [a["event"] for a in h.get("alerts", [])],
            }
            for name, h in found.items()
        ]  # fmt: skip
        return _render(env, request, "site.html", rows=rows, site=True, checked=clock(),
                       healthy=all(r["healthy"] for r in rows))  # fmt: skip

    def api_status(request: Request) -> Response:
        found = each()
        return JSONResponse({"healthy": all(h["healthy"] for h in found.values()),
                             "integrations": found})  # fmt: skip

    def healthz(request: Request) -> Response:
        bad = [f"{name}: {'; '.join(h['reasons'])}" for name, h in each().items()
               if not h["healthy"]]  # fmt: skip
        if not bad:
            return PlainTextResponse("ok\n")
        return PlainTextResponse("unhealthy: " + "\n".join(bad) + "\n", status_code=503)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return PlainTextResponse(f"{exc.status_code} {exc.detail}\n", exc.status_code)
        return _render(env, request, "missing.html", 404, title="Not found", reg=None)

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/status", api_status, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            static,
            *(Mount(f"/i/{quote(name, safe='')}", app=feed) for name, feed in feeds.items()),
        ],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Guard:
    """ASGI middleware in front of the app: the security headers on every response, only
    GET and HEAD, and the token (when there is one)."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.proof = (
            hmac.new(self.token, b"toefl-access serve cookie", hashlib.sha256).hexdigest()
            if self.token else None
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        response = self.refusal(Request(scope))
        if response is not None:
            await response(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def refusal(self, request: Request) -> Response | None:
        """The answer that stops a request here, or None to let it through."""
        if request.method not in _METHODS:
            return PlainTextResponse("405 Method Not Allowed: this page is read-only\n", 405,
                                     headers={"Allow": ", ".join(_METHODS)})  # fmt: skip
        if self.token is None or self.proof is None:
            return None
        given = request.query_params.get("token")
        if given is not None:
            if not _same(given.encode(), self.token):
                return _unauthorized()
            if request.url.path.endswith(DIRECT):
                return None  # an uptime monitor: the answer itself, no cookie
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            # Secure when the request came over https: directly, or through a TLS proxy
            # that uvicorn trusts (serve --proxy-headers sets the scheme it forwarded)
            response.set_cookie(
                COOKIE, self.proof, httponly=True, samesite="strict", path="/",
                secure=request.url.scheme == "https",
            )  # fmt: skip
            return response
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip().encode(), self.token):
            return None
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and _same(cookie.encode(), self.proof.encode()):
            return None
        return _unauthorized()


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _unauthorized() -> Response:
    return PlainTextResponse(
        "401 Unauthorized: this status page needs its token. Send the header "
        "'Authorization: Bearer TOKEN', or open the page once as /?token=TOKEN (a cookie "
        "keeps you signed in); /healthz?token=TOKEN and /api/status?token=TOKEN answer "
        "directly.\n",
        401,
        headers={"WWW-Authenticate": 'Bearer realm="toefl-access"'},
    )


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s]*", re.IGNORECASE)


class TokenLogFilter(logging.Filter):
    """Masks ``token=...`` in log records (uvicorn's access log writes each URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_URL.sub(r"\1***", record.msg)
        return True
