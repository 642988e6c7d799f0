"""Personal data: how the ``sensitive`` fields (the passport or national ID number) are kept.

The setting ``sensitive = keep | hash | drop`` (default ``hash``) applies to every field of
kind ``sensitive`` in the layout (``security_id_number``), before anything is written:

========= =================================================================================
``hash``  the typed column holds a keyed hash of the value: HMAC-SHA256, 64 hex digits, of
          the value with blanks removed and letters in upper case, so the same ID number
          gives the same hash on every report of a database (a person can be matched across
          reports) while the number itself cannot be read back. In the stored raw line and
          in the archived answer the whole field is replaced by ``*`` (its length is hidden
          too); in a JSON answer the value becomes a string of ``*``.
``drop``  nothing is kept: the column is NULL and the bytes are blanks (JSON: ``null``).
``keep``  the value is stored as received, and ``toefl-access status`` says so.
========= =================================================================================

The content digest of a report is computed over the line as stored (masked), so a resend
that differs only in the ID number is not a new revision under ``hash`` and ``drop``.

**The hash key.** 32 random bytes made the first time a database needs one and kept in its
``store_meta`` table, so hashes match within a database and differ between databases. To
share one key between databases (to match people across them), or to keep it away from the
database, name a file in the setting ``hash_key_file`` (``TOEFL_ACCESS_HASH_KEY_FILE``): its
bytes, without a trailing newline, are the key (at least 16 bytes; e.g.
``head -c 32 /dev/urandom | base64 > key; chmod 600 key``). A run whose key differs from the
previous run's says so: hashes made with different keys never match.

Each run records its mode in ``store_meta`` (and in the run's parameters) and warns when it
differs from the previous run's: reports stored before keep what they were stored with.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
from .layout import Layout

log = logging.getLogger("toefl_access.formats.sensitive")

MODES = ("keep", "hash", "drop")
DEFAULT_MODE = "hash"
#: The byte that replaces every byte of a masked field.
MASK = b"*"
MIN_KEY_BYTES = 16

#: ``store_meta`` keys.
META_MODE = "sensitive.mode"
META_KEY = "sensitive.hash_key"
META_KEY_ID = "sensitive.key_id"

DESCRIPTIONS = {
    "hash": "ID numbers are stored as keyed hashes (sensitive = hash)",
    "drop": "ID numbers are not stored (sensitive = drop)",
    "keep": "ID numbers are stored IN CLEAR (sensitive = keep)",
}


class MetaStore(Protocol):
    """What :func:`protector_for` needs of a store (``store_meta`` access)."""

    def meta_get(self, key: str) -> str | None: ...

    def meta_set(self, key: str, value: str) -> None: ...

    def meta_setdefault(self, key: str, value: str) -> str: ...


@cache
def spans(layout: Layout) -> tuple[tuple[int, int, str, int], ...]:
    """``(start0, end, name, size)`` of the layout's sensitive fields (0-based start)."""
    return tuple(
        (f.start - 1, f.end, f.name, f.size) for f in layout.fields if f.kind == "sensitive"
    )


def is_mask(value: Any) -> bool:
    """True for a value that is a mask already (only ``*``, trailing blanks allowed)."""
    if isinstance(value, bytes):
        body = value.rstrip(b" ")
        return bool(body) and not body.strip(MASK)
    if isinstance(value, str):
        text = value.rstrip(" ")
        return bool(text) and not text.strip("*")
    return False


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@dataclass(frozen=True, slots=True)
class Protector:
    """Applies one ``sensitive`` mode (with its key, for ``hash``) to lines and objects."""

    mode: str = DEFAULT_MODE
    key: bytes | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"sensitive = {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "hash" and not self.key:
            raise UsageError("sensitive = hash needs a key (see toefl_access.formats.sensitive)")

    def __repr__(self) -> str:  # never the key
        return f"Protector(mode={self.mode!r})"

    def hash(self, value: str) -> str:
        """The keyed hash of an ID number: HMAC-SHA256 hex of its normalized form."""
        assert self.key is not None
        return hmac.digest(self.key, normal_id(value).encode("utf-8"), "sha256").hex()

    def value(self, clear: str | bytes | None) -> str | None:
        """What the typed column holds for a value received in clear."""
        if isinstance(clear, bytes):
            clear = _text(clear)
        text = clear.rstrip(" ") if clear is not None else None
        if not text or self.mode == "drop":
            return None
        return self.hash(text) if self.mode == "hash" else text

    def line(
        self, line: bytes, fields: tuple[tuple[int, int, str, int], ...]
    ) -> tuple[bytes, dict[str, bytes], tuple[str, ...]]:
        """The line as it may be stored, the clear values it held (by field, trailing blanks
        removed) and the fields that arrived masked already (a re-read of the archive).

        ``keep`` returns the line itself; a field masked already stays masked (``hash``,
        ``keep``) or is blanked (``drop``).
        """
        found: dict[str, bytes] = {}
        premasked: tuple[str, ...] = ()
        out = line
        for start, end, name, size in fields:
            chunk = line[start:end].rstrip(b" ")
            if not chunk:
                continue
            if not chunk.strip(MASK):
                if self.mode == "drop":
                    out = out[:start] + b" " * size + out[end:]
                else:
                    premasked += (name,)
                continue
            found[name] = chunk
            if self.mode != "keep":
                fill = MASK if self.mode == "hash" else b" "
                out = out[:start] + fill * size + out[end:]
        return out, found, premasked

    def json_value(self, value: Any, size: int) -> tuple[Any, str | None, bool]:
        """A JSON member's value as it may be stored, its clear text (or None) and whether
        it arrived masked already."""
        if value is None:
            return value, None, False
        text = value if isinstance(value, str) else str(value)
        if not text.strip(" "):
            return value, None, False
        if is_mask(text):
            return (None if self.mode == "drop" else value), None, self.mode != "drop"
        if self.mode == "keep":
            return value, text.rstrip(" "), False
        return ("*" * size if self.mode == "hash" else None), text.rstrip(" "), False


KEEP = Protector("keep")


def normal_id(value: str) -> str:
    """An ID number's normal form, what :meth:`Protector.hash` hashes: no blanks, upper
    case (the matcher compares numbers kept in clear, and hashes, in this form too)."""
    return "".join(value.split()).upper()


def key_id(key: bytes) -> str:
    """A short fingerprint of a hash key: tells keys apart, reveals nothing of them."""
    return hmac.new(key, b"toefl-access hash key id", hashlib.sha256).hexdigest()[:16]


def read_key_file(path: str) -> bytes:
    """The hash key from ``hash_key_file``: its bytes, without trailing blanks or newline."""
    file = Path(path).expanduser()
    try:
        key = file.read_bytes().rstrip(b"\r\n \t")
    except FileNotFoundError:
        raise UsageError(
            f"hash_key_file names {path!r}, which does not exist; create it (e.g. "
            "`head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`) or remove the setting "
            "to keep the key in the database"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the hash key file {path!r}: {exc.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(
            f"the hash key file {path!r} holds {len(key)} bytes; a key needs at least "
            f"{MIN_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64 > FILE`)"
        )
    if os.name == "posix" and file.stat().st_mode & 0o077:
        log.warning("the hash key file %s can be read by other users; chmod 600 it", path)
    return key


def protector_for(
    store: MetaStore, mode: str, *, key_file: str | None = None
) -> tuple[Protector, list[str]]:
    """The protector of a run on ``store``, and notices for the user (mode or key changed).

    Records the mode (and the key's fingerprint) in the store's ``store_meta``.
    """
    if mode not in MODES:
        raise UsageError(f"sensitive = {mode!r} is not one of {', '.join(MODES)}")
    notices: list[str] = []
    previous = store.meta_get(META_MODE)
    if previous is not None and previous != mode:
        notices.append(
            f"sensitive is {mode!r} now but was {previous!r} in the previous run: reports "
            f"stored before keep what they were stored with; new and changed ones follow "
            f"{mode!r} (`toefl-access replay` re-stores the current reports under {mode!r}; "
            "earlier revisions and archived answers are not rewritten)"
        )
    key = None
    if mode == "hash":
        if key_file:
            key = read_key_file(key_file)
        else:
            key = bytes.fromhex(store.meta_setdefault(META_KEY, secrets.token_hex(32)))
        fingerprint = key_id(key)
        before = store.meta_get(META_KEY_ID)
        if before is not None and before != fingerprint:
            notices.append(
                "the hash key differs from the previous run's (hash_key_file changed?): "
                "hashes of ID numbers stored before will not match new ones"
            )
        if before != fingerprint:
            store.meta_set(META_KEY_ID, fingerprint)
    if previous != mode:
        store.meta_set(META_MODE, mode)
    for notice in notices:
        log.warning("%s", notice)
    return Protector(mode, key), notices


def output_protector(mode: str, *, key_file: str | None = None) -> tuple[Protector, list[str]]:
    """The protector of an output written outside a database (``fetch``), and notices.

    ``hash`` needs ``hash_key_file`` here (without a database there is no stored key):
    without one the ID numbers are left out (as ``drop``) and a notice says so.
    """
    if mode not in MODES:
        raise UsageError(f"sensitive = {mode!r} is not one of {', '.join(MODES)}")
    if mode == "hash" and not key_file:
        return Protector("drop"), [
            "ID numbers are left out: sensitive = hash needs hash_key_file outside a database "
            "(set it for keyed hashes, or sensitive = keep to write the numbers)"
        ]
    return Protector(mode, read_key_file(key_file) if mode == "hash" and key_file else None), []


def protect(record: Any, protector: Protector) -> Any:
    """A record read in clear with its ``sensitive`` fields as ``protector`` allows."""
    if protector.mode == "keep":
        return record
    for name in _sensitive_names():
        value = record.get(name)
        if value is not None and not is_mask(value):
            record.put(name, protector.value(value))
    return record


@cache
def _sensitive_names() -> tuple[str, ...]:
    """The ``sensitive`` fields of the built-in layouts (JSON records use their names)."""
    from .layout import CURRENT, LEGACY, builtin

    return tuple(dict.fromkeys(n for lay in (CURRENT, LEGACY) for _, _, n, _ in
                               spans(builtin(lay))))  # fmt: skip


def describe(mode: str | None) -> str:
    """One line for ``status``: how the database keeps ID numbers."""
    if mode is None:
        return "ID numbers: no sync has recorded a sensitive setting yet"
    return DESCRIPTIONS.get(mode, f"sensitive = {mode}")
