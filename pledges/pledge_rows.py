"""A campaign's pledges as its lead sees them, for the CSV export and the API's list: the
same columns in both, read in pages by id so no export holds them all at once.

On a campaign that counts households each pledge also says which household it is from
(numbered within the campaign, in the order the homes first pledged) and whether it is the
one pledge counting for that home."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign
from pledges.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from pledges.tables import households, pledges

COLUMNS = (
    "id",
    "status",
    "source",
    "name",
    "email",
    "address_line",
    "postcode",
    "district",
    "show_name",
    "share_contact",
    "created_at",
    "confirmed_at",
    "withdrawn_at",
    "firmness",
)
# Campaigns with a price question add the most each would pay (minor units; null: not
# sure), after the columns above.
PRICE_COLUMNS = ("max_price",)
# Money campaigns add these, after the columns above.
MONEY_COLUMNS = ("amount", "payment_status")
# Households campaigns add these, after the columns above.
HOUSEHOLD_COLUMNS = ("household", "household_pledge")
# household_pledge: whether the pledge is the one its home is counted by.
COUNTED = "counted"
ALSO = "also from this household"
NOT_COUNTED = "not counted"


def columns_for(campaign: Campaign) -> tuple[str, ...]:
    return (
        COLUMNS
        + (PRICE_COLUMNS if campaign.asks_price else ())
        + (MONEY_COLUMNS if campaign.is_money else ())
        + (HOUSEHOLD_COLUMNS if campaign.counts_households else ())
    )


async def pledge_rows(
    db: Database, campaign: Campaign, *, after_id: int = 0, limit: int
) -> list[Any]:
    """Up to `limit` of the campaign's pledges with an id above `after_id`, by id."""
    own = [name for name in columns_for(campaign) if name not in HOUSEHOLD_COLUMNS]
    query = sa.select(*(pledges.c[name] for name in own))
    if campaign.counts_households:
        numbered = (
            sa.select(
                households.c.id,
                households.c.counting_pledge_id,
                sa.func.row_number().over(order_by=households.c.id).label("number"),
            )
            .where(households.c.campaign_id == campaign.id)
            .subquery()
        )
        query = query.add_columns(
            numbered.c.number.label("household"),
            sa.case(
                (numbered.c.counting_pledge_id == pledges.c.id, COUNTED),
                (numbered.c.counting_pledge_id.is_not(None), ALSO),
                (numbered.c.id.is_not(None), NOT_COUNTED),
                else_=None,
            ).label("household_pledge"),
        ).select_from(pledges.outerjoin(numbered, numbered.c.id == pledges.c.household_id))
    return list(
        await db.fetch_all(
            query.where(pledges.c.campaign_id == campaign.id, pledges.c.id > after_id)
            .order_by(pledges.c.id)
            .limit(limit)
        )
    )


async def pledges_page(
    db: Database, campaign: Campaign, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Any]:
    after_id = decode_cursor(cursor, (int,))[0] if cursor is not None else 0
    rows = await pledge_rows(db, campaign, after_id=after_id, limit=limit + 1)
    return page_of(rows, limit, lambda row: (row["id"],))
