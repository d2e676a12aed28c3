"""Review before publishing, in real Chromium against `groundswell serve` with
MODERATION=pre: a lead publishes, the campaign stays off the site; an administrator
approves it from the queue; it is public, and the lead has the email saying so."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import (
    DESKTOP,
    LiveServer,
    Screenshot,
    open_mail,
    sign_in_with_emailed_link,
)
from tests.factories import campaign_data

pytestmark = pytest.mark.browser

LEAD = "rosa.lead@example.org"
ADMIN = "admin@example.org"
TITLE = "Recycling collections for Woodhouse"


@pytest.mark.serve_env(MODERATION="pre", ADMIN_EMAILS=ADMIN)
def test_a_campaign_is_public_only_once_an_administrator_approves_it(
    page: Any, browser: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    # A draft, made through the API with the lead's key.
    key = live_server.lead_api_key(LEAD)
    with live_server.api(key) as api:
        draft = api.post(
            "/api/v1/campaigns",
            json=campaign_data(title=TITLE, slug="recycling-for-woodhouse", draft=True),
        )
    assert draft.status_code == 201, draft.text
    slug = draft.json()["slug"]

    # The lead publishes it from the dashboard: it goes for review, not live.
    page.goto("/lead/sign-in")
    sign_in_with_emailed_link(page, "lead", LEAD)
    page.goto(f"/lead/campaigns/{slug}")
    page.get_by_role("button", name="Publish this campaign now").click()
    expect(page.get_by_role("status")).to_contain_text("Sent for review")
    expect(page.locator("#review")).to_contain_text("Waiting for review")
    screenshot(page, "moderation-lead-waiting")
    with live_server.api() as public:
        assert public.get(f"/c/{slug}").status_code == 404
        assert public.get(f"/api/v1/campaigns/{slug}").status_code == 404
        listed = public.get("/api/v1/campaigns").json()["campaigns"]
        assert slug not in [c["slug"] for c in listed]

    # The administrator, in a browser of their own, approves it from the queue.
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        admin = context.new_page()
        admin.goto("/lead/sign-in")
        sign_in_with_emailed_link(admin, "lead", ADMIN)
        admin.goto("/admin")
        admin.get_by_role("link", name="Review campaigns").click()
        expect(admin.get_by_role("heading", level=1)).to_have_text("Campaigns to review")
        item = admin.locator(f"#review-{slug}")
        expect(item.get_by_role("heading", level=3)).to_have_text(TITLE)
        screenshot(admin, "moderation-queue")
        item.get_by_role("button", name=re.compile(r"^Approve\b")).click()
        expect(admin.get_by_role("status")).to_contain_text("is approved")
        expect(admin.get_by_text("Nothing is waiting for review.")).to_be_visible()
        decision = admin.locator("#decisions + table tbody tr").first
        expect(decision).to_contain_text(TITLE)
        expect(decision).to_contain_text("Approved")
        expect(decision).to_contain_text(ADMIN)
    finally:
        context.close()

    # Now the public sees it, and the lead has the email saying so.
    page.goto(f"/c/{slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    page.goto("/")
    expect(page.get_by_role("link", name=TITLE).first).to_be_visible()
    open_mail(page, LEAD, f"Approved: {TITLE}")
    expect(page.locator(".mail-body")).to_contain_text("open for pledges")
