"""Offers and the choice round in real Chromium.

A resident chooses between two providers' offers at phone size: the providers post their
offers through the API (each with an endpoint covering the campaign), the lead opens the
round on the lead's page, the offers email arrives in /dev/mail, its link opens the choice
page with the offers stacked one above the other, the resident compares them, chooses,
changes their mind; the lead's page and the provider's own offers page show the live totals
(the provider only its own), and once the round closes the campaign page shows what
residents chose and the result email arrives.

A provider posts an offer through its form: amounts typed in pounds, an error beside the
social tariff question when it says nothing of households on low incomes, then published.

Closing the round is the one step taken through the domain on the live server's database: a
round lasts at least three days and closes only at its date."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from pledges.campaigns import get_campaign
from pledges.choices import close_round
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
    sign_in_with_emailed_link,
)
from tests.pledges.test_choices import offer_data

pytestmark = pytest.mark.browser

T = TypeVar("T")
SLUG = "full-fibre-far-headingley"
TITLE = "Full fibre for Far Headingley"
SUBJECT = f"{TITLE}: the offers are in, choose yours"
RESULT = f"{TITLE}: what residents chose"
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


@pytest.fixture
def visitor(browser: Any, live_server: LiveServer) -> Iterator[Callable[[], Any]]:
    """`visitor()`: a page in a browser context of its own (its own cookies), at desktop
    size, aimed at the live server: another person at another computer."""
    contexts: list[Any] = []

    def new_page() -> Any:
        context = browser.new_context(
            base_url=live_server.url, viewport=DESKTOP, locale="en-GB", timezone_id="Europe/London"
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        return context.new_page()

    try:
        yield new_page
    finally:
        for context in contexts:
            context.close()


def tipped_campaign(server: LiveServer) -> tuple[str, str]:
    """A campaign in LS6 that tipped on three paper pledges; its slug and the lead's key."""
    key = server.lead_api_key("lead@example.org")
    campaign = create_campaign(
        server,
        key,
        slug=SLUG,
        title=TITLE,
        area={"name": "Far Headingley", "postcode_districts": ["LS6"]},
        target=2,
    )
    assert add_paper_pledges(server, key, campaign["slug"], 3) == 3  # tipped at two
    return campaign["slug"], key


def covering_provider(server: LiveServer, name: str) -> str:
    """A provider whose active endpoint (the live server's /dev/webhooks receiver) covers
    broadband campaigns in LS6, made through the API; its key."""
    key = server.org_api_key(f"ops@{name.lower()}.example", name)
    with server.api(key) as api:
        made = api.post(
            "/api/v1/webhook-endpoints",
            json={
                "url": f"{server.url}/dev/webhooks/{name.lower()}",
                "filters": {"categories": ["broadband"], "postcode_prefixes": ["LS6"]},
            },
        )
    assert made.status_code == 201, made.text
    return key


def post_offer_by_api(server: LiveServer, key: str, slug: str, **overrides: Any) -> str:
    """`POST /api/v1/campaigns/{slug}/offers` with the provider's key; the offer's id."""
    available = (utcnow() + timedelta(days=30)).date().isoformat()
    body = offer_data(available_from=available, **overrides)
    with server.api(key) as api:
        posted = api.post(f"/api/v1/campaigns/{slug}/offers", json=body)
    assert posted.status_code == 201, posted.text
    return str(posted.json()["id"])


def org_sign_in(page: Any, key: str, name: str) -> None:
    """Sign in on the organisation's pages with its API key."""
    from playwright.sync_api import expect

    page.goto("/org/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Organisation")).to_contain_text(
        f"Signed in for {name}"
    )


def open_own_offers(page: Any) -> None:
    """From the provider's demand page, its offers page on the campaign."""
    from playwright.sync_api import expect

    page.get_by_role("navigation", name="Organisation").get_by_role("link", name="Demand").click()
    page.get_by_role("link", name=f"Your offers on {TITLE}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your offers on {TITLE}")


def total_row(page: Any, offer: str) -> Any:
    """The row of `offer` in the lead's table of what residents chose."""
    return page.locator("table.totals tbody tr").filter(has_text=offer)


def boxes(page: Any) -> list[dict[str, float]]:
    return [a.bounding_box() for a in page.locator("article.offer").all()]


def test_a_resident_compares_the_offers_on_a_phone_chooses_and_changes_their_mind(
    page: Any, visitor: Callable[[], Any], live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    slug, _ = tipped_campaign(live_server)
    north_key = covering_provider(live_server, "Northnet")
    south_key = covering_provider(live_server, "Southfibre")
    post_offer_by_api(live_server, north_key, slug)
    post_offer_by_api(
        live_server,
        south_key,
        slug,
        price=2500,
        social_tariff=None,
        no_social_tariff="We have none yet.",
    )

    # The lead opens the round on the lead's page, with the closing date it suggests.
    lead = visitor()
    lead.goto("/lead/sign-in")
    sign_in_with_emailed_link(lead, "lead", "lead@example.org")
    expect(lead.get_by_role("heading", level=1)).to_have_text("Your campaigns")
    lead.get_by_role("link", name=TITLE).click()
    lead.get_by_role("link", name="Offers and the choice round").click()
    expect(lead.get_by_role("heading", level=1)).to_have_text("Offers and the choice round")
    expect(lead.locator("li.offer")).to_have_count(2)
    lead.get_by_role("button", name="Open the choice round").click()
    expect(lead.get_by_role("status")).to_contain_text("The choice round is open until")
    north_total = total_row(lead, "Northnet: Full fibre 900").locator("td").nth(1)
    south_total = total_row(lead, "Southfibre: Full fibre 900").locator("td").nth(1)
    expect(north_total).to_have_text("0")
    expect(south_total).to_have_text("0")

    # Northnet, signed in on its pages, sees its one offer, chosen by no one yet.
    northnet = visitor()
    org_sign_in(northnet, north_key, "Northnet")
    open_own_offers(northnet)
    own = northnet.locator("li.offer")
    expect(own).to_have_count(1)
    expect(own).to_contain_text("£30 a month")
    expect(own.locator(".chosen-count")).to_have_text("0")

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
    lead.reload()
    expect(south_total).to_have_text("1")
    expect(north_total).to_have_text("0")

    # Changes their mind: the social tariff offer, saying privately they would need it.
    page.get_by_label("Choose Full fibre 900 from Northnet").check()
    page.get_by_label("I would need a social tariff").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(status).to_contain_text("You chose Full fibre 900 from Northnet")

    # The lead's page follows: the choice moved from Southfibre's offer to Northnet's, and
    # one answer about a social tariff is not shown as a number.
    lead.reload()
    expect(north_total).to_have_text("1")
    expect(south_total).to_have_text("0")
    expect(total_row(lead, "None of these").locator("td").nth(1)).to_have_text("0")
    expect(lead.locator(".tariff-need")).to_have_text("fewer than 5")
    screenshot(lead, "lead-choice-round-open")

    # Northnet sees its own offer's total, and nothing of Southfibre's offer or totals.
    northnet.reload()
    expect(own).to_have_count(1)
    expect(own.locator(".chosen-count")).to_have_text("1")
    expect(own.locator(".tariff-count")).to_have_text("fewer than 5")
    main = northnet.locator("main")
    expect(main).to_contain_text("Other providers' totals are shown once the round closes.")
    expect(main).not_to_contain_text("Southfibre")
    expect(main).not_to_contain_text("We have none yet.")
    expect(main).not_to_contain_text("£25")
    expect(northnet.locator("table.results")).to_have_count(0)
    screenshot(northnet, "provider-offers-round-open")

    # The round closes: the campaign page shows the totals, the result email arrives.
    async def close_the_round(store: Store) -> bool:
        found = await get_campaign(store.database, slug)
        return await close_round(store, found.id)

    assert in_database(live_server, close_the_round)
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


def test_a_provider_posts_an_offer_in_pounds_after_saying_what_it_does_for_low_incomes(
    page: Any, live_server: LiveServer, screenshot: Screenshot
) -> None:
    from playwright.sync_api import expect

    slug, _ = tipped_campaign(live_server)
    key = covering_provider(live_server, "Northnet")
    org_sign_in(page, key, "Northnet")
    open_own_offers(page)
    expect(page.get_by_role("heading", name="You have no offers on this campaign")).to_be_visible()

    # The offer, typed in pounds, saying nothing of households on low incomes.
    page.get_by_label("Title", exact=True).fill("Full fibre 500")
    page.get_by_label("Description", exact=True).fill(
        "500 Mb/s both ways.\n\nInstalled within six weeks of signing up."
    )
    page.get_by_label("Price, in pounds", exact=True).fill("29.99")
    page.get_by_label("Paid", exact=True).select_option(label="A month")
    page.get_by_label("Set-up fee, in pounds").fill("49.50")
    page.get_by_label("Minimum term, in months").fill("12")
    page.get_by_role("button", name="Publish the offer").click()

    question = page.get_by_role("group", name="For households on low incomes")
    message = "Say whether this offer has a social tariff for households on low incomes."
    expect(question.locator(".error-message")).to_have_text(f"Error: {message}")
    expect(page.locator(".error-summary")).to_contain_text(message)
    expect(page.get_by_label("Price, in pounds", exact=True)).to_have_value("29.99")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Full fibre 500")
    screenshot(page, "provider-offer-form-error")
    with live_server.api() as api:
        assert api.get(f"/api/v1/campaigns/{slug}/offers").json()["offers"] == []

    # A social tariff, in pounds too: now it is published.
    question.get_by_label("This offer has a social tariff").check()
    page.get_by_label("Social tariff price, in pounds, paid as the offer is").fill("12.50")
    page.get_by_label("Who qualifies").fill("Households on Universal Credit or Pension Credit.")
    page.get_by_role("button", name="Publish the offer").click()
    expect(page.get_by_role("status")).to_contain_text("Your offer “Full fibre 500” is published.")
    card = page.locator("li.offer")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("£29.99 a month, set-up fee £49.50, minimum term 12 months.")
    expect(card).to_contain_text(
        "Social tariff: £12.50 a month. Who qualifies: Households on Universal Credit or "
        "Pension Credit."
    )
    screenshot(page, "provider-offer-published")

    # Residents' clients read it in pence.
    with live_server.api() as api:
        offers = api.get(f"/api/v1/campaigns/{slug}/offers").json()["offers"]
    assert [
        (o["title"], o["price"], o["setup_fee"], o["social_tariff"]["price"]) for o in offers
    ] == [("Full fibre 500", 2999, 4950, 1250)]
