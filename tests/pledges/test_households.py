"""Households: one confirmed pledge per home counts, exactly, under concurrency, on SQLite
and PostgreSQL; another pledge from the home takes the place of one that stops counting."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from pledges.campaigns import get_campaign, parse_campaign
from pledges.errors import ValidationFailed
from pledges.journal import events_for_campaign
from pledges.pledging import (
    confirm_pledge,
    parse_pledge,
    record_paper_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.store import Store
from pledges.tables import households, pledges
from tests.factories import campaign_data, make_campaign, make_lead, pledge_data

# Ten homes on two streets; several spellings of each.
STREETS = ("Brudenell Road", "Manor Drive")


def address(home: int, person: int = 0) -> str:
    number = 2 * (home // 2) + 10
    street = STREETS[home % 2]
    spellings = (
        f"{number} {street}",
        f"{number}, {street.upper()}",
        f"  {number} {street.lower()} ",
    )
    return spellings[person % len(spellings)]


async def _pledge(store: Store, slug: str, i: int, line: str | None, **extra: object) -> int:
    outcome = await record_pledge(
        store, slug, parse_pledge(pledge_data(i, address_line=line, **extra))
    )
    return outcome.pledge_id


async def test_a_households_campaign_counts_each_home_once(store: Store) -> None:
    campaign = await make_campaign(store, counts="households", target=3)
    ids = [await _pledge(store, campaign.slug, i, address(0, i)) for i in range(3)]
    ids.append(await _pledge(store, campaign.slug, 3, address(1)))
    for pledge_id in ids:
        await confirm_pledge(store, pledge_id)

    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count, after.status) == (4, 2, "open")
    assert after.percent == 66


async def test_the_address_is_required_on_a_households_campaign(store: Store) -> None:
    campaign = await make_campaign(store, counts="households", target=3)
    with pytest.raises(ValidationFailed) as refused:
        await record_pledge(store, campaign.slug, parse_pledge(pledge_data(1)))
    assert [(e.field, e.code) for e in refused.value.errors] == [("address_line", "required")]
    people = await make_campaign(store, target=3)
    await record_pledge(store, people.slug, parse_pledge(pledge_data(1)))  # not asked there


async def test_another_pledge_from_the_home_takes_the_place_of_a_withdrawn_one(
    store: Store,
) -> None:
    campaign = await make_campaign(store, counts="households", target=5)
    first = await _pledge(store, campaign.slug, 1, address(0, 0))
    second = await _pledge(store, campaign.slug, 2, address(0, 1))
    await confirm_pledge(store, first)
    await confirm_pledge(store, second)
    row = await store.database.fetch_one(sa.select(households))
    assert row is not None and row["counting_pledge_id"] == first

    await withdraw_pledge(store, first)
    row = await store.database.fetch_one(sa.select(households))
    assert row is not None and row["counting_pledge_id"] == second
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (1, 1)

    await withdraw_pledge(store, second)
    row = await store.database.fetch_one(sa.select(households))
    assert row is not None and row["counting_pledge_id"] is None and row["level"] is None
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (0, 0)


async def test_a_paper_pledge_counts_its_household_as_vouched(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, counts="households", target=5)
    online = await _pledge(store, campaign.slug, 1, address(0, 0))
    await confirm_pledge(store, online)
    outcome = await record_paper_pledge(
        store, campaign.slug, lead.id, parse_pledge(pledge_data(2, address_line=address(0, 1)))
    )
    assert outcome.progress is not None and outcome.progress.households == 1
    row = await store.database.fetch_one(sa.select(households))
    assert row is not None and (row["counting_pledge_id"], row["level"]) == (online, "vouched")


async def test_fifty_people_at_ten_homes_confirming_at_once_are_ten_households(
    store: Store,
) -> None:
    campaign = await make_campaign(store, counts="households", target=10)
    ids = [await _pledge(store, campaign.slug, i, address(i % 10, i // 10)) for i in range(50)]

    await asyncio.gather(*(confirm_pledge(store, i) for i in ids))

    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count, after.status) == (50, 10, "tipped")
    counted = await store.database.fetch_val(
        sa.select(sa.func.count())
        .select_from(households)
        .where(
            households.c.campaign_id == campaign.id, households.c.counting_pledge_id.is_not(None)
        )
    )
    assert counted == 10
    events = await events_for_campaign(store.database, campaign.id)
    tipped = [e for e in events if e.type == "campaign.tipped"]
    assert len(tipped) == 1
    assert tipped[0].payload["households"]["count"] == 10
    assert tipped[0].payload["households"]["by_level"] == {"letter": 0, "vouched": 0, "email": 10}
    assert tipped[0].payload["households"]["by_district"] == {"LS6": 10}
    assert "address" not in str(tipped[0].payload).lower().replace("address_", "")


async def test_confirming_and_withdrawing_at_once_at_the_same_homes_stays_exact(
    store: Store,
) -> None:
    campaign = await make_campaign(store, counts="households", target=1000)
    ids = [await _pledge(store, campaign.slug, i, address(i % 10, i // 10)) for i in range(40)]
    await asyncio.gather(*(confirm_pledge(store, i) for i in ids[:20]))

    # Withdraw the first twenty while the other twenty confirm, at the same ten homes.
    await asyncio.gather(
        *(withdraw_pledge(store, i) for i in ids[:20]),
        *(confirm_pledge(store, i) for i in ids[20:]),
    )

    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (20, 10)
    # Each home is counted by one of its own pledges that is still confirmed.
    rows = await store.database.fetch_all(
        sa.select(households.c.id, households.c.counting_pledge_id, pledges.c.household_id)
        .select_from(households.join(pledges, pledges.c.id == households.c.counting_pledge_id))
        .where(households.c.campaign_id == campaign.id, pledges.c.status == "confirmed")
    )
    assert len(rows) == 10
    assert all(r["household_id"] == r["id"] for r in rows)
    assert {r["counting_pledge_id"] for r in rows} <= set(ids[20:])


async def test_a_coverage_target_tips_at_its_share_of_the_premises(store: Store) -> None:
    campaign = await make_campaign(
        store,
        counts="households",
        target=None,
        coverage_target=40,
        premises={"count": 12},
    )
    # 40 % of 12 premises is 4.8: the fifth household tips it.
    for home in range(4):
        for person in range(2):
            pledge_id = await _pledge(
                store, campaign.slug, home * 2 + person, address(home, person)
            )
            await confirm_pledge(store, pledge_id)
    before = await get_campaign(store.database, campaign.slug)
    assert (before.household_count, before.status) == (4, "open")
    assert before.tally.coverage_percent == 33.3
    last = await _pledge(store, campaign.slug, 99, address(4))
    await confirm_pledge(store, last)
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.status) == (5, "tipped")


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"counts": "flats"}, "counts", "not_in_choices"),
        ({"coverage_target": 40}, "coverage_target", "households_only"),
        ({"counts": "households", "coverage_target": 0}, "coverage_target", "out_of_range"),
        ({"counts": "households", "coverage_target": 40}, "coverage_target", "target_or_coverage"),
        (
            {"counts": "households", "coverage_target": 40, "target": None},
            "premises",
            "required",
        ),
        ({"premises": {"count": 0}}, "premises.count", "out_of_range"),
        ({"premises": 140}, "premises", "not_an_object"),
        ({"require_letter": True}, "require_letter", "households_only"),
        ({"require_letter": "yes"}, "require_letter", "not_a_boolean"),
    ],
)
def test_household_settings_are_checked(
    overrides: dict[str, object], field: str, code: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_campaign(campaign_data(**overrides))
    assert (field, code) in [(e.field, e.code) for e in refused.value.errors]


def test_a_draft_may_leave_the_premises_for_later() -> None:
    spec = parse_campaign(
        campaign_data(counts="households", coverage_target=40, target=None, draft=True)
    )
    assert (spec.coverage_target, spec.premises_count, spec.target) == (40, None, 0)
