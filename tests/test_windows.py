import datetime as dt
import itertools

import pytest

from toefl_access.api.dates import UTC, api_format, check_window, parse_duration, parse_instant
from toefl_access.errors import DateError, UsageError
from toefl_access.sync.windows import Window, floor_to_grid, plan, split

D = dt.timedelta


def t(text: str) -> dt.datetime:
    return parse_instant(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-04-21", "2025-04-21T00:00:00"),
        ("2025-04-21T16:45:03", "2025-04-21T16:45:03"),
        ("2025-04-21T16:45:03Z", "2025-04-21T16:45:03"),
        ("2025-04-21T18:45:03+02:00", "2025-04-21T16:45:03"),
        ("2025-04-21 16:45", "2025-04-21T16:45:00"),
    ],
)
def test_instants_are_read_as_utc(text: str, expected: str) -> None:
    assert api_format(parse_instant(text)) == expected


def test_naive_datetimes_are_utc_and_aware_ones_converted() -> None:
    naive = dt.datetime(2025, 4, 21, 12)
    aware = dt.datetime(2025, 4, 21, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert parse_instant(naive) == parse_instant(aware) == dt.datetime(2025, 4, 21, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2025-13-01", "yesterday", "21/04/2025", "2025-04-21T25:00:00", ""]
)
def test_bad_instants_name_the_value(text: str) -> None:
    with pytest.raises(DateError, match="--since") as info:
        parse_instant(text, what="--since")
    assert repr(text.strip()) in str(info.value)


def test_window_start_must_precede_end() -> None:
    with pytest.raises(DateError, match="not before"):
        check_window(t("2025-04-22"), t("2025-04-21"))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1d", 86400), ("2w", 1209600), ("12h", 43200)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == D(seconds=seconds)


def test_bad_duration() -> None:
    with pytest.raises(DateError, match="'3 days'"):
        parse_duration("3 days")


def test_split_is_grid_aligned_and_half_open() -> None:
    windows = split(t("2025-04-21T06:00:00"), t("2025-04-23T12:00:00"), D(days=1))
    assert windows == [
        Window(t("2025-04-21T06:00:00"), t("2025-04-22")),
        Window(t("2025-04-22"), t("2025-04-23")),
        Window(t("2025-04-23"), t("2025-04-23T12:00:00")),
    ]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert floor_to_grid(t("2025-04-21T06:00:00"), D(hours=6)) == t("2025-04-21T06:00:00")


def test_first_run_needs_since() -> None:
    with pytest.raises(UsageError, match="--since"):
        plan(watermark=None, now=t("2025-05-01"))


def test_plan_rereads_the_lookback_and_stops_short_of_now() -> None:
    windows = plan(watermark=t("2025-04-28"), now=t("2025-05-01T00:03:00"))
    assert windows[0].start == t("2025-04-25")
    assert windows[-1].end == t("2025-04-30T23:58:00")


def test_plan_backfill_ends_at_until_and_never_past_now() -> None:
    windows = plan(
        watermark=None, now=t("2025-05-01"), since=t("2025-04-01"), until=t("2025-04-03")
    )
    assert [w.start for w in windows] == [t("2025-04-01"), t("2025-04-02")]
    future = plan(watermark=None, now=t("2025-05-01"), since=t("2025-04-30"), until=t("2026-01-01"))
    assert future[-1].end == t("2025-04-30T23:55:00")


def test_plan_up_to_date_is_empty() -> None:
    assert plan(watermark=None, now=t("2025-05-01"), since=t("2025-05-01")) == []


def test_plan_rejects_bad_sizes() -> None:
    with pytest.raises(UsageError, match="--window"):
        plan(watermark=t("2025-04-28"), now=t("2025-05-01"), window=D(0))
    with pytest.raises(DateError, match="not before"):
        plan(watermark=None, now=t("2025-05-01"), since=t("2025-04-03"), until=t("2025-04-01"))


def test_failed_windows_are_planned_again_before_the_lookback() -> None:
    failed = [(t("2025-03-10"), t("2025-03-11")), (t("2025-04-29"), t("2025-04-30"))]
    windows = plan(watermark=t("2025-05-01"), now=t("2025-05-01T12:00:00"), retry=failed)
    assert windows[0] == Window(t("2025-03-10"), t("2025-03-11"))
    assert windows[1].start == t("2025-04-28")  # the lookback covers the second one
    assert sum(w.start == t("2025-04-29") for w in windows) == 1
    # an explicit range (a backfill) asks for what it names, nothing else
    named = plan(watermark=t("2025-05-01"), now=t("2025-05-01T12:00:00"), retry=failed,
                 since=t("2025-01-01"), until=t("2025-01-03"))  # fmt: skip
    assert [w.start for w in named] == [t("2025-01-01"), t("2025-01-02")]
