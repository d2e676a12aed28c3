"""A campaign's pledges as its lead sees them, for the CSV export and the API's list: the
same columns in both, read in pages by id so no export holds them all at once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign
from pledges.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from pledges.tables import pledges

COLUMNS = (
    "id",
    "status",
    "source",
    "name",
    "email",
    "postcode",
    "district",
    "show_name",
    "share_contact",
    "created_at",
    "confirmed_at",
    "withdrawn_at",
)
# Money campaigns add these, after the columns above.
MONEY_COLUMNS = ("amount", "payment_status")


def columns_for(campaign: Campaign) -> tuple[str, ...]:
    return COLUMNS + (MONEY_COLUMNS if campaign.is_money else ())


async def pledge_rows(
    db: Database, campaign: Campaign, *, after_id: int = 0, limit: int
) -> list[Any]:
    """Up to `limit` of the campaign's pledges with an id above `after_id`, by id."""
    selected = [pledges.c[name] for name in columns_for(campaign)]
    return list(
        await db.fetch_all(
            sa.select(*selected)
            .where(pledges.c.campaign_id == campaign.id, pledges.c.id > after_id)
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
