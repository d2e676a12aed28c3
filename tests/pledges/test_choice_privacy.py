"""A resident's choice between providers' offers is personal data: erasure and anonymisation
take it back during an open round, and after the round closed keep the offer chosen (the
results stand, as reported) but never the private answers, "I would need a social tariff"
and "the provider I chose may contact me". The contacts a provider downloads never say who
needs a social tariff. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from notifications.outbox import scrub_pledge_mail
from pledges.campaigns import Campaign, get_campaign
from pledges.choices import (
    NONE_OF_THESE,
    ChoiceInput,
    Chooser,
    choose,
    choosers_for_provider,
    close_round,
    counted_choices,
    open_round,
)
from pledges.erasure import erase_pledge_without_email, erase_resident
from pledges.errors import WrongState
from pledges.identity import canonical_email
from pledges.pledging import confirm_pledge, parse_vouched_pledge, record_vouched_pledge
from pledges.retention import anonymise_closed_campaigns
from pledges.store import Store, utcnow
from pledges.tables import choice_rounds, choices, offers
from tests.factories import make_campaign
from tests.pledges.test_choices import tipped_campaign, two_offers
from tests.pledges.test_households import _pledge, address

DAYS = 30


async def counters(store: Store, campaign_id: int) -> dict[str, Any]:
    """Every counter of the round and its offers, as stored."""
    current = await store.database.fetch_one(
        sa.select(choice_rounds).where(choice_rounds.c.campaign_id == campaign_id)
    )
    assert current is not None
    rows = await store.database.fetch_all(
        sa.select(offers.c.id, offers.c.chosen_count, offers.c.social_tariff_count).where(
            offers.c.campaign_id == campaign_id
        )
    )
    return {
        "round": (current["chose_count"], current["none_count"], current["social_tariff_count"]),
        "offers": {r["id"]: [r["chosen_count"], r["social_tariff_count"]] for r in rows},
    }


def oracle_as_counters(oracle: dict[str, Any], offer_ids: list[int]) -> dict[str, Any]:
    return {
        "round": (oracle["chose"], oracle["none"], oracle["social_tariff"]),
        "offers": {i: oracle["offers"].get(i, [0, 0]) for i in offer_ids},
    }


async def choice_rows(store: Store, campaign_id: int) -> dict[int, dict[str, Any]]:
    rows = await store.database.fetch_all(
        sa.select(choices).where(choices.c.campaign_id == campaign_id)
    )
    return {r["pledge_id"]: dict(r._mapping) for r in rows}


async def chosen_round(store: Store, pledgers: int = 6) -> tuple[Campaign, list[int], Any, Any]:
    """A tipped campaign whose pledgers (Resident 0..n, those of even number sharing their
    contact details) all chose in an open round, every one saying they would need a social
    tariff: north for even numbers, south for odd, and the last none of these."""
    campaign, ids = await tipped_campaign(store, pledgers)
    north, south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    for n, pledge_id in enumerate(ids):
        offer = NONE_OF_THESE if n == len(ids) - 1 else [north, south][n % 2].public_id
        await choose(store, pledge_id, ChoiceInput(offer, True, None))
    return campaign, ids, north, south


async def test_erasing_during_the_open_round_takes_the_choice_back(store: Store) -> None:
    campaign, ids, north, south = await chosen_round(store)
    before = await counters(store, campaign.id)
    assert before["round"] == (5, 1, 6)

    assert (
        await erase_resident(
            store, canonical_email("resident0@example.org"), scrub_mail=scrub_pledge_mail
        )
        == 1
    )

    after = await counters(store, campaign.id)
    assert after["round"] == (4, 1, 5)
    assert after["offers"][north.id] == [2, 2]
    assert after == oracle_as_counters(
        await counted_choices(store.database, campaign.id), [north.id, south.id]
    )
    assert ids[0] not in await choice_rows(store, campaign.id)


async def test_erasing_after_the_round_closed_keeps_the_results_but_no_private_answer(
    store: Store,
) -> None:
    campaign, ids, north, _south = await chosen_round(store)
    assert await close_round(store, campaign.id)
    results = await counters(store, campaign.id)
    contacts = await choosers_for_provider(store.database, campaign.id, north.organisation_id)
    assert [c.name for c in contacts] == ["Resident 0", "Resident 2", "Resident 4"]

    await erase_resident(
        store, canonical_email("resident2@example.org"), scrub_mail=scrub_pledge_mail
    )

    # The results were reported when the round closed: they stand, figures naming no one.
    assert await counters(store, campaign.id) == results
    rows = await choice_rows(store, campaign.id)
    erased = rows[ids[2]]
    assert erased["offer_id"] == north.id  # still one of the choices the results count
    assert (erased["needs_social_tariff"], erased["share_contact"]) == (False, False)
    # Everyone else's answers are untouched.
    assert all(r["needs_social_tariff"] for p, r in rows.items() if p != ids[2])
    assert rows[ids[0]]["share_contact"] and rows[ids[4]]["share_contact"]
    contacts = await choosers_for_provider(store.database, campaign.id, north.organisation_id)
    assert [c.name for c in contacts] == ["Resident 0", "Resident 4"]


async def test_a_lead_erasing_a_pledge_without_email_clears_its_answers_too(
    store: Store,
) -> None:
    campaign, _ids = await tipped_campaign(store, 3)
    vouched = await record_vouched_pledge(
        store,
        campaign.slug,
        campaign.lead_id,
        parse_vouched_pledge(
            {
                "name": "Doreen Walsh",
                "postcode": "LS6 1BA",
                "phone": "0113 496 0000",
                "share_contact": True,
                "attested": True,
            }
        ),
    )
    pledge_id = vouched.pledge_id
    north, _south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    await choose(store, pledge_id, ChoiceInput(north.public_id, True, True))
    assert await close_round(store, campaign.id)
    [listed] = await choosers_for_provider(store.database, campaign.id, north.organisation_id)
    assert (listed.name, listed.phone) == ("Doreen Walsh", "0113 496 0000")
    results = await counters(store, campaign.id)

    assert await erase_pledge_without_email(
        store, campaign.slug, campaign.lead_id, pledge_id, scrub_mail=scrub_pledge_mail
    )

    assert await counters(store, campaign.id) == results
    row = (await choice_rows(store, campaign.id))[pledge_id]
    assert (row["offer_id"], row["needs_social_tariff"], row["share_contact"]) == (
        north.id,
        False,
        False,
    )
    assert await choosers_for_provider(store.database, campaign.id, north.organisation_id) == []


async def test_anonymising_after_retention_clears_every_answer_and_keeps_the_results(
    store: Store,
) -> None:
    campaign, ids, north, south = await chosen_round(store)
    assert await close_round(store, campaign.id)
    results = await counters(store, campaign.id)

    now = campaign.deadline + timedelta(days=DAYS, hours=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 6

    assert await counters(store, campaign.id) == results
    rows = await choice_rows(store, campaign.id)
    assert sorted(rows) == sorted(ids)
    assert [rows[i]["offer_id"] for i in ids] == [north.id, south.id] * 2 + [north.id, None]
    assert not any(r["needs_social_tariff"] or r["share_contact"] for r in rows.values())
    for offer in (north, south):
        assert await choosers_for_provider(store.database, campaign.id, offer.organisation_id) == []


async def test_anonymising_during_an_open_round_keeps_its_live_totals_exact(
    store: Store,
) -> None:
    campaign, ids, north, south = await chosen_round(store)
    # A round opened long after the campaign's deadline is still open when its pledges
    # are anonymised: their choices still count, their answers go, and so do the counts
    # of those answers.
    now = campaign.deadline + timedelta(days=DAYS, hours=1)
    assert await anonymise_closed_campaigns(store, DAYS, now, scrub_mail=scrub_pledge_mail) == 6

    after = await counters(store, campaign.id)
    assert after["round"] == (5, 1, 0)
    assert after == oracle_as_counters(
        await counted_choices(store.database, campaign.id), [north.id, south.id]
    )
    # An anonymised pledge's old link cannot store a new answer.
    with pytest.raises(WrongState):
        await choose(store, ids[0], ChoiceInput(south.public_id, True, True))
    assert await counters(store, campaign.id) == after


async def test_erasing_one_pledger_of_a_home_leaves_the_home_choice_another_made(
    store: Store,
) -> None:
    campaign = await make_campaign(store, counts="households", target=2)
    ids = [
        await _pledge(store, campaign.slug, i, address(i % 2, i // 2), email=f"home{i}@example.org")
        for i in range(3)
    ]
    for i in ids:
        await confirm_pledge(store, i)
    campaign = await get_campaign(store.database, campaign.slug)
    north, _south = await two_offers(store, campaign)
    await open_round(store, campaign.id, utcnow() + timedelta(days=10))
    # ids[0] and ids[2] share a home; ids[2] made its choice.
    await choose(store, ids[2], ChoiceInput(north.public_id, True, True))
    assert await close_round(store, campaign.id)

    await erase_resident(store, canonical_email("home0@example.org"), scrub_mail=scrub_pledge_mail)

    row = (await choice_rows(store, campaign.id))[ids[2]]
    assert (row["needs_social_tariff"], row["share_contact"]) == (True, True)


def test_the_contacts_download_never_says_who_needs_a_social_tariff() -> None:
    # Only ever shown as an aggregate, never below 5: not in any provider's contacts.
    assert [f.name for f in dataclasses.fields(Chooser)] == [
        "offer_public_id",
        "name",
        "email",
        "phone",
        "address_line",
        "postcode",
    ]
