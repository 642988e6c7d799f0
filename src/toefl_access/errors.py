"""Every error toefl-access raises, in one tree.

Catch :class:`ToeflAccessError` to handle all of them; foreign exceptions (httpx, sqlite3,
psycopg, msgspec, OS errors) are translated into this tree at one boundary in the module
that talks to them, so callers never see them.

::

    ToeflAccessError
    ├── UsageError                  a bad argument: a date, a window, a setting
    │   ├── DateError               an unparseable date or start >= end
    │   └── KeyFormatError          the API key is not Base64 of ``id:secret``
    ├── LayoutError                 a layout file is broken (names the row)
    ├── InputError                  an input file or body cannot be read (names file and line)
    │   └── RecordError             one record breaks a rule under --strict (line, field, bytes)
    ├── ApiError                    the TOEFL Access API answered with an error
    │   ├── BadRequestError         400, with the server's text
    │   ├── AuthenticationError     401: the key is wrong, expired or inactive
    │   ├── ForbiddenError          403
    │   ├── RateLimitedError        429, with ``retry_after``
    │   ├── ServerError             5xx
    │   ├── TransportError          connection refused or reset, timeout
    │   └── TruncatedResponseError  the body ended early (names the byte offset)
    ├── StoreError                  the database refused or failed
    │   └── LockedError             another sync holds the database
    ├── AlertError                  an alert channel (webhook, e-mail) did not take a message
    └── MissingExtraError           an optional dependency is not installed

Every message says what went wrong and what to do next. The API key never appears in a
message, a ``repr`` or a URL held by an error.
"""

from __future__ import annotations

import re

#: The exit code of a command used wrongly (an unknown option, a missing argument, a key on
#: the command line): sysexits' EX_USAGE, so that 2 means only "the key was refused".
EXIT_USAGE = 64

# Terminal control sequences (CSI, OSC, other escapes) and C0/C1 control characters but
# newline and tab: text from a server or a file must not drive the user's terminal.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (newlines and tabs
    stay): safe to print whatever a server or a file put in it."""
    return _CONTROL.sub("", text)


KEY_ADVICE = (
    "Generate a new API key in TOEFL Access (Integrations, open the integration, Generate) "
    "and set it in TOEFL_ACCESS_AUTHCODE or the file named by TOEFL_ACCESS_AUTHCODE_FILE. "
    "Note: generating a new key also changes the institution's GRE key."
)


class ToeflAccessError(Exception):
    """The root of every error toefl-access raises."""

    #: The process exit code the CLI uses for this error.
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ToeflAccessError):
    """A bad argument or setting, detected before anything is sent or written."""


class DateError(UsageError):
    """A date that cannot be parsed, or a window whose start is not before its end."""


class KeyFormatError(UsageError):
    """The API key is not Base64 of ``clientId:clientSecret``."""

    exit_code = 2


class LayoutError(ToeflAccessError):
    """A layout file that cannot be used; ``row`` is its 1-based data row (or None)."""

    def __init__(self, message: str, *, source: str = "", row: int | None = None) -> None:
        where = source + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.row = row


class InputError(ToeflAccessError):
    """An input that cannot be read: missing, empty, binary, malformed or too long."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = source + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line


class RecordError(InputError):
    """A record that breaks a rule, raised instead of a warning under ``--strict``."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        line: int | None = None,
        field: str = "",
        start: int = 0,
        end: int = 0,
        value: str = "",
    ) -> None:
        detail = f"field {field}"
        if start:
            detail += f" (bytes {start}-{end})"
        detail += f", value {value!r}: {message}"
        super().__init__(detail, source=source, line=line)
        self.field = field
        self.start = start
        self.end = end
        self.value = value


class ApiError(ToeflAccessError):
    """The API (or the way to it) failed. ``url`` never contains the key."""

    def __init__(
        self, message: str, *, status: int | None = None, url: str = "", body: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body


class BadRequestError(ApiError):
    """400: the server rejected the parameters; ``body`` holds its text."""


class AuthenticationError(ApiError):
    """401: the key is missing, wrong, expired or the account is inactive."""

    exit_code = 2


class ForbiddenError(ApiError):
    """403: the key is valid but may not read this data."""

    exit_code = 2


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; ``retry_after`` is the server's wait in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TransportError(ApiError):
    """The server could not be reached, the connection broke, or it timed out."""

    exit_code = 3


class TruncatedResponseError(ApiError):
    """The body ended before it was complete; ``offset`` is the byte where it stopped."""

    def __init__(self, message: str, *, offset: int, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.offset = offset


class StoreError(ToeflAccessError):
    """The database failed or refused an operation."""


class LockedError(StoreError):
    """Another process holds the sync lock on this database."""


class AlertError(ToeflAccessError):
    """An alert channel (a webhook, a mail server) did not take a message; the message
    names the channel (a webhook's address masked) and why."""


class MissingExtraError(ToeflAccessError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, extra: str, module: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the {module!r} package: "
            f"pip install 'toefl-access[{extra}]'"
        )
        self.extra = extra
