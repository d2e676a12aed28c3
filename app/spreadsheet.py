"""CSV cells that are safe to open in a spreadsheet: the leads' pledge export, the
providers' contacts download and the demand export of the API share them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pledges.store import aware

# The byte-order mark that opens every CSV download made for people: without it Excel reads
# the UTF-8 as its own code page and "Siân" arrives as "SiÃ¢n". The API's CSV has none (it
# is for programs, and a mark would land in their first column's name).
SPREADSHEET_BOM = "\ufeff"

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell's text; text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return aware(value).isoformat()  # type: ignore[union-attr]
    if not isinstance(value, str):
        return str(value)  # a number stays a number
    return "'" + value if value.startswith(FORMULA_STARTS) else value
