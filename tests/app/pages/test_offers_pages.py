"""A provider's offers pages, as a member signed in with the organisation's key meets them:
posting an offer typed in pounds (errors beside the fields, nothing stored), changing it
until the choice round opens and not after, its own live totals and no one else's before
the close, and the contacts of its own consenting choosers once the round closed."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from pledges.accounts import Organisation
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import ChoiceInput, choose, close_round, open_round
from pledges.dashboard import long_date
from pledges.offers import Offer, parse_offer, post_offer
from pledges.store import Store, utcnow
from pledges.tables import offers
from tests.app.pages.test_leads import field_error, store_of
from tests.app.pages.test_organisations import csrf_of
from tests.app.pages.test_organisations_demand import organisation, sign_in
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge
from tests.spreadsheets import spreadsheet_text

LEEDS = {"postcode_prefixes": ["LS6"]}
MANCHESTER = {"postcode_prefixes": ["M1"]}


def offer_form(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "title": "Full fibre 900",
        "description": "900 Mb/s both ways.\n\nNo price rise during the term.",
        "price": "29.99",
        "period": "month",
        "setup_fee": "50",
        "minimum_term_months": "12",
        "available_from": (utcnow() + timedelta(days=60)).date().isoformat(),
        "valid_until": (utcnow() + timedelta(days=120)).date().isoformat(),
        "social_tariff_kind": "tariff",
        "social_tariff_price": "15",
        "social_tariff_who_qualifies": "Households on Universal Credit.",
        "no_social_tariff": "",
    }
    data.update(overrides)
    return data


def offer_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Full fibre 900",
        "description": "900 Mb/s both ways.",
        "price": 3000,
        "period": "month",
        "valid_until": (utcnow() + timedelta(days=120)).date().isoformat(),
        "social_tariff": {"price": 1500, "who_qualifies": "Households on Universal Credit."},
    }
    data.update(overrides)
    return data


async def tipped(store: Store, pledgers: int = 2, **pledge: Any) -> tuple[Campaign, list[int]]:
    campaign = await make_campaign(store, target=2)
    ids = [await make_confirmed_pledge(store, campaign.slug, i, **pledge) for i in range(pledgers)]
    found = await get_campaign(store.database, campaign.slug)
    assert found.status == "tipped"
    return found, ids


async def offer_of(store: Store, campaign: Campaign, org: Organisation, **data: Any) -> Offer:
    return await post_offer(store, campaign, org.id, parse_offer(offer_data(**data)))


async def offer_rows(store: Store) -> list[dict[str, Any]]:
    rows = await store.database.fetch_all(sa.select(offers).order_by(offers.c.id))
    return [dict(r._mapping) for r in rows]


def chosen_counts(page: Page) -> list[str]:
    return [e.words for e in page.elements if e.has_class("chosen-count")]


async def test_a_provider_posts_an_offer_typed_in_pounds_and_errors_show_beside_the_fields(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign, _ = await tipped(store)
    _, key = await organisation(store, "Northnet", LEEDS)
    await sign_in(client, key)
    demand = page_of(await client.get("/org/demand"))
    assert f"/org/campaigns/{campaign.slug}/offers" in [
        a.attrs["href"] for a in demand.find_all("a")
    ]
    url = f"/org/campaigns/{campaign.slug}/offers"
    page = await client.get(url)
    assert page.status_code == 200
    assert "You have no offers on this campaign" in page_of(page).words

    before = await table_snapshot(store)
    refused = await client.post(
        url,
        data=offer_form(
            csrf_of(page.text),
            title="",
            price="thirty",
            social_tariff_kind="none",
            no_social_tariff="",
            valid_until="next spring",
        ),
    )
    assert refused.status_code == 422
    shown = page_of(refused)
    assert field_error(shown, "offer-title") == "Error: Enter a title for the offer."
    assert (
        field_error(shown, "offer-price") == "Error: Enter an amount in pounds, like 30 or 29.99."
    )
    assert field_error(shown, "offer-valid_until") == "Error: Enter a date, like 2027-03-01."
    assert "Say plainly" in field_error(shown, "offer-no_social_tariff")
    assert shown.summary_links() == [
        "#offer-title",
        "#offer-price",
        "#offer-valid_until",
        "#offer-no_social_tariff",
    ]
    assert shown.by_id("offer-price").attrs["value"] == "thirty"  # what they typed, kept
    assert await table_snapshot(store) == before

    dearer = await client.post(url, data=offer_form(csrf_of(page.text), social_tariff_price="40"))
    assert dearer.status_code == 422
    assert "must not cost more" in field_error(page_of(dearer), "offer-social_tariff_price")
    assert await table_snapshot(store) == before

    posted = await client.post(url, data=offer_form(csrf_of(page.text)))
    assert posted.status_code == 303 and posted.headers["location"] == url
    [row] = await offer_rows(store)
    assert (row["price"], row["setup_fee"], row["minimum_term_months"]) == (2999, 5000, 12)
    assert (row["social_tariff_price"], row["social_tariff_eligibility"]) == (
        1500,
        "Households on Universal Credit.",
    )
    assert row["no_social_tariff"] is None
    listed = page_of(await client.get(url)).words
    assert "is published" in listed
    assert "£29.99 a month, set-up fee £50, minimum term 12 months" in listed
    assert "Social tariff: £15 a month. Who qualifies: Households on Universal Credit." in listed

    # Without a social tariff, a plain statement instead.
    plain = await client.post(
        url,
        data=offer_form(
            csrf_of(page.text),
            title="Basic 150",
            price="20",
            social_tariff_kind="none",
            social_tariff_price="",
            social_tariff_who_qualifies="",
            no_social_tariff="We have no social tariff; this is our cheapest plan.",
        ),
    )
    assert plain.status_code == 303
    second = (await offer_rows(store))[1]
    assert (second["price"], second["social_tariff_price"], second["no_social_tariff"]) == (
        2000,
        None,
        "We have no social tariff; this is our cheapest plan.",
    )


async def test_an_offer_changes_until_the_round_opens_and_is_fixed_after(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign, _ = await tipped(store)
    org, key = await organisation(store, "Northnet", LEEDS)
    offer = await offer_of(store, campaign, org)
    await sign_in(client, key)
    url = f"/org/campaigns/{campaign.slug}/offers/{offer.public_id}"

    form = page_of(await client.get(url))
    assert form.by_id("offer-price").attrs["value"] == "30"
    changed = await client.post(
        url, data=offer_form(csrf_of((await client.get(url)).text), price="27.50")
    )
    assert changed.status_code == 303
    assert (await offer_rows(store))[0]["price"] == 2750

    opened = await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    page = await client.get(url)
    assert page.status_code == 200
    assert f"This offer is fixed since {long_date(opened.opened_at)}" in page_of(page).words
    assert page_of(page).find("form", action=url) is None
    listing = page_of(await client.get(f"/org/campaigns/{campaign.slug}/offers"))
    assert listing.find("form", action=f"/org/campaigns/{campaign.slug}/offers") is None
    assert "Change this offer" not in listing.words

    before = await table_snapshot(store)
    refused = await client.post(url, data=offer_form(csrf_of(page.text), price="10"))
    assert refused.status_code == 409
    assert "This offer is fixed" in page_of(refused).words
    late = await client.post(
        f"/org/campaigns/{campaign.slug}/offers", data=offer_form(csrf_of(page.text))
    )
    assert late.status_code == 409
    assert "no new offers can be posted" in page_of(late).words
    assert await table_snapshot(store) == before

    # Withdrawing is still possible, with a reason residents read.
    withdraw = f"{url}/withdraw"
    no_reason = await client.post(withdraw, data={"csrf_token": csrf_of(page.text)})
    assert no_reason.status_code == 422
    assert "reason" in field_error(page_of(no_reason), f"reason-{offer.public_id}")
    assert await table_snapshot(store) == before
    done = await client.post(
        withdraw, data={"csrf_token": csrf_of(page.text), "reason": "Our survey found no ducts."}
    )
    assert done.status_code == 303
    row = (await offer_rows(store))[0]
    assert (row["status"], row["withdrawn_reason"]) == ("withdrawn", "Our survey found no ducts.")


async def test_a_provider_whose_endpoints_do_not_cover_the_campaign_is_refused(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign, _ = await tipped(store)
    _, key = await organisation(store, "Mancunian", MANCHESTER)
    await sign_in(client, key)
    everywhere = page_of(await client.get("/org/demand?everywhere=on"))
    assert campaign.title in everywhere.words
    assert f"/org/campaigns/{campaign.slug}/offers" not in [
        a.attrs.get("href") for a in everywhere.find_all("a")
    ]
    url = f"/org/campaigns/{campaign.slug}/offers"
    page = await client.get(url)
    assert page.status_code == 403
    assert "None of your active webhook endpoints covers this campaign" in page.text
    token = csrf_of((await client.get("/org/demand")).text)
    before = await table_snapshot(store)
    posted = await client.post(url, data=offer_form(token))
    assert posted.status_code == 403
    assert await table_snapshot(store) == before
    assert (await client.get(f"/org/campaigns/{campaign.slug}/choosers.csv")).status_code == 403


async def choose_offers(
    store: Store, pledge_ids: list[int], plan: list[tuple[Offer | None, bool]]
) -> None:
    for pledge_id, (offer, needs) in zip(pledge_ids, plan, strict=True):
        chosen = offer.public_id if offer else "none"
        await choose(store, pledge_id, ChoiceInput(chosen, needs, None))


async def test_a_provider_sees_its_own_totals_live_and_everyones_only_after_the_close(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign, ids = await tipped(store, 10)
    north, key = await organisation(store, "Northnet", LEEDS)
    south, _ = await organisation(store, "Southfibre", LEEDS)
    ours = await offer_of(store, campaign, north)
    theirs = await offer_of(store, campaign, south, title="Southfibre Gigabit", price=2500)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    # Ours: 7 (5 of them would need a social tariff); theirs: 2; none of these: 1.
    plan = [(ours, i < 5) for i in range(7)] + [(theirs, True), (theirs, False), (None, False)]
    await choose_offers(store, ids, plan)
    await sign_in(client, key)
    url = f"/org/campaigns/{campaign.slug}/offers"

    during = page_of(await client.get(url))
    assert chosen_counts(during) == ["7"]
    assert [e.words for e in during.elements if e.has_class("tariff-count")] == ["about 5"]
    assert "Southfibre" not in during.words and "Gigabit" not in during.words
    assert during.find("table") is None  # no results table before the close
    assert "choosers.csv" not in during.words

    await choose(store, ids[9], ChoiceInput(ours.public_id, False, None))  # a change of mind
    assert chosen_counts(page_of(await client.get(url))) == ["8"]

    await close_round(store, campaign.id)
    after = page_of(await client.get(url))
    rows = [
        [td.words for td in after.find_all("td") if tr in td.ancestors]
        for tr in after.find_all("tr")
        if tr.inside("results")
    ]
    assert [r for r in rows if r] == [
        ["Southfibre", "Southfibre Gigabit", "2", "fewer than 5"],
        ["Northnet", "Full fibre 900", "8", "about 5"],
        ["None of these", "0", ""],
    ]


async def test_the_contacts_download_holds_only_its_own_consenting_choosers_after_the_close(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = store_of(app)
    campaign = await make_campaign(store, target=2)
    names = ['=HYPERLINK("x")', "Bea Consents", "Cal Declines", "Dot Chose Theirs"]
    ids = [
        await make_confirmed_pledge(
            store, campaign.slug, i, name=name, share_contact=True, phone="0113 496 0001"
        )
        for i, name in enumerate(names)
    ]
    campaign = await get_campaign(store.database, campaign.slug)
    north, key = await organisation(store, "Northnet", LEEDS)
    south, south_key = await organisation(store, "Southfibre", LEEDS)
    ours = await offer_of(store, campaign, north)
    theirs = await offer_of(store, campaign, south, title="Southfibre Gigabit")
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await choose(store, ids[0], ChoiceInput(ours.public_id, True, None))
    await choose(store, ids[1], ChoiceInput(ours.public_id, False, True))
    await choose(store, ids[2], ChoiceInput(ours.public_id, False, False))
    await choose(store, ids[3], ChoiceInput(theirs.public_id, False, True))
    await sign_in(client, key)
    url = f"/org/campaigns/{campaign.slug}/choosers.csv"

    early = await client.get(url)
    assert early.status_code == 409
    assert "once the round closes" in early.text
    assert "Bea Consents" not in early.text

    await close_round(store, campaign.id)
    answer = await client.get(url)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(spreadsheet_text(answer))))
    assert rows[0] == ["offer", "offer_title", "name", "email", "phone", "address_line", "postcode"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows[1:]] == [
        (ours.public_id, "Full fibre 900", '\'=HYPERLINK("x")', "resident0@example.org"),
        (ours.public_id, "Full fibre 900", "Bea Consents", "resident1@example.org"),
    ]
    assert not re.search(r"Cal Declines|Dot Chose Theirs", answer.text)
    results = page_of(await client.get(f"/org/campaigns/{campaign.slug}/offers"))
    assert any(a.attrs.get("href") == url for a in results.find_all("a"))

    await sign_in(client, south_key)
    theirs_csv = list(csv.reader(io.StringIO(spreadsheet_text(await client.get(url)))))
    assert [r[2] for r in theirs_csv[1:]] == ["Dot Chose Theirs"]
