"""The mock's contract and faults, through its in-process httpx transport."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections.abc import Iterable

import httpx
import pytest

from toefl_access.errors import InputError, KeyFormatError, UsageError
from toefl_access.formats.parse import parse
from toefl_access.formats.textread import parse_lines
from toefl_access.mock import DEMO_AUTHCODE, MockApi, parse_fault, population
from toefl_access.mock.wire import text_lines

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
WINDOW = {
    "startdate": "2025-04-21T16:45:03",
    "enddate": "2025-04-22T16:52:13",
    "type": "TOEFL",
    "reportby": "scorelinkbyreportdate",
}
KEY = {"authcode": DEMO_AUTHCODE}


def client(api: MockApi) -> httpx.Client:
    return httpx.Client(transport=api.transport(), base_url="http://127.0.0.1")


def get(api: MockApi, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        path: str = "/scores") -> httpx.Response:  # fmt: skip
    with client(api) as c:
        return c.get(path, params=WINDOW if params is None else params,
                     headers=KEY if headers is None else headers)  # fmt: skip


@pytest.fixture
def api() -> MockApi:
    return MockApi(now=NOW)


# -- the contract ---------------------------------------------------------------------------


def test_demo_key_is_base64_of_id_and_secret() -> None:
    assert base64.b64decode(DEMO_AUTHCODE) == b"demo-client:demo-secret"


def test_a_window_in_both_formats(api: MockApi) -> None:
    text = get(api)
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(text.content) % 1601 == 0 and text.content.endswith(b"\n")
    data = get(api, {**WINDOW, "format": "json"})
    assert data.headers["content-type"] == "application/json"
    assert len(data.json()["data"]) == len(text.content) // 1601 > 20
    upper = get(api, {**WINDOW, "format": "TEXT"})
    assert upper.content == text.content
    a, b = list(parse(text.content, format="text")), list(parse(data.content, format="json"))
    assert len(a) == len(b)
    assert all(
        x.same_report(y) and not x.warnings and not y.warnings for x, y in zip(a, b, strict=True)
    )


def test_the_answer_is_the_population_window(api: MockApi) -> None:
    got = list(parse(get(api).content))
    want = list(population.released("2025-04-21T16:45:03", "2025-04-22T16:52:13"))
    assert [r.values for r in got] == [r.values for r in want]


def test_three_days_are_three_single_days(api: MockApi) -> None:
    days = ["2025-06-01T00:00:00", "2025-06-02T00:00:00", "2025-06-03T00:00:00",
            "2025-06-04T00:00:00"]  # fmt: skip
    for fmt in ("text", "json"):
        whole = get(api, {**WINDOW, "startdate": days[0], "enddate": days[3], "format": fmt})
        parts = [get(api, {**WINDOW, "startdate": lo, "enddate": hi, "format": fmt})
                 for lo, hi in itertools.pairwise(days)]  # fmt: skip
        if fmt == "text":
            assert whole.content == b"".join(p.content for p in parts)
        else:
            assert whole.json()["data"] == [o for p in parts for o in p.json()["data"]]


@pytest.mark.parametrize(
    ("missing", "text"),
    [("startdate", "startdate is required"), ("enddate", "enddate is required"),
     ("type", "type/program is required"), ("reportby", "reportby is required")],
)  # fmt: skip
def test_required_parameters_with_the_vendors_texts(api: MockApi, missing: str, text: str) -> None:
    params = {k: v for k, v in WINDOW.items() if k != missing}
    answer = get(api, params)
    assert (answer.status_code, answer.text) == (400, text)
    assert get(api, {**WINDOW, missing: ""}).text == text  # empty counts as missing


def test_required_parameters_are_checked_in_the_vendors_order(api: MockApi) -> None:
    assert get(api, {}).text == "startdate is required"
    assert get(api, {"startdate": "x"}).text == "enddate is required"
    assert get(api, {"startdate": "x", "enddate": "y"}).text == "type/program is required"
    # presence before form: a bad date does not hide a missing parameter
    assert (
        get(api, {"startdate": "x", "enddate": "y", "type": "TOEFL"}).text == "reportby is required"
    )


@pytest.mark.parametrize(
    "bad",
    ["2025-04-21", "2025-04-21T16:45:03Z", "2025-04-21T16:45:03+02:00", "2025-04-21 16:45:03",
     "2025-02-30T00:00:00", "2025-04-21T16:45", "2025-04-21T16:45:03.5", "yesterday"],
)  # fmt: skip
def test_dates_must_be_utc_without_offset(api: MockApi, bad: str) -> None:
    for name in ("startdate", "enddate"):
        answer = get(api, {**WINDOW, name: bad})
        assert answer.status_code == 400
        assert answer.text.startswith(f"{name} {bad!r} is not a date and time")
        assert "YYYY-MM-DDTHH:mm:ss" in answer.text


def test_start_must_be_before_end(api: MockApi) -> None:
    for end in ("2025-04-21T16:45:03", "2025-04-20T00:00:00"):
        answer = get(api, {**WINDOW, "enddate": end})
        assert (answer.status_code, answer.text) == (400, "startdate must be before enddate")


@pytest.mark.parametrize(
    ("name", "value", "start"),
    [("type", "GRE", "type/program 'GRE' is not supported"),
     ("reportby", "scorelinkbytestdate", "reportby 'scorelinkbytestdate' is not supported"),
     ("format", "xml", "format 'xml' is not supported")],
)  # fmt: skip
def test_unknown_values(api: MockApi, name: str, value: str, start: str) -> None:
    answer = get(api, {**WINDOW, name: value})
    assert answer.status_code == 400 and answer.text.startswith(start)


def test_values_ignore_case_and_the_first_repeat_counts(api: MockApi) -> None:
    assert (
        get(api, {**WINDOW, "type": "toefl", "reportby": "ScoreLinkByReportDate"}).status_code
        == 200
    )
    with client(api) as c:
        answer = c.get("/scores", params=[*WINDOW.items(), ("startdate", "junk")], headers=KEY)
    assert answer.status_code == 200


def test_keys(api: MockApi) -> None:
    assert get(api, headers={}).status_code == 401
    assert get(api, headers={"authcode": "  "}).status_code == 401
    wrong = base64.b64encode(b"someone:else").decode()
    assert get(api, headers={"authcode": wrong}).status_code == 401
    assert get(api, headers={"AuthCode": DEMO_AUTHCODE}).status_code == 200
    for bad in ("YOUR_AUTH_CODE_HERE", base64.b64encode(b"no-colon").decode(),
                base64.b64encode(b":secret").decode(), "bm90IHV0Zjg6/w=="):  # fmt: skip
        answer = get(api, headers={"authcode": bad})
        assert (answer.status_code, answer.text) == (400, "Invalid credentials format")
    # the key is never a query parameter
    assert get(api, {**WINDOW, "authcode": DEMO_AUTHCODE}, headers={}).status_code == 401


def test_authentication_comes_before_parameters(api: MockApi) -> None:
    assert get(api, {}, headers={}).status_code == 401
    assert get(api, {}, headers={"authcode": "not base64!"}).text == "Invalid credentials format"


def test_a_mock_with_its_own_key() -> None:
    key = base64.b64encode("institution-7:sécret".encode()).decode()
    api = MockApi(authcode=key, now=NOW)
    assert get(api, headers={"authcode": key}).status_code == 200
    assert get(api).status_code == 401
    with pytest.raises(KeyFormatError):
        MockApi(authcode="plain-text")
    assert key not in repr(api) and DEMO_AUTHCODE not in repr(MockApi())


def test_paths_and_methods(api: MockApi) -> None:
    assert get(api, path="/score").status_code == 404
    assert get(api, path="/scores/").status_code == 200
    with client(api) as c:
        answer = c.post("/scores", params=WINDOW, headers=KEY)
    assert answer.status_code == 405 and answer.headers["allow"] == "GET"


def test_nothing_is_released_after_now() -> None:
    api = MockApi(now=dt.datetime(2025, 4, 22, 0, 0, 0))
    got = list(parse(get(api).content))
    want = population.count("2025-04-21T16:45:03", "2025-04-22T00:00:00")
    assert len(got) == want > 0
    empty = get(
        api, {**WINDOW, "startdate": "2025-05-01T00:00:00", "enddate": "2025-05-02T00:00:00"}
    )
    assert (empty.status_code, empty.content) == (200, b"")
    assert get(api, {**WINDOW, "startdate": "2025-05-01T00:00:00", "enddate": "2025-05-02T00:00:00",
                     "format": "json"}).json() == {"data": []}  # fmt: skip


def test_the_sandbox_answers_its_samples_whatever_the_window(api: MockApi) -> None:
    answer = get(api, path="/scores/sample-data")
    records = list(parse(answer.content))
    assert len(records) == 11
    assert sorted(r.scales for r in records) == [("0-120",)] * 9 + [("1-6",)] * 2
    other = get(api, {**WINDOW, "startdate": "2020-01-01T00:00:00", "format": "json"},
                path="/scores/sample-data")  # fmt: skip
    assert len(other.json()["data"]) == 11
    assert get(api, headers={}, path="/scores/sample-data").status_code == 401


def test_served_log_never_holds_the_key(api: MockApi) -> None:
    get(api)
    get(api, headers={})
    assert [(s.number, s.status) for s in api.served] == [(1, 200), (2, 401)]
    assert DEMO_AUTHCODE not in repr(list(api.served)) and api.requests == 2


# -- streaming ------------------------------------------------------------------------------


def test_a_large_window_starts_answering_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = 0

    def counting(reports: Iterable[population.Report], out: list[bytes]) -> int:
        nonlocal rendered
        n = text_lines(reports, out)
        rendered += n
        return n

    monkeypatch.setattr("toefl_access.mock.api.text_lines", counting)
    api = MockApi(per_day=100_000, now=NOW)
    params = {**WINDOW, "startdate": "2025-04-01T00:00:00", "enddate": "2025-04-02T00:00:00"}
    with client(api) as c, c.stream("GET", "/scores", params=params, headers=KEY) as answer:
        chunks = answer.iter_raw()
        first = next(chunks)
        assert answer.status_code == 200 and len(first) >= 1601
        assert rendered <= 100  # of 100,000: the rest is made as the client reads
        second = next(chunks)
        assert len(first + second) % 1601 == 0
        assert rendered <= 1000


def test_the_report_cache_changes_no_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    api = MockApi(per_day=3000, now=NOW)
    whole = {**WINDOW, "startdate": "2025-06-01T00:00:00", "enddate": "2025-06-03T00:00:00"}
    inside = {**WINDOW, "startdate": "2025-06-01T07:13:00", "enddate": "2025-06-02T05:00:00"}

    def bodies() -> list[bytes]:
        return [get(api, {**w, "format": f}).content for w in (whole, inside)
                for f in ("text", "json")]  # fmt: skip

    population.cache.clear()
    first = bodies()  # makes the reports and keeps them
    assert len(population.cache) == 6  # two days of three chunks
    assert bodies() == first  # from the cache, the part inside too
    monkeypatch.setattr(population, "cache", population.ReportCache(0))
    assert bodies() == first
    assert len(population.cache) == 0
    small = population.ReportCache(4)  # room for the first day: the second passes by
    monkeypatch.setattr(population, "cache", small)
    assert bodies() == first
    assert len(small) == 3


# -- faults ---------------------------------------------------------------------------------


def drain(answer: httpx.Response) -> tuple[bytes, Exception | None]:
    got = b""
    try:
        for chunk in answer.iter_raw():
            got += chunk
    except httpx.TransportError as exc:
        return got, exc
    return got, None


def fetch(
    api: MockApi, params: dict[str, str] | None = None
) -> tuple[int, bytes, Exception | None]:
    with client(api) as c, c.stream("GET", "/scores", params=params or WINDOW, headers=KEY) as a:
        body, exc = drain(a)
        return a.status_code, body, exc


def test_parse_fault_specs() -> None:
    assert parse_fault("429:0.1").retry_after == 1.0
    assert parse_fault("429:0.1:0").retry_after == 0.0
    assert parse_fault("429:1:-").retry_after is None
    assert parse_fault("slow:2000").ms == 2000
    assert parse_fault("slow:20:0.5").probability == 0.5
    assert parse_fault("expire-key-at:2026-03-01T00:00:00").at == dt.datetime(
        2026, 3, 1, tzinfo=UTC
    )
    for spec in ("429:0.1", "500:0.05", "reset:1", "truncate:0.5", "slow:20:0.5",
                 "expire-key-at:2026-03-01T00:00:00", "429:1:-"):  # fmt: skip
        assert str(parse_fault(spec)).startswith(spec.split(":")[0])
        assert parse_fault(str(parse_fault(spec))) == parse_fault(spec)
    bad_specs = ("429", "429:", "429:1.5", "500:x", "boom:1", "slow:fast", "reset:0.1:2",
                 "expire-key-at:2026-03-01", "429:1:-3")  # fmt: skip
    for bad in bad_specs:
        with pytest.raises(UsageError, match="write it like"):
            parse_fault(bad)


def test_429_with_retry_after() -> None:
    answer = get(MockApi(faults=["429:1"], now=NOW))
    assert (answer.status_code, answer.headers["retry-after"]) == (429, "1")
    assert get(MockApi(faults=["429:1:0"], now=NOW)).headers["retry-after"] == "0"
    assert "retry-after" not in get(MockApi(faults=["429:1:-"], now=NOW)).headers
    # a rate limit answers before the key is looked at
    assert get(MockApi(faults=["429:1"]), headers={}).status_code == 429


def test_500_after_the_checks() -> None:
    api = MockApi(faults=["500:1"], now=NOW)
    assert get(api).status_code == 500
    assert get(api, {}).status_code == 400


def test_fault_draws_are_reproducible_and_vary_per_request() -> None:
    def statuses(seed: int) -> list[int]:
        api = MockApi(seed=seed, faults=["500:0.5"], per_day=2, now=NOW)
        return [get(api).status_code for _ in range(24)]

    first = statuses(1)
    assert first == statuses(1)
    assert set(first) == {200, 500}  # a retry can succeed
    assert first != statuses(2)


def test_reset_drops_the_connection_mid_body() -> None:
    status, body, exc = fetch(MockApi(faults=["reset:1"], now=NOW))
    assert status == 200 and isinstance(exc, httpx.ReadError)
    assert 0 < len(body) < population.count(WINDOW["startdate"], WINDOW["enddate"]) * 1601


def test_truncate_close_ends_inside_a_record() -> None:
    for fmt in ("text", "json"):
        status, body, exc = fetch(
            MockApi(faults=["truncate-close:1"], now=NOW), {**WINDOW, "format": fmt}
        )
        assert status == 200 and isinstance(exc, httpx.RemoteProtocolError)
        if fmt == "text":
            assert len(body) % 1601 not in (0, 1600)


def test_truncate_short_completes_with_a_cut_last_record() -> None:
    api = MockApi(faults=["truncate-short:1"], now=NOW)
    status, body, exc = fetch(api)
    assert status == 200 and exc is None
    last = body.split(b"\n")[-1]
    assert 0 < len(last) < 1600
    with pytest.raises(InputError, match="shorter than the 1600-byte layout"):
        list(parse_lines(iter(body.splitlines(keepends=True)), pad=False))
    status, body, exc = fetch(api, {**WINDOW, "format": "json"})
    assert status == 200 and exc is None
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_truncate_picks_both_ways() -> None:
    api = MockApi(faults=["truncate:1"], per_day=5, now=NOW)
    outcomes = set()
    for _ in range(16):
        _, body, exc = fetch(api)
        outcomes.add("close" if isinstance(exc, httpx.RemoteProtocolError) else "short")
        assert len(body) % 1601
    assert outcomes == {"close", "short"}
    assert {s.fault for s in api.served} == {"truncate-close", "truncate-short"}


def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("toefl_access.mock.transport.sleep", slept.append)
    return slept


def test_slow_stalls_after_the_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = sleeps(monkeypatch)
    api = MockApi(faults=["slow:250"], per_day=200, now=NOW)
    events: list[str] = []
    params = {**WINDOW, "enddate": "2025-04-25T00:00:00"}
    with client(api) as c, c.stream("GET", "/scores", params=params, headers=KEY) as answer:
        assert not slept  # the status line came without waiting
        for _ in answer.iter_raw():
            events.append(f"chunk after {len(slept)} sleeps")
    assert slept == [0.25]
    assert events[0] == "chunk after 0 sleeps" and events[-1] == "chunk after 1 sleeps"


def test_latency_delays_every_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = sleeps(monkeypatch)
    api = MockApi(latency_ms=120, now=NOW)
    get(api)
    get(api, headers={})
    assert slept == [0.12, 0.12]


def test_the_key_expires() -> None:
    clock = [dt.datetime(2026, 2, 28, 23, 59, 59)]
    api = MockApi(faults=["expire-key-at:2026-03-01T00:00:00"], now=lambda: clock[0])
    assert get(api).status_code == 200
    clock[0] = dt.datetime(2026, 3, 1, 0, 0, 0)
    answer = get(api)
    assert answer.status_code == 401 and "expired" in answer.text


def test_the_async_transport_serves_the_same() -> None:
    import anyio

    api = MockApi(now=NOW)

    async def main() -> bytes:
        async with httpx.AsyncClient(transport=api.async_transport()) as c:
            answer = await c.get("http://127.0.0.1/scores", params=WINDOW, headers=KEY)
            return answer.content

    assert anyio.run(main) == get(api).content
