"""Confirming a pledge as a person does: open the emailed link, then press the button on the
page it opens. Opening the link alone confirms nothing (mail scanners open links)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def press_confirm(client: httpx.AsyncClient, link: str, **get: Any) -> httpx.Response:
    """Open `link` (a confirmation URL, or a bare token) and press "Confirm my pledge".
    Returns the answer to the button. A link that opens no button (a problem page, or a
    pledge confirmed already) is returned as it is."""
    token = link
    if "token=" in link:
        [token] = parse_qs(urlsplit(link).query)["token"]
    opened = await client.get("/pledges/confirm", params={"token": token}, **get)
    if "Confirm my pledge</button>" not in opened.text:
        return opened
    assert opened.status_code == 200
    [csrf] = CSRF.findall(opened.text)
    return await client.post("/pledges/confirm", data={"csrf_token": csrf, "token": token})
