"""How two values are compared: names folded to ASCII, fuzzy ratios, dates of birth.

The one module that imports ``anyascii`` (transliteration) and ``rapidfuzz`` (edit-distance
ratios), both of the ``[match]`` extra.

A name is *folded* before any comparison: Unicode NFKC, transliterated to ASCII
(``Nguyễn`` -> ``nguyen``, ``Satō`` -> ``sato``, ``Дмитрий`` -> ``dmitriy``), lower case, every
run of other characters (hyphens, apostrophes, dots) one blank. Its *key* is the folded
name without blanks (``García-Márquez`` and ``GARCIA MARQUEZ`` have one key), and its
*loose key* also reads German ``ae oe ue`` as ``a o u`` (``Müller``, ``Mueller`` and
``Muller`` have one loose key).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from ..errors import MissingExtraError

try:
    from anyascii import anyascii
    from rapidfuzz.distance import OSA, Hamming
    from rapidfuzz.fuzz import ratio as _ratio
except ImportError as exc:  # pragma: no cover - the extra is part of the test install
    raise MissingExtraError("match", exc.name or "rapidfuzz", "toefl-access match") from None

_OTHER = re.compile(r"[^a-z0-9]+")
_GERMAN = re.compile(r"(?<=[a-z])(ae|oe|ue)")


class Name(NamedTuple):
    """One name (a first, middle or last name) ready to compare."""

    folded: str  #: ``"garcia marquez"``
    key: str  #: ``"garciamarquez"``
    loose: str  #: the key with German ``ae oe ue`` read as ``a o u``
    tokens: tuple[str, ...]  #: ``("garcia", "marquez")``


EMPTY = Name("", "", "", ())


@lru_cache(maxsize=1 << 16)
def name(text: str | None) -> Name:
    """``text`` folded for comparison (:data:`EMPTY` for None or blank)."""
    if not text:
        return EMPTY
    folded = _OTHER.sub(" ", anyascii(unicodedata.normalize("NFKC", text)).lower()).strip()
    if not folded:
        return EMPTY
    key = folded.replace(" ", "")
    return Name(folded, key, _GERMAN.sub(lambda m: m.group(1)[0], key), tuple(folded.split()))


def ratio(a: str, b: str) -> float:
    """Similarity of two strings, 0 to 1 (normalized Indel distance, as ``fuzz.ratio``)."""
    return _ratio(a, b) / 100.0


def edits(a: str, b: str, *, most: int = 1) -> int:
    """Typing edits between two strings (a letter added, dropped, changed, or two
    neighbours swapped: optimal string alignment), ``most + 1`` when more than ``most``."""
    return int(OSA.distance(a, b, score_cutoff=most))


def fold_text(text: str | None) -> str:
    """Any text (an e-mail, a country) trimmed and folded to lower-case ASCII."""
    if not text:
        return ""
    return anyascii(unicodedata.normalize("NFKC", text)).strip().lower()


def dob_relation(a: dt.date, b: dt.date) -> str:
    """How two dates of birth relate: ``exact``, ``swapped`` (day and month), ``digit`` (one
    digit of YYYYMMDD differs), ``year`` (one year apart, same day) or ``differs``."""
    if a == b:
        return "exact"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return "swapped"
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    if same == 2 and Hamming.distance(f"{a:%Y%m%d}", f"{b:%Y%m%d}") == 1:
        return "digit"
    if a.month == b.month and a.day == b.day and abs(a.year - b.year) == 1:
        return "year"
    return "differs"
