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

from pledges.campaigns import Campaign, get_campaign_by_id, progress_percent, reached
from pledges.errors import PledgeNotFound
from pledges.journal import record_event
from pledges.store import utcnow
from pledges.tables import campaigns, pledges


@dataclass(frozen=True)
class Progress:
    slug: str
    status: str
    confirmed: int
    target: int
    # Money campaigns: the amount of the counted pledges, and the money target if any.
    pledged_amount: int = 0
    money_target: int | None = None

    @property
    def percent(self) -> int:
        return progress_percent(self.confirmed, self.target, self.pledged_amount, self.money_target)


async def move_count(db: Database, campaign_id: int, delta: int, amount: int = 0) -> Progress:
    """Move the campaign's confirmed count by `delta` (and, for money pledges, its pledged
    amount by `amount`; both negative to take pledges away) in the caller's transaction,
    and record any milestone or tipping it causes, once. Counts fall but never un-tip."""
    row = await db.fetch_one(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            confirmed_count=campaigns.c.confirmed_count + delta,
            pledged_amount=campaigns.c.pledged_amount + amount,
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
    )
    if delta <= 0 or progress.status != "open":
        return progress

    def at(percent: int) -> bool:
        return reached(
            percent,
            progress.confirmed,
            progress.target,
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
            campaign = await get_campaign_by_id(db, campaign_id)
            for percent in sorted(crossed):
                await record_event(
                    db,
                    "campaign.milestone",
                    campaign_id,
                    {**campaign.public_payload(), "percent": percent},
                )

    if at(100):
        tipped = await db.fetch_one(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.status == "open")
            .values(status="tipped", tipped_at=utcnow())
            .returning(campaigns.c.id)
        )
        if tipped is not None:
            campaign = await get_campaign_by_id(db, campaign_id)
            await record_event(db, "campaign.tipped", campaign_id, campaign.public_payload())
            progress = dataclasses.replace(progress, status="tipped")
    return progress


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
        return await move_count(db, campaign_id, -1, -(changed["amount"] or 0))
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
    )
