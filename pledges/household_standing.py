"""Where one pledge stands in its household, for the page a resident sees on confirming
(having shown they hold the email): whether someone else from the same home pledged too,
and so whether this pledge is the one the home is counted by or is shown as also from this
household. The page right after the form says nothing of the home: its answer is the same
whoever sent the form, so it tells no one who else pledged at an address."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database

from pledges.tables import households, pledges


@dataclass(frozen=True)
class HouseholdStanding:
    # Other pending or confirmed pledges from the same home.
    others: int
    # This pledge is the one the home is counted by.
    counting: bool
    # The home is counted (by this pledge or another).
    counted: bool

    @property
    def shared(self) -> bool:
        """Someone else from the home pledged too: the home is counted once."""
        return self.others > 0


async def household_standing(
    db: Database, pledge_id: int, campaign_id: int
) -> HouseholdStanding | None:
    """The pledge's standing in its household; None for a pledge without one (a campaign
    that counts people) or of another campaign."""
    row = await db.fetch_one(
        sa.select(pledges.c.household_id, households.c.counting_pledge_id)
        .select_from(pledges.join(households, households.c.id == pledges.c.household_id))
        .where(pledges.c.id == pledge_id, pledges.c.campaign_id == campaign_id)
    )
    if row is None:
        return None
    others = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(pledges)
        .where(
            pledges.c.household_id == row["household_id"],
            pledges.c.id != pledge_id,
            pledges.c.status.in_(("pending", "confirmed")),
        )
    )
    counting = row["counting_pledge_id"]
    return HouseholdStanding(
        others=int(others or 0), counting=counting == pledge_id, counted=counting is not None
    )
