"""Cross-site posts, in real Chromium: a page on another site (and one on another port of
the same host, which is the same site) carries a copy of a campaign's pledge form, with
the form's own token scraped from the real page, and submits it. Chromium labels the post
with `Sec-Fetch-Site` and `Origin`; Groundswell refuses it with a 403 and stores nothing.
The same form, posted from the campaign page itself, is accepted."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, create_campaign, free_port

pytestmark = pytest.mark.browser


def _hostile_page(action: str, token: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head>
<body><h1>Win a prize</h1>
<form method="post" action="{html.escape(action)}">
  <input type="hidden" name="csrf_token" value="{html.escape(token)}">
  <input type="hidden" name="name" value="Someone Else">
  <input type="hidden" name="email" value="victim@example.org">
  <input type="hidden" name="postcode" value="LS6 3HN">
  <button type="submit">Claim</button>
</form></body></html>""".encode()


@pytest.fixture
def other_site() -> Iterator[tuple[int, dict[str, bytes]]]:
    """A plain HTTP server on another port of 127.0.0.1, serving whatever page the test
    puts in the dict."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port, pages
    finally:
        server.shutdown()
        server.server_close()


def _pending_and_confirmed(server: LiveServer, key: str, slug: str) -> int:
    with server.api(key) as api:
        answer = api.get(f"/api/v1/campaigns/{slug}/pledges")
    assert answer.status_code == 200, answer.text
    return len(answer.json()["pledges"])


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site"])
def test_a_pledge_form_posted_from_another_site_is_refused(
    page: Any,
    live_server: LiveServer,
    other_site: tuple[int, dict[str, bytes]],
    host: str,
) -> None:
    from playwright.sync_api import expect

    key = live_server.lead_api_key("lead@example.org")
    campaign = create_campaign(live_server, key, slug="fibre-for-hyde-park", target=10)
    slug = campaign["slug"]
    assert _pending_and_confirmed(live_server, key, slug) == 0

    # The real form's token, as anyone can read it from the public page.
    page.goto(f"/c/{slug}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token

    port, pages = other_site
    pages["/prize"] = _hostile_page(f"{live_server.url}/c/{slug}/pledge", token)
    page.goto(f"http://{host}:{port}/prize")
    expect(page.get_by_role("heading", level=1)).to_have_text("Win a prize")
    with page.expect_response(re.compile(rf"/c/{slug}/pledge$")) as posted:
        page.get_by_role("button", name="Claim").click()
    answer = posted.value
    assert answer.status == 403
    assert answer.request.headers.get("origin") == f"http://{host}:{port}"
    expect(page.locator("body")).to_contain_text("came from another site")
    assert _pending_and_confirmed(live_server, key, slug) == 0

    # From the campaign's own page, the same form goes through.
    page.goto(f"/c/{slug}")
    page.get_by_label("Your name").fill("Asha Patel")
    page.get_by_label("Email address").fill("asha.patel@example.org")
    page.get_by_label("Postcode", exact=True).fill("LS6 3HN")
    page.get_by_role("button", name="Pledge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert _pending_and_confirmed(live_server, key, slug) == 1
