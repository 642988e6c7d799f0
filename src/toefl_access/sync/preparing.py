"""An API answer made ready for the store: items (key, digest, bytes), parsing on demand,
and the ``sensitive`` fields protected before anything is stored or archived.

:func:`prepare_answer` turns one answer body (fixed-length text or JSON) into
:class:`Prepared`: the :class:`~toefl_access.store.Incoming` items the store classifies by
key and digest without parsing, ``parse``/``parse_many`` for the records it must store,
and the body to archive (with sensitive values masked). Sync and replay both use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from ..errors import InputError
from ..formats import layout as layouts
from ..formats.jsonformat import iter_objects, key_map, normalize_key, parse_json
from ..formats.record import Record
from ..formats.sensitive import KEEP, Protector, is_mask
from ..formats.sensitive import spans as sensitive_spans
from ..formats.textformat import BOM, codec, detect_layout
from ..store import Incoming, incoming_from_records, report_key
from ..store.structs import digest


def _key_of_line(spans: tuple[tuple[int, int], ...], line: bytes) -> str | None:
    """The report key straight from the bytes, or None when only a full parse can tell.
    ``spans`` is :func:`identity_spans` of the layout, looked up once per body: hashing a
    layout (a tuple of every field) costs more than the rest of this function."""
    reg, date, inst, dept = (line[s - 1 : e] for s, e in spans)
    if not (date.isdigit() and len(date) == 8) or not (reg + inst + dept).isascii():
        return None
    try:
        day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    except ValueError:
        return None
    return report_key(
        reg.decode().rstrip(" ") or None,
        day,
        inst.decode().rstrip(" ") or None,
        dept.decode().rstrip(" ") or None,
    )


def keys_of_lines(spans: tuple[tuple[int, int], ...], lines: list[bytes]) -> list[str | None]:
    """:func:`_key_of_line` of many lines of one length at once, with numpy: the identity
    fields of every line are cut out, checked and joined into ``REG|YYYY-MM-DD|INST|DEPT``
    texts with a handful of array operations, instead of a dozen Python steps a line."""
    import numpy as np  # on first use: command start-up stays light

    from ..formats.decoder import calendar_days, digits

    if not lines:
        return []
    m = np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), -1)
    (r0, r1), (d0, d1), (i0, i1), (p0, p1) = spans
    if d1 - d0 != 7:  # a test date that is not 8 bytes: the careful way, line by line
        return [_key_of_line(spans, line) for line in lines]
    reg, date = m[:, r0 - 1 : r1], m[:, d0 - 1 : d1]
    inst, dept = m[:, i0 - 1 : i1], m[:, p0 - 1 : p1]
    number, blank, bad = digits(date)
    ok = ~(blank | bad)
    for part in (reg, inst, dept):
        ok &= (part < 0x80).all(axis=1)
    ok &= calendar_days(number)[1]  # a real date of the calendar
    # REG|YYYY-MM-DD|INST|DEPT\n, then the blanks that end REG, INST and DEPT dropped
    n = len(lines)

    def sep(char: bytes) -> Any:
        return np.full((n, 1), char[0], dtype=np.uint8)

    columns: list[Any] = [reg, sep(b"|"), date[:, :4], sep(b"-"), date[:, 4:6], sep(b"-"),
                          date[:, 6:], sep(b"|"), inst, sep(b"|"), dept, sep(b"\n")]
    joined = np.concatenate(columns, axis=1)
    keep = np.ones(joined.shape, dtype=bool)
    at = 0
    for column in columns:
        width = column.shape[1]
        if column is reg or column is inst or column is dept:
            blank = np.logical_and.accumulate(column[:, ::-1] == 0x20, axis=1)[:, ::-1]
            keep[:, at : at + width] = ~blank
        at += width
    keys = joined[keep].tobytes().decode("latin-1").split("\n")
    keys.pop()  # after the last line's end
    return [key if good else None for key, good in zip(keys, ok.tolist(), strict=True)]


def prepare(body: bytes, fmt: str) -> tuple[list[Incoming], Callable[[Incoming], Record]]:
    """The store's input for one answer body as received (no ``sensitive`` processing), and
    how to parse one item of it on demand. Sync uses :func:`prepare_answer`."""
    prepared = prepare_answer(body, fmt, protector=KEEP)
    return prepared.items, prepared.parse


@dataclass(slots=True)
class Prepared:
    """One answer body made ready for the store (see :func:`prepare_answer`)."""

    items: list[Incoming]
    parse: Callable[[Incoming], Record]
    #: ``parse`` for many items at once (faster).
    parse_many: Callable[[Sequence[Incoming]], list[Record]]
    #: What the archive keeps: the body with sensitive values masked (as received if none).
    body: bytes
    #: The SHA-256 of ``body`` when it differs from the body received, else None.
    sha256: str | None
    #: The layout the records were read with.
    layout: str
    #: By item line: the sensitive fields that arrived masked already (a re-read archive).
    premasked: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: By item line, for the records protection changed: the record's bytes as they arrived.
    arrived_bytes: dict[int, bytes] = field(default_factory=dict)

    def arrived(self) -> dict[int, bytes]:
        """By item line, for the records protection changed: the digest of the record as it
        arrived (how a replay recognises content stored under another ``sensitive`` mode).
        Computed on demand: only a replay needs it."""
        return {line: digest(raw) for line, raw in self.arrived_bytes.items()}


def prepare_answer(
    body: bytes,
    fmt: str,
    *,
    protector: Protector,
    layout: layouts.Layout | None = None,
) -> Prepared:
    """The store's input for one answer body, with the ``sensitive`` fields protected.

    Clear values never leave this function except through ``parse``, which puts what the
    mode allows (the keyed hash, nothing, or the value) in the typed field; the items'
    ``raw`` and digest, and the body to archive, carry the masked bytes. ``layout`` reads
    text answers whose records have its length (others: the built-in layout, detected) and
    JSON answers.
    """
    if fmt == "json":
        return _prepare_json(body, protector, layout)
    return _prepare_text(body, protector, layout)


def _prepare_text(body: bytes, protector: Protector, layout: layouts.Layout | None) -> Prepared:
    bom = body.startswith(BOM)
    pieces = (body[3:] if bom else body).split(b"\n")
    lines: list[tuple[int, bytes]] = []
    for number, piece in enumerate(pieces, start=1):
        line = piece[:-1] if piece.endswith(b"\r") else piece
        if line and not line.isspace():  # (strip() would copy every line)
            lines.append((number, line))
    lengths = [len(line) for _, line in lines[:200]]
    if layout is not None and lengths and all(n == layout.record_length for n in lengths):
        c = codec(layout)
    else:
        c = codec(detect_layout(lengths))
    fields = sensitive_spans(c.layout)
    spans = identity_spans(c.layout)
    names = tuple(name for _, _, name, _ in fields)
    clear: dict[int, dict[str, bytes]] = {}
    premasked: dict[int, tuple[str, ...]] = {}
    arrived: dict[int, bytes] = {}
    changed = False
    items: list[Incoming] = []
    stored_lines: list[tuple[int, bytes]] = []
    for number, line in lines:
        if len(line) != c.length:
            raise InputError(
                f"the record is {len(line)} bytes, not the {c.length} of {c.layout.name}",
                source="the API answer",
                line=number,
            )
        if fields:
            stored, found, masked = protector.line(line, fields)
            if stored is not line:
                pieces[number - 1] = (
                    stored + b"\r" if pieces[number - 1].endswith(b"\r") else stored
                )
                arrived[number] = line
                line, changed = stored, True
            if found:
                clear[number] = found
            if masked:
                premasked[number] = masked
        stored_lines.append((number, line))
    raws = [line for _, line in stored_lines]
    for (number, line), key in zip(stored_lines, keys_of_lines(spans, raws), strict=True):
        if key is None:
            key = report_key(*c.decode(line, number, check=False).identity)
        items.append(Incoming(key=key, digest=digest(line), raw=line, line=number))

    def parse(item: Incoming) -> Record:
        return parse_many([item])[0]

    def parse_many(items: Sequence[Incoming]) -> list[Record]:
        records = c.decode_many([i.raw for i in items], [i.line for i in items])
        if names:
            for record in records:
                _settle(record, names, clear.get(record.line), protector)
        return records

    archived = body
    if changed:
        archived = (BOM if bom else b"") + b"\n".join(pieces)
    return Prepared(
        items=items,
        parse=parse,
        parse_many=parse_many,
        body=archived,
        sha256=hashlib.sha256(archived).hexdigest() if changed else None,
        layout=c.layout.name,
        premasked=premasked,
        arrived_bytes=arrived,
    )


def _settle(
    record: Record, names: tuple[str, ...], clear: dict[str, Any] | None, protector: Protector
) -> None:
    """Put in the record's sensitive fields what the mode allows (None for a mask)."""
    for name in names:
        if clear and name in clear:
            record.put(name, protector.value(clear[name]))
        else:
            value = record.get(name, _ABSENT)
            if value is not _ABSENT and (protector.mode != "keep" or is_mask(value)):
                record.put(name, None)


_ABSENT: Any = object()


def _prepare_json(body: bytes, protector: Protector, layout: layouts.Layout | None) -> Prepared:
    lay = layout or layouts.builtin(layouts.CURRENT)
    objects = list(iter_objects(io.BufferedReader(io.BytesIO(body))))
    sizes = {f.name: f.size for f in lay.data_fields if f.kind == "sensitive"}
    keys = key_map(lay)
    clear: dict[int, dict[str, str]] = {}
    premasked: dict[int, tuple[str, ...]] = {}
    arrived: dict[int, bytes] = {}
    changed = False
    if sizes:
        names: dict[str, str | None] = {}
        for index, obj in enumerate(objects, start=1):
            if not isinstance(obj, dict):
                continue  # parse_json names it
            for member, value in list(obj.items()):
                if member not in names:
                    names[member] = keys.get(normalize_key(member))
                name = names[member]
                if name not in sizes:
                    continue
                assert name is not None
                stored, text, masked = protector.json_value(value, sizes[name])
                if stored is not value:
                    if index not in arrived:
                        arrived[index] = msgspec.json.encode(obj)
                    obj[member] = stored
                    changed = True
                if text is not None:
                    clear.setdefault(index, {})[name] = text
                if masked:
                    premasked[index] = (*premasked.get(index, ()), name)
    records = list(parse_json(objects, layout=lay))
    if sizes:
        for r in records:
            _settle(r, tuple(sizes), clear.get(r.line), protector)
    by_line = {r.line: r for r in records}
    archived = _json_body(body, objects) if changed else body
    return Prepared(
        items=incoming_from_records(records),
        parse=lambda item: by_line[item.line],
        parse_many=lambda items: [by_line[item.line] for item in items],
        body=archived,
        sha256=hashlib.sha256(archived).hexdigest() if changed else None,
        layout=lay.name,
        premasked=premasked,
        arrived_bytes=arrived,
    )


def _json_body(body: bytes, objects: list[Any]) -> bytes:
    """The answer again with its records replaced by ``objects`` (the masked ones)."""
    try:
        top = msgspec.json.decode(body[3:] if body.startswith(BOM) else body)
    except msgspec.DecodeError:
        top = {}
    if isinstance(top, dict):
        top["data"] = objects
    else:
        top = objects
    return msgspec.json.encode(top)


@cache
def identity_spans(layout: layouts.Layout) -> tuple[tuple[int, int], ...]:
    """Byte ranges of registration number, test date, institution and department codes."""
    return tuple(
        (f.start, f.end)
        for f in (
            layout.field(n)
            for n in ("registration_number", "test_date", "institution_code", "department_code")
        )
    )
