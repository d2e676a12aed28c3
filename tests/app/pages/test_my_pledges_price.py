"""A resident's answer to a campaign's price question on "Your pledges" and in their
download: the most they would pay, in the campaign's currency and period, and how firm."""

from __future__ import annotations

import json

import httpx

from pledges.pledging import confirm_pledge
from pledges.store import Store
from tests.app.pages.test_my_pledges import card_of, pledge_as_jo, sign_in
from tests.app.pages.test_residents import page_of
from tests.factories import make_campaign

QUESTION = {"currency": "gbp", "period": "month", "price_points": [2000, 2500, 3000]}


async def test_your_pledges_shows_the_most_you_would_pay_and_how_firm(
    client: httpx.AsyncClient, store: Store
) -> None:
    priced = await make_campaign(store, title="Full fibre at a fair price", price_question=QUESTION)
    unsure = await make_campaign(store, title="Full fibre, price unknown", price_question=QUESTION)
    plain = await make_campaign(store, title="Weekly bins", category="waste")
    answered = await pledge_as_jo(
        store, priced, "jo.smith@gmail.com", max_price=2500, firmness="interested"
    )
    not_sure = await pledge_as_jo(store, unsure, "jo.smith@gmail.com", max_price="not_sure")
    no_question = await pledge_as_jo(store, plain, "jo.smith@gmail.com")
    await confirm_pledge(store, answered)

    await sign_in(client, store, "jo.smith@gmail.com")
    page = page_of(await client.get("/me"))
    assert "The most you would pay £25 a month" in card_of(page, answered)
    assert "How firm Interested" in card_of(page, answered)
    assert "The most you would pay Not sure" in card_of(page, not_sure)
    assert "How firm Will switch when it is offered at or below my price" in card_of(page, not_sure)
    assert "most you would pay" not in card_of(page, no_question)
    assert "How firm" not in card_of(page, no_question)

    data = json.loads((await client.get("/me/data.json")).text)
    by_id = {p["pledge_id"]: p for p in data["pledges"]}
    assert (by_id[answered]["most_you_would_pay"], by_id[answered]["firmness"]) == (
        2500,
        "interested",
    )
    assert by_id[answered]["price_question"] == {"currency": "gbp", "period": "month"}
    assert (by_id[not_sure]["most_you_would_pay"], by_id[not_sure]["firmness"]) == (
        None,
        "will_switch",
    )
    assert by_id[no_question]["price_question"] is None
