"""A households campaign's premises list: storing the lead's list, the review of pledges
from addresses not on it, and the coverage the lead sees (by street, by district, and
which doors are left to knock on).

The list is parsed in pledges/premises.py. Every change here takes the campaign's lock
(pledges.counting.lock_households) before it touches premises or households, recounts
the households on the list, and lets move_count tip the campaign if the list makes the
coverage reach its target. What leaves this module about residents is counts and the
address lines of the list itself, never a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign, get_campaign, get_campaign_by_id
from pledges.counting import lock_households, move_count
from pledges.demand import rebuild
from pledges.errors import DomainError, NotCampaignLead
from pledges.journal import record_event
from pledges.premises import PremiseRow
from pledges.store import Store, utcnow
from pledges.tables import campaigns, households, pledges, premises

# The statuses in which the list may change: until the campaign tips or closes.
CHANGEABLE = ("draft", "open")
# The most bytes a list may take as it is sent (CSV or JSON): the most premises, each line
# near its longest, fit well inside.
MAX_LIST_BYTES = 5 * 1024 * 1024
# Rows per INSERT or DELETE: well inside SQLite's limit on bound parameters.
BATCH = 500
# Pledges that put a household up for review: not withdrawn, not struck out.
LIVE_PLEDGES = ("pending", "confirmed")


class PremisesRefused(DomainError):
    """The premises list cannot change now; the message says why (nothing changed)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class NotAwaitingReview(DomainError):
    """That household is not one awaiting the lead's review (on the list already, left
    out already, or not this campaign's)."""


def check_changeable(campaign: Campaign) -> None:
    """Refuse (PremisesRefused) a list for a campaign of people, or one past its draft or
    open state."""
    if not campaign.counts_households:
        raise PremisesRefused(
            "This campaign counts people, so it has no premises list. A campaign that "
            'counts households ("counts": "households") can have one.',
            campaign.status,
        )
    if campaign.status not in CHANGEABLE:
        raise PremisesRefused(
            f"This campaign is {campaign.status}: its premises list can change only while it "
            "is a draft or open, before it tips.",
            campaign.status,
        )


@dataclass(frozen=True)
class PremisesSummary:
    listed: int
    counted_households_listed: int
    coverage_percent: float | None
    added: int = 0
    removed: int = 0
    kept: int = 0


async def _locked_campaign(db: Database, slug: str, lead_id: int) -> Campaign:
    """The lead's households campaign, read again under its lock, in a changeable state."""
    campaign = await get_campaign(db, slug)
    if campaign.lead_id != lead_id:
        raise NotCampaignLead(slug)
    check_changeable(campaign)
    await lock_households(db, campaign.id)
    campaign = await get_campaign_by_id(db, campaign.id)  # as it is now, under the lock
    check_changeable(campaign)
    return campaign


async def _recount(db: Database, campaign_id: int) -> None:
    """Mark each of the campaign's households listed or not by the list, and set the
    counts of the list and of counted households on it (absolute: the row is locked)."""
    on_list = (
        sa.select(premises.c.id)
        .where(
            premises.c.campaign_id == campaign_id,
            premises.c.postcode == households.c.postcode,
            premises.c.address_key == households.c.address_key,
        )
        .exists()
    )
    marked = (
        sa.select(premises.c.id)
        .where(
            premises.c.campaign_id == campaign_id,
            premises.c.postcode == households.c.postcode,
            premises.c.address_key == households.c.address_key,
            premises.c.priority.is_(True),
        )
        .exists()
    )
    await db.execute(
        sa.update(households)
        .where(households.c.campaign_id == campaign_id)
        .values(listed=on_list, priority=marked)
    )
    listed = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(premises)
        .where(premises.c.campaign_id == campaign_id)
    )
    covered = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(households)
        .where(
            households.c.campaign_id == campaign_id,
            households.c.listed.is_(True),
            households.c.counting_pledge_id.is_not(None),
        )
    )
    await db.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(premises_listed=int(listed), covered_count=int(covered))
    )
    # Which households are listed or marked priority may have changed: the demand counters
    # that depend on it are set afresh, under the same lock.
    await rebuild(db, campaign_id)


async def _summary(db: Database, campaign_id: int, **moved: int) -> PremisesSummary:
    campaign = await get_campaign_by_id(db, campaign_id)
    return PremisesSummary(
        listed=campaign.premises_listed,
        counted_households_listed=campaign.covered_count,
        coverage_percent=campaign.tally.coverage_percent,
        **moved,
    )


async def replace_premises(
    store: Store, slug: str, lead_id: int, rows: Sequence[PremiseRow]
) -> PremisesSummary:
    """The lead's whole list replaces the old one, in one transaction: rows whose postcode
    and address stay are kept (with any letter code issued for them), the others go, new
    ones come. The campaign tips if the list makes its coverage reach the target."""
    wanted: dict[tuple[str, str], PremiseRow] = {}
    for row in rows:
        wanted.setdefault((row.postcode, row.address_key), row)
    now = utcnow()
    async with store.write() as db:
        campaign = await _locked_campaign(db, slug, lead_id)
        existing = await db.fetch_all(
            sa.select(
                premises.c.id,
                premises.c.postcode,
                premises.c.address_key,
                premises.c.address_line,
                premises.c.street,
                premises.c.district,
                premises.c.uprn,
                premises.c.priority,
            ).where(premises.c.campaign_id == campaign.id)
        )
        gone: list[int] = []
        kept = 0
        for old in existing:
            new = wanted.pop((old["postcode"], old["address_key"]), None)
            if new is None:
                gone.append(old["id"])
                continue
            kept += 1
            fresh = {
                "address_line": new.address_line,
                "street": new.street,
                "district": new.district,
                "uprn": new.uprn,
                "priority": new.priority,
            }
            if any(old[name] != value for name, value in fresh.items()):
                await db.execute(
                    sa.update(premises).where(premises.c.id == old["id"]).values(**fresh)
                )
        for start in range(0, len(gone), BATCH):
            await db.execute(
                sa.delete(premises).where(premises.c.id.in_(gone[start : start + BATCH]))
            )
        added = list(wanted.values())
        for start in range(0, len(added), BATCH):
            await db.execute(
                sa.insert(premises).values(
                    [
                        {
                            "campaign_id": campaign.id,
                            "address_line": row.address_line,
                            "postcode": row.postcode,
                            "district": row.district,
                            "street": row.street,
                            "address_key": row.address_key,
                            "uprn": row.uprn,
                            "priority": row.priority,
                            "created_at": now,
                        }
                        for row in added[start : start + BATCH]
                    ]
                )
            )
        await _recount(db, campaign.id)
        await record_event(
            db, "campaign.premises_replaced", campaign.id, {"listed": kept + len(added)}
        )
        await move_count(db, campaign.id, 0, recheck=True)
        return await _summary(db, campaign.id, added=len(added), removed=len(gone), kept=kept)


# ----- the review of addresses not on the list -------------------------------------------


@dataclass(frozen=True)
class Unlisted:
    """A household with live pledges whose address is not on the list: for review."""

    household_id: int
    address_line: str
    postcode: str
    pledges: int


def _awaiting_review(campaign_id: int) -> Any:
    return sa.and_(
        households.c.campaign_id == campaign_id,
        households.c.listed.is_(False),
        households.c.left_out_at.is_(None),
        pledges.c.status.in_(LIVE_PLEDGES),
    )


async def unlisted_households(db: Database, campaign: Campaign) -> list[Unlisted]:
    """Households awaiting the lead's review, with the first pledge's address line and how
    many live pledges came from there; none while the campaign has no list."""
    if not campaign.counts_households or not campaign.premises_listed:
        return []
    rows = await db.fetch_all(
        sa.select(
            households.c.id,
            households.c.postcode,
            households.c.address_key,
            sa.func.count(pledges.c.id).label("n"),
            sa.func.min(pledges.c.id).label("first"),
        )
        .select_from(households.join(pledges, pledges.c.household_id == households.c.id))
        .where(_awaiting_review(campaign.id))
        .group_by(households.c.id, households.c.postcode, households.c.address_key)
        .order_by(households.c.postcode, households.c.address_key)
    )
    lines = await _first_lines(db, [r["id"] for r in rows])
    return [
        Unlisted(
            r["id"],
            lines.get(r["id"]) or r["address_key"].title(),
            r["postcode"],
            int(r["n"]),
        )
        for r in rows
    ]


async def _first_lines(db: Database, household_ids: list[int]) -> dict[int, str]:
    """Each household's address line as its earliest pledge gave it (where one still has it)."""
    found: dict[int, str] = {}
    for start in range(0, len(household_ids), BATCH):
        rows = await db.fetch_all(
            sa.select(pledges.c.household_id, pledges.c.address_line)
            .where(
                pledges.c.household_id.in_(household_ids[start : start + BATCH]),
                pledges.c.address_line.is_not(None),
            )
            .order_by(pledges.c.id)
        )
        for r in rows:
            found.setdefault(r["household_id"], r["address_line"])
    return found


async def awaiting_review_count(db: Database, campaign: Campaign) -> int:
    if not campaign.counts_households or not campaign.premises_listed:
        return 0
    found = await db.fetch_val(
        sa.select(sa.func.count(sa.distinct(households.c.id)))
        .select_from(households.join(pledges, pledges.c.household_id == households.c.id))
        .where(_awaiting_review(campaign.id))
    )
    return int(found or 0)


async def _household_for_review(db: Database, campaign: Campaign, household_id: int) -> Any:
    row = await db.fetch_one(
        sa.select(
            households.c.id,
            households.c.postcode,
            households.c.address_key,
            households.c.street,
            households.c.district,
        )
        .select_from(households.join(pledges, pledges.c.household_id == households.c.id))
        .where(households.c.id == household_id, _awaiting_review(campaign.id))
        .limit(1)
    )
    if row is None or not campaign.premises_listed:
        raise NotAwaitingReview(str(household_id))
    return row


async def add_to_list(store: Store, slug: str, lead_id: int, household_id: int) -> PremisesSummary:
    """Put a reviewed household's address on the list: its counted pledge now counts
    towards coverage, which may tip the campaign."""
    async with store.write() as db:
        campaign = await _locked_campaign(db, slug, lead_id)
        household = await _household_for_review(db, campaign, household_id)
        line = (await _first_lines(db, [household_id])).get(household_id)
        await db.execute(
            store.insert_or_ignore(premises).values(
                campaign_id=campaign.id,
                address_line=line or household["address_key"].title(),
                postcode=household["postcode"],
                district=household["district"],
                street=household["street"],
                address_key=household["address_key"],
                created_at=utcnow(),
            )
        )
        await _recount(db, campaign.id)
        summary = await _summary(db, campaign.id, added=1)
        await record_event(db, "campaign.premises_added", campaign.id, {"listed": summary.listed})
        await move_count(db, campaign.id, 0, recheck=True)  # the counts stand; it may tip
        return summary


async def leave_out(store: Store, slug: str, lead_id: int, household_id: int) -> None:
    """The lead's choice to leave an address off the list: it stops awaiting review. Its
    pledges still count as people and households, not towards coverage."""
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        if campaign.lead_id != lead_id:
            raise NotCampaignLead(slug)
        await _household_for_review(db, campaign, household_id)
        await db.execute(
            sa.update(households)
            .where(households.c.id == household_id, households.c.left_out_at.is_(None))
            .values(left_out_at=utcnow())
        )


# ----- coverage for the dashboard ---------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Listed premises in a street or district, how many have a counted household, and
    how many are left without one (the doors to knock on)."""

    name: str
    listed: int
    counted: int

    @property
    def percent(self) -> float:
        return round(self.counted * 100 / self.listed, 1) if self.listed else 0.0

    @property
    def to_knock(self) -> int:
        return self.listed - self.counted


def _counted_household() -> Any:
    return sa.and_(
        households.c.campaign_id == premises.c.campaign_id,
        households.c.postcode == premises.c.postcode,
        households.c.address_key == premises.c.address_key,
        households.c.counting_pledge_id.is_not(None),
    )


async def _coverage(db: Database, campaign_id: int, column: Any) -> list[Coverage]:
    rows = await db.fetch_all(
        sa.select(
            column.label("name"),
            sa.func.count(premises.c.id).label("listed"),
            sa.func.count(households.c.id).label("counted"),
        )
        .select_from(premises.outerjoin(households, _counted_household()))
        .where(premises.c.campaign_id == campaign_id)
        .group_by(column)
        .order_by(column)
    )
    return [Coverage(r["name"], int(r["listed"]), int(r["counted"])) for r in rows]


async def coverage_by_street(db: Database, campaign_id: int) -> list[Coverage]:
    return await _coverage(db, campaign_id, premises.c.street)


async def coverage_by_district(db: Database, campaign_id: int) -> list[Coverage]:
    return await _coverage(db, campaign_id, premises.c.district)


def _door_order(line: str) -> tuple[Any, ...]:
    """Address lines in the order a volunteer walks them: 2, 4, 10, 12a; not 10, 12a, 2."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.findall(r"\d+|\D+", line)
    )


async def walk_sheet(db: Database, campaign_id: int, street: str) -> list[str]:
    """The listed addresses in `street` without a counted household, in door order: address
    lines of the list only, never who pledged."""
    rows = await db.fetch_all(
        sa.select(premises.c.address_line, premises.c.postcode)
        .select_from(premises.outerjoin(households, _counted_household()))
        .where(
            premises.c.campaign_id == campaign_id,
            premises.c.street == street,
            households.c.id.is_(None),
        )
    )
    return sorted((r["address_line"] for r in rows), key=_door_order)


@dataclass(frozen=True)
class PremisesPanel:
    """What the lead's dashboard shows of a households campaign's premises."""

    summary: PremisesSummary
    by_street: list[Coverage]
    by_district: list[Coverage]
    awaiting_review: int
    can_change: bool


async def premises_panel(db: Database, campaign: Campaign) -> PremisesPanel | None:
    """None for a campaign that counts people."""
    if not campaign.counts_households:
        return None
    return PremisesPanel(
        summary=PremisesSummary(
            campaign.premises_listed,
            campaign.covered_count if campaign.premises_listed else 0,
            campaign.tally.coverage_percent,
        ),
        by_street=await coverage_by_street(db, campaign.id),
        by_district=await coverage_by_district(db, campaign.id),
        awaiting_review=await awaiting_review_count(db, campaign),
        can_change=campaign.status in CHANGEABLE,
    )
