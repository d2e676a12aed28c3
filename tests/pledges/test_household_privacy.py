"""The address line of a households campaign is personal data: export shows it, erasure and
anonymisation after close remove it (and the household's address when no pledge with
personal data is left in it), while counts and coverage stay as they were."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from notifications.outbox import scrub_pledge_mail
from pledges.campaigns import get_campaign
from pledges.erasure import erase_resident, resident_pledges
from pledges.identity import canonical_email
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.retention import anonymise_closed_campaigns, forget_letter_attempts
from pledges.store import Store, utcnow
from pledges.tables import households, letter_attempts, pledges
from tests.conftest import table_snapshot
from tests.factories import make_campaign, pledge_data


async def _pledge(store: Store, slug: str, i: int, line: str) -> int:
    data = pledge_data(i, address_line=line, postcode="LS6 1BN")
    outcome = await record_pledge(store, slug, parse_pledge(data))
    await confirm_pledge(store, outcome.pledge_id)
    return outcome.pledge_id


def _text(snapshot: dict[str, list[tuple[object, ...]]]) -> str:
    return repr(snapshot).lower()


async def test_the_export_holds_the_address_line(store: Store) -> None:
    campaign = await make_campaign(store, counts="households", target=5)
    await _pledge(store, campaign.slug, 1, "12a Brudenell Road")
    [mine] = await resident_pledges(store.database, canonical_email("resident1@example.org"))
    assert mine.personal_data()["address_line"] == "12a Brudenell Road"


async def test_erasure_keeps_the_home_counted_by_a_housemate_and_forgets_a_lone_home(
    store: Store,
) -> None:
    campaign = await make_campaign(store, counts="households", target=5)
    await _pledge(store, campaign.slug, 1, "12a Brudenell Road")
    housemate = await _pledge(store, campaign.slug, 2, "12A, Brudenell Rd")
    alone = await make_campaign(store, counts="households", target=5)
    await _pledge(store, alone.slug, 1, "7 Cardigan Lane")

    erased = await erase_resident(
        store, canonical_email("resident1@example.org"), scrub_mail=scrub_pledge_mail
    )

    assert erased == 2
    # The housemate's pledge now counts for the home, whose address stays (theirs too).
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (1, 1)
    home = await store.database.fetch_one(
        sa.select(households).where(households.c.campaign_id == campaign.id)
    )
    assert home is not None and home["counting_pledge_id"] == housemate
    assert home["address_key"] != "" and ":" not in home["address_key"]
    # The lone home is forgotten: district only, no longer counted.
    lone = await store.database.fetch_one(
        sa.select(households).where(households.c.campaign_id == alone.id)
    )
    assert lone is not None
    assert (lone["postcode"], lone["street"]) == ("LS6", "")
    assert lone["counting_pledge_id"] is None
    assert "cardigan" not in _text(await table_snapshot(store))
    rows = await store.database.fetch_all(
        sa.select(pledges.c.address_line).where(pledges.c.email_canonical.like("erased:%"))
    )
    assert [r["address_line"] for r in rows] == [None, None]


async def test_anonymising_after_close_keeps_counts_and_only_districts(store: Store) -> None:
    campaign = await make_campaign(store, counts="households", target=2)
    for i, line in enumerate(("12a Brudenell Road", "12A Brudenell Rd", "14 Brudenell Road")):
        await _pledge(store, campaign.slug, i, line)
    tipped = await get_campaign(store.database, campaign.slug)
    assert (tipped.status, tipped.household_count) == ("tipped", 2)

    now = tipped.deadline + timedelta(days=11)
    assert await anonymise_closed_campaigns(store, 10, now, scrub_mail=scrub_pledge_mail) == 3

    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.household_count) == (3, 2)
    homes = await store.database.fetch_all(
        sa.select(households).where(households.c.campaign_id == campaign.id)
    )
    assert {(h["postcode"], h["street"]) for h in homes} == {("LS6", "")}
    assert sum(h["counting_pledge_id"] is not None for h in homes) == 2
    assert {h["level"] for h in homes} == {"email"}
    assert "brudenell" not in _text(await table_snapshot(store))


async def test_letter_attempts_are_kept_two_days(store: Store) -> None:
    campaign = await make_campaign(store, counts="households", target=2)
    now = utcnow()
    async with store.write() as db:
        for age in (1, 47, 49, 100):
            await db.execute(
                sa.insert(letter_attempts).values(
                    campaign_id=campaign.id,
                    address="LS6 1BN 12A BRUDENELL ROAD",
                    ok=False,
                    created_at=now - timedelta(hours=age),
                )
            )
    assert await forget_letter_attempts(store, now) == 2
    assert await forget_letter_attempts(store, now) == 0
    left = await store.database.fetch_val(sa.select(sa.func.count()).select_from(letter_attempts))
    assert left == 2
