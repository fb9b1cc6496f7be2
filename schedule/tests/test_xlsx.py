"""The streaming .xlsx reader (``schedule.xlsx``): what it reads of a file, as openpyxl would, and
that nothing it skips is kept. Files are built byte by byte (``xlsx_files``)."""

import datetime
import io
import zipfile
from collections.abc import Callable

import pytest

from schedule.tests import xlsx_files
from schedule.tests.xlsx_files import number, row, shared, text
from schedule.xlsx import NO_VALUE, TEXT_READ_MAX, ErrorValue, MergedRange, Workbook, XlsxError


def book_of(data: bytes) -> Workbook:
    return Workbook(zipfile.ZipFile(io.BytesIO(data)))


def values(data: bytes) -> dict[str, object]:
    """Each cell that holds something → its value, by reference."""
    book = book_of(data)
    cells = [item for item in book.items() if not isinstance(item, MergedRange)]
    strings = book.shared_strings(
        cell.shared_string for cell in cells if cell.shared_string is not None
    )
    return {f"{chr(64 + cell.column)}{cell.row}": book.value(cell, strings) for cell in cells}


def test_cells_are_read_with_their_types():
    data = xlsx_files.workbook(
        row(
            1,
            shared("A1", 1),
            text("B1", "inline"),
            number("C1", 12),
            number("D1", "1.5"),
            '<c r="E1" t="b"><v>1</v></c>',
            '<c r="F1" t="e"><v>#DIV/0!</v></c>',
            '<c r="G1" t="str"><f>A1</f><v>second</v></c>',
            '<c r="H1"><f>1/0</f></c>',
            '<c r="I1" s="3"/>',
        ),
        strings=["first", "second"],
    )

    assert values(data) == {
        "A1": "second",
        "B1": "inline",
        "C1": 12,
        "D1": 1.5,
        "E1": True,
        "F1": ErrorValue("#DIV/0!"),
        "G1": "second",
        "H1": NO_VALUE,
    }


def test_rows_and_cells_without_references_follow_the_ones_before():
    data = xlsx_files.workbook(
        '<row r="3"><c><v>1</v></c><c r="D3"><v>2</v></c><c><v>3</v></c></row>'
        "<row><c><v>4</v></c></row>"
    )

    assert values(data) == {"A3": 1, "D3": 2, "E3": 3, "A4": 4}


def test_rich_text_runs_make_one_text_and_phonetic_runs_are_left_out():
    inline = '<c r="B1" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c>'
    data = xlsx_files.workbook(row(1, shared("A1", 0), inline), strings=[])
    strings = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><r><t>Ко</t>'
        "</r><r><rPr><b/></rPr><t>д</t></r><rPh><t>コード</t></rPh></si></sst>"
    )
    data = _with_member(data, "xl/sharedStrings.xml", strings)

    assert values(data) == {"A1": "Код", "B1": "inline"}


def test_escaped_characters_are_decoded_and_long_texts_kept_short():
    long = " " * 10 + "y" * 5000 + " " * 10
    data = xlsx_files.workbook(row(1, text("A1", "a_x0009_b _x005F_x0041_"), text("B1", long)))

    read = values(data)

    assert read["A1"] == "a\tb _x0041_"
    assert read["B1"] == "y" * (TEXT_READ_MAX + 1)


def test_number_cells_in_a_date_format_are_dates_in_the_workbooks_date_system():
    styles = (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts><numFmt numFmtId="164" formatCode="dd.mm.yyyy"/></numFmts>'
        '<cellXfs><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs>'
        "</styleSheet>"
    )
    data = xlsx_files.workbook(
        row(
            1,
            number("A1", 46083),
            '<c r="B1" s="1"><v>46083</v></c>',
            '<c r="C1" s="2"><v>1</v></c>',
        )
    )
    data = _with_member(data, "xl/styles.xml", styles)
    data = _related(data, f'<Relationship Id="rId3" Type="{TYPES}/styles" Target="styles.xml"/>')
    assert values(data) == {
        "A1": 46083,
        "B1": datetime.datetime(2026, 3, 2),
        "C1": datetime.datetime(1900, 1, 1),
    }

    mac = _edited(
        data,
        "xl/workbook.xml",
        lambda xml: xml.replace("<sheets>", '<workbookPr date1904="1"/><sheets>'),
    )
    assert values(mac)["B1"] == datetime.datetime(2030, 3, 3)


def test_merged_ranges_are_items_and_nothing_else_after_the_rows_is_read():
    data = xlsx_files.workbook(
        row(1, number("A1", 1)),
        after_data=(
            '<mergeCells><mergeCell ref="A1:B2"/><mergeCell ref="C:C"/><mergeCell ref="?"/>'
            '</mergeCells><hyperlinks><hyperlink ref="A1:XFD1048576" location="Sheet!A1"/>'
            '</hyperlinks><conditionalFormatting sqref="A1:XFD1048576"/>'
        ),
    )

    assert [item for item in book_of(data).items() if isinstance(item, MergedRange)] == [
        MergedRange(ref="A1:B2", min_row=1, min_column=1, max_row=2),
        MergedRange(ref="C:C", min_row=1, min_column=3, max_row=1_048_576),
    ]


def test_the_first_worksheet_is_read_and_a_chart_sheet_is_not_one():
    data = xlsx_files.workbook(row(1, number("A1", 1)))
    data = _edited(
        data,
        "xl/workbook.xml",
        lambda xml: xml.replace(
            "<sheets>", '<sheets><sheet name="Chart" sheetId="2" r:id="rId9"/>'
        ),
    )
    data = _related(
        data,
        f'<Relationship Id="rId9" Type="{TYPES}/chartsheet" Target="chartsheets/sheet1.xml"/>',
    )
    data = _with_member(data, "xl/chartsheets/sheet1.xml", "<chartsheet/>")

    book = book_of(data)

    assert (book.sheet_title, book.sheet_part) == ("Sheet", "xl/worksheets/sheet1.xml")


def test_only_the_shared_strings_asked_for_are_kept():
    data = xlsx_files.workbook(row(1, shared("A1", 2)), strings=["a", "b", "c", "d"])

    assert book_of(data).shared_strings([2, 0]) == {0: "a", 2: "c"}
    with pytest.raises(XlsxError):
        book_of(data).shared_strings([7])


@pytest.mark.parametrize(
    "sheet_data",
    [
        pytest.param("<row><c><v>1</v></c>", id="malformed XML"),
        pytest.param('<row r="1"><c r="A1x"><v>1</v></c></row>', id="a bad reference"),
        pytest.param(f'<row r="{"9" * 5000}"><c><v>1</v></c></row>', id="a huge row number"),
        pytest.param('<row r="1"><c r="A1" t="s"><v>x</v></c></row>', id="a bad string index"),
    ],
)
def test_a_damaged_sheet_is_an_error(sheet_data):
    with pytest.raises(XlsxError):
        list(book_of(xlsx_files.workbook(sheet_data)).items())


def test_a_custom_property_is_read_by_name():
    properties = (
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" '
        'name="Other"><vt:lpwstr>no</vt:lpwstr></property><property pid="3" name="Exported at">'
        "<vt:lpwstr>2026-03-01T10:00:00+03:00</vt:lpwstr></property></Properties>"
    )
    data = _with_member(xlsx_files.workbook(""), "docProps/custom.xml", properties)

    assert book_of(data).custom_property("Exported at") == "2026-03-01T10:00:00+03:00"
    assert book_of(data).custom_property("Missing") is None


def _with_member(data: bytes, name: str, content: str) -> bytes:
    return _edited(data, name, lambda _old: content)


def _edited(data: bytes, name: str, edit: Callable[[str], str]) -> bytes:
    """The file with its member ``name`` (added if missing) rewritten by ``edit``."""
    file = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        old = source.read(name).decode() if name in source.NameToInfo else ""
        for member in source.infolist():
            if member.filename != name:
                target.writestr(member, source.read(member))
        target.writestr(name, edit(old))
    return file.getvalue()


def _related(data: bytes, relationship: str) -> bytes:
    """The file with one more of the workbook's relationships."""
    return _edited(
        data,
        "xl/_rels/workbook.xml.rels",
        lambda rels: rels.replace("</Relationships>", f"{relationship}</Relationships>"),
    )


TYPES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
