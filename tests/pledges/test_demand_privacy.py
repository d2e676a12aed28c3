"""A resident's answer to the price question, as personal data: it is in their download;
erasing clears it; anonymising after the campaign closes keeps a counted pledge's answer
(an anonymous figure of the demand curve) and clears the others'."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from notifications.outbox import scrub_pledge_mail
from pledges.campaigns import Campaign, get_campaign
from pledges.demand_curve import demand_curve
from pledges.erasure import erase_resident, resident_pledges
from pledges.identity import canonical_email
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.retention import anonymise_closed_campaigns
from pledges.store import Store
from pledges.tables import pledges
from tests.factories import make_campaign, pledge_data

QUESTION = {"currency": "gbp", "period": "month", "price_points": [2000, 2500, 3000]}


async def pledge(store: Store, slug: str, i: int, *, confirm: bool = True, **extra: Any) -> int:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, **extra)))
    if confirm:
        await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def answers(store: Store, campaign: Campaign) -> dict[int, tuple[Any, str]]:
    rows = await store.database.fetch_all(
        sa.select(pledges.c.id, pledges.c.max_price, pledges.c.firmness).where(
            pledges.c.campaign_id == campaign.id
        )
    )
    return {r["id"]: (r["max_price"], r["firmness"]) for r in rows}


async def curve_counts(store: Store, slug: str) -> list[tuple[int, dict[str, int]]]:
    campaign = await get_campaign(store.database, slug)
    curve = await demand_curve(store.database, campaign)
    assert curve is not None
    return [(p.count, p.by_firmness) for p in curve.points]


async def test_the_residents_download_holds_their_answer_and_its_question(store: Store) -> None:
    priced = await make_campaign(store, price_question=QUESTION)
    plain = await make_campaign(store)
    await pledge(store, priced.slug, 1, max_price=2500, firmness="interested")
    await pledge(store, plain.slug, 1, email="Resident1@example.org")
    await pledge(store, priced.slug, 2, max_price="not_sure", firmness="deposit")

    mine = {
        p.campaign_slug: p.personal_data()
        for p in await resident_pledges(store.database, canonical_email("resident1@example.org"))
    }
    assert mine[priced.slug]["most_you_would_pay"] == 2500
    assert mine[priced.slug]["firmness"] == "interested"
    assert mine[priced.slug]["price_question"] == {"currency": "gbp", "period": "month"}
    assert mine[plain.slug]["most_you_would_pay"] is None
    assert mine[plain.slug]["price_question"] is None
    [unsure] = await resident_pledges(store.database, canonical_email("resident2@example.org"))
    assert (unsure.personal_data()["most_you_would_pay"], unsure.firmness) == (None, "deposit")


async def test_erasing_clears_the_answer_of_each_erased_pledge(store: Store) -> None:
    campaign = await make_campaign(store, price_question=QUESTION, target=50)
    later = await make_campaign(store, price_question=QUESTION, target=50)
    mine = await pledge(store, campaign.slug, 1, max_price=3000, firmness="deposit")
    pending = await pledge(store, later.slug, 1, confirm=False, max_price=2000)
    other = await pledge(store, campaign.slug, 2, max_price=3000, firmness="deposit")
    assert (
        await curve_counts(store, campaign.slug)
        == [(2, {"interested": 0, "will_switch": 0, "deposit": 2})] * 3
    )

    await erase_resident(
        store, canonical_email("resident1@example.org"), scrub_mail=scrub_pledge_mail
    )
    stored = {**await answers(store, campaign), **await answers(store, later)}
    assert stored[mine][0] is None and stored[pending][0] is None
    assert stored[other] == (3000, "deposit")  # nobody else's answer moves
    assert (
        await curve_counts(store, campaign.slug)
        == [(1, {"interested": 0, "will_switch": 0, "deposit": 1})] * 3
    )


async def test_anonymising_keeps_a_counted_pledges_answer_and_clears_the_rest(
    store: Store,
) -> None:
    campaign = await make_campaign(store, price_question=QUESTION, target_price=2500, target=2)
    counted = [
        await pledge(store, campaign.slug, 1, max_price=2500, firmness="interested"),
        await pledge(store, campaign.slug, 2, max_price=3000),
        await pledge(store, campaign.slug, 3, max_price=2000, firmness="deposit"),
    ]
    withdrawn = await pledge(store, campaign.slug, 4, max_price=3000)
    await withdraw_pledge(store, withdrawn)
    pending = await pledge(store, campaign.slug, 5, confirm=False, max_price=2500)
    tipped = await get_campaign(store.database, campaign.slug)
    assert tipped.status == "tipped"
    before = await answers(store, campaign)
    curve = await curve_counts(store, campaign.slug)

    now = tipped.deadline + timedelta(days=31)
    assert await anonymise_closed_campaigns(store, 30, now, scrub_mail=scrub_pledge_mail) == 5

    after = await answers(store, campaign)
    for pledge_id in counted:
        assert after[pledge_id] == before[pledge_id]
    assert after[withdrawn] == (None, "will_switch")
    assert after[pending] == (None, "will_switch")
    assert await curve_counts(store, campaign.slug) == curve
    rows = await store.database.fetch_all(
        sa.select(pledges.c.name, pledges.c.anonymised_at).where(
            pledges.c.campaign_id == campaign.id
        )
    )
    assert all(r["name"] == "" and r["anonymised_at"] is not None for r in rows)
