"""A resident's choice between providers' offers on "Your pledges" and in their download:
the offer and its provider (or none of these), their social-tariff answer, their consent
to be contacted by the provider they chose, and when they confirmed the service reached
them. On a campaign that counts homes, a housemate sees the home's choice, never the
private answers of whoever made it."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import sqlalchemy as sa

from pledges.campaigns import get_campaign
from pledges.choices import NONE_OF_THESE, ChoiceInput, choose, close_round, open_round
from pledges.pledging import confirm_pledge
from pledges.store import Store, utcnow
from pledges.tables import choices
from tests.app.pages.test_my_pledges import card_of, pledge_as_jo, sign_in
from tests.app.pages.test_residents import page_of
from tests.factories import make_campaign
from tests.pledges.test_choices import two_offers
from tests.pledges.test_households import _pledge, address

JO = "jo.smith@gmail.com"


async def test_your_pledges_shows_your_choice_and_your_download_holds_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, title="Full fibre for Royal Park", target=1)
    other = await make_campaign(store, title="Food waste caddies", target=1)
    chose = await pledge_as_jo(store, campaign, JO, share_contact=False)
    declined = await pledge_as_jo(store, other, JO)
    for pledge_id in (chose, declined):
        await confirm_pledge(store, pledge_id)
    campaign = await get_campaign(store.database, campaign.slug)
    other = await get_campaign(store.database, other.slug)
    north, _south = await two_offers(store, campaign)
    await two_offers(store, other)
    for tipped in (campaign, other):
        await open_round(store, tipped.id, utcnow() + timedelta(days=10))
    await choose(store, chose, ChoiceInput(north.public_id, True, True))
    await choose(store, declined, ChoiceInput(NONE_OF_THESE, False, None))
    assert await close_round(store, campaign.id)
    served = utcnow().replace(microsecond=0)
    await store.database.execute(
        sa.update(choices).where(choices.c.pledge_id == chose).values(service_confirmed_at=served)
    )

    await sign_in(client, store, JO)
    page = page_of(await client.get("/me"))
    card = card_of(page, chose)
    assert "Your choice between the providers' offers Full fibre 900, from Northnet" in card
    assert "You said you would need a social tariff Yes" in card
    assert "Contact details shared with the provider you chose Yes" in card
    assert f"The service reached your home {served.day} {served:%B %Y}" in card
    card = card_of(page, declined)
    assert "Your choice between the providers' offers None of these" in card
    assert "You said you would need a social tariff No" in card
    assert "provider you chose" not in card

    data = json.loads((await client.get("/me/data.json")).text)
    by_id = {p["pledge_id"]: p for p in data["pledges"]}
    assert by_id[chose]["choice"] == {
        "offer": {"id": north.public_id, "title": "Full fibre 900", "provider": "Northnet"},
        "none_of_these": False,
        "chosen_by": "you",
        "needs_social_tariff": True,
        "share_contact_with_chosen_provider": True,
        "chosen_at": by_id[chose]["choice"]["chosen_at"],
        "service_confirmed_at": served.isoformat(),
    }
    assert by_id[chose]["choice"]["chosen_at"] is not None
    assert by_id[declined]["choice"]["offer"] is None
    assert by_id[declined]["choice"]["none_of_these"] is True
    # The choice defaults to the consent given when pledging (none here).
    assert by_id[declined]["choice"]["share_contact_with_chosen_provider"] is False


async def test_a_housemate_sees_the_home_choice_but_not_who_needs_a_social_tariff(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store, counts="households", target=1)
    housemate = await _pledge(store, campaign.slug, 1, address(0, 1), email="sam@example.org")
    jo = await _pledge(store, campaign.slug, 0, address(0, 0), email=JO, name="Jo Smith")
    for pledge_id in (housemate, jo):
        await confirm_pledge(store, pledge_id)
    campaign = await get_campaign(store.database, campaign.slug)
    assert (campaign.status, campaign.household_count) == ("tipped", 1)
    north, _south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await choose(store, housemate, ChoiceInput(north.public_id, True, True))

    await sign_in(client, store, JO)
    card = card_of(page_of(await client.get("/me")), jo)
    assert (
        "Your home's choice between the providers' offers Full fibre 900, from Northnet "
        "(chosen by another pledger from your home)" in card
    )
    assert "social tariff" not in card
    assert "provider you chose" not in card

    data = json.loads((await client.get("/me/data.json")).text)
    [mine] = data["pledges"]
    assert mine["choice"]["chosen_by"] == "another pledger from your home"
    assert mine["choice"]["offer"]["title"] == "Full fibre 900"
    assert (
        mine["choice"]["needs_social_tariff"],
        mine["choice"]["share_contact_with_chosen_provider"],
    ) == (None, None)
