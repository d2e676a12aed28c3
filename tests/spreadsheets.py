"""Reading the CSV downloads made for people as a spreadsheet does."""

from __future__ import annotations

import httpx

from app.spreadsheet import SPREADSHEET_BOM


def spreadsheet_text(response: httpx.Response) -> str:
    """A CSV download's text after its byte-order mark, which it must have: without it
    Excel garbles accented names."""
    assert response.content.startswith(SPREADSHEET_BOM.encode()), response.content[:40]
    return response.text.removeprefix(SPREADSHEET_BOM)
