"""Pledges without email: a lead records one for a neighbour on their word; it counts at
once as vouched for, is refused when entered twice, and is never matched by email."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from notifications.outbox import scrub_pledge_mail
from pledges.campaigns import get_campaign
from pledges.erasure import erase_resident, resident_has_pledges
from pledges.errors import NotCampaignLead, ValidationFailed
from pledges.moderation import invalidate_pledges
from pledges.pledging import (
    AlreadyRecorded,
    PledgeInput,
    VouchedPledgeInput,
    parse_paper_pledge,
    parse_vouched_pledge,
    record_lead_pledge,
    record_vouched_pledge,
)
from pledges.retention import anonymise_closed_campaigns
from pledges.store import Store, utcnow
from pledges.tables import campaigns, households, pledges
from tests.conftest import table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead


def neighbour(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Edna Doorstep",
        "postcode": "ls6 1ab",
        "address_line": "12 Brudenell Road",
        "phone": "0113 496 0000",
        "show_name": False,
        "share_contact": True,
        "attested": True,
    }
    data.update(overrides)
    return data


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


async def test_a_pledge_without_email_counts_at_once_as_vouched(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    outcome = await record_vouched_pledge(
        store, campaign.slug, lead.id, parse_vouched_pledge(neighbour())
    )
    assert (outcome.status, outcome.repeated) == ("confirmed", False)
    assert outcome.progress is not None and outcome.progress.confirmed == 1
    row = await store.database.fetch_one(
        sa.select(pledges).where(pledges.c.id == outcome.pledge_id)
    )
    assert row is not None
    assert (row["email"], row["email_canonical"], row["source"], row["status"]) == (
        None,
        None,
        "paper",
        "confirmed",
    )
    assert (row["vouched_by"], row["phone"], row["postcode"]) == (
        lead.id,
        "0113 496 0000",
        "LS6 1AB",
    )
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_on_a_households_campaign_the_home_counts_once_as_vouched(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, counts="households", target=3)
    await record_vouched_pledge(store, campaign.slug, lead.id, parse_vouched_pledge(neighbour()))
    # Another person in the same home, another spelling of it: recorded, the home counts once.
    other = neighbour(name="Fred Doorstep", address_line="12, brudenell rd", phone=None)
    second = await record_vouched_pledge(store, campaign.slug, lead.id, parse_vouched_pledge(other))
    assert second.progress is not None
    assert (second.progress.confirmed, second.progress.households) == (2, 1)
    [home] = await store.database.fetch_all(sa.select(households))
    assert (home["level"], home["counting_pledge_id"] is not None) == ("vouched", True)


async def test_the_address_is_required_on_a_households_campaign(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, counts="households", target=3)
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as refused:
        await record_vouched_pledge(
            store, campaign.slug, lead.id, parse_vouched_pledge(neighbour(address_line=""))
        )
    assert fields(refused) == [("address_line", "required")]
    assert await table_snapshot(store) == before


async def test_the_same_neighbour_entered_twice_is_refused_naming_the_name(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    await record_vouched_pledge(store, campaign.slug, lead.id, parse_vouched_pledge(neighbour()))
    before = await table_snapshot(store)
    again = neighbour(name="EDNA DOORSTEP ", address_line="12 brudenell rd", phone=None)
    with pytest.raises(AlreadyRecorded) as refused:
        await record_vouched_pledge(store, campaign.slug, lead.id, parse_vouched_pledge(again))
    assert [e.field for e in refused.value.errors] == ["name"]
    assert await table_snapshot(store) == before
    # Someone else of that name at another address is another pledge.
    elsewhere = neighbour(address_line="14 Brudenell Road")
    await record_vouched_pledge(store, campaign.slug, lead.id, parse_vouched_pledge(elsewhere))
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"attested": False}, [("attested", "required")]),
        ({"attested": None}, [("attested", "required")]),
        ({"phone": "call me"}, [("phone", "not_valid")]),
        ({"phone": "12345"}, [("phone", "not_valid")]),
        ({"phone": "0113\x07496 0000"}, [("phone", "not_valid")]),
        ({"phone": "0" * 41}, [("phone", "too_long")]),
        ({"address_line": "x" * 5000}, [("address_line", "too_long")]),
        (
            {"name": "", "postcode": "nowhere"},
            [("name", "required"), ("postcode", "not_a_postcode")],
        ),
    ],
)
async def test_bad_input_is_refused_by_field_and_nothing_is_stored(
    store: Store, overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    lead, _ = await make_lead(store)
    await make_campaign(store, lead, target=5)
    before = await table_snapshot(store)
    with pytest.raises(ValidationFailed) as refused:
        parse_vouched_pledge(neighbour(**overrides))
    assert fields(refused) == expected
    assert await table_snapshot(store) == before


@pytest.mark.parametrize(
    "phone", ["0113 496 0000", "+44 (0)113 496 0000", "(0113) 4960000", "07700900123", "  "]
)
def test_phone_numbers_as_people_write_them(phone: str) -> None:
    spec = parse_vouched_pledge(neighbour(phone=phone))
    assert spec.phone == (phone.strip() or None)


def test_a_paper_pledge_goes_the_way_of_its_email() -> None:
    with_email = parse_paper_pledge(neighbour(email="edna@example.org", attested=False))
    assert isinstance(with_email, PledgeInput)
    assert (with_email.email, with_email.phone) == ("edna@example.org", "0113 496 0000")
    for blank in (None, "", "   "):
        assert isinstance(parse_paper_pledge(neighbour(email=blank)), VouchedPledgeInput)
    with pytest.raises(ValidationFailed) as refused:
        parse_paper_pledge(neighbour(email="", attested=False, phone="nope"))
    assert fields(refused) == [("phone", "not_valid"), ("attested", "required")]


async def test_only_the_campaigns_lead_and_never_on_a_money_campaign(store: Store) -> None:
    lead, _ = await make_lead(store)
    other, _ = await make_lead(store, "other@example.org")
    campaign = await make_campaign(store, lead, target=5)
    spec = parse_vouched_pledge(neighbour())
    with pytest.raises(NotCampaignLead):
        await record_lead_pledge(store, campaign.slug, other.id, spec)
    money = await make_campaign(store, lead, target=5, money={"currency": "gbp", "deposit": 2000})
    with pytest.raises(ValidationFailed) as refused:
        await record_lead_pledge(store, money.slug, lead.id, spec)
    assert fields(refused) == [("email", "money_online_only")]
    assert await store.database.fetch_val(sa.select(sa.func.count()).select_from(pledges)) == 0


async def test_erasure_and_moderation_by_email_never_touch_a_pledge_without_email(
    store: Store,
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    by_hand = await record_vouched_pledge(
        store, campaign.slug, lead.id, parse_vouched_pledge(neighbour())
    )
    await make_confirmed_pledge(store, campaign.slug, 1, email="someone@example.org")

    assert not await resident_has_pledges(store.database, "")
    assert await erase_resident(store, "", scrub_mail=scrub_pledge_mail) == 0
    result = await invalidate_pledges(store, email_domain="example.org")
    assert result.total == 1
    row = await store.database.fetch_one(
        sa.select(pledges.c.status, pledges.c.name).where(pledges.c.id == by_hand.pledge_id)
    )
    assert row is not None and (row["status"], row["name"]) == ("confirmed", "Edna Doorstep")
    assert (await get_campaign(store.database, campaign.slug)).confirmed == 1


async def test_anonymised_a_pledge_without_email_keeps_none(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(store, lead, target=5)
    outcome = await record_vouched_pledge(
        store, campaign.slug, lead.id, parse_vouched_pledge(neighbour())
    )
    await store.database.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign.id)
        .values(status="expired", closed_at=utcnow())
    )
    later = utcnow() + timedelta(days=60)
    await anonymise_closed_campaigns(store, 30, later, scrub_mail=scrub_pledge_mail)
    row = await store.database.fetch_one(
        sa.select(pledges).where(pledges.c.id == outcome.pledge_id)
    )
    assert row is not None and row["anonymised_at"] is not None
    assert (row["email"], row["email_canonical"], row["phone"], row["name"]) == (
        None,
        None,
        None,
        "",
    )
