"""UTC instants and durations as users write them, and as the API wants them.

The API takes ``YYYY-MM-DDTHH:mm:ss`` in UTC with no offset. Users may write a date
(``2025-04-21``), a UTC time (``2025-04-21T16:45:03`` or ``...Z``) or a time with an offset
(``+02:00``), which is converted to UTC. Durations are ``90s``, ``5m``, ``6h``, ``1d``, ``2w``.
"""

from __future__ import annotations

import datetime as dt
import re

from ..errors import DateError

UTC = dt.UTC
API_FORMAT = "%Y-%m-%dT%H:%M:%S"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def to_utc(value: dt.datetime | dt.date) -> dt.datetime:
    """An aware UTC datetime: aware values are converted, naive ones are taken as UTC."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: The range of dates a user may give (anything else is a typo, and year 9999 overflows).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2199, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def parse_instant(text: str | dt.datetime | dt.date, *, what: str = "date") -> dt.datetime:
    """Parse a user's date or time into an aware UTC datetime, naming the value on failure."""
    if isinstance(text, dt.date):
        return to_utc(text)
    raw = text.strip()
    if raw.lower() == "now":
        return dt.datetime.now(UTC).replace(microsecond=0)
    candidate = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", candidate):
            value = to_utc(dt.date.fromisoformat(candidate))
        elif re.fullmatch(
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2})?", candidate
        ):
            value = to_utc(dt.datetime.fromisoformat(candidate))
        else:
            raise ValueError(raw)
    except (ValueError, OverflowError):
        raise DateError(
            f"{what} {raw!r} is not a date or time; write it like 2025-04-21, "
            "2025-04-21T16:45:03 (UTC), 2025-04-21T16:45:03Z or 2025-04-21T18:45:03+02:00"
        ) from None
    if not EARLIEST <= value <= LATEST:
        raise DateError(
            f"{what} {raw!r} is outside {EARLIEST:%Y}..{LATEST:%Y}, where score reports can be"
        )
    return value


def api_format(value: dt.datetime) -> str:
    """The API's form of an instant: UTC, ``YYYY-MM-DDTHH:mm:ss``, no offset."""
    return to_utc(value).strftime(API_FORMAT)


def check_window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Both ends in UTC, refusing a window whose start is not before its end."""
    start, end = to_utc(start), to_utc(end)
    if start >= end:
        raise DateError(
            f"the start {api_format(start)} is not before the end {api_format(end)} (UTC); "
            "swap them or widen the window"
        )
    return start, end


#: The longest duration any setting takes (ten years).
MAX_DURATION = dt.timedelta(days=3650)


def parse_duration(text: str | dt.timedelta, *, what: str = "duration") -> dt.timedelta:
    """``1d``, ``3d``, ``5m``, ``12h``, ``90s``, ``2w`` (or a bare number of seconds)."""
    if isinstance(text, dt.timedelta):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise DateError(f"{what} {text!r} is not a duration; write it like 90s, 5m, 12h, 1d or 2w")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not seconds <= MAX_DURATION.total_seconds():
        raise DateError(
            f"{what} {text.strip()!r} is longer than {MAX_DURATION.days} days; TOEFL scores "
            "are valid for two years, so no window, lookback or lag needs more"
        )
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    """The shortest exact spelling of a duration: ``1d``, ``36h``, ``90s``."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
