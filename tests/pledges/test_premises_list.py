"""The premises list: the lead's list replaces the old one in one transaction (keeping the
letter codes of addresses that stay), coverage counts households on it, a list that makes
coverage reach the target tips the campaign once, and addresses not on it await review."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pledges.campaigns import get_campaign, open_campaign
from pledges.errors import NotCampaignLead
from pledges.journal import events_for_campaign
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.premises import parse_premises_json
from pledges.premises_list import (
    NotAwaitingReview,
    PremisesRefused,
    add_to_list,
    awaiting_review_count,
    coverage_by_district,
    coverage_by_street,
    leave_out,
    replace_premises,
    unlisted_households,
    walk_sheet,
)
from pledges.store import Store
from pledges.tables import households, premises
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_lead, pledge_data


def rows(*lines: str, postcode: str = "LS6 1AB") -> list[dict[str, str]]:
    return [{"address_line": line, "postcode": postcode} for line in lines]


BRUDENELL = [f"{n} Brudenell Road" for n in (2, 4, 6, 8, 10)]
MANOR = [f"{n} Manor Drive" for n in (1, 3, 5, 7, 9)]
TEN = rows(*BRUDENELL, *MANOR)


async def _households_campaign(store: Store, **overrides: object) -> tuple[int, str]:
    lead, _ = await make_lead(store)
    values: dict[str, object] = {"counts": "households", "target": None, "coverage_target": 50}
    values.update(overrides)
    campaign = await make_campaign(store, lead, draft=True, **values)
    return lead.id, campaign.slug


async def _confirmed(store: Store, slug: str, i: int, line: str, postcode: str = "LS6 1AB") -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i, address_line=line, postcode=postcode))
    )
    await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


async def test_a_list_is_stored_and_counts_towards_coverage(store: Store) -> None:
    lead_id, slug = await _households_campaign(store)

    summary = await replace_premises(store, slug, lead_id, parse_premises_json(TEN))

    assert (summary.listed, summary.added, summary.removed, summary.kept) == (10, 10, 0, 0)
    assert summary.counted_households_listed == 0 and summary.coverage_percent == 0.0
    campaign = await get_campaign(store.database, slug)
    assert campaign.premises_listed == 10 and campaign.premises == 10
    await open_campaign(store, slug, lead_id)
    await _confirmed(store, slug, 1, "2 Brudenell Rd")
    await _confirmed(store, slug, 2, "2, brudenell road")  # the same home
    await _confirmed(store, slug, 3, "99 Elsewhere Street")  # not on the list
    campaign = await get_campaign(store.database, slug)
    assert (campaign.household_count, campaign.covered_count) == (2, 1)
    assert campaign.tally.coverage_percent == 10.0
    streets = await coverage_by_street(store.database, campaign.id)
    assert [(c.name, c.listed, c.counted, c.percent, c.to_knock) for c in streets] == [
        ("Brudenell Road", 5, 1, 20.0, 4),
        ("Manor Drive", 5, 0, 0.0, 5),
    ]
    districts = await coverage_by_district(store.database, campaign.id)
    assert [(c.name, c.listed, c.counted) for c in districts] == [("LS6", 10, 1)]
    assert await walk_sheet(store.database, campaign.id, "Brudenell Road") == BRUDENELL[1:]


async def test_replacing_keeps_the_letter_codes_of_addresses_that_stay(store: Store) -> None:
    lead_id, slug = await _households_campaign(store)
    await replace_premises(store, slug, lead_id, parse_premises_json(TEN))
    await store.database.execute(
        sa.update(premises)
        .where(premises.c.address_key == "2 BRUDENELL ROAD")
        .values(code_hash="a" * 64)
    )

    # Two go, one stays spelt differently, seven stay, two come.
    new = rows("2 Brudenell Rd", *BRUDENELL[1:], *MANOR[:3], "11 Manor Drive", "13 Manor Drive")
    summary = await replace_premises(store, slug, lead_id, parse_premises_json(new))

    assert (summary.listed, summary.added, summary.removed, summary.kept) == (10, 2, 2, 8)
    kept = await store.database.fetch_one(
        sa.select(premises.c.code_hash, premises.c.address_line).where(
            premises.c.address_key == "2 BRUDENELL ROAD"
        )
    )
    assert kept is not None and kept["code_hash"] == "a" * 64
    assert kept["address_line"] == "2 Brudenell Rd"
    lines = await store.database.fetch_all(sa.select(premises.c.address_line))
    assert "7 Manor Drive" not in {r["address_line"] for r in lines}


async def test_a_list_that_makes_coverage_reach_the_target_tips_it_once(store: Store) -> None:
    lead_id, slug = await _households_campaign(store, coverage_target=50, premises={"count": 40})
    await open_campaign(store, slug, lead_id)
    for i, line in enumerate(BRUDENELL[:3]):
        await _confirmed(store, slug, i, line)
    assert (await get_campaign(store.database, slug)).status == "open"  # 3 of 40

    await replace_premises(store, slug, lead_id, parse_premises_json(rows(*BRUDENELL)))

    campaign = await get_campaign(store.database, slug)
    assert (campaign.status, campaign.covered_count, campaign.premises_listed) == ("tipped", 3, 5)
    kinds = [e.type for e in await events_for_campaign(store.database, campaign.id)]
    assert kinds.count("campaign.tipped") == 1
    assert "campaign.premises_replaced" in kinds
    replaced = [
        e
        for e in await events_for_campaign(store.database, campaign.id)
        if e.type == "campaign.premises_replaced"
    ]
    assert replaced[0].payload == {"listed": 5}


async def test_the_list_cannot_change_once_tipped(store: Store) -> None:
    lead_id, slug = await _households_campaign(store)
    await replace_premises(store, slug, lead_id, parse_premises_json(rows(*BRUDENELL[:2])))
    await open_campaign(store, slug, lead_id)
    await _confirmed(store, slug, 1, BRUDENELL[0])
    assert (await get_campaign(store.database, slug)).status == "tipped"
    before = await table_snapshot(store)

    with pytest.raises(PremisesRefused) as refused:
        await replace_premises(store, slug, lead_id, parse_premises_json(TEN))

    assert refused.value.status == "tipped" and "tipped" in str(refused.value)
    assert await table_snapshot(store) == before


async def test_a_people_campaign_and_another_lead_are_refused(store: Store) -> None:
    lead, _ = await make_lead(store)
    people = await make_campaign(store, lead)
    with pytest.raises(PremisesRefused, match="counts people"):
        await replace_premises(store, people.slug, lead.id, parse_premises_json(TEN))
    _, slug = await _households_campaign(store)
    other, _ = await make_lead(store, "other@example.org")
    with pytest.raises(NotCampaignLead):
        await replace_premises(store, slug, other.id, parse_premises_json(TEN))
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(premises)) == 0


async def test_addresses_not_on_the_list_await_review_then_are_added_or_left_out(
    store: Store,
) -> None:
    lead_id, slug = await _households_campaign(store, coverage_target=15)
    await replace_premises(store, slug, lead_id, parse_premises_json(TEN))
    await open_campaign(store, slug, lead_id)
    await _confirmed(store, slug, 1, "99 Elsewhere Street")
    await _confirmed(store, slug, 2, "99 elsewhere st")
    await record_pledge(
        store, slug, parse_pledge(pledge_data(3, address_line="1 Far Lane", postcode="LS6 2DE"))
    )
    await _confirmed(store, slug, 4, BRUDENELL[0])
    campaign = await get_campaign(store.database, slug)

    waiting = await unlisted_households(store.database, campaign)
    assert [(u.address_line, u.postcode, u.pledges) for u in waiting] == [
        ("99 Elsewhere Street", "LS6 1AB", 2),
        ("1 Far Lane", "LS6 2DE", 1),
    ]
    assert await awaiting_review_count(store.database, campaign) == 2

    summary = await add_to_list(store, slug, lead_id, waiting[0].household_id)
    assert (summary.listed, summary.counted_households_listed) == (11, 2)
    campaign = await get_campaign(store.database, slug)
    assert campaign.status == "tipped"  # 2 of 11 reaches 15 %
    await leave_out(store, slug, lead_id, waiting[1].household_id)
    assert await unlisted_households(store.database, campaign) == []
    with pytest.raises(NotAwaitingReview):
        await leave_out(store, slug, lead_id, waiting[1].household_id)
    left = await store.database.fetch_one(
        sa.select(households.c.listed, households.c.left_out_at).where(
            households.c.id == waiting[1].household_id
        )
    )
    assert left is not None and not left["listed"] and left["left_out_at"] is not None


async def test_without_a_list_nothing_awaits_review(store: Store) -> None:
    lead_id, slug = await _households_campaign(store, premises={"count": 10})
    await open_campaign(store, slug, lead_id)
    await _confirmed(store, slug, 1, "99 Elsewhere Street")
    campaign = await get_campaign(store.database, slug)
    assert await unlisted_households(store.database, campaign) == []
    assert await awaiting_review_count(store.database, campaign) == 0
