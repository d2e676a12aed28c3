"""The CSS a page uses: the site's Content-Security-Policy allows no inline style, so print
rules (A4 pages, margins) live in stylesheets the page links to."""

from __future__ import annotations

import re

import httpx

LINK = re.compile(r'<link rel="stylesheet" href="(/static/[^"]+)">')


async def linked_styles(client: httpx.AsyncClient, page: httpx.Response) -> str:
    """The text of every stylesheet the page links to, each fetched as a browser would."""
    sheets = []
    for href in LINK.findall(page.text):
        sheet = await client.get(href)
        assert sheet.status_code == 200, href
        sheets.append(sheet.text)
    return "\n".join(sheets)
