"""The dlt source: TOEFL Access windows, fetched and parsed by this project, loaded by dlt.

One extraction plans its windows with :func:`toefl_access.sync.windows.plan` (a lookback
before the watermark, a lag before now, earlier failed windows again), fetches them
``concurrency`` at a time with :meth:`toefl_access.api.client.Client.fetch_body` (retries,
complete bodies), parses them into Arrow with :func:`toefl_access.parse_table` and protects
the ID numbers with :class:`toefl_access.formats.sensitive.Protector`. The hidden resource
``_answers`` yields one Arrow table per window; three transformers load it:

``score_reports``     merge on the report identity; the current row is the latest *reported*
                      revision, whatever order windows are loaded in
                      (:func:`toefl_access.dlt.columns.latest_reported`)
``report_revisions``  every sighting, merged on identity + ``_reported_pos``: re-reads and
                      retried loads never double a row
``unkeyed_records``   records without a test date (no identity), merged on ``_reported_pos``

**State** (``dlt.current.source_state()["windows"]``, bounded by the number of windows, never
per report): ``covered`` (merged covered intervals; the watermark is the end of the last),
``answers`` (per window start: its answer's digest, version and length), ``failed``
(windows that failed and are not covered since, with the error) and ``last_run``. dlt writes
the state into the same load package as the rows: either both reach the destination or
neither does, and a package that never completes leaves the windows to be read again.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.schema.typing import TDeleteInsertStrategyDict
from dlt.common.typing import TSecretStrValue
from dlt.extract.source import DltSource

from toefl_access.api.answers import Body
from toefl_access.api.apikey import ENV_AUTHCODE_FILE, read_authcode
from toefl_access.api.client import ENV_BASE_URL, PRODUCTION_URL, Client
from toefl_access.api.dates import UTC, format_duration, parse_duration, parse_instant
from toefl_access.dlt.columns import (
    KEY,
    POSITION,
    VERSION_LIMIT,
    columns,
    keyed,
    latest_reported,
    protect,
    shape,
    unkeyed,
)
from toefl_access.errors import (
    ApiError,
    AuthenticationError,
    DateError,
    ForbiddenError,
    InputError,
    UsageError,
)
from toefl_access.formats.parse import parse_table
from toefl_access.formats.sensitive import MIN_KEY_BYTES, MODES, Protector, read_key_file
from toefl_access.settings import Integration, Settings
from toefl_access.sync.windows import Window, floor_to_grid, in_flight, plan

log = logging.getLogger("toefl_access.dlt")

SECTION = "toefl_access"
ENV_HASH_KEY_FILE = "TOEFL_ACCESS_HASH_KEY_FILE"
HASH_KEY_MISSING = (
    "sensitive='hash' needs a stable key for the ID-number hashes (the same key must be used "
    "on every run, or hashes stop matching): set sources.toefl_access.hash_key in "
    ".dlt/secrets.toml (or the environment variable SOURCES__TOEFL_ACCESS__HASH_KEY), or "
    f"{ENV_HASH_KEY_FILE} to a file holding it; at least {MIN_KEY_BYTES} bytes, e.g. "
    "`head -c 32 /dev/urandom | base64`. Or pass sensitive='drop' (no ID numbers) or "
    "sensitive='keep' (in clear)"
)
_ERROR_LIMIT = 300


# -- the window state ----------------------------------------------------------------------


def _iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def ledger(state: dict[str, Any]) -> dict[str, Any]:
    """The source's window state (made empty on the first run)."""
    st: dict[str, Any] = state.setdefault("windows", {})
    for name, empty in (("covered", []), ("answers", {}), ("failed", {})):
        st.setdefault(name, empty)
    return st


def cover(covered: list[list[str]], start: dt.datetime, end: dt.datetime) -> None:
    """Add ``[start, end)`` to the sorted, merged list of covered intervals."""
    spans = [(_at(a), _at(b)) for a, b in covered]
    bisect.insort(spans, (start, end))
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    covered[:] = [[_iso(a), _iso(b)] for a, b in merged]


def watermark(st: dict[str, Any]) -> dt.datetime | None:
    """The end of the last covered interval (as the store's watermark)."""
    return _at(st["covered"][-1][1]) if st["covered"] else None


def failed_windows(st: dict[str, Any]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The failed windows that no covered interval holds since."""
    spans = [(_at(a), _at(b)) for a, b in st["covered"]]
    out = []
    for start, (end, _) in st["failed"].items():
        a, b = _at(start), _at(end)
        if not any(c <= a and b <= d for c, d in spans):
            out.append((a, b))
    return sorted(out)


def answer_version(st: dict[str, Any], start: dt.datetime, content: bytes, sha256: str) -> int:
    """The answer version of a window's answer, recorded: unchanged when the window was read
    with this answer before, or with the start of it (the window was read before its end had
    passed: its lines stay where they were); one more when the answer changed otherwise (the
    vendor's later word on the window)."""
    key, digest = _iso(start), sha256[:16]
    before = st["answers"].get(key)
    version = 0
    if before is not None:
        old, version, size = before
        grown = len(content) > size and hashlib.sha256(content[:size]).hexdigest()[:16] == old
        if old != digest and not grown:
            if version + 1 >= VERSION_LIMIT:
                log.warning("the answer for %s changed %d times: later changes no longer "
                            "replace current rows", key, VERSION_LIMIT)
            version = min(version + 1, VERSION_LIMIT - 1)
    st["answers"][key] = [digest, version, len(content)]
    return version


# -- fetching --------------------------------------------------------------------------------


def authcode_of(authcode: str | None, authcode_file: str | None) -> str:
    """The API key: ``authcode`` (dlt's secrets), else the file ``authcode_file``, else
    ``TOEFL_ACCESS_AUTHCODE`` or the file named by ``TOEFL_ACCESS_AUTHCODE_FILE``."""
    if authcode is not None and str(authcode).strip():
        return str(authcode)
    if authcode_file:
        return read_authcode({ENV_AUTHCODE_FILE: authcode_file})
    return read_authcode()


def protector_for(mode: str, hash_key: str | None, hash_key_file: str | None = None) -> Protector:
    """The :class:`Protector` of ``sensitive``. ``hash`` needs a stable key: ``hash_key``
    (dlt's secrets), else the file ``hash_key_file`` or the one named by
    ``TOEFL_ACCESS_HASH_KEY_FILE`` (a database keeps its own key; a warehouse load has none)."""
    if mode != "hash":
        return Protector(mode)
    if hash_key is not None and str(hash_key).strip():
        key = str(hash_key).strip().encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise UsageError(
                f"sources.toefl_access.hash_key holds {len(key)} bytes; a key needs at least "
                f"{MIN_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64`)"
            )
        return Protector("hash", key)
    path = hash_key_file or os.environ.get(ENV_HASH_KEY_FILE, "").strip()
    if path:
        return Protector("hash", read_key_file(path))
    raise UsageError(HASH_KEY_MISSING)


Fetched = tuple[Body, "pa.Table | None"]


def _fetch(client: Client, w: Window, protector: Protector) -> Fetched:
    """A window's answer and its records as Arrow, ID numbers protected (runs in a fetch
    thread)."""
    body = client.fetch_body(w.start, w.end, format="text")
    if not body.content.strip():
        return body, None
    return body, protect(parse_table(body.content, format="text"), protector)


def _in_order(
    pool: ThreadPoolExecutor, client: Client, windows: list[Window], protector: Protector,
    depth: int,
) -> Iterator[tuple[Window, Future[Fetched]]]:
    """The windows with their fetches, in window order, ``depth`` fetches in flight."""
    return in_flight(windows, lambda w: pool.submit(_fetch, client, w, protector), depth)


def answers(
    *, since: dt.datetime | None, until: dt.datetime | None, initial: dt.datetime | None,
    window: dt.timedelta,
    lookback: dt.timedelta, lag: dt.timedelta, concurrency: int, retries: int,
    base_url: str, keys: dict[str, str | None], sensitive: str, integration: str | None,
) -> Iterator[pa.Table]:
    """The body of the hidden ``_answers`` resource: one Arrow table per window with records.

    A refused key (401, 403) raises: dlt discards the whole extraction (rows and state). A
    window that fails otherwise is recorded in the state and left out; the next run without
    ``since`` asks for it again. ``keys`` holds ``authcode``, ``authcode_file``,
    ``hash_key`` and ``hash_key_file`` as given (or None): they are read here, never stored.
    """
    st = ledger(dlt.current.source_state())
    mark = watermark(st)
    if since is None and mark is None:
        if initial is None:
            raise UsageError(
                "the first run of this pipeline needs a start: scores(initial_since="
                "'2025-01-01') (only the first run starts there) or since= (every run)"
            )
        since = initial
    if mark is not None:  # the lookback from a grid line: the same windows as before, so
        mark = floor_to_grid(mark - lookback, window) + lookback  # the same positions
    windows = plan(
        watermark=mark,
        retry=failed_windows(st) if since is None else None,
        now=dt.datetime.now(UTC),
        since=since,
        until=until,
        window=window,
        lookback=lookback,
        lag=lag,
    )
    run: dict[str, Any] = {"planned": len(windows), "done": 0, "records": 0, "failed": []}
    st["last_run"] = run
    if not windows:
        log.info("no window to read: the range is covered up to now minus the lag")
        return
    key = authcode_of(keys["authcode"], keys["authcode_file"])
    guard = protector_for(sensitive, keys["hash_key"], keys["hash_key_file"])
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="toefl-fetch")
    try:
        with Client(authcode=key, base_url=base_url, retries=retries) as client:
            for w, future in _in_order(pool, client, windows, guard, concurrency):
                try:
                    body, table = future.result()
                except (AuthenticationError, ForbiddenError):
                    raise  # nothing of this run is committed; the windows stay to be read
                except (ApiError, InputError) as exc:
                    error = str(exc)[:_ERROR_LIMIT]
                    log.warning("window %s failed: %s", w, error)
                    st["failed"][_iso(w.start)] = [_iso(w.end), error]
                    run["failed"].append([_iso(w.start), _iso(w.end), error])
                    continue
                version = answer_version(st, w.start, body.content, body.sha256)
                cover(st["covered"], w.start, w.end)
                st["failed"].pop(_iso(w.start), None)
                run["done"] += 1
                n = 0 if table is None else table.num_rows
                run["records"] += n
                log.info("window %s: %d records (answer version %d)", w, n, version)
                if table is not None and n:
                    yield shape(table, start=w.start, end=w.end, version=version,
                                received_at=dt.datetime.now(UTC), integration=integration)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# -- the source ------------------------------------------------------------------------------


def _delete_insert() -> TDeleteInsertStrategyDict:
    return {"disposition": "merge", "strategy": "delete-insert"}


def _merge_rule() -> TDeleteInsertStrategyDict:
    """``score_reports``' write disposition for the running pipeline's destination."""
    try:
        client = dlt.current.pipeline().sql_client()
    except Exception as exc:  # a destination without SQL (files): dlt's plain delete-insert
        log.warning(
            "the destination has no SQL client (%s): score_reports is merged by plain "
            "delete-insert, so a backfill of older windows can replace newer revisions",
            type(exc).__name__,
        )
        return _delete_insert()
    return latest_reported(client.make_qualified_table_name("score_reports"),
                           client.escape_column_name)


@dlt.source(name="toefl_access", section=SECTION, max_table_nesting=0)
def toefl_access_source(
    since: str | None = None,
    until: str | None = None,
    *,
    initial_since: str | None = None,
    base_url: str | None = None,
    authcode: TSecretStrValue | None = None,
    authcode_file: str | None = None,
    hash_key: TSecretStrValue | None = None,
    hash_key_file: str | None = None,
    window: str = "1d",
    lookback: str = "3d",
    lag: str = "5m",
    concurrency: int = 4,
    sensitive: str = "hash",
    retries: int = 5,
    integration: str | None = None,
) -> Any:
    """The dlt source itself (see :func:`scores`, which calls it). dlt injects the arguments
    not given from its config and secrets (``sources.toefl_access[.<integration>].<name>``)."""
    start = parse_instant(since, what="since") if since else None
    initial = parse_instant(initial_since, what="initial_since") if initial_since else None
    end = parse_instant(until, what="until") if until else None
    if start is not None and end is not None and start >= end:
        raise DateError(f"since {since} is not before until {until}")
    if sensitive not in MODES:
        raise UsageError(f"sensitive={sensitive!r} is not one of {', '.join(MODES)}")
    if not (isinstance(concurrency, int) and concurrency >= 1):
        raise UsageError(f"concurrency must be a whole number, 1 or more, not {concurrency!r}")
    url = base_url or os.environ.get(ENV_BASE_URL, "").strip() or PRODUCTION_URL
    # the keys are read on extraction: a source can be made (and inspected) without them

    @dlt.resource(name="_answers", selected=False)
    def _answers() -> Iterator[pa.Table]:
        yield from answers(
            since=start, until=end, initial=initial, window=parse_duration(window, what="window"),
            lookback=parse_duration(lookback, what="lookback"),
            lag=parse_duration(lag, what="lag"), concurrency=concurrency, retries=retries,
            base_url=url, sensitive=sensitive, integration=integration,
            keys={"authcode": authcode, "authcode_file": authcode_file, "hash_key": hash_key,
                  "hash_key_file": hash_key_file},
        )

    rule: list[TDeleteInsertStrategyDict] = []  # made on the first window, in the pipeline

    @dlt.transformer(name="score_reports", primary_key=KEY, columns=columns("score_reports"),
                     write_disposition="merge")
    def score_reports(table: pa.Table) -> Iterator[Any]:
        rows = keyed(table)
        if rows.num_rows:
            if not rule:
                rule.append(_merge_rule())
            yield dlt.mark.with_hints(rows, dlt.mark.make_hints(write_disposition=rule[0]))

    # delete-insert, not append: a window read again (the lookback) or a load package
    # resumed after a crash stages its rows again, and only a keyed merge keeps them once
    @dlt.transformer(name="report_revisions", primary_key=[*KEY, POSITION],
                     columns=columns("report_revisions"),
                     write_disposition="merge")
    def report_revisions(table: pa.Table) -> Iterator[pa.Table]:
        rows = keyed(table)
        if rows.num_rows:
            yield rows

    @dlt.transformer(name="unkeyed_records", primary_key=[POSITION],
                     columns=columns("unkeyed_records"),
                     write_disposition="merge")
    def unkeyed_records(table: pa.Table) -> Iterator[pa.Table]:
        rows = unkeyed(table)
        if rows.num_rows:
            yield rows

    fed = _answers()
    out = fed | score_reports, fed | report_revisions, fed | unkeyed_records
    for resource in out:
        resource.apply_hints(write_disposition=_delete_insert())
    return out


def source_name(integration: str) -> str:
    """The dlt source (and state) name of an integration: its name in snake case."""
    name = NamingConvention().normalize_identifier(integration)
    if not name.isidentifier():
        name = f"i_{name}"
    return name


def scores(
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    *,
    base_url: str | None = None,
    authcode: str | None = None,
    window: str | dt.timedelta = "1d",
    lookback: str | dt.timedelta = "3d",
    lag: str | dt.timedelta = "5m",
    concurrency: int = 4,
    sensitive: str = "hash",
    integration: str | None = None,
    retries: int = 5,
    authcode_file: str | None = None,
    hash_key: str | None = None,
    hash_key_file: str | None = None,
    initial_since: str | dt.date | None = None,
) -> DltSource:
    """The TOEFL Access dlt source: ``pipeline.run(scores(since="2025-01-01"))``.

    Arguments as ``toefl-access sync``: ``since``/``until`` (dates or instants, UTC; without
    ``since`` the run continues from the state's watermark minus ``lookback``, and the
    first run starts at ``initial_since``, like dlt's ``initial_value``), ``window``,
    ``lookback``, ``lag``, ``concurrency`` (windows fetched at once), ``retries`` (attempts
    per request), ``sensitive`` (``hash``, ``drop`` or ``keep``).

    Arguments left ``None`` come from dlt's config and secrets. The API key: ``authcode``
    (``sources.toefl_access.authcode``, ``SOURCES__TOEFL_ACCESS__AUTHCODE``), else the file
    ``authcode_file``, else ``TOEFL_ACCESS_AUTHCODE`` or the file named by
    ``TOEFL_ACCESS_AUTHCODE_FILE``. ``base_url``: ``sources.toefl_access.base_url``, else
    ``TOEFL_ACCESS_BASE_URL``, else production. The key of the ID-number hashes
    (``sensitive="hash"``): ``hash_key`` (``sources.toefl_access.hash_key``), else the file
    ``hash_key_file`` or the one named by ``TOEFL_ACCESS_HASH_KEY_FILE`` (the same key file
    as the store's gives the same hashes). Keys are read when the source runs, never stored.
    With ``integration``, the source is named after it (in snake case; its state is its own,
    its rows carry ``_integration``) and ``sources.toefl_access.<name>.*`` is looked up first.
    """
    values: dict[str, Any] = {
        "since": _instant_text(since), "until": _instant_text(until), "base_url": base_url,
        "authcode": authcode, "authcode_file": authcode_file, "hash_key": hash_key,
        "hash_key_file": hash_key_file, "window": _duration_text(window),
        "lookback": _duration_text(lookback), "lag": _duration_text(lag),
        "concurrency": concurrency, "sensitive": sensitive, "retries": retries,
        "integration": integration, "initial_since": _instant_text(initial_since),
    }
    factory: Any = toefl_access_source
    if integration is not None:
        factory = toefl_access_source.clone(name=source_name(integration), section=SECTION)
    # None is left out, so that dlt looks the value up (an explicit None would be taken)
    source: DltSource = factory(**{k: v for k, v in values.items() if v is not None})
    return source


def _instant_text(value: str | dt.date | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return parse_instant(value).isoformat()


def _duration_text(value: str | dt.timedelta) -> str:
    return value if isinstance(value, str) else format_duration(parse_duration(value))


def scores_for(integration: Integration, settings: Settings) -> DltSource:
    """The source of one ``[[integration]]`` of the settings file: its key file, URL and
    first start, with the file's shared sync settings (what the recipes in ``examples/``
    run for each integration)."""
    return scores(
        initial_since=integration.since,  # the first run; later runs go on from the state
        base_url=integration.base_url,
        authcode_file=integration.authcode_file,
        window=settings.window,
        lookback=settings.lookback,
        lag=settings.lag,
        concurrency=settings.concurrency,
        sensitive=settings.sensitive,
        hash_key_file=settings.hash_key_file,
        integration=integration.name,
    )
