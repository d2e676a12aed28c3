"""Money pledges in the demo, in real Chromium, as the README walks through them.

`groundswell serve --demo` runs Stripe's local stand-in beside the app and seeds a
community fibre partnership of 3 households and £600, two of them pledged already. A
resident pledges £200, saves the Visa test card on the stand-in's Checkout page, confirms
from /dev/mail and so tips the campaign; the worker charges the three saved cards and the
lead's dashboard shows the money collected. A latecomer whose bank wants to confirm the
off-session charge is emailed a link and pays on Checkout."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    LiveServer,
    Screenshot,
    mail_in_dev_mailbox,
    open_mail,
    reload_until,
    sign_in_with_emailed_link,
)

pytestmark = [pytest.mark.browser, pytest.mark.serve_args("--demo")]

SLUG = "community-fibre-partnership-for-meanwood"
TITLE = "Community fibre partnership for Meanwood"
VISA = "Visa ending 4242 (succeeds)"
NEEDS_AUTHENTICATION = "Visa ending 3155 (off-session charges need authentication)"


def stand_in_url(server: LiveServer) -> str:
    """The stand-in's address, from the one line `serve --demo` logs about it."""
    found = re.search(r"Money pledges use the local Stripe stand-in at (http://\S+)", server.log())
    assert found is not None, server.log()
    return found.group(1)


def pledge_and_save_card(
    page: Any, server: LiveServer, name: str, email: str, card: str, shot: Screenshot | None = None
) -> None:
    """The pledge form, then the stand-in's Checkout page with `card`, and back."""
    from playwright.sync_api import expect

    page.goto(f"/c/{SLUG}")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Postcode", exact=True).fill("LS6 4BZ")
    page.get_by_role("button", name="Pledge and save a card").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Test checkout")
    assert page.url.startswith(f"{stand_in_url(server)}/pay/cs_test_"), page.url
    expect(page.get_by_text("Save a card for later. Nothing is charged now.")).to_be_visible()
    page.get_by_label(card).check()
    if shot is not None:
        shot(page, "money-checkout")
    page.get_by_role("button", name="Confirm").click()
    assert page.url.startswith(f"{server.url}/c/{SLUG}/card-saved"), page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text("Card saved")


def confirm_from_mail(page: Any, email: str) -> None:
    from playwright.sync_api import expect

    row = mail_in_dev_mailbox(page, email, "Confirm your pledge")
    row.get_by_role("link", name="Confirm your pledge").click()
    page.get_by_role("link", name="Confirm my pledge").click()
    # The link opens a page with a button: only a person presses it.
    page.get_by_role("button", name="Confirm my pledge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your pledge is confirmed")


def test_demo_money_pledge_tips_the_campaign_and_is_collected(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    log = live_server.log()  # the stand-in's secrets stay out of it
    assert stand_in_url(live_server).startswith("http://127.0.0.1:")
    assert "sk_test_demo_" not in log and "whsec_demo_" not in log

    page.set_viewport_size(PHONE)
    page.goto(f"/c/{SLUG}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    progress = page.get_by_role("group", name="Progress")
    expect(progress).to_contain_text("£400 of £600 pledged")
    expect(progress).to_contain_text("2 of 3 households")
    screenshot(page, "money-campaign")

    # A saved card alone does not count: the pledge waits for its email.
    pledge_and_save_card(
        page, live_server, "Nadia Rahman", "nadia.rahman@example.org", VISA, screenshot
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("confirm your pledge")
    page.goto(f"/c/{SLUG}")
    expect(page.get_by_role("group", name="Progress")).to_contain_text("2 of 3 households")

    # The confirmation email: the pledge counts, and the campaign tips.
    confirm_from_mail(page, "nadia.rahman@example.org")
    progress = page.get_by_role("group", name="Progress")
    expect(progress).to_contain_text("£600 of £600 pledged")
    expect(progress).to_contain_text("3 of 3 households")
    expect(page.get_by_text("This campaign has reached its target.")).to_be_visible()
    screenshot(page, "money-confirmed")

    # The worker charges the three saved cards; the lead sees the money collected.
    page.set_viewport_size(DESKTOP)
    page.goto("/lead/sign-in")
    sign_in_with_emailed_link(page, "lead", "lead@demo.groundswell.localhost")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your campaigns")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    collected = page.locator("dl.counts > div").filter(has=page.locator("dt", has_text="Collected"))
    reload_until(page, collected.filter(has_text="£600"), timeout=30)
    expect(page.locator("dl.counts > div").filter(has_text="Pledged")).to_contain_text("£600")
    paid = page.get_by_role("button", name=re.compile(r"^Refund pledge \d+$"))
    expect(paid).to_have_count(3)  # the two seeded pledges and Nadia's, each charged once
    reload_until(page, page.get_by_text(re.compile(r"^Charging finished on ")))
    screenshot(page, "money-dashboard")


def test_demo_charge_needing_authentication_is_paid_from_the_emailed_link(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size(PHONE)
    pledge_and_save_card(page, live_server, "Nadia Rahman", "nadia@example.org", VISA)
    confirm_from_mail(page, "nadia@example.org")  # the third pledge: the campaign tips

    # A latecomer still counts, and is charged at once; their bank wants to confirm.
    late = "tom.latecomer@example.org"
    pledge_and_save_card(page, live_server, "Tom Latecomer", late, NEEDS_AUTHENTICATION)
    confirm_from_mail(page, late)
    expect(page.get_by_role("group", name="Progress")).to_contain_text("£800 of £600 pledged")

    open_mail(page, late, "We could not take your £200 pledge")
    expect(page.locator(".mail-body")).to_contain_text("your bank wants you to confirm")
    page.locator(".mail-body").get_by_role("link", name="Pay £200").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay your pledge of £200")
    expect(page.get_by_text("your bank asked to confirm the payment")).to_be_visible()
    screenshot(page, "money-pay")
    page.get_by_role("button", name="Pay £200 with Stripe").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Test checkout")
    expect(page.get_by_text("Pay 200.00 GBP.")).to_be_visible()
    page.get_by_label(VISA).check()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you, your pledge of £200 is paid"
    )

    # Four pledges paid, each once: £800 collected.
    deadline = time.monotonic() + 20
    with live_server.api() as api:
        while True:
            money = api.get(f"/api/v1/campaigns/{SLUG}").json()["money"]
            if money["collected"] == 80000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the poll interval of a deadline-bound wait
    assert (money["pledged"], money["collected"], money["refunded"]) == (80000, 80000, 0)
