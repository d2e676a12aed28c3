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
    TALLY_COLUMNS,
    Campaign,
    Tally,
    get_campaign_by_id,
    progress_percent,
    reached,
)
from pledges.choices import drop_choices
from pledges.demand import (
    UNIT_COLUMNS,
    Deltas,
    DemandSettings,
    Unit,
    bucket_rows,
    changes_of,
    cost_cover,
    demand_settings,
    household_unit,
    move_buckets,
    person_units,
)
from pledges.demand_curve import demand_curve, equity_payload, take_up_summary
from pledges.errors import PledgeNotFound
from pledges.journal import record_event
from pledges.store import mark_campaign_changed, utcnow
from pledges.tables import campaigns, households, pledges

# A household's verification, strongest first: a letter's code entered, the lead's word,
# a confirmed email.
LEVELS = ("letter", "vouched", "email")


@dataclass(frozen=True)
class Progress:
    slug: str
    status: str
    tally: Tally
    # Money campaigns: the amount of the counted pledges, and the money target if any.
    pledged_amount: int = 0
    money_target: int | None = None
    # A money campaign's currency (None: a campaign of names only).
    currency: str | None = None

    @classmethod
    def of(cls, row: Any) -> Progress:
        """From a mapping of PROGRESS_COLUMNS' names."""
        return cls(
            row["slug"],
            row["status"],
            Tally.of(row),
            row["pledged_amount"],
            row["money_target"],
            row["currency"],
        )

    @property
    def is_money(self) -> bool:
        return self.currency is not None

    @property
    def confirmed(self) -> int:
        return self.tally.confirmed

    @property
    def target(self) -> int:
        return self.tally.target

    @property
    def counts(self) -> str:
        return self.tally.counts

    @property
    def households(self) -> int:
        return self.tally.households

    @property
    def covered_count(self) -> int:
        return self.tally.covered_count

    @property
    def premises_count(self) -> int | None:
        return self.tally.premises_count

    @property
    def premises_listed(self) -> int:
        return self.tally.premises_listed

    @property
    def coverage_target(self) -> int | None:
        return self.tally.coverage_target

    @property
    def percent(self) -> int:
        tally = self.tally
        return progress_percent(tally.units, tally.goal, self.pledged_amount, self.money_target)


PROGRESS_COLUMNS = (
    campaigns.c.slug,
    campaigns.c.status,
    campaigns.c.milestones,
    campaigns.c.milestone_reached,
    campaigns.c.pledged_amount,
    campaigns.c.money_target,
    campaigns.c.currency,
    *(campaigns.c[name] for name in TALLY_COLUMNS),
)


async def move_count(
    db: Database,
    campaign_id: int,
    delta: int,
    amount: int = 0,
    *,
    deltas: Deltas | None = None,
    settings: DemandSettings | None = None,
    recheck: bool = False,
) -> Progress:
    """Move the campaign's confirmed count by `delta` (and, for money pledges, its pledged
    amount by `amount`; both negative to take pledges away) and its other counters by
    `deltas` (households, covered, firmness, priced, priority, and the demand buckets of a
    campaign with a price question, whose `settings` the caller read) in the caller's
    transaction, and record any milestone or tipping it causes, once. Counts fall but never
    un-tip. `recheck`: the threshold itself moved (the premises or the quote changed)."""
    deltas = deltas or Deltas()
    mark_campaign_changed(campaign_id)
    row = await db.fetch_one(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            confirmed_count=campaigns.c.confirmed_count + delta,
            pledged_amount=campaigns.c.pledged_amount + amount,
            **deltas.campaign_values(),
        )
        .returning(*PROGRESS_COLUMNS)
    )
    assert row is not None
    return await after_count(
        db, campaign_id, row, delta, deltas=deltas, settings=settings, recheck=recheck
    )


async def after_count(
    db: Database,
    campaign_id: int,
    row: Any,
    delta: int,
    *,
    deltas: Deltas,
    settings: DemandSettings | None = None,
    recheck: bool = False,
) -> Progress:
    """What follows the count's UPDATE (its row of PROGRESS_COLUMNS, returned under the
    campaign's row lock) in the same transaction: the demand buckets, the quote's cover,
    and any milestone or tipping it causes, once. move_count and the fused statements of
    pledges.fused both end here."""
    values = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    if deltas.buckets:
        # After the UPDATE above: the campaign's row lock is held, whoever counts first.
        assert settings is not None and settings.asks_price
        await move_buckets(db, campaign_id, deltas)
    if settings is not None and settings.quote_total and (deltas.buckets or recheck):
        cover = cost_cover(
            settings.points, await bucket_rows(db, campaign_id), settings.quote_voucher
        )
        if cover != values["cost_covered"]:
            await db.execute(
                sa.update(campaigns).where(campaigns.c.id == campaign_id).values(cost_covered=cover)
            )
            recheck = recheck or cover > values["cost_covered"]
            values["cost_covered"] = cover
    progress = Progress.of(values)
    rose = delta > 0 or deltas.rose or recheck
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

    crossed = [
        m for m in json.loads(values["milestones"]) if values["milestone_reached"] < m and at(m)
    ]
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

    # The equity floor: a share of the counted units from priority places, or no tipping.
    if at(100) and tally.equity_met:
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
    payload["take_up"] = take_up_summary(campaign)
    curve = await demand_curve(db, campaign)
    payload["demand"] = curve.payload() if curve is not None else None
    if campaign.equity_share is not None:
        payload["equity_floor"] = equity_payload(campaign)
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


async def lock_households(db: Database, campaign_id: int) -> DemandSettings | None:
    """Take the campaign's row lock before touching its households (PostgreSQL; SQLite's
    single writer already serialises), so that which pledge counts for a household, and
    whether the household is on the premises list, are decided by one transaction at a
    time. Returns the campaign's settings, or None for a campaign that counts people."""
    settings = await demand_settings(db, campaign_id)
    return settings if settings.households else None


async def settle_household(
    db: Database, household_id: int, settings: DemandSettings
) -> tuple[Unit | None, Unit | None]:
    """Decide again which confirmed pledge counts for a household, after one of its
    pledges started or stopped counting or the household was verified by letter; the
    caller holds the campaign's lock (lock_households). The pledge that counts stays
    while it is confirmed; otherwise the earliest confirmed pledge takes its place. With
    `require_letter`, only a household verified by letter, or a pledge the lead vouched
    for, counts. Returns what the household counted as before and counts as now (None:
    not counted), for move_count's deltas."""
    household = await db.fetch_one(
        sa.select(
            households.c.counting_pledge_id,
            households.c.level,
            households.c.listed,
            households.c.priority,
            households.c.district,
            households.c.letter_verified_at,
        ).where(households.c.id == household_id)
    )
    assert household is not None
    confirmed = await db.fetch_all(
        sa.select(
            pledges.c.id,
            pledges.c.source,
            pledges.c.vouched_by,
            pledges.c.firmness,
            pledges.c.max_price,
        )
        .where(pledges.c.household_id == household_id, pledges.c.status == "confirmed")
        .order_by(pledges.c.confirmed_at, pledges.c.id)
    )
    letter = household["letter_verified_at"] is not None
    vouched = [p for p in confirmed if _is_vouched(p)]
    eligible = confirmed if (letter or not settings.require_letter) else vouched
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
    before = None
    if current is not None:
        answer = await db.fetch_one(
            sa.select(pledges.c.firmness, pledges.c.max_price).where(pledges.c.id == current)
        )
        assert answer is not None
        before = household_unit({**household._mapping, **answer._mapping})
    after = None
    if counting is not None:
        answer = next(p for p in eligible if p["id"] == counting)
        after = household_unit(
            {
                **household._mapping,
                "level": level,
                "firmness": answer["firmness"],
                "max_price": answer["max_price"],
            }
        )
    return before, after


def _is_vouched(pledge: Any) -> bool:
    """Recorded by the campaign's lead: a paper pledge, or one without email they attested."""
    return pledge["source"] == "paper" or pledge["vouched_by"] is not None


async def count_pledge(
    db: Database,
    pledge_id: int,
    campaign_id: int,
    amount: int = 0,
    *,
    settings: DemandSettings | None = None,
    unit: Unit | None = None,
) -> Progress:
    """A pledge has just become confirmed in the caller's transaction: count it, and on a
    households campaign its household if it is the first of its home to count.
    `settings` and `unit`, when the caller already read them (the campaign's settings need
    no lock: what counting reads of them is fixed once published), spare queries on a
    campaign of people without a price question: no statement but move_count's UPDATE."""
    if settings is None or settings.needs_lock:
        settings = await demand_settings(db, campaign_id)
    if settings.households:
        household_id = await db.fetch_val(
            sa.select(pledges.c.household_id).where(pledges.c.id == pledge_id)
        )
        before, after = (None, None)
        if household_id is not None:
            before, after = await settle_household(db, household_id, settings)
        deltas = changes_of(settings, [(before, -1), (after, +1)])
    else:
        if unit is None:
            unit = (await person_units(db, [pledge_id]))[0]
        deltas = changes_of(settings, [(unit, +1)])
    return await move_count(db, campaign_id, +1, amount, deltas=deltas, settings=settings)


async def uncount_pledges(
    db: Database, campaign_id: int, pledge_ids: list[int], amount: int = 0
) -> Progress:
    """Pledges of one campaign have just stopped counting (withdrawn, erased, struck out)
    in the caller's transaction: take them off the count, and on a households campaign
    let another confirmed pledge from each home take its place, or the household go."""
    settings = await demand_settings(db, campaign_id)
    changes: list[tuple[Unit | None, int]] = []
    if settings.households:
        rows = await db.fetch_all(
            sa.select(pledges.c.household_id)
            .where(pledges.c.id.in_(pledge_ids), pledges.c.household_id.is_not(None))
            .distinct()
        )
        for household_id in sorted(r["household_id"] for r in rows):
            before, after = await settle_household(db, household_id, settings)
            changes += [(before, -1), (after, +1)]
    else:
        changes = [(unit, -1) for unit in await person_units(db, pledge_ids)]
    progress = await move_count(
        db,
        campaign_id,
        -len(pledge_ids),
        -amount,
        deltas=changes_of(settings, changes),
        settings=settings,
    )
    # After the campaign's lock, as always: an open round's choices by these pledges go.
    await drop_choices(db, campaign_id, pledge_ids)
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
        .returning(pledges.c.campaign_id, pledges.c.amount, *UNIT_COLUMNS)
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
        campaign.tally,
        campaign.pledged_amount,
        campaign.money_target,
        campaign.currency,
    )
