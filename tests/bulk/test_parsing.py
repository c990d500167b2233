"""parse_bulk_file: what a file must look like, and the message for each way it can be wrong."""

import codecs

import pytest

from bulk.csv_parsing import NOT_UTF8, BulkFileRefused, parse_bulk_file
from tests.bulk.helpers import HEADER, csv_bytes, line


def refusal(data: bytes, max_rows: int = 5000) -> str:
    with pytest.raises(BulkFileRefused) as caught:
        parse_bulk_file(data, max_rows=max_rows)
    return caught.value.message


def test_utf8_with_bom_and_header_in_any_case_is_read():
    data = codecs.BOM_UTF8 + csv_bytes(
        line("dev-1", "867530901234563"), header=HEADER.upper().replace("_", " ")
    )
    (row,) = parse_bulk_file(data, max_rows=10)
    assert (row.line, row.device, row.new_node_id, row.kind) == (
        2,
        "dev-1",
        "867530901234563",
        "imei",
    )
    assert (row.chipset, row.verify_code_mode, row.ticket, row.problem) == (
        "hisilicon",
        "platform",
        "T-1",
        "",
    )


def test_semicolon_files_from_spreadsheets_are_read():
    data = csv_bytes("dev-1;AA:BB:CC:DD:EE:FF;mac;;platform;T-9", header=HEADER.replace(",", ";"))
    (row,) = parse_bulk_file(data, max_rows=10)
    assert (row.device, row.new_node_id, row.kind, row.ticket) == (
        "dev-1",
        "AA:BB:CC:DD:EE:FF",
        "mac",
        "T-9",
    )


def test_line_numbers_count_blank_and_multiline_records():
    data = csv_bytes(line("a", "1"), "", '"b",2,serial,,platform,"two\nlines"', line("c", "3"))
    rows = parse_bulk_file(data, max_rows=10)
    assert [(r.device, r.line) for r in rows] == [("a", 2), ("b", 4), ("c", 6)]


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes(line("dev-1", "x", ticket="Müller"), encoding="utf-16"),  # with BOM
        csv_bytes(line("dev-1", "x", ticket="Müller"), encoding="utf-16-le"),  # without BOM
        csv_bytes(line("dev-1", "x", ticket="Müller"), encoding="latin-1"),
    ],
    ids=["utf-16", "utf-16-no-bom", "latin-1"],
)
def test_a_file_that_is_not_utf8_is_refused(data):
    assert refusal(data) == NOT_UTF8
    assert "save it as CSV UTF-8" in NOT_UTF8


def test_missing_columns_are_listed():
    message = refusal(csv_bytes("dev-1,123", header="Device,new_node_id,chipset"))
    assert message.startswith("The file is missing the columns kind, verify_code_mode, ticket.")


def test_a_column_named_twice_is_refused():
    assert "more than once: kind" in refusal(csv_bytes(line("a", "b"), header=HEADER + ",Kind"))


def test_too_many_rows_are_refused_with_the_limit():
    data = csv_bytes(*[line(f"dev-{n}", str(n)) for n in range(100_000)])
    assert len(data) < 5 * 1024 * 1024  # this is about rows, not bytes
    message = refusal(data, max_rows=5000)
    assert message.startswith("The file has 100,000 rows; a bulk file has at most 5,000 rows.")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "The file is empty."),
        (b"\r\n \r\n", "The file is empty."),
        (csv_bytes(), "The file has no rows below the header line."),
        (csv_bytes('a,"unclosed'), "The file cannot be read as CSV"),
    ],
    ids=["empty", "blank", "header-only", "broken-quote"],
)
def test_empty_or_unreadable_files_are_refused(data, expected):
    assert refusal(data).startswith(expected) or expected in refusal(data)


def test_a_line_with_extra_fields_carries_its_problem():
    (row,) = parse_bulk_file(csv_bytes(line("a", "b") + ",surplus"), max_rows=10)
    assert row.problem.startswith("This line has 7 fields but the header has 6")


def test_a_short_line_reads_missing_fields_as_empty():
    (row,) = parse_bulk_file(csv_bytes("dev-1,123,serial"), max_rows=10)
    assert (row.chipset, row.verify_code_mode, row.ticket, row.problem) == ("", "", "", "")
