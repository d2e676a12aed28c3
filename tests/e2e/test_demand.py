"""The price each household would pay, in real Chromium with JavaScript turned off: a lead
starts a campaign asking "the most you would pay" with a target price; a resident on a
phone-sized page chooses a price and how sure they are, confirms from the email in
/dev/mail, and sees the demand curve on the campaign page move."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import (
    PHONE,
    LiveServer,
    Screenshot,
    mail_in_dev_mailbox,
    sign_in_with_emailed_link,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def no_script_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh phone-sized browser context that runs no JavaScript at all."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    context = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        locale="en-GB",
        timezone_id="Europe/London",
        java_script_enabled=False,
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def curve_counts(page: Any) -> dict[str, str]:
    """The campaign page's demand table: price -> people at or above it."""
    table = page.get_by_role("table", name=re.compile("willing to pay at least each price"))
    found = {}
    for row in table.locator("tbody tr").all():
        price = row.get_by_role("rowheader").inner_text().replace(" (target)", "")
        found[price] = row.get_by_role("cell").first.inner_text()
    return found


def test_a_resident_chooses_a_price_and_sees_the_curve_move(
    no_script_page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    page = no_script_page

    # The lead asks the most each would pay, from £15 to £35 a month, targeting £25.
    page.goto("/lead/sign-in")
    sign_in_with_emailed_link(page, "lead", "asha.lead@example.org")
    page.get_by_role("link", name="Start a campaign").click()
    page.get_by_label("Title", exact=True).fill("Full fibre for Brudenell Road")
    page.get_by_label("Summary", exact=True).fill("Gigabit broadband for every home.")
    page.get_by_label("Category", exact=True).select_option(label="Broadband")
    page.get_by_label("Area name").fill("Brudenell Road")
    page.get_by_label("Postcode districts").fill("LS6")
    page.get_by_label("Target: how many pledges it needs").fill("3")
    page.get_by_label("Prices to choose from").fill("15, 20, 25, 30, 35")
    page.get_by_label("Target price (optional)").fill("25")
    page.get_by_label("Deadline", exact=True).fill((date.today() + timedelta(days=60)).isoformat())
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("status")).to_contain_text("Published")
    slug = page.url.rstrip("/").rsplit("/", 1)[-1]

    # A resident, on a phone without JavaScript (the lead's cookies gone).
    page.context.clear_cookies()
    page.goto(f"/c/{slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Full fibre for Brudenell Road")
    before = curve_counts(page)
    assert before == dict.fromkeys(("£15", "£20", "£25", "£30", "£35"), "0"), before
    page.get_by_label("Your name").fill("Ravi Shah")
    page.get_by_label("Email address").fill("ravi.shah@example.org")
    page.get_by_label("Postcode", exact=True).fill("LS6 1AB")
    price = page.get_by_role("group", name="The most you would pay")
    sure = page.get_by_role("group", name="How sure are you?")
    expect(
        sure.get_by_label("I will sign up when it is offered at or below my price")
    ).to_be_checked()
    price.get_by_label("£30 a month").check()
    sure.get_by_label("Interested: tell me when it is offered").check()
    screenshot(page, "campaign-price-question")
    page.get_by_role("button", name="Pledge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    row = mail_in_dev_mailbox(page, "ravi.shah@example.org", "Confirm your pledge")
    row.get_by_role("link", name="Confirm your pledge").click()
    page.get_by_role("link", name="Confirm my pledge").click()
    # The link opens a page with a button: only a person presses it.
    page.get_by_role("button", name="Confirm my pledge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your pledge is confirmed")

    # The curve moved: one more at every price up to £30, none at £35.
    page.goto(f"/c/{slug}")
    after = curve_counts(page)
    assert after == {"£15": "1", "£20": "1", "£25": "1", "£30": "1", "£35": "0"}, after
    expect(page.get_by_role("group", name="Progress")).to_contain_text(
        "1 of 3 people at £25 a month or more (33%)"
    )
    chart = page.get_by_role("img", name="What people would pay")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["width"] <= PHONE["width"]
    expect(page.get_by_text("assumes 30 % of interested")).to_be_visible()
    screenshot(page, "demand-curve")
