"""The choice page and the campaign page's offers, as a resident meets them without
JavaScript: the offers in fair order with the no-fee statement, choosing and changing,
a withdrawn offer shown with its reason, a household's choice, and every refusal a clear
page (a bad link 400, a round not open 409) that changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import services_of
from notifications.offer_words import day
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import (
    ChoiceInput,
    choice_for_pledge,
    choose,
    close_round,
    get_round,
    open_round,
    round_results,
)
from pledges.offers import Offer, parse_withdrawal, withdraw_offer
from pledges.pledging import confirm_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from tests.app.pages.test_accessibility import accessibility_problems
from tests.app.pages.test_demand_pages import QUESTION
from tests.app.pages.test_residents import Page, nothing_changes, page_of, token_of_kind
from tests.factories import make_campaign, make_confirmed_pledge
from tests.pledges.test_choices import two_offers
from tests.pledges.test_households import _pledge, address

NO_FEE = (
    "Groundswell takes no fee, and no provider paid for its place: offers are listed by "
    "price, then in an order drawn at random."
)


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store: the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


async def open_choice(
    store: Store, pledgers: int = 2, **overrides: Any
) -> tuple[Campaign, list[int], Offer, Offer]:
    """A tipped campaign with `pledgers` (the first agreed to be contacted), two offers
    (Southfibre's the cheaper) and its round open."""
    campaign = await make_campaign(store, target=2, **overrides)
    ids = [
        await make_confirmed_pledge(store, campaign.slug, i, share_contact=i == 0)
        for i in range(pledgers)
    ]
    campaign = await get_campaign(store.database, campaign.slug)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    return campaign, ids, north, south


def link(app: Starlette, pledge_id: int) -> str:
    return "/choose?token=" + services_of(app).signer.sign(pledge_id, "offer-choice")


def radios(page: Page) -> list[tuple[str, bool]]:
    return [(e.attrs["value"], "checked" in e.attrs) for e in page.find_all("input", name="offer")]


def ticked(page: Page, name: str) -> bool:
    box = page.find("input", name=name)
    assert box is not None, name
    return "checked" in box.attrs


async def submit(
    client: httpx.AsyncClient, path: str, form: dict[str, str | None]
) -> httpx.Response:
    """Open the page and submit its form as a browser would: ticked boxes as shown, then
    the resident's changes (None unticks a box)."""
    shown = await client.get(path)
    assert shown.status_code == 200, shown.text
    page = page_of(shown)
    fields = page.form_fields("/choose")
    data: dict[str, str | None] = {"csrf_token": fields["csrf_token"], "token": fields["token"]}
    for box in page.find_all("input", type="checkbox"):
        if "checked" in box.attrs:
            data[box.attrs["name"]] = "on"
    data.update(form)
    return await client.post("/choose", data={k: v for k, v in data.items() if v})


async def test_the_page_shows_the_offers_in_fair_order_with_a_radio_each_and_none_of_these(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign, ids, north, south = await open_choice(store)
    response = await client.get(link(app, ids[0]))
    assert response.status_code == 200
    assert accessibility_problems(response.text) == []
    page = page_of(response)
    current = await get_round(store.database, campaign.id)
    assert current is not None
    assert f"Choose one offer, or none of these, by {day(current.closes_at)}" in page.words
    assert NO_FEE in page.words
    # The cheaper first; each with its terms; then "none of these". Nothing chosen yet.
    titles = [h.words for h in page.find_all("h3")]
    assert titles == ["Full fibre 900", "Full fibre 900"]
    assert radios(page) == [(south.public_id, False), (north.public_id, False), ("none", False)]
    cards = [a.words for a in page.find_all("article")]
    assert "Provider Southfibre Price £25 a month" in cards[0]
    assert "Social tariff None. We have none yet." in cards[0]
    assert "Social tariff £15 a month. Who qualifies: Households on Universal Credit." in cards[1]
    # Contact as they said when pledging; the social tariff question unticked, and private.
    assert ticked(page, "share_contact") is True
    assert ticked(page, "needs_social_tariff") is False
    assert "never a number below 5" in page.words
    # A campaign without a price question has no curve to show beside the offers.
    assert page.find("h2", id="demand") is None

    other = page_of(await client.get(link(app, ids[1])))
    assert ticked(other, "share_contact") is False


async def test_a_resident_chooses_then_changes_their_mind_and_the_counts_follow(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign, ids, _, south = await open_choice(store)
    current = await get_round(store.database, campaign.id)
    assert current is not None

    chose = await submit(client, link(app, ids[1]), {"offer": south.public_id})
    assert chose.status_code == 200
    page = page_of(chose)
    assert (
        f"Your choice is saved. You chose Full fibre 900 from Southfibre; you can change your "
        f"mind until {day(current.closes_at)}." in page.words
    )
    assert radios(page)[0] == (south.public_id, True)

    changed = await submit(
        client, link(app, ids[1]), {"offer": "none", "needs_social_tariff": "on"}
    )
    assert changed.status_code == 200
    page = page_of(changed)
    assert "You chose none of these" in page.words
    assert radios(page)[-1] == ("none", True)
    assert ticked(page, "needs_social_tariff") is True  # their own private answer, kept

    choice = await choice_for_pledge(store.database, ids[1])
    assert choice is not None
    assert (choice.offer_id, choice.needs_social_tariff, choice.share_contact) == (
        None,
        True,
        False,
    )
    results = await round_results(store.database, campaign.id)
    assert results is not None
    assert [t.chosen for t in results.offers] == [0, 0]
    assert (results.round.chose_count, results.round.none_count) == (0, 1)
    assert results.round.social_tariff_count == 1


async def test_a_withdrawn_offer_shows_its_reason_and_cannot_be_chosen(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign, ids, north, south = await open_choice(store)
    await withdraw_offer(
        store,
        campaign,
        north.organisation_id,
        north.public_id,
        parse_withdrawal({"reason": "Our build partner pulled out."}),
    )
    page = page_of(await client.get(link(app, ids[0])))
    assert radios(page) == [(south.public_id, False), ("none", False)]
    withdrawn = page.find_all("article")[1]
    assert "Withdrawn by its provider: Our build partner pulled out." in withdrawn.words

    # A stale page (or a hand-made request) naming it: the message beside the choices.
    async with nothing_changes(store):
        refused = await submit(client, link(app, ids[0]), {"offer": north.public_id})
    assert refused.status_code == 422
    page = page_of(refused)
    assert page.summary_links() == ["#offer-error"]
    assert "Its provider withdrew this offer; choose another." in page.by_id("offer-error").words


async def test_saving_without_choosing_says_so_beside_the_choices(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    _, ids, _, _ = await open_choice(store)
    async with nothing_changes(store):
        refused = await submit(client, link(app, ids[0]), {})
    assert refused.status_code == 422
    assert accessibility_problems(refused.text) == []
    page = page_of(refused)
    assert 'Choose an offer, or "none" for none of these.' in page.by_id("offer-error").words


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    _, ids, _, south = await open_choice(store)
    token = link(app, ids[0]).split("=", 1)[1]
    async with nothing_changes(store):
        refused = await client.post("/choose", data={"token": token, "offer": south.public_id})
    assert refused.status_code == 403


@pytest.mark.parametrize("kind", ["tampered", "expired", "wrong-namespace", "garbage", "empty"])
async def test_a_bad_choice_link_shows_the_link_problem_page(
    client: httpx.AsyncClient, app: Starlette, store: Store, kind: str
) -> None:
    _, ids, _, _ = await open_choice(store)
    token = token_of_kind(app, ids[0], "offer-choice", kind)
    async with nothing_changes(store):
        response = await client.get("/choose", params={"token": token})
    assert response.status_code == 400
    page = page_of(response)
    assert "There is a problem with this link" in page.words
    expected = "This link has expired." if kind == "expired" else "This link is not valid."
    assert expected in page.words


async def test_a_closed_round_says_so_with_the_choice_that_was_counted(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign, ids, _, south = await open_choice(store)
    path = link(app, ids[0])
    shown = await client.get(path)  # opened before the round closed
    await choose(store, ids[0], ChoiceInput(south.public_id, False, None))
    assert await close_round(store, campaign.id)

    response = await client.get(path)
    assert response.status_code == 409
    page = page_of(response)
    assert f"The choice round closed on {day(utcnow())}" in page.words
    assert "You chose Full fibre 900 from Southfibre." in page.words
    assert page.find("form", action="/choose") is None

    fields = page_of(shown).form_fields("/choose")
    async with nothing_changes(store):
        late = await client.post("/choose", data={**fields, "offer": "none"})
    assert late.status_code == 409
    assert "choices can no longer change" in page_of(late).words


async def test_before_the_round_opens_and_after_a_withdrawal_the_page_says_why(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign = await make_campaign(store, target=1)
    pledge_id = await make_confirmed_pledge(store, campaign.slug, 0)
    not_yet = await client.get(link(app, pledge_id))
    assert not_yet.status_code == 409
    assert "The choice round for this campaign has not opened yet." in page_of(not_yet).words

    _, ids, _, _ = await open_choice(store)
    await withdraw_pledge(store, ids[1])
    withdrawn = await client.get(link(app, ids[1]))
    assert withdrawn.status_code == 409
    assert "it was withdrawn" in page_of(withdrawn).words


async def test_a_housemates_choice_is_shown_as_the_households(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign = await make_campaign(store, counts="households", target=1)
    # Two pledgers in one home: the first agreed to be contacted, the second did not.
    first = await _pledge(store, campaign.slug, 0, address(0, 0), share_contact=True)
    second = await _pledge(store, campaign.slug, 1, address(0, 1))
    for pledge_id in (first, second):
        await confirm_pledge(store, pledge_id)
    campaign = await get_campaign(store.database, campaign.slug)
    _, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await choose(store, first, ChoiceInput(south.public_id, True, None))

    page = page_of(await client.get(link(app, second)))
    assert "Your household chose Full fibre 900 from Southfibre" in page.words
    assert radios(page)[0] == (south.public_id, True)
    # The housemate's private answers are theirs: not shown; contact as this one pledged.
    assert ticked(page, "needs_social_tariff") is False
    assert ticked(page, "share_contact") is False


async def test_the_price_curve_is_beside_the_offers_when_the_campaign_asked_a_price(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    _, ids, _, _ = await open_choice(store, price_question=QUESTION, target_price=None)
    page = page_of(await client.get(link(app, ids[0])))
    heading = page.find("h2", id="demand")
    assert heading is not None and heading.words == "What people here said they would pay"
    assert page.find("table") is not None


async def test_the_campaign_page_lists_the_offers_and_their_totals_only_once_the_round_closed(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    campaign = await make_campaign(store, target=2)
    ids = [await make_confirmed_pledge(store, campaign.slug, i) for i in range(3)]
    campaign = await get_campaign(store.database, campaign.slug)
    before = page_of(await client.get(f"/c/{campaign.slug}"))
    assert before.find("h2", id="offers") is None

    north, _ = await two_offers(store, campaign)
    posted = page_of(await client.get(f"/c/{campaign.slug}"))
    assert posted.find("h2", id="offers") is not None
    assert NO_FEE in posted.words
    cards = [a.words for a in posted.find_all("article")]
    assert ["Southfibre" in c for c in cards] == [True, False]

    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await choose(store, ids[0], ChoiceInput(north.public_id, False, None))
    await choose(store, ids[1], ChoiceInput(north.public_id, False, None))
    await choose(store, ids[2], ChoiceInput("none", False, None))
    current = await get_round(store.database, campaign.id)
    assert current is not None
    response = await client.get(f"/c/{campaign.slug}")
    assert accessibility_problems(response.text) == []
    during = page_of(response)
    assert f"until {day(current.closes_at)}" in during.words
    assert "chose this" not in during.words  # no totals while residents are choosing

    assert await close_round(store, campaign.id)
    after = page_of(await client.get(f"/c/{campaign.slug}"))
    cards = [a.words for a in after.find_all("article")]
    assert "0 people chose this" in cards[0]  # Southfibre's
    assert "2 people chose this" in cards[1]
    assert "None of these: 1 person" in after.words
