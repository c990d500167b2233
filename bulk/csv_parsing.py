"""Reading a bulk swap file: UTF-8 CSV (with or without BOM), header names case-insensitive.

File-level problems (encoding, missing columns, too many rows, not CSV at all) refuse the whole
file with one message; line-level problems (wrong number of fields, a value too long) travel
with the line and become that row's verdict in the dry run.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

COLUMNS = ("device", "new_node_id", "kind", "chipset", "verify_code_mode", "ticket")
# Columns a file may leave out: how long the row's code stays valid, in minutes.
OPTIONAL_COLUMNS = ("validity_minutes",)
MAX_FIELD_LENGTH = 1024
DELIMITERS = (",", ";", "\t")
NOT_UTF8 = "The file is not UTF-8: save it as CSV UTF-8 and upload it again."


class BulkFileRefused(Exception):
    """The whole file is refused; `message` is for the person who uploaded it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CsvLine:
    """One data line of the file, by column name; `problem` is set when the line is unusable."""

    line: int
    device: str = ""
    new_node_id: str = ""
    kind: str = ""
    chipset: str = ""
    verify_code_mode: str = ""
    ticket: str = ""
    validity_minutes: str = ""
    problem: str = ""


def decode_bulk_file(data: bytes) -> str:
    """The text of a UTF-8 file (BOM dropped); BulkFileRefused for anything else."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BulkFileRefused(NOT_UTF8)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BulkFileRefused(NOT_UTF8) from None
    # UTF-16 without a BOM decodes as UTF-8 full of NUL characters; no CSV has any.
    if "\x00" in text:
        raise BulkFileRefused(NOT_UTF8)
    return text


def normalise_header(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def _delimiter(first_line: str) -> str:
    """Comma, or the semicolon or tab some spreadsheet locales write instead."""
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_bulk_file(data: bytes, *, max_rows: int) -> list[CsvLine]:
    """The data lines of a bulk file, or BulkFileRefused with the reason."""
    text = decode_bulk_file(data)
    if not text.strip():
        raise BulkFileRefused(
            "The file is empty. The first line names the columns: " + ", ".join(COLUMNS) + "."
        )
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True
    )
    try:
        header: list[str] = []
        while not any(cell.strip() for cell in header):
            header = next(reader)
        names = [normalise_header(cell) for cell in header]
        duplicates = sorted({n for n in names if n and names.count(n) > 1})
        if duplicates:
            raise BulkFileRefused(
                "The first line names these columns more than once: " + ", ".join(duplicates) + "."
            )
        missing = [column for column in COLUMNS if column not in names]
        if missing:
            raise BulkFileRefused(
                f"The file is missing the column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}. The first line must name the columns: "
                f"{', '.join(COLUMNS)} (in any order; upper or lower case)."
            )
        position = {
            column: names.index(column) for column in COLUMNS + OPTIONAL_COLUMNS if column in names
        }
        lines: list[CsvLine] = []
        count = 0
        start = reader.line_num + 1
        for record in reader:
            line_number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank lines (often at the end) are not rows
            count += 1
            if count > max_rows:
                continue  # only counted, to say how many there are
            lines.append(_line(record, line_number, position, len(header)))
    except csv.Error as exc:
        raise BulkFileRefused(
            f"The file cannot be read as CSV (line {reader.line_num}: {exc}). Save it as "
            "CSV UTF-8 from the spreadsheet."
        ) from None
    if count > max_rows:
        raise BulkFileRefused(
            f"The file has {count:,} rows; a bulk file has at most {max_rows:,} rows. "
            "Split it into smaller files."
        )
    if not lines:
        raise BulkFileRefused("The file has no rows below the header line.")
    return lines


def _line(record: list[str], line_number: int, position: dict[str, int], width: int) -> CsvLine:
    values = {
        column: (record[index].strip() if index < len(record) else "")
        for column, index in position.items()
    }
    problem = ""
    extra = [cell for cell in record[width:] if cell.strip()]
    if extra:
        problem = (
            f"This line has {len(record)} fields but the header has {width}: put values that "
            "contain commas in double quotes."
        )
    elif any(len(value) > MAX_FIELD_LENGTH for value in values.values()):
        problem = f"A value on this line is longer than {MAX_FIELD_LENGTH:,} characters."
    return CsvLine(line=line_number, problem=problem, **values)
