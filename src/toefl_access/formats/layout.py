"""ScoreLink layouts: fixed-length record specs kept as data, loaded and validated.

A layout is a table of fields (``start,end,size,name,kind,label,source``; positions are
1-based inclusive **bytes**). Two ship inside the package (``scorelink-1600``, the current
layout, and ``scorelink-900``, the legacy one); a user can supply their own file with the
same columns, or with the vendor spreadsheet's ``Start, End, Size, Field Name`` heading.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import LayoutError

KINDS = frozenset({"code", "text", "date", "score", "band", "cefr", "sensitive", "filler"})
CURRENT = "scorelink-1600"
LEGACY = "scorelink-900"
BUILTIN = (CURRENT, LEGACY)
_ALIASES = {"1600": CURRENT, "900": LEGACY, "current": CURRENT, "legacy": LEGACY}
_COLUMNS = ("start", "end", "size", "name", "kind", "label", "source")
_SHEET_COLUMNS = ("start", "end", "size", "field name")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a layout. ``start`` and ``end`` are 1-based inclusive byte positions."""

    start: int
    end: int
    size: int
    name: str
    kind: str
    label: str = ""
    source: str = ""

    @property
    def provisional(self) -> bool:
        """True when no confirmed public source backs this row."""
        return self.source in ("provisional", "gap")

    @property
    def span(self) -> str:
        """The byte range as people write it, e.g. ``559-560``."""
        return f"{self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class Layout:
    """A validated fixed-length layout."""

    name: str
    fields: tuple[Field, ...]

    @property
    def record_length(self) -> int:
        return self.fields[-1].end

    @property
    def data_fields(self) -> tuple[Field, ...]:
        """The fields that carry data (every field but fillers), in layout order."""
        return tuple(f for f in self.fields if f.kind != "filler")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.data_fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)


def snake_case(text: str) -> str:
    """Derive a canonical name from a spreadsheet heading: ``Last Name`` -> ``last_name``."""
    text = re.sub(r"\(.*?\)", " ", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def validate(
    name: str, fields: list[Field], *, source: str = "", rows: list[int] | None = None
) -> Layout:
    """Check that ``fields`` form a usable layout, naming the first offending row.

    The layout must start at byte 1, run without gaps or overlaps, have sizes that match
    start and end, unique snake_case names and known kinds. ``rows`` gives each field's row
    number in its file (default: 1, 2, ...).
    """
    src = source or name
    if not fields:
        raise LayoutError("the layout has no fields", source=src)
    seen: set[str] = set()
    expected = 1
    for index, f in enumerate(fields):
        row = rows[index] if rows else index + 1
        if f.kind not in KINDS:
            raise LayoutError(
                f"unknown kind {f.kind!r} for field {f.name!r}; "
                f"use one of {', '.join(sorted(KINDS))}",
                source=src,
                row=row,
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]*", f.name):
            raise LayoutError(
                f"field name {f.name!r} is not snake_case (letters, digits, underscores)",
                source=src,
                row=row,
            )
        if f.name in seen:
            raise LayoutError(f"field name {f.name!r} appears twice", source=src, row=row)
        seen.add(f.name)
        if f.start != expected:
            what = "overlaps the previous field" if f.start < expected else "leaves a gap"
            raise LayoutError(
                f"field {f.name!r} starts at byte {f.start} but the previous field ends at "
                f"{expected - 1}: it {what}",
                source=src,
                row=row,
            )
        if f.end < f.start or f.end - f.start + 1 != f.size:
            raise LayoutError(
                f"field {f.name!r}: start {f.start} and end {f.end} give "
                f"{f.end - f.start + 1} bytes, but size says {f.size}",
                source=src,
                row=row,
            )
        if f.end > MAX_RECORD_BYTES:
            raise LayoutError(
                f"field {f.name!r} ends at byte {f.end:,}, past the {MAX_RECORD_BYTES:,} bytes "
                "a record may have (ScoreLink records are 900 or 1600 bytes)",
                source=src,
                row=row,
            )
        expected = f.end + 1
    return Layout(name=name, fields=tuple(fields))


#: The longest record a layout may describe (a guard against a layout file's typo).
MAX_RECORD_BYTES = 65_536


def _int(value: str, column: str, src: str, row: int) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise LayoutError(
            f"column {column!r} must be a whole number, got {value!r}", source=src, row=row
        ) from None


def _rows(reader: Any, src: str) -> Iterator[list[str]]:
    """The rows of a CSV reader; a row it cannot read is a LayoutError naming it."""
    try:
        yield from reader
    except csv.Error as exc:
        raise LayoutError(f"cannot read the row: {exc}", source=src,
                          row=reader.line_num) from None  # fmt: skip


def _normal(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


@cache
def _known() -> dict[str, Field]:
    """The built-in fields by every spelling a spreadsheet heading may use for them."""
    table: dict[str, Field] = {}
    for lay in BUILTIN:
        for f in builtin(lay).data_fields:
            for spelling in (re.sub(r"\(.*?\)", "", f.label), f.label, f.name):
                table[_normal(spelling)] = f
    return table


def parse_layout_csv(text: str, *, name: str, source: str = "") -> Layout:
    """Read a layout from CSV text in either heading style and validate it.

    Errors name the row as a spreadsheet shows it (the heading is row 1). With the vendor
    spreadsheet's ``Start, End, Size, Field Name`` heading, a field whose name matches a
    built-in field (by name or label, ignoring case and punctuation) takes that field's
    canonical name and kind; other names are turned into snake_case, kind ``text``, and
    rows named ``Filler`` become fillers.
    """
    src = source or name
    # newline="" lets the csv module see bare CRs itself, as its documentation asks.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        heading = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise LayoutError("the layout file is empty", source=src) from None
    if all(c in heading for c in _COLUMNS):
        sheet = False
    elif all(c in heading for c in _SHEET_COLUMNS):
        sheet = True
    else:
        raise LayoutError(
            f"unrecognised heading {', '.join(heading)!r}; expected "
            f"{','.join(_COLUMNS)!r} or the spreadsheet's 'Start, End, Size, Field Name'",
            source=src,
            row=1,
        )
    col = {h: i for i, h in enumerate(heading)}
    fields: list[Field] = []
    rows: list[int] = []
    for cells in _rows(reader, src):
        row = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(heading) - len(cells))
        start = _int(cells[col["start"]], "start", src, row)
        end = _int(cells[col["end"]], "end", src, row)
        size = _int(cells[col["size"]], "size", src, row)
        if sheet:
            label = cells[col["field name"]].strip()
            fname = snake_case(label)
            if not fname:
                raise LayoutError(f"field name {label!r} gives no usable name", source=src, row=row)
            match = _known().get(_normal(re.sub(r"\(.*?\)", "", label))) or _known().get(
                _normal(label)
            )
            if fname.startswith("filler") or not fname[0].isalpha():
                kind, fname = "filler", f"filler_{start}"
            elif match:
                kind, fname = match.kind, match.name
            else:
                kind = "text"
            fsource = "user"
        else:
            fname = cells[col["name"]].strip()
            kind = cells[col["kind"]].strip()
            label = cells[col["label"]].strip()
            fsource = cells[col["source"]].strip()
        fields.append(Field(start, end, size, fname, kind, label, fsource))
        rows.append(row)
    return validate(name, fields, source=src, rows=rows)


@cache
def builtin(name: str) -> Layout:
    """One of the layouts shipped with the package, by name or alias."""
    name = _ALIASES.get(name, name)
    if name not in BUILTIN:
        raise LayoutError(f"no built-in layout named {name!r}; try one of {', '.join(BUILTIN)}")
    folder = resources.files("toefl_access.formats").joinpath("layouts")
    text = folder.joinpath(f"{name}.csv").read_text("utf-8")
    return parse_layout_csv(text, name=name)


@cache
def builtin_fields() -> tuple[Field, ...]:
    """Every data field of the built-in layouts, once by name: the current layout's, then
    the legacy-only ones (the columns of the store, the exports and the status page)."""
    out: dict[str, Field] = {}
    for name in BUILTIN:
        for f in builtin(name).data_fields:
            out.setdefault(f.name, f)
    return tuple(out.values())


def load(name_or_path: str | Path) -> Layout:
    """A built-in layout by name, or a layout file by path."""
    key = str(name_or_path)
    if key in BUILTIN or key in _ALIASES:
        return builtin(key)
    path = Path(name_or_path)
    if not path.exists():
        raise LayoutError(
            f"{key!r} is neither a built-in layout ({', '.join(BUILTIN)}) nor an existing file"
        )
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        text = path.read_text("latin-1")
    except OSError as exc:
        raise LayoutError(f"cannot read the layout file: {exc.strerror}", source=key) from None
    return parse_layout_csv(text, name=path.stem, source=key)
