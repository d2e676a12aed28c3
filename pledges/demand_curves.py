"""The demand curves of many campaigns at once (a page of a list), read in one query of
their demand counters instead of one per campaign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign
from pledges.demand_curve import DemandCurve, curve_from_buckets
from pledges.tables import demand_counts


async def demand_curves(
    db: Database, campaigns: Sequence[Campaign], site_rates: Mapping[str, int] | None = None
) -> dict[int, DemandCurve]:
    """Each campaign's curve by its id, for those that ask a price (as `demand_curve` gives
    it for one)."""
    asking = [c for c in campaigns if c.asks_price]
    if not asking:
        return {}
    buckets: dict[int, list[Any]] = {c.id: [] for c in asking}
    rows = await db.fetch_all(
        sa.select(
            demand_counts.c.campaign_id,
            demand_counts.c.price,
            demand_counts.c.firmness,
            demand_counts.c.level,
            demand_counts.c.listed,
            demand_counts.c.district,
            demand_counts.c.n,
        ).where(demand_counts.c.campaign_id.in_(list(buckets)), demand_counts.c.n != 0)
    )
    for row in rows:
        buckets[row["campaign_id"]].append(row)
    return {c.id: curve_from_buckets(c, buckets[c.id], site_rates) for c in asking}
