"""Counting: the one place a campaign's counts move.

A count lives on the campaign row and changes only through one atomic
`UPDATE ... SET confirmed_count = confirmed_count + :delta ... RETURNING`, in the same
transaction as the change it counts. On PostgreSQL that UPDATE holds the campaign's row
lock until commit, so the threshold check that follows sees a count no other transaction
can move; on SQLite the Store's single writer gives the same guarantee. Tipping and each
milestone are themselves guarded UPDATEs (`WHERE status = 'open'`), so each is recorded
once however many confirmations race.

Pledging, payments (a saved card completes a pledge), moderation (struck-out pledges) and
erasure all move counts through these functions. The household, price-point and choice
counters join here, under the same rule: the counter moves in the same transaction as the
change it counts, by one guarded UPDATE.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import (
    Campaign,
    Tally,
    get_campaign_by_id,
    progress_percent,
    reached,
)
from pledges.errors import PledgeNotFound
from pledges.journal import record_event
from pledges.store import utcnow
from pledges.tables import campaigns, households, pledges

# A household's verification, strongest first: a letter's code entered, the lead's word,
# a confirmed email.
LEVELS = ("letter", "vouched", "email")


@dataclass(frozen=True)
class Progress:
    slug: str
    status: str
    confirmed: int
    target: int
    # Money campaigns: the amount of the counted pledges, and the money target if any.
    pledged_amount: int = 0
    money_target: int | None = None
    # Households campaigns (see pledges.campaigns.Tally).
    counts: str = "people"
    households: int = 0
    covered_count: int = 0
    premises_count: int | None = None
    premises_listed: int = 0
    coverage_target: int | None = None

    @property
    def tally(self) -> Tally:
        return Tally(
            self.counts,
            self.confirmed,
            self.target,
            self.households,
            self.covered_count,
            self.premises_count,
            self.premises_listed,
            self.coverage_target,
        )

    @property
    def percent(self) -> int:
        tally = self.tally
        return progress_percent(tally.units, tally.goal, self.pledged_amount, self.money_target)


async def move_count(
    db: Database,
    campaign_id: int,
    delta: int,
    amount: int = 0,
    *,
    households_delta: int = 0,
    covered_delta: int = 0,
    recheck: bool = False,
) -> Progress:
    """Move the campaign's confirmed count by `delta` (and, for money pledges, its pledged
    amount by `amount`; both negative to take pledges away; on a households campaign its
    counted households and those on the premises list by the other two) in the caller's
    transaction, and record any milestone or tipping it causes, once. Counts fall but
    never un-tip. `recheck`: the threshold itself moved (the premises changed)."""
    row = await db.fetch_one(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            confirmed_count=campaigns.c.confirmed_count + delta,
            pledged_amount=campaigns.c.pledged_amount + amount,
            household_count=campaigns.c.household_count + households_delta,
            covered_count=campaigns.c.covered_count + covered_delta,
        )
        .returning(
            campaigns.c.slug,
            campaigns.c.status,
            campaigns.c.confirmed_count,
            campaigns.c.target,
            campaigns.c.milestones,
            campaigns.c.milestone_reached,
            campaigns.c.pledged_amount,
            campaigns.c.money_target,
            campaigns.c.counts,
            campaigns.c.household_count,
            campaigns.c.covered_count,
            campaigns.c.premises_count,
            campaigns.c.premises_listed,
            campaigns.c.coverage_target,
        )
    )
    assert row is not None
    progress = Progress(
        row["slug"],
        row["status"],
        row["confirmed_count"],
        row["target"],
        row["pledged_amount"],
        row["money_target"],
        row["counts"],
        row["household_count"],
        row["covered_count"],
        row["premises_count"],
        row["premises_listed"],
        row["coverage_target"],
    )
    rose = delta > 0 or households_delta > 0 or covered_delta > 0 or recheck
    if not rose or progress.status != "open":
        return progress
    tally = progress.tally

    def at(percent: int) -> bool:
        return reached(
            percent,
            tally.units,
            tally.goal,
            progress.pledged_amount,
            progress.money_target,
        )

    crossed = [m for m in json.loads(row["milestones"]) if row["milestone_reached"] < m and at(m)]
    if crossed:
        claimed = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.milestone_reached < max(crossed))
            .values(milestone_reached=max(crossed))
            .returning(campaigns.c.id)
        )
        if claimed is not None:
            payload = await event_payload(db, campaign_id)
            for percent in sorted(crossed):
                await record_event(
                    db, "campaign.milestone", campaign_id, {**payload, "percent": percent}
                )

    if at(100):
        tipped = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.status == "open")
            .values(status="tipped", tipped_at=utcnow())
            .returning(campaigns.c.id)
        )
        if tipped is not None:
            await record_event(
                db, "campaign.tipped", campaign_id, await event_payload(db, campaign_id)
            )
            progress = dataclasses.replace(progress, status="tipped")
    return progress


async def event_payload(db: Database, campaign_id: int) -> dict[str, Any]:
    """What a milestone or tipping event says of the campaign: its public facts and, on a
    households campaign, its households by verification level and by district (counts
    only, never an address)."""
    campaign = await get_campaign_by_id(db, campaign_id)
    payload = campaign.public_payload()
    if campaign.counts_households:
        payload["households"] = await household_breakdown(db, campaign)
    return payload


async def household_breakdown(db: Database, campaign: Campaign) -> dict[str, Any]:
    """A households campaign's counted households: how many, the premises, coverage, and
    counts by verification level and by postcode district."""
    rows = await db.fetch_all(
        sa.select(households.c.level, households.c.district, sa.func.count().label("n"))
        .where(
            households.c.campaign_id == campaign.id,
            households.c.counting_pledge_id.is_not(None),
        )
        .group_by(households.c.level, households.c.district)
    )
    by_level = dict.fromkeys(LEVELS, 0)
    by_district: dict[str, int] = {}
    for r in rows:
        by_level[r["level"]] = by_level.get(r["level"], 0) + int(r["n"])
        by_district[r["district"]] = by_district.get(r["district"], 0) + int(r["n"])
    tally = campaign.tally
    return {
        "count": campaign.household_count,
        "premises": tally.premises,
        "covered": tally.covered,
        "coverage_percent": tally.coverage_percent,
        "coverage_target": campaign.coverage_target,
        "by_level": by_level,
        "by_district": dict(sorted(by_district.items())),
    }


async def lock_households(db: Database, campaign_id: int) -> Any:
    """Take the campaign's row lock before touching its households (PostgreSQL; SQLite's
    single writer already serialises), so that which pledge counts for a household, and
    whether the household is on the premises list, are decided by one transaction at a
    time. Returns what settling needs to know of the campaign, or None for a campaign
    that counts people."""
    row = await db.fetch_one(
        sa.select(campaigns.c.counts, campaigns.c.require_letter)
        .where(campaigns.c.id == campaign_id)
        # FOR NO KEY UPDATE: the lock move_count's UPDATE takes anyway, taken earlier. It
        # lets other transactions insert rows that refer to the campaign (events, pledges).
        .with_for_update(key_share=True)
    )
    if row is None or row["counts"] != "households":
        return None
    return row


async def settle_household(
    db: Database, household_id: int, require_letter: bool
) -> tuple[int, int]:
    """Decide again which confirmed pledge counts for a household, after one of its
    pledges started or stopped counting or the household was verified by letter; the
    caller holds the campaign's lock (lock_households). The pledge that counts stays
    while it is confirmed; otherwise the earliest confirmed pledge takes its place. With
    `require_letter`, only a household verified by letter, or a pledge the lead vouched
    for, counts. Returns the change in (counted households, counted listed households)."""
    household = await db.fetch_one(
        sa.select(
            households.c.counting_pledge_id,
            households.c.level,
            households.c.listed,
            households.c.letter_verified_at,
        ).where(households.c.id == household_id)
    )
    assert household is not None
    confirmed = await db.fetch_all(
        sa.select(pledges.c.id, pledges.c.source, pledges.c.vouched_by)
        .where(pledges.c.household_id == household_id, pledges.c.status == "confirmed")
        .order_by(pledges.c.confirmed_at, pledges.c.id)
    )
    letter = household["letter_verified_at"] is not None
    vouched = [p for p in confirmed if _is_vouched(p)]
    eligible = confirmed if (letter or not require_letter) else vouched
    ids = [p["id"] for p in eligible]
    current = household["counting_pledge_id"]
    counting = current if current in ids else (ids[0] if ids else None)
    level = None
    if counting is not None:
        level = "letter" if letter else ("vouched" if vouched else "email")
    if counting != current or level != household["level"]:
        await db.execute(
            sa.update(households)
            .where(households.c.id == household_id)
            .values(counting_pledge_id=counting, level=level)
        )
    moved = (counting is not None) - (current is not None)
    return moved, moved if household["listed"] else 0


def _is_vouched(pledge: Any) -> bool:
    """Recorded by the campaign's lead: a paper pledge, or one without email they attested."""
    return pledge["source"] == "paper" or pledge["vouched_by"] is not None


async def count_pledge(
    db: Database, pledge_id: int, campaign_id: int, amount: int = 0, counts: str | None = None
) -> Progress:
    """A pledge has just become confirmed in the caller's transaction: count it, and on a
    households campaign its household if it is the first of its home to count.
    `counts`, when the caller already read it, spares a query for a campaign of people."""
    households_delta = covered_delta = 0
    if counts != "people":
        settings = await lock_households(db, campaign_id)
        if settings is not None:
            household_id = await db.fetch_val(
                sa.select(pledges.c.household_id).where(pledges.c.id == pledge_id)
            )
            if household_id is not None:
                households_delta, covered_delta = await settle_household(
                    db, household_id, bool(settings["require_letter"])
                )
    return await move_count(
        db,
        campaign_id,
        +1,
        amount,
        households_delta=households_delta,
        covered_delta=covered_delta,
    )


async def uncount_pledges(
    db: Database, campaign_id: int, pledge_ids: list[int], amount: int = 0
) -> Progress:
    """Pledges of one campaign have just stopped counting (withdrawn, erased, struck out)
    in the caller's transaction: take them off the count, and on a households campaign
    let another confirmed pledge from each home take its place, or the household go."""
    households_delta = covered_delta = 0
    settings = await lock_households(db, campaign_id)
    if settings is not None:
        rows = await db.fetch_all(
            sa.select(pledges.c.household_id)
            .where(pledges.c.id.in_(pledge_ids), pledges.c.household_id.is_not(None))
            .distinct()
        )
        for household_id in sorted(r["household_id"] for r in rows):
            moved, covered = await settle_household(
                db, household_id, bool(settings["require_letter"])
            )
            households_delta += moved
            covered_delta += covered
    return await move_count(
        db,
        campaign_id,
        -len(pledge_ids),
        -amount,
        households_delta=households_delta,
        covered_delta=covered_delta,
    )


async def count_if_complete(db: Database, pledge_id: int) -> Any:
    """Confirm a pending pledge that now has all it needs (a money pledge: a confirmed
    email and a saved card), in one guarded UPDATE; the caller then records the event
    and calls move_count. On
    PostgreSQL a card saved while the email is confirmed waits for the other's row lock
    and re-checks the row, so exactly one of the two confirms it."""
    return await db.fetch_one(
        sa.update(pledges)
        .where(
            pledges.c.id == pledge_id,
            pledges.c.status == "pending",
            sa.or_(
                pledges.c.amount.is_(None),
                sa.and_(
                    pledges.c.email_confirmed_at.is_not(None),
                    pledges.c.card_saved_at.is_not(None),
                ),
            ),
        )
        .values(status="confirmed", confirmed_at=utcnow())
        .returning(pledges.c.campaign_id, pledges.c.amount)
    )


async def withdraw_in_transaction(db: Database, pledge_id: int) -> Progress:
    """Withdraw a pending or confirmed pledge in the caller's write transaction (erasure
    withdraws several); a confirmed one's count falls. Before tipping the count drops, after
    it the tip stands."""
    # One guarded UPDATE for both states. On PostgreSQL, if a confirmation of this pledge is
    # in flight, the UPDATE waits for its row lock and then re-checks the row as committed,
    # so the withdrawal is never lost; confirmed_at, set only by confirming, says whether
    # the pledge was counted.
    changed = await db.fetch_one(
        sa.update(pledges)
        .where(pledges.c.id == pledge_id, pledges.c.status.in_(("pending", "confirmed")))
        .values(status="withdrawn", withdrawn_at=utcnow())
        .returning(pledges.c.campaign_id, pledges.c.confirmed_at, pledges.c.amount)
    )
    was_confirmed = changed if changed is not None and changed["confirmed_at"] else None
    if changed is None:
        current = await db.fetch_val(
            sa.select(pledges.c.campaign_id).where(pledges.c.id == pledge_id)
        )
        if current is None:
            raise PledgeNotFound(str(pledge_id))
        return progress_of(await get_campaign_by_id(db, current))
    campaign_id = changed["campaign_id"]
    await record_event(
        db,
        "pledge.withdrawn",
        campaign_id,
        {"pledge_id": pledge_id, "was_confirmed": was_confirmed is not None},
    )
    if was_confirmed is not None:
        return await uncount_pledges(db, campaign_id, [pledge_id], changed["amount"] or 0)
    return progress_of(await get_campaign_by_id(db, campaign_id))


def progress_of(campaign: Campaign) -> Progress:
    """The campaign's counts as they stand, without moving them."""
    return Progress(
        campaign.slug,
        campaign.status,
        campaign.confirmed,
        campaign.target,
        campaign.pledged_amount,
        campaign.money_target,
        campaign.counts,
        campaign.household_count,
        campaign.covered_count,
        campaign.premises_count,
        campaign.premises_listed,
        campaign.coverage_target,
    )
