"""Households: the homes a households campaign counts, one confirmed pledge each.

A household is the postcode plus the normalised first line of the address
(pledges.addresses.address_key). Pledges join their household when recorded; which of a
household's confirmed pledges counts is decided in pledges/counting.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from databases import Database

from pledges.addresses import address_key, street_of
from pledges.counting import lock_households
from pledges.identity import postcode_district
from pledges.store import Store, utcnow
from pledges.tables import households, premises


async def household_for(
    store: Store, db: Database, campaign_id: int, postcode: str, address_line: str
) -> int:
    """The id of the campaign's household at this address, made on first use (and marked
    as on the premises list if it is), in the caller's write transaction."""
    key = address_key(address_line)
    found = await db.fetch_val(
        sa.select(households.c.id).where(
            households.c.campaign_id == campaign_id,
            households.c.postcode == postcode,
            households.c.address_key == key,
        )
    )
    if found is not None:
        return int(found)
    # Whether a new household is on the list is read under the campaign's lock, so that a
    # list being replaced at this moment cannot leave it with the old list's answer.
    await lock_households(db, campaign_id)
    listed = await db.fetch_one(
        sa.select(premises.c.id, premises.c.priority).where(
            premises.c.campaign_id == campaign_id,
            premises.c.postcode == postcode,
            premises.c.address_key == key,
        )
    )
    new_id = await db.fetch_val(
        store.insert_or_ignore(households)
        .values(
            campaign_id=campaign_id,
            postcode=postcode,
            address_key=key,
            street=street_of(address_line),
            district=postcode_district(postcode),
            listed=listed is not None,
            priority=listed is not None and bool(listed["priority"]),
            created_at=utcnow(),
        )
        .returning(households.c.id)
    )
    if new_id is None:  # made by a concurrent pledge from the same home
        new_id = await db.fetch_val(
            sa.select(households.c.id).where(
                households.c.campaign_id == campaign_id,
                households.c.postcode == postcode,
                households.c.address_key == key,
            )
        )
    return int(new_id)
