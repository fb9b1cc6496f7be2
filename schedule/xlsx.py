"""Reading an untrusted .xlsx streaming, in memory bounded by what is kept, not by the file.

openpyxl's full mode makes a cell object for every cell of a merged or hyperlinked range (a
1.6 KB file can declare ``A1:XFD1048576``), and even its read-only mode loads the whole shared
string table and style sheet into objects (a 5 MB file of a million short strings: 9 s). This
module reads only what the import needs, each part of the zip in one pass of expat's
callbacks, fed in chunks (no element objects, no tree):

- the workbook: the first worksheet (its part and title) and the date system;
- the styles: which cell formats are dates (one integer kept per such format);
- the first worksheet's cells that hold something (a value or a formula), as ``RawCell``;
  merged ranges as ``MergedRange``; everything else (hyperlinks, formats, validations) is
  skipped unread;
- the shared strings the caller asks for, by index, reading the table only up to the
  highest one;
- the custom document properties, for one named string.

Names are matched without their prefix (transitional and strict files alike); a document
type declaration (which no workbook has: it is how entity bombs are declared) is damage. Of
an element's text the first ``TEXT_KEPT`` characters are kept, and a cell's text is read up
to ``TEXT_READ_MAX`` characters once its surrounding spaces are stripped: every field the
import reads is shorter, so a longer text is refused as it would be whole, and a megabyte
string used by a thousand cells costs one copy of 1 KB. Anything malformed raises
``XlsxError``.
"""

import posixpath
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NamedTuple
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel, from_ISO8601

TEXT_READ_MAX = 1024
"""Characters kept of a cell's text (once stripped); see the module's docstring."""

TEXT_KEPT = 64 * 1024
"""Characters kept of any element's text."""

CHUNK = 64 * 1024
"""Bytes fed to the parser at a time."""

MAX_CELL_FORMATS = 65_536
"""Excel keeps at most 64,000 cell formats; formats past this many are read as not dates."""

NUMBER_FORMAT_MAX_LENGTH = 255
"""Excel's own limit for a number format's code; a longer one is read as not a date."""

MAX_RELATIONSHIPS = 10_000

SHEET_MAX_ROWS = 1_048_576
"""A whole column's last row (a range such as ``A:A``)."""

WORKBOOK = "xl/workbook.xml"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_DAMAGE = (
    expat.ExpatError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    OSError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
)
"""What reading a damaged part raises: malformed XML, a bad number or reference, a member
that does not inflate or whose checksum fails, a compression ``zipfile`` does not know."""


class XlsxError(Exception):
    """The file is not a workbook this reader can read (damaged, or not an .xlsx inside)."""


class RawCell(NamedTuple):
    """A worksheet cell that holds something, as the file says it: its value is ``value()``.
    (A named tuple: a sheet has hundreds of thousands.)"""

    row: int
    column: int
    kind: str
    """The cell's ``t``: ``n`` (a number, the default), ``s`` (a shared string: ``text`` is
    its index), ``str`` (a formula's text), ``inlineStr``, ``b``, ``e`` (an error), ``d``."""
    text: str | None
    """The stored value as written (for an inline string, its text); None for a formula
    without a computed value."""
    style: int
    formula: bool

    @property
    def shared_string(self) -> int | None:
        return int(self.text) if self.kind == "s" and self.text is not None else None


@dataclass(frozen=True, slots=True)
class MergedRange:
    ref: str
    """As written, e.g. ``B2:B3`` (its first 20 characters)."""
    min_row: int
    min_column: int
    max_row: int


@dataclass(frozen=True, slots=True)
class ErrorValue:
    """A cell holding an error value (``#DIV/0!``), or a date serial no calendar has."""

    text: str


NO_VALUE = object()
"""The value of a formula the file carries without a computed value."""


class _Part:
    """The callbacks reading one part. ``start`` gets an element's attributes and the local
    names of its ancestors, and says whether it wants the element's text, which ``end`` then
    gets (else None). Items for the caller go to ``out``; ``done`` stops the reading."""

    def __init__(self) -> None:
        self.out: list[Any] = []
        self.done = False

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        return False

    def end(self, name: str, text: str | None, path: list[str]) -> None:
        return None

    def handlers(
        self,
    ) -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]] | None:
        """Expat's callbacks of the part's own, instead of ``start`` and ``end``."""
        return None


def _parse(source: IO[bytes], part: _Part) -> Iterator[Any]:
    """Feed the member to expat chunk by chunk; yield ``part.out``'s items after each."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    path: list[str] = []
    text: list[str] = []
    # The depth of the element whose text is collected (0: none) and how much was kept.
    collecting = 0
    kept = 0

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal collecting, kept
        name = tag[tag.index(":") + 1 :] if ":" in tag else tag
        if part.start(name, attributes, path) and not collecting:
            collecting, kept = len(path) + 1, 0
            text.clear()
        path.append(name)

    def end(tag: str) -> None:
        nonlocal collecting
        name = path.pop()
        if collecting == len(path) + 1:
            collecting = 0
            part.end(name, "".join(text), path)
        else:
            part.end(name, None, path)

    def data(chunk: str) -> None:
        nonlocal kept
        if collecting and kept < TEXT_KEPT:
            text.append(chunk[: TEXT_KEPT - kept])
            kept += len(chunk)

    def doctype(*_args: object) -> None:
        raise ValueError("a document type declaration")

    own = part.handlers()
    if own is not None:
        start, end, data = own
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = doctype
    while not part.done and (chunk := source.read(CHUNK)):
        parser.Parse(chunk, False)
        if part.out:
            yield from part.out
            part.out.clear()
    if not part.done:
        parser.Parse(b"", True)
        yield from part.out


def _read_part(archive: zipfile.ZipFile, member: str, part: _Part) -> list[Any]:
    with archive.open(member) as source:
        return list(_parse(source, part))


@contextmanager
def _reading() -> Iterator[None]:
    """Any failure to read a part is ``XlsxError``."""
    try:
        yield
    except _DAMAGE as error:
        raise XlsxError(f"{type(error).__name__}: {error}"[:200]) from error


def _attribute(attributes: Mapping[str, str], name: str) -> str | None:
    """An attribute by its local name, whatever its prefix (``r:id``)."""
    value = attributes.get(name)
    if value is not None:
        return value
    suffix = f":{name}"
    return next((value for key, value in attributes.items() if key.endswith(suffix)), None)


class _Relationships(_Part):
    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.found: dict[str, tuple[str, str]] = {}

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        if name == "Relationship" and len(self.found) < MAX_RELATIONSHIPS:
            target = attributes.get("Target", "")
            if target.startswith("/"):
                member = target[1:]
            else:
                member = posixpath.normpath(posixpath.join(self.folder, target))
            self.found[attributes.get("Id", "")] = (attributes.get("Type", ""), member)
        return False


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """The part's relationships: id → (type, the target's member name)."""
    folder, name = posixpath.split(part)
    member = posixpath.join(folder, "_rels", f"{name}.rels")
    if member not in archive.NameToInfo:
        return {}
    relationships = _Relationships(folder)
    _read_part(archive, member, relationships)
    return relationships.found


def _of_type(relationships: dict[str, tuple[str, str]], kind: str) -> str | None:
    return next(
        (member for rel_type, member in relationships.values() if _ends(rel_type, kind)), None
    )


def _ends(rel_type: str, kind: str) -> bool:
    return rel_type.rpartition("/")[2] == kind


class _FirstSheet(_Part):
    """The first worksheet's title and member name (a chart sheet is not one), and the
    workbook's date system."""

    def __init__(self, relationships: dict[str, tuple[str, str]], members: set[str]) -> None:
        super().__init__()
        self.relationships = relationships
        self.members = members
        self.epoch = WINDOWS_EPOCH
        self.sheet: tuple[str, str] | None = None

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        if name == "workbookPr":
            if attributes.get("date1904", "").lower() in {"1", "true"}:
                self.epoch = MAC_EPOCH
        elif name == "sheet" and path[-1:] == ["sheets"]:
            relationship = _attribute(attributes, "id") or ""
            rel_type, member = self.relationships.get(relationship, ("", ""))
            if _ends(rel_type, "worksheet") and member in self.members:
                self.sheet = (attributes.get("name", ""), member)
                self.done = True
        return False


class _DateStyles(_Part):
    """The cell formats (``s`` of a cell) whose number format is a date, and of those the
    durations, as openpyxl tells them."""

    def __init__(self) -> None:
        super().__init__()
        self.custom: dict[int, tuple[bool, bool]] = {}
        self.dates: set[int] = set()
        self.durations: set[int] = set()
        self.index = 0

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        if name == "numFmt" and path[-1:] == ["numFmts"]:
            if len(self.custom) < MAX_CELL_FORMATS:
                code = attributes.get("formatCode", "")
                self.custom[_int(attributes.get("numFmtId"))] = _date_kind(code)
        elif name == "xf" and path[-1:] == ["cellXfs"] and self.index < MAX_CELL_FORMATS:
            number_format = _int(attributes.get("numFmtId", "0"))
            kind = self.custom.get(number_format)
            if kind is None:
                kind = _date_kind(BUILTIN_FORMATS.get(number_format))
            if kind[0]:
                self.dates.add(self.index)
            if kind[1]:
                self.durations.add(self.index)
            self.index += 1
        return False


class _Sheet(_Part):
    """Cells that hold a value or a formula, and merged ranges, into ``out``.

    The sheet is the one part read whole and it has an element or three per cell, so it
    has callbacks of its own (``handlers``), a state machine over depths rather than the
    generic path: about half the cost of the generic ones."""

    def handlers(self) -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]]:
        out = self.out
        depth = 0
        data_depth = row_depth = cell_depth = inline_depth = phonetic_depth = 0
        row = column = 0
        # The open cell: its attributes, and what its children said so far.
        kind, style, value, formula = "n", 0, None, False
        inline: list[str] = []
        # The element whose text is collected (its depth; 0: none), and the text so far.
        collecting, kept = 0, 0
        text: list[str] = []

        def start(tag: str, attributes: dict[str, str]) -> None:
            nonlocal depth, data_depth, row_depth, cell_depth, inline_depth, phonetic_depth
            nonlocal row, column, kind, style, value, formula, inline, collecting, kept
            depth += 1
            name = tag[tag.index(":") + 1 :] if ":" in tag else tag
            if cell_depth:
                if depth == cell_depth + 1:
                    if name == "v":
                        collecting, kept = depth, 0
                        text.clear()
                    elif name == "f":
                        formula = True
                    elif name == "is":
                        inline_depth = depth
                elif inline_depth and not phonetic_depth:
                    if name == "rPh":
                        phonetic_depth = depth
                    elif name == "t" and depth <= inline_depth + 2:
                        collecting, kept = depth, 0
                        text.clear()
            elif name == "c" and row_depth and depth == row_depth + 1:
                cell_depth = depth
                reference = attributes.get("r")
                if reference:
                    row, column = _coordinate(reference)
                else:
                    column += 1
                kind = attributes.get("t", "n")
                number = attributes.get("s")
                style = _int(number) if number else 0
                value, formula, inline = None, False, []
            elif name == "row" and data_depth and depth == data_depth + 1:
                row_depth = depth
                number = attributes.get("r")
                row = _int(number) if number is not None else row + 1
                column = 0
            elif name == "sheetData":
                data_depth = depth
            elif name == "mergeCell":
                self._merged(attributes.get("ref", ""))

        def end(tag: str) -> None:
            nonlocal depth, data_depth, row_depth, cell_depth, inline_depth, phonetic_depth
            nonlocal value, collecting
            if depth == collecting:
                collecting = 0
                if depth == cell_depth + 1:
                    value = "".join(text) or None
                else:
                    inline.append("".join(text))
            elif depth == cell_depth:
                cell_depth = 0
                if kind == "inlineStr":
                    value = "".join(inline) if inline else None
                elif kind == "s" and value is not None:
                    _int(value)  # a shared string's index
                if value is not None or formula:
                    out.append(RawCell(row, column, kind, value, style, formula))
            elif depth == phonetic_depth:
                phonetic_depth = 0
            elif depth == inline_depth:
                inline_depth = 0
            elif depth == row_depth:
                row_depth = 0
            elif depth == data_depth:
                data_depth = 0
            depth -= 1

        def data(chunk: str) -> None:
            nonlocal kept
            if collecting and kept < TEXT_KEPT:
                text.append(chunk[: TEXT_KEPT - kept])
                kept += len(chunk)

        return start, end, data

    def _merged(self, ref: str) -> None:
        try:
            min_column, min_row, _max_column, max_row = range_boundaries(ref[:40])
        except (ValueError, TypeError):
            return  # not a range: nothing is merged
        self.out.append(
            MergedRange(
                ref=ref[:20],
                min_row=min_row or 1,
                min_column=min_column or 1,
                max_row=max_row if max_row is not None else SHEET_MAX_ROWS,
            )
        )


class _SharedStrings(_Part):
    def __init__(self, wanted: set[int]) -> None:
        super().__init__()
        self.wanted = wanted
        self.last = max(wanted)
        self.found: dict[int, str] = {}
        self.index = 0
        self.parts: list[str] = []

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        return name == "t" and self.index in self.wanted and _in_string(path, "si")

    def end(self, name: str, text: str | None, path: list[str]) -> None:
        if text is not None:
            self.parts.append(text)
        elif name == "si":
            if self.index in self.wanted:
                self.found[self.index] = read_text("".join(self.parts))
            self.parts = []
            self.index += 1
            self.done = self.index > self.last


class _CustomProperty(_Part):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False
        self.value: str | None = None

    def start(self, name: str, attributes: dict[str, str], path: list[str]) -> bool:
        if name == "property":
            self.found = attributes.get("name") == self.name
        return self.found and path[-1:] == ["property"]

    def end(self, name: str, text: str | None, path: list[str]) -> None:
        if text is not None:
            if name in {"lpwstr", "lpstr", "bstr"}:
                self.value = text
            self.done = True


class Workbook:
    """An .xlsx opened for reading its first worksheet; ``archive`` stays the caller's."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        with _reading():
            relationships = _relationships(archive, WORKBOOK)
            first = _FirstSheet(relationships, set(archive.NameToInfo))
            _read_part(archive, WORKBOOK, first)
            self.sheet_title, self.sheet_part = first.sheet or ("", None)
            self.epoch = first.epoch
            self._strings_part = _of_type(relationships, "sharedStrings")
            styles = _of_type(relationships, "styles")
            dates = _DateStyles()
            if styles is not None and styles in archive.NameToInfo:
                _read_part(archive, styles, dates)
            self.date_styles = frozenset(dates.dates)
            self.timedelta_styles = frozenset(dates.durations)

    def items(self) -> Iterator[RawCell | MergedRange]:
        """The first worksheet's cells that hold a value or a formula, in the file's order
        (row by row), then its merged ranges."""
        if self.sheet_part is None:
            return
        with _reading(), self.archive.open(self.sheet_part) as source:
            yield from _parse(source, _Sheet())

    def shared_strings(self, indices: Iterable[int | None]) -> dict[int, str]:
        """The shared strings of ``indices`` (``read_text``; None is left out); the table is
        read up to the highest. An index the table does not have is a damaged file."""
        wanted = {index for index in indices if index is not None}
        if not wanted:
            return {}
        part = self._strings_part
        if part is None or part not in self.archive.NameToInfo:
            raise XlsxError("no shared strings")
        strings = _SharedStrings(wanted)
        with _reading():
            _read_part(self.archive, part, strings)
        if len(strings.found) != len(wanted):
            raise XlsxError("a shared string the table does not have")
        return strings.found

    def custom_property(self, name: str) -> str | None:
        """A custom document property's text, if the file has it as a string."""
        with _reading():
            part = _of_type(_relationships(self.archive, "_rels/.rels"), "custom-properties")
            part = part or "docProps/custom.xml"
            if part not in self.archive.NameToInfo:
                return None
            found = _CustomProperty(name)
            _read_part(self.archive, part, found)
        return found.value

    def value(self, cell: RawCell, strings: Mapping[int, str]) -> object:
        """The cell's value as openpyxl's ``data_only`` mode reads it: a number (int or
        float), a date or datetime (a number in a date format), a text (``read_text``), a
        bool, ``ErrorValue``, or ``NO_VALUE`` for a formula without a computed value. A stored
        value that is not what its type says (a number of 5,000 digits, which Python does
        not convert, or junk) is its text, refused by whatever reads it."""
        text = cell.text
        if text is None:
            return NO_VALUE if cell.formula else None
        kind = cell.kind
        if kind == "s":
            return strings[int(text)]
        if kind in {"str", "inlineStr"}:
            return read_text(text)
        if kind == "e":
            return ErrorValue(read_text(text))
        try:
            if kind == "b":
                return bool(int(text))
            if kind == "d":
                return from_ISO8601(text)
            number: int | float = (
                float(text) if "." in text or "e" in text or "E" in text else int(text)
            )
        except ValueError:
            return read_text(text)
        if cell.style in self.date_styles:
            try:
                return from_excel(number, self.epoch, timedelta=cell.style in self.timedelta_styles)
            except (OverflowError, ValueError):
                return ErrorValue("#VALUE!")
        return number


def _in_string(path: list[str], container: str) -> bool:
    """Whether a ``t`` element is a text of ``container`` (``si`` or ``is``): its own, or a
    rich text run's; not a phonetic run's (``rPh``)."""
    return path[-1:] == [container] or (path[-1:] == ["r"] and path[-2:-1] == [container])


def read_text(text: str) -> str:
    """A stored text as read: ``_xHHHH_`` escapes decoded (how a file stores control
    characters), at most ``TEXT_READ_MAX`` characters once stripped when longer."""
    if "_x" in text:
        text = _ESCAPE.sub(lambda match: chr(int(match[1], 16)), text)
    if len(text) > TEXT_READ_MAX:
        text = text.strip()[: TEXT_READ_MAX + 1]
    return text


_REFERENCE = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
_COLUMNS: dict[str, int] = {}
"""Column letters seen → their number (at most the 16,384 a sheet has)."""


def _coordinate(reference: str) -> tuple[int, int]:
    """``C14`` → (14, 3); anything else is damage."""
    letters = reference.rstrip("0123456789")
    digits = reference[len(letters) :]
    column = _COLUMNS.get(letters)
    if column is not None and 0 < len(digits) <= 7:
        return int(digits), column
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        raise ValueError(f"not a cell reference: {reference[:20]!r}")
    column = column_index_from_string(match[1].upper())
    if not match[0].startswith("$") and match[1] == letters:
        _COLUMNS[letters] = column
    return int(match[2]), column


def _date_kind(code: str | None) -> tuple[bool, bool]:
    if code is None or len(code) > NUMBER_FORMAT_MAX_LENGTH:
        return False, False
    return bool(is_date_format(code)), bool(is_timedelta_format(code))


def _int(text: str | None) -> int:
    """A whole number attribute; anything else (or one of thousands of digits) is damage."""
    if text is None or len(text) > 12:
        raise ValueError(f"not a number: {str(text)[:20]!r}")
    return int(text)
