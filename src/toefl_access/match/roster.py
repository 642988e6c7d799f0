"""Reading a roster of applicants: a CSV file, checked whole before anything is matched.

Columns (headings in any order; ``--columns applicant_id=ID,...`` maps other headings):

======================= ======== ========================================================
column                  needed   what it holds
======================= ======== ========================================================
``applicant_id``        yes      the applicant's ID in your system, unique in the file
``first_name``          yes [1]_ given name(s)
``last_name``           yes [1]_ family name(s)
``date_of_birth``       yes      ``YYYY-MM-DD``, or ``MM/DD/YYYY`` (``DD/MM/YYYY`` with
                                 ``day_first``), or ``DD.MM.YYYY``
``middle_name``         no
``email``               no
``registration_number`` no       the TOEFL registration number the applicant gave (one
                                 that lost its leading zeros is padded to 16 digits)
``country``             no       a country code (``IND``) or name (``India``)
``id_number``           no       passport or national ID number: hashed at once with the
                                 database's key (as the reports' are) and never kept
======================= ======== ========================================================

.. [1] a heading for both is needed; a line may leave one of them blank (one-name people).

The file may be UTF-8 (with or without a byte order mark) or, when it is not valid UTF-8,
Windows-1252 / Latin-1 (what Excel writes on Windows); a UTF-8 file with a stray byte of
another encoding is an error. Values are separated by commas, or by semicolons or tabs when
the header line holds more of those. Other columns are ignored. A bad line
(a missing value, a date that is not one, a repeated applicant ID) is an
:class:`~toefl_access.errors.InputError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError, printable
from ..handoff.history import parse_registration

REQUIRED = ("applicant_id", "first_name", "last_name", "date_of_birth")
OPTIONAL = ("middle_name", "email", "registration_number", "country", "id_number")
COLUMNS = REQUIRED + OPTIONAL
#: The longest roster file read (a roster of a million applicants is ~150 MB).
MAX_BYTES = 1 << 30

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\Z")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\Z")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\Z")  # always day first (31.12.2001)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(slots=True)
class Roster:
    """The applicants of one roster file, column by column (row ``i`` of every list is one
    applicant; ``lines[i]`` its line in the file). ``id_numbers`` holds keyed hashes (or
    blanks), never the numbers read."""

    source: str
    applicant_ids: list[str] = field(default_factory=list)
    first_names: list[str] = field(default_factory=list)
    last_names: list[str] = field(default_factory=list)
    middle_names: list[str] = field(default_factory=list)
    dates_of_birth: list[dt.date] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    registration_numbers: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    #: registration numbers given with 8 to 15 digits (leading zeros lost in a spreadsheet),
    #: padded to 16
    registration_numbers_padded: int = 0
    #: how many lines gave an ID number (hashed, or ignored without ``hash_id``)
    id_numbers_given: int = 0

    def __len__(self) -> int:
        return len(self.applicant_ids)


def parse_columns(text: str) -> dict[str, str]:
    """``applicant_id=ID,first_name=Given`` -> ``{"applicant_id": "ID", ...}``."""
    mapping: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = item.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not theirs:
            raise UsageError(f"--columns: {item!r} is not COLUMN=HEADING (e.g. applicant_id=ID)")
        if ours not in COLUMNS:
            raise UsageError(f"--columns: {ours!r} is not a roster column; use one of "
                             f"{', '.join(COLUMNS)}")
        mapping[ours] = theirs
    return mapping


def read_roster(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    day_first: bool = False,
    hash_id: Callable[[str], str] | None = None,
) -> Roster:
    """Read and check a whole roster file.

    ``columns`` maps a roster column to the heading that holds it in this file.
    ``day_first`` reads ``01/02/2003`` as 1 February (else 2 January). ``hash_id`` turns an
    ID number into what the database holds (its keyed hash); without it the ``id_number``
    column is ignored.
    """
    path = Path(path)
    source = path.name
    text = decode(path)
    wanted = [*COLUMNS, *(columns or {}).values()]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text, wanted))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty; it needs a header line (applicant_id,first_name,"
                         "last_name,date_of_birth,...)", source=source) from None
    except csv.Error as exc:
        raise InputError(f"not a CSV file ({exc})", source=source, line=1) from None
    where = _positions(header, columns or {}, source)
    roster = Roster(source=source)
    first_line: dict[str, int] = {}
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise InputError(f"{len(row)} values but the header has {len(header)} columns "
                                 "(a comma inside a value needs double quotes)",
                                 source=source, line=line)

            def cell(name: str, row: list[str] = row) -> str:
                i = where.get(name)
                return row[i].strip() if i is not None and i < len(row) else ""

            def bad(name: str, message: str, line: int = line) -> InputError:
                heading = header[where[name]] if name in where else name
                return InputError(f"column {heading!r}: {message}", source=source, line=line)

            applicant = cell("applicant_id")
            if not applicant:
                raise bad("applicant_id", "no applicant ID")
            if _CONTROL.search(applicant):
                raise bad("applicant_id", f"{applicant!r} holds control characters "
                          "(a NUL, a tab or a line break); an applicant ID is one line of text")
            if applicant in first_line:
                raise bad("applicant_id", f"applicant {printable(applicant)!r} is on line "
                          f"{first_line[applicant]} already; each applicant once, please")
            first_line[applicant] = line
            first, last = cell("first_name"), cell("last_name")
            if not first and not last:
                raise bad("last_name", "no name: a first or a last name is needed")
            roster.applicant_ids.append(applicant)
            roster.first_names.append(first)
            roster.last_names.append(last)
            roster.middle_names.append(cell("middle_name"))
            try:
                born = parse_date(cell("date_of_birth"), day_first=day_first)
            except ValueError as exc:
                raise bad("date_of_birth", str(exc)) from None
            roster.dates_of_birth.append(born)
            roster.emails.append(cell("email"))
            reg = cell("registration_number")
            if reg:
                try:
                    reg = parse_registration(reg.replace(" ", "")).upper()
                except ValueError as exc:
                    raise bad("registration_number", str(exc)) from None
                if reg.isdigit() and 8 <= len(reg) < 16:  # leading zeros lost in a spreadsheet
                    reg = reg.zfill(16)
                    roster.registration_numbers_padded += 1
            roster.registration_numbers.append(reg)
            roster.countries.append(cell("country"))
            number = cell("id_number")
            roster.id_numbers_given += bool(number)
            roster.id_numbers.append(hash_id(number) if number and hash_id else "")
            roster.lines.append(line)
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", source=source, line=reader.line_num) from None
    if not roster.applicant_ids:
        raise InputError("no applicants: the file has a header and no lines; nothing was "
                         "matched", source=source)
    return roster


def sniff_delimiter(text: str, wanted: Iterable[str] = COLUMNS) -> str:
    """The separator of a CSV text: of a comma, a semicolon (Excel in many European
    languages) and a tab, the one whose header line holds the most ``wanted`` headings,
    then the most columns; a comma when none is better."""
    first = text.split("\n", 1)[0]
    names = {w.lower() for w in wanted}

    def fit(d: str) -> tuple[int, int]:
        cells = next(csv.reader([first], delimiter=d), [])
        return sum(c.strip().lstrip("\ufeff").lower() in names for c in cells), len(cells)

    return max((",", ";", "\t"), key=fit)


def decode(path: Path) -> str:
    """A CSV file's text: UTF-8 (a byte order mark dropped), else Windows-1252 / Latin-1."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{size} bytes is more than a roster can be ({MAX_BYTES})",
                             source=path.name)
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"there is no file {str(path)!r}") from None
    except IsADirectoryError:
        raise UsageError(f"{str(path)!r} is a folder; name a CSV file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    if b"\x00" in data:
        raise InputError("this is not a text file (it holds NUL bytes); save it as CSV",
                         source=path.name, line=data[:data.index(b"\x00")].count(b"\n") + 1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if any(b >= 0x80 for b in data[:exc.start]):  # UTF-8 before, then a stray byte
            raise InputError(
                "the file is UTF-8 up to here, then holds a byte that is not (a line pasted "
                "from a file in another encoding?); save the whole file as UTF-8",
                source=path.name, line=data[:exc.start].count(b"\n") + 1) from None
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def _positions(header: list[str], columns: Mapping[str, str], source: str) -> dict[str, int]:
    headings = [h.strip().lstrip("\ufeff") for h in header]
    folded: dict[str, int] = {}
    for i, h in enumerate(headings):
        if h and h.lower() in folded:
            raise InputError(f"the heading {h!r} is in columns {folded[h.lower()] + 1} and "
                             f"{i + 1}; rename or remove one", source=source, line=1)
        folded[h.lower()] = i
    where: dict[str, int] = {}
    for name in COLUMNS:
        heading = columns.get(name, name)
        at = folded.get(heading.lower())
        if at is None and name in columns:
            raise InputError(f"--columns names heading {heading!r} for {name}, but the header "
                             f"has {', '.join(map(repr, headings))}", source=source, line=1)
        if at is not None:
            where[name] = at
    missing = [n for n in REQUIRED if n not in where]
    if missing:
        raise InputError(
            f"no column {', '.join(missing)} in the header ({', '.join(map(repr, headings))}); "
            "name the headings that hold them with --columns, e.g. "
            f"--columns {missing[0]}=YourHeading", source=source, line=1)
    return where


def parse_date(text: str, *, day_first: bool = False, what: str = "date of birth") -> dt.date:
    """A date as a roster writes it: ``YYYY-MM-DD``, or ``MM/DD/YYYY`` (``DD/MM/YYYY`` with
    ``day_first``); raises ValueError with a message for the user."""
    if not text:
        raise ValueError(f"no {what}")
    m = _ISO.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = _SLASHED.match(text) or _DOTTED.match(text)
        if not m:
            raise ValueError(f"{printable(text)!r} is not a date; write YYYY-MM-DD "
                             "(or MM/DD/YYYY; DD/MM/YYYY with --day-first)")
        a, b, y = (int(g) for g in m.groups())
        d, mo = (a, b) if day_first or m.re is _DOTTED else (b, a)
    try:
        value = dt.date(y, mo, d)
    except ValueError:
        order = "DD/MM/YYYY" if day_first else "MM/DD/YYYY"
        hint = "" if m.re is not _SLASHED else f" read as {order}" + (
            "" if day_first else "; for DD/MM/YYYY use --day-first")
        raise ValueError(f"{printable(text)!r} is not a date{hint}") from None
    if not dt.date(1900, 1, 1) <= value <= dt.datetime.now(dt.UTC).date():
        raise ValueError(f"{printable(text)!r} is not a plausible {what}")
    return value
