"""CSV cells a spreadsheet will not run as a formula: every CSV file we write goes through it
(the swap-history export, the bulk result file)."""

from collections.abc import Iterable

# Cells starting with these are formulas (or become one) to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """The text with a leading ' when a spreadsheet would read it as a formula."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe_row(values: Iterable[str]) -> list[str]:
    """Every cell of a row of text, made safe."""
    return [csv_safe(value) for value in values]
