"""The API key: its form, where it is read from, and how it is kept out of sight.

The key is Base64 of ``clientId:clientSecret``; it is checked before anything is sent,
read only from ``TOEFL_ACCESS_AUTHCODE`` or the file named by ``TOEFL_ACCESS_AUTHCODE_FILE``
(never from a command line), and held in a :class:`Secret` whose ``repr`` hides it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import KeyFormatError, UsageError

ENV_AUTHCODE = "TOEFL_ACCESS_AUTHCODE"
ENV_AUTHCODE_FILE = "TOEFL_ACCESS_AUTHCODE_FILE"

log = logging.getLogger("toefl_access.api.client")

NO_KEY = (
    f"no API key: set {ENV_AUTHCODE} to the key, or {ENV_AUTHCODE_FILE} to a file holding it "
    "(TOEFL Access: Integrations, the integration, copy the API key). To try the tool without "
    "a key, run `toefl-access mock-server` and use the URL and key it prints."
)


class Secret:
    """The key, kept out of reprs, tracebacks with locals and logs."""

    __slots__ = ("_forms", "_value")

    def __init__(self, value: str, decoded: bytes) -> None:
        self._value = value
        secret = decoded.partition(b":")[2].decode("latin-1")
        self._forms = sorted({value, decoded.decode("latin-1"), secret}, key=len, reverse=True)

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        """The first 12 hex digits of the key's SHA-256: tells keys apart, reveals nothing."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def scrub(self, text: str) -> str:
        """``text`` with the key, and the secret inside it, replaced by ``***``."""
        for form in self._forms:
            if form:
                text = text.replace(form, "***")
        return text

    def __repr__(self) -> str:
        return f"<hidden key sha256:{self.fingerprint}>"

    __str__ = __repr__


def check_authcode(authcode: str) -> str:
    """The key without surrounding blanks, if it is Base64 of ``clientId:clientSecret``.

    Raises :class:`KeyFormatError` (which never quotes the key) otherwise.
    """
    if not isinstance(authcode, str) or not authcode.strip():
        raise KeyFormatError(f"the API key is empty. {NO_KEY}")
    key = authcode.strip()
    decode_key(key)
    return key


def decode_key(key: str) -> bytes:
    """``clientId:clientSecret`` as bytes, or :class:`KeyFormatError` saying what to do."""
    again = (
        "copy it again from TOEFL Access (Integrations, the integration, the clipboard icon): "
        "the key is Base64 of clientId:clientSecret"
    )
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"the API key ({len(key)} characters) is not Base64; {again}"
        ) from None
    ident, sep, secret = decoded.partition(b":")
    if not (sep and ident and secret):
        raise KeyFormatError(f"the API key is Base64 but not of clientId:clientSecret; {again}")
    return decoded


def read_authcode(environ: Mapping[str, str] | None = None) -> str:
    """The key from ``TOEFL_ACCESS_AUTHCODE`` or the file named by ``..._AUTHCODE_FILE``."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_AUTHCODE, "").strip()
    path = env.get(ENV_AUTHCODE_FILE, "").strip()
    if value and path:
        raise UsageError(f"both {ENV_AUTHCODE} and {ENV_AUTHCODE_FILE} are set; unset one")
    if value:
        return value
    if not path:
        raise UsageError(NO_KEY)
    file = Path(path).expanduser()
    try:
        text = file.read_bytes().decode("utf-8-sig").strip()
    except FileNotFoundError:
        raise UsageError(f"{ENV_AUTHCODE_FILE} names {path!r}, which does not exist") from None
    except UnicodeDecodeError:
        raise KeyFormatError(
            f"the key file {path!r} holds more than an API key; put only the key in it"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the key file {path!r}: {exc.strerror}") from None
    if not text:
        raise UsageError(f"the key file {path!r} is empty; put the API key in it")
    if os.name == "posix" and file.stat().st_mode & 0o077:
        log.warning("the key file %s can be read by other users; chmod 600 it", path)
    return text
