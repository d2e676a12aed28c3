"""A resident, in real Chromium at phone size: finds a campaign by postcode, makes a mistake
in the pledge form and fixes it, confirms from the email in /dev/mail, and sees the count
go up by one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import (
    PHONE,
    LiveServer,
    Screenshot,
    add_paper_pledges,
    create_campaign,
    mail_in_dev_mailbox,
    sign_in_with_emailed_link,
)

pytestmark = pytest.mark.browser


def test_resident_pledges_confirms_and_is_counted(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    key = live_server.lead_api_key("lead@example.org")
    campaign = create_campaign(
        live_server,
        key,
        slug="full-fibre-for-headingley",
        title="Full fibre for Headingley",
        summary="Gigabit broadband for every home between the Otley Road and the park.",
        description=(
            "Our streets are still on copper.\n\n"
            "A provider will build if enough of us sign up. Pledge to show the demand."
        ),
        area={"name": "Headingley", "postcode_districts": ["LS6"]},
        target=25,
    )
    create_campaign(
        live_server,
        key,
        slug="bus-shelter-for-ancoats",
        title="A bus shelter for Ancoats",
        summary="Somewhere dry to wait for the 216.",
        area={"name": "Ancoats", "postcode_districts": ["M4"]},
        category="transport",
    )
    before = add_paper_pledges(live_server, key, campaign["slug"], 1)
    page.set_viewport_size(PHONE)

    # Search by postcode: only the campaign covering it is listed.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pledge for what your street needs")
    screenshot(page, "home")
    page.get_by_label(re.compile("^Your postcode")).fill("ls6 3hn")
    page.get_by_role("button", name="Find campaigns").click()
    in_area = page.get_by_role("region", name="In your area")
    expect(in_area).to_contain_text("Campaigns covering LS6")
    expect(in_area.get_by_role("link", name="A bus shelter for Ancoats")).to_have_count(0)
    in_area.get_by_role("link", name="Full fibre for Headingley").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Full fibre for Headingley")
    progress = page.get_by_role("group", name="Progress")
    expect(progress).to_contain_text(f"{before} of 25 pledges")
    screenshot(page, "campaign")

    # A mistake: the summary links to the field, the message sits beside it.
    page.get_by_label("Your name").fill("Asha Patel")
    page.get_by_label("Email address").fill("asha.patel-at-example.org")
    page.get_by_label("Postcode", exact=True).fill("LS6 3HN")
    page.get_by_role("button", name="Pledge").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("There is a problem")
    email = page.get_by_label("Email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_contain_text("Enter an email address")
    expect(email).to_have_value("asha.patel-at-example.org")  # what was typed is kept
    expect(page.get_by_label("Your name")).to_have_value("Asha Patel")
    screenshot(page, "campaign-form-errors")
    summary.get_by_role("link", name="Enter an email address").click()
    expect(email).to_be_focused()
    expect(progress).to_contain_text(f"{before} of 25 pledges")  # nothing was counted

    # Put right and sent.
    email.fill("asha.patel@example.org")
    page.get_by_role("button", name="Pledge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    # The confirmation email, in the development mailbox.
    row = mail_in_dev_mailbox(page, "asha.patel@example.org", "Confirm your pledge")
    screenshot(page, "dev-mail")
    row.get_by_role("link", name="Confirm your pledge").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Confirm your pledge")
    expect(page.locator(".mail-body")).to_contain_text("Hello Asha Patel")
    page.get_by_role("link", name="Confirm my pledge").click()
    # The link opens a page with a button: only a person presses it.
    page.get_by_role("button", name="Confirm my pledge").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your pledge is confirmed")
    expect(page.get_by_role("group", name="Progress")).to_contain_text(
        f"{before + 1} of 25 pledges"
    )
    screenshot(page, "confirmation")

    # Back on the campaign page, the count moved by one.
    page.get_by_role("link", name="Full fibre for Headingley").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Full fibre for Headingley")
    expect(page.get_by_role("group", name="Progress")).to_contain_text(
        f"{before + 1} of 25 pledges"
    )

    # "Your pledges" asks for an emailed link, then lists the confirmed pledge.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Your pledges").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("See your pledges")
    sign_in_with_emailed_link(page, "resident", "asha.patel@example.org")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your pledges")
    pledge = page.locator(".card").filter(has_text="Full fibre for Headingley")
    expect(pledge).to_contain_text("Confirmed: counted")
    expect(pledge).to_contain_text("Asha Patel")
    expect(pledge.get_by_role("button", name=re.compile("^Withdraw this pledge"))).to_be_visible()
    screenshot(page, "my-pledges")
