"""CSV cells that are safe to open in a spreadsheet: the leads' pledge export, the
providers' contacts download and the demand export of the API share them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pledges.store import aware

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
