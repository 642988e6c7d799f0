"""Writing records out: JSON Lines, CSV, a JSON array, or fixed-length text.

The JSON Lines contract (other parts of the project and its users rely on it): one object a
record; the canonical name of every non-filler field in layout order, then ``_layout``,
``_line`` and ``_warnings`` (a list), and ``_extra`` when a JSON record had unknown keys.
Dates are ``YYYY-MM-DD``, a blank field is ``null``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from ..errors import ToeflAccessError, UsageError
from . import layout as layouts
from .layout import Layout
from .record import Record
from .textformat import codec, layout_of

OUTPUTS = ("jsonl", "csv", "json", "text")
_encoder = msgspec.json.Encoder()


def to_row(record: Record) -> dict[str, Any]:
    """The JSON Lines object of one record."""
    row = dict(record.values)
    row["_layout"] = record.layout
    row["_line"] = record.line
    row["_warnings"] = record.warnings
    if record.extra:
        row["_extra"] = record.extra
    return row


def write_objects(objects: Iterable[Any], out: IO[bytes]) -> int:
    """JSON Lines of any objects msgspec encodes, written in 64 KiB batches."""
    count = 0
    buf = bytearray()
    for obj in objects:
        _encoder.encode_into(obj, buf, -1)
        buf += b"\n"
        count += 1
        if len(buf) > 1 << 16:
            out.write(buf)
            buf.clear()
    out.write(buf)
    return count


def write_jsonl(records: Iterable[Record], out: IO[bytes]) -> int:
    return write_objects(map(to_row, records), out)


def write_json(records: Iterable[Record], out: IO[bytes]) -> int:
    """A JSON array, written as it goes (constant memory)."""
    count = 0
    out.write(b"[")
    for record in records:
        out.write(b",\n" if count else b"\n")
        out.write(_encoder.encode(to_row(record)))
        count += 1
    out.write(b"\n]\n" if count else b"]\n")
    return count


_TEXTUAL = frozenset(("code", "text", "sensitive"))
_FORMULA = frozenset("=+-@")


def _protected(names: tuple[str, ...], layout: Layout | None) -> tuple[int, ...]:
    """The columns whose digit-only values Excel would turn into numbers."""
    if layout is None:  # unknown layout: every column may hold a string
        return tuple(range(len(names)))
    kinds = {f.name: f.kind for f in layout.fields}
    return tuple(i for i, n in enumerate(names) if kinds.get(n, "text") in _TEXTUAL)


def write_csv(
    records: Iterable[Record], out: IO[str], *, excel: bool = True, layout: Layout | None = None
) -> int:
    """CSV with a header of canonical names, then ``_layout``, ``_line``, ``_warnings``.

    Dates are ``YYYY-MM-DD`` and a blank field is an empty cell. ``excel=True`` (the
    default) makes the file open in Excel without damage: the caller writes it as UTF-8
    with a BOM, and text made only of digits (codes, registration numbers) is written as
    ``="0123"`` so that Excel keeps leading zeros and all 16 digits, and text that would
    start a formula (``=``, ``+``, ``-``, ``@``) as ``="..."`` so that it stays text.
    ``layout`` (default: the records' built-in layout) says which columns hold text. (The
    ``parse`` command writes the same from Arrow batches: :mod:`toefl_access.formats.writers`.)
    """
    writer = csv.writer(out, lineterminator="\r\n")
    count = 0
    protect: tuple[int, ...] = ()
    for record in records:
        if not count:
            names = tuple(record.values)
            if excel:
                lay = layout or (
                    layouts.builtin(record.layout) if record.layout in layouts.BUILTIN else None
                )
                protect = _protected(names, lay)
            writer.writerow([*names, "_layout", "_line", "_warnings"])
        row = record.row()  # csv writes None as "", a date ISO
        for i in protect:
            value = row[i]
            if isinstance(value, str) and (value.isdigit() or value[:1] in _FORMULA):
                row[i] = '="' + value.replace('"', '""') + '"'
        warnings = "; ".join(w.describe() for w in record.warnings) if record.warnings else ""
        row += (record.layout, record.line, warnings)
        writer.writerow(row)
        count += 1
    return count


def write_text(
    records: Iterable[Record], out: IO[bytes], *, layout: Layout | None = None
) -> int:
    """Fixed-length lines, ``\\n``-terminated, in ``layout`` or each record's own layout."""
    count = 0
    own = codec(layout) if layout else None
    for record in records:
        c = own or codec(layout_of(record))
        out.write(c.encode(record))
        out.write(b"\n")
        count += 1
    return count


# -- output files -------------------------------------------------------------------------


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file for ``-o PATH``: complete or not at all, and readable by its owner only
    (outputs hold personal data).

    A new file or a regular one is written as a temporary file in the same folder (mode
    600), flushed to disk and renamed over the path; if anything raises (an interrupt
    included) the temporary file is removed and the path is left as it was. A symbolic link
    is followed (the file it points to is replaced, the link stays). Anything else at the
    path (a FIFO, ``/dev/null``, a terminal) is written through, never replaced.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name, e.g. {target / 'scores.csv'}")
    try:
        resolved = target.resolve(strict=False) if target.is_symlink() else target
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        mode = None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links
        why = getattr(exc, "strerror", None) or "a loop of symbolic links"
        raise ToeflAccessError(f"cannot write {target}: {why}") from None
    if mode is not None and not stat.S_ISREG(mode):
        try:
            with open(resolved, "wb") as fh:
                yield fh
        except OSError as exc:
            raise ToeflAccessError(f"cannot write {target}: {exc.strerror or exc}") from None
        return
    folder = resolved.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {target}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{resolved.name}.", suffix=".part")
    except OSError as exc:
        raise ToeflAccessError(f"cannot write in {folder}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, resolved)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ToeflAccessError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX folders only)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
