"""The lead's page for a tipped campaign's offers and choice round: the offers in fair order,
opening the round with a closing date, the live totals, and the choice of a neighbour
without email, recorded on their word."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from pledges.accounts import Lead
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import ChoiceInput, choice_for_pledge, choose, close_round, get_round
from pledges.dashboard import long_date
from pledges.pledging import parse_vouched_pledge, record_vouched_pledge
from pledges.store import Store, utcnow
from tests.app.pages.test_leads import csrf_from, field_error, sign_in, store_of
from tests.app.pages.test_offers_pages import offer_of
from tests.app.pages.test_organisations_demand import organisation
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead

LEEDS = {"postcode_prefixes": ["LS6"]}


async def tipped_with_offers(store: Store, lead: Lead, pledgers: int = 3) -> tuple[Campaign, Any]:
    campaign = await make_campaign(store, lead, target=2)
    ids = [await make_confirmed_pledge(store, campaign.slug, i) for i in range(pledgers)]
    campaign = await get_campaign(store.database, campaign.slug)
    north, _ = await organisation(store, "Northnet", LEEDS)
    south, _ = await organisation(store, "Southfibre", LEEDS)
    dear = await offer_of(store, campaign, north, title="Northnet 900", price=3000)
    cheap = await offer_of(
        store,
        campaign,
        south,
        title="Southfibre 500",
        price=2500,
        social_tariff=None,
        no_social_tariff="We have no social tariff.",
    )
    return campaign, (ids, dear, cheap)


def totals(page: Page) -> list[list[str]]:
    rows = [
        [td.words for td in page.find_all("td") if tr in td.ancestors]
        for tr in page.find_all("tr")
        if tr.inside("totals")
    ]
    return [r for r in rows if r]


async def test_the_lead_opens_the_round_with_a_closing_date_and_sees_the_totals(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign, (ids, dear, cheap) = await tipped_with_offers(store, lead)
    dashboard = page_of(await client.get(f"/lead/campaigns/{campaign.slug}"))
    url = f"/lead/campaigns/{campaign.slug}/choice"
    assert url in [a.attrs.get("href") for a in dashboard.find_all("a")]

    page = page_of(await client.get(url))
    headings = [h.words for h in page.find_all("h3") if h.inside("offers")]
    assert headings == ["Southfibre: Southfibre 500", "Northnet: Northnet 900"]  # by price
    fields = page.form_fields(f"{url}/open")
    default = (utcnow() + timedelta(days=14)).date().isoformat()
    assert fields["closes_at"] == default

    token = await csrf_from(client, url)
    before = await table_snapshot(store)
    too_soon = (utcnow() + timedelta(days=1)).date().isoformat()
    refused = await client.post(f"{url}/open", data={"csrf_token": token, "closes_at": too_soon})
    assert refused.status_code == 422
    assert "at least three days" in field_error(page_of(refused), "choice-closes_at")
    assert page_of(refused).by_id("choice-closes_at").attrs["value"] == too_soon
    assert await table_snapshot(store) == before

    closes = (utcnow() + timedelta(days=10)).date()
    opened = await client.post(
        f"{url}/open", data={"csrf_token": token, "closes_at": closes.isoformat()}
    )
    assert opened.status_code == 303
    found = await get_round(store.database, campaign.id)
    assert found is not None and found.opened_by == "lead"
    assert found.closes_at.date() == closes

    await choose(store, ids[0], ChoiceInput(dear.public_id, True, None))
    await choose(store, ids[1], ChoiceInput(cheap.public_id, False, None))
    await choose(store, ids[2], ChoiceInput("none", False, None))
    shown = page_of(await client.get(url))
    assert f"closes on {long_date(closes)}" in shown.words
    assert totals(shown) == [
        ["Southfibre: Southfibre 500", "1", "fewer than 5"],
        ["Northnet: Northnet 900", "1", "fewer than 5"],
        ["None of these", "1", ""],
    ]
    assert shown.find("form", action=f"{url}/open") is None
    again = await client.post(
        f"{url}/open", data={"csrf_token": token, "closes_at": closes.isoformat()}
    )
    assert again.status_code == 409
    assert "already opened" in page_of(again).words


async def test_the_round_cannot_open_without_an_offer(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead, target=1)
    await make_confirmed_pledge(store, campaign.slug)
    url = f"/lead/campaigns/{campaign.slug}/choice"
    page = page_of(await client.get(url))
    assert "No provider has posted an offer yet" in page.words
    assert page.find("form", action=f"{url}/open") is None
    token = await csrf_from(client, "/lead")
    before = await table_snapshot(store)
    answer = await client.post(f"{url}/open", data={"csrf_token": token, "closes_at": ""})
    assert answer.status_code == 409
    assert "no offers to choose between" in page_of(answer).words
    assert await table_snapshot(store) == before


async def test_the_lead_records_the_choice_a_neighbour_without_email_told_them(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    lead = await sign_in(client, store)
    campaign, (ids, dear, cheap) = await tipped_with_offers(store, lead)
    edna = await record_vouched_pledge(
        store,
        campaign.slug,
        lead.id,
        parse_vouched_pledge(
            {
                "name": "Edna Doorstep",
                "postcode": "LS6 1AB",
                "address_line": "12 Brudenell Road",
                "share_contact": True,
                "attested": True,
            }
        ),
    )
    url = f"/lead/campaigns/{campaign.slug}/choice"
    token = await csrf_from(client, url)
    await client.post(f"{url}/open", data={"csrf_token": token, "closes_at": ""})
    page = page_of(await client.get(url))
    neighbours = [h.words for h in page.find_all("h3") if h.inside("neighbours")]
    assert neighbours == ["Edna Doorstep"]  # pledgers with email choose for themselves
    record = f"{url}/recorded/{edna.pledge_id}"
    assert set(page.form_fields(record)) >= {"csrf_token"}

    before = await table_snapshot(store)
    unchosen = await client.post(record, data={"csrf_token": token, "offer": ""})
    assert unchosen.status_code == 422
    assert "Choose the offer they chose" in field_error(
        page_of(unchosen), f"choice-{edna.pledge_id}-offer"
    )
    # A pledge with an email address chooses for itself, through its own link.
    emailed = await client.post(
        f"{url}/recorded/{ids[0]}", data={"csrf_token": token, "offer": dear.public_id}
    )
    assert emailed.status_code == 404
    assert await table_snapshot(store) == before

    recorded = await client.post(
        record,
        data={
            "csrf_token": token,
            "offer": cheap.public_id,
            "needs_social_tariff": "on",
            "share_contact": "on",
        },
    )
    assert recorded.status_code == 303
    choice = await choice_for_pledge(store.database, edna.pledge_id)
    assert choice is not None
    assert (choice.offer_public_id, choice.needs_social_tariff, choice.share_contact) == (
        cheap.public_id,
        True,
        True,
    )
    shown = page_of(await client.get(url))
    assert "Recorded the choice of Edna Doorstep" in shown.words
    assert "Chose Southfibre: Southfibre 500." in shown.words
    assert totals(shown)[0] == ["Southfibre: Southfibre 500", "1", "fewer than 5"]

    # They changed their mind: the totals move with it.
    await client.post(record, data={"csrf_token": token, "offer": "none"})
    assert totals(page_of(await client.get(url))) == [
        ["Southfibre: Southfibre 500", "0", "fewer than 5"],
        ["Northnet: Northnet 900", "0", "fewer than 5"],
        ["None of these", "1", ""],
    ]

    await close_round(store, campaign.id)
    closed = await client.post(record, data={"csrf_token": token, "offer": dear.public_id})
    assert closed.status_code == 409
    assert page_of(closed).by_id("choice-record").words == (
        "The choice round has closed; choices can no longer change."
    )
    assert page_of(closed).summary_links() == ["#choice-record"]
    after = await choice_for_pledge(store.database, edna.pledge_id)
    assert after is not None and after.offer_public_id is None


async def test_another_leads_campaign_and_pledges_are_not_found(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    await sign_in(client, store)
    other, _ = await make_lead(store, "other@example.org")
    theirs, (_, dear, _) = await tipped_with_offers(store, other)
    ada = await record_vouched_pledge(
        store,
        theirs.slug,
        other.id,
        parse_vouched_pledge({"name": "Ada", "postcode": "LS6 1AB", "attested": True}),
    )
    url = f"/lead/campaigns/{theirs.slug}/choice"
    assert (await client.get(url)).status_code == 404
    token = await csrf_from(client, "/lead")
    before = await table_snapshot(store)
    opened = await client.post(f"{url}/open", data={"csrf_token": token, "closes_at": ""})
    assert opened.status_code == 404
    chose = await client.post(
        f"{url}/recorded/{ada.pledge_id}", data={"csrf_token": token, "offer": dear.public_id}
    )
    assert chose.status_code == 404
    assert await table_snapshot(store) == before
