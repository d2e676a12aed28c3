"""A resident chooses between providers' offers, in real Chromium at phone size: the offers
email arrives in /dev/mail, its link opens the choice page with the offers stacked one
above the other, the resident compares them, chooses, changes their mind; the providers'
live totals follow, and once the round closes the campaign page shows what residents
chose and the result email arrives.

The offers and the round are set up through the domain against the live server's database
(the offers API and the lead's and provider's pages are built beside this); the totals the
lead and each provider are shown come from pledges.choices.round_results, asserted here."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from pledges.campaigns import get_campaign
from pledges.choices import close_round, open_round, round_results
from pledges.store import Store, utcnow
from tests.e2e.conftest import (
    DESKTOP,
    PHONE,
    LiveServer,
    Screenshot,
    add_paper_pledges,
    create_campaign,
    open_mail,
    run_async,
)
from tests.pledges.test_choices import two_offers

pytestmark = pytest.mark.browser

T = TypeVar("T")
SUBJECT = "Full fibre for Far Headingley: the offers are in, choose yours"
RESULT = "Full fibre for Far Headingley: what residents chose"
# The live server's worker shares the SQLite file with the test: a write that meets its
# transaction is tried again, until this deadline.
LOCKED_DEADLINE = 20.0


def in_database(server: LiveServer, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` with a Store on the live server's database, again if SQLite was busy."""

    async def once() -> T:
        store = Store(server.env["DATABASE_URL"])
        await store.connect()
        try:
            return await work(store)
        finally:
            await store.disconnect()

    deadline = time.monotonic() + LOCKED_DEADLINE
    while True:
        try:
            return run_async(once())
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise


def boxes(page: Any) -> list[dict[str, float]]:
    return [a.bounding_box() for a in page.locator("article.offer").all()]


def test_a_resident_compares_the_offers_on_a_phone_chooses_and_changes_their_mind(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    key = live_server.lead_api_key("lead@example.org")
    campaign = create_campaign(
        live_server,
        key,
        slug="full-fibre-far-headingley",
        title="Full fibre for Far Headingley",
        area={"name": "Far Headingley", "postcode_districts": ["LS6"]},
        target=2,
    )
    slug = campaign["slug"]
    assert add_paper_pledges(live_server, key, slug, 3) == 3  # tipped at two

    async def post_offers(store: Store) -> tuple[int, str, str]:
        found = await get_campaign(store.database, slug)
        assert found.status == "tipped"
        north, south = await two_offers(store, found)
        return found.id, north.public_id, south.public_id

    campaign_id, north, south = in_database(live_server, post_offers)

    async def open_the_round(store: Store) -> None:
        found = await get_campaign(store.database, slug)
        await open_round(store, found.id, utcnow() + timedelta(days=10), lead_id=found.lead_id)

    in_database(live_server, open_the_round)

    # The offers email, on a phone.
    page.set_viewport_size(PHONE)
    open_mail(page, "paper0@example.org", SUBJECT)
    mail = page.locator(".mail-body")
    expect(mail).to_contain_text("Groundswell takes no fee, and no provider paid for its place")
    expect(mail.get_by_role("columnheader")).to_have_count(2)  # side by side in the email
    screenshot(page, "offers-email")
    mail.get_by_role("link", name="Compare the offers and choose").click()

    # The choice page: the offers one above the other, the cheaper first.
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose an offer")
    expect(page.get_by_text("no provider paid for its place")).to_be_visible()
    cards = page.locator("article.offer")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("Southfibre")
    expect(cards.nth(0)).to_contain_text("None. We have none yet.")
    expect(cards.nth(1)).to_contain_text("Who qualifies: Households on Universal Credit.")
    first, second = boxes(page)
    assert first["x"] == second["x"] and second["y"] >= first["y"] + first["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    cards.nth(1).get_by_text("More about this offer").click()
    expect(cards.nth(1)).to_contain_text("No price rise during the term.")
    screenshot(page, "choose-phone")

    # Chooses the cheaper offer, and agrees to be contacted.
    page.get_by_label("Choose Full fibre 900 from Southfibre").check()
    page.get_by_label("Let the provider I choose contact me").check()
    page.get_by_role("button", name="Save my choice").click()
    status = page.locator("#your-choice")
    expect(status).to_contain_text("You chose Full fibre 900 from Southfibre")
    expect(status).to_contain_text("you can change your mind until")
    expect(page.get_by_label("Choose Full fibre 900 from Southfibre")).to_be_checked()
    expect(page.get_by_label("Let the provider I choose contact me")).to_be_checked()
    screenshot(page, "choose-saved")

    async def totals(store: Store) -> dict[str, int]:
        results = await round_results(store.database, campaign_id)
        assert results is not None
        return {t.offer.public_id: t.chosen for t in results.offers}

    # Each provider's live total, as its pages and the lead's are given them.
    assert in_database(live_server, totals) == {south: 1, north: 0}

    # Changes their mind: the social tariff offer, saying privately they would need it.
    page.get_by_label("Choose Full fibre 900 from Northnet").check()
    page.get_by_label("I would need a social tariff").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(status).to_contain_text("You chose Full fibre 900 from Northnet")
    assert in_database(live_server, totals) == {south: 0, north: 1}

    # The round closes: the campaign page shows the totals, the result email arrives.
    assert in_database(live_server, lambda store: close_round(store, campaign_id))
    page.set_viewport_size(DESKTOP)
    page.goto(f"/c/{slug}")
    offers = page.locator("article.offer")
    expect(offers.nth(1)).to_contain_text("1 person chose this")
    expect(offers.nth(0)).to_contain_text("0 people chose this")
    left, right = boxes(page)
    assert left["y"] == right["y"] and right["x"] > left["x"]  # side by side when wide
    screenshot(page, "campaign-offers-closed")
    open_mail(page, "paper0@example.org", RESULT)
    expect(page.locator(".mail-body")).to_contain_text(
        re.compile(r"You chose\s+Full fibre 900\s+from Northnet")
    )

    # The link in the offers email now says the round has closed, and what was counted.
    open_mail(page, "paper0@example.org", SUBJECT)
    page.locator(".mail-body").get_by_role("link", name="Compare the offers and choose").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choosing is not open")
    expect(page.locator("main")).to_contain_text("You chose Full fibre 900 from Northnet.")
