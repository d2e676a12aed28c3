"""Where to build next: an organisation's postcode districts ranked by the take-up projected
at a price it names, across the open and tipped campaigns in its categories and areas that
ask a price in that currency and period, each district with its demand curve.

An organisation's categories and areas are those its active webhook endpoints cover, as on
its demand view (notifications/demand.py): a provider's categories and the areas it
serves, a council's area. Only districts within the areas of the endpoints that cover a
campaign count for it, so a council never sees pledgers from outside its area ranked.
With no active endpoint, or when it asks to see everywhere, every campaign and district.
The figures come from pledges.demand_areas, the same query as GET /api/v1/demand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from databases import Database

from notifications.demand import DEMAND_STATUSES, DemandFilter, endpoint_covers
from notifications.endpoints import Endpoint, list_endpoints, prefix_covers
from pledges.campaigns import Campaign, load_campaigns
from pledges.demand_areas import AskedPrice, RankedDistrict, in_area_clause, rank_districts
from pledges.tables import campaign_districts, campaigns

RANK_LIMIT = 20  # districts shown; the rest are counted


@dataclass(frozen=True)
class Ranking:
    asked: AskedPrice
    districts: list[RankedDistrict]  # the first RANK_LIMIT, by projected take-up
    ranked: int  # districts in all
    campaigns: int  # campaigns asking a price in that currency and period, in scope
    scoped: bool  # limited to what the organisation's active endpoints cover


def area_keeper(
    active: Sequence[Endpoint], scoped: bool, wanted: DemandFilter
) -> Callable[[Campaign, str], bool]:
    """Which districts of a campaign count: within the filter's postcode prefix, and when
    scoped, within the postcode prefixes of the endpoints covering the campaign (any
    district when one of them has none)."""
    areas: dict[int, tuple[str, ...] | None] = {}

    def of(campaign: Campaign) -> tuple[str, ...] | None:
        if campaign.id not in areas:
            covering = [e for e in active if endpoint_covers(e, campaign)]
            prefixes = [e.filters.get("postcode_prefixes") or [] for e in covering]
            areas[campaign.id] = (
                None if any(not p for p in prefixes) else tuple(x for p in prefixes for x in p)
            )
        return areas[campaign.id]

    def keep(campaign: Campaign, district: str) -> bool:
        if wanted.postcode_prefix and not prefix_covers(wanted.postcode_prefix, district):
            return False
        if not scoped:
            return True
        prefixes = of(campaign)
        return prefixes is None or any(prefix_covers(p, district) for p in prefixes)

    return keep


async def where_to_build(
    db: Database,
    organisation_id: int,
    wanted: DemandFilter,
    asked: AskedPrice,
    *,
    limit: int = RANK_LIMIT,
) -> Ranking:
    """The organisation's districts by projected take-up at `asked`, highest first."""
    active = [e for e in await list_endpoints(db, organisation_id) if e.status == "active"]
    scoped = bool(active) and not wanted.everywhere
    c = campaigns.c
    query = sa.select(campaigns).where(
        c.status.in_(DEMAND_STATUSES),
        c.hidden_at.is_(None),
        c.price_points.is_not(None),
        c.price_currency == asked.currency,
        c.price_period == asked.period,
    )
    if wanted.category:
        query = query.where(c.category == wanted.category)
    if wanted.postcode_prefix:
        query = query.where(
            c.id.in_(
                sa.select(campaign_districts.c.campaign_id).where(
                    in_area_clause(campaign_districts.c.district, wanted.postcode_prefix)
                )
            )
        )
    found = await load_campaigns(db, query.order_by(c.id))
    if scoped:
        found = [f for f in found if any(endpoint_covers(e, f) for e in active)]
    ranked = await rank_districts(db, found, asked, keep=area_keeper(active, scoped, wanted))
    return Ranking(
        asked=asked,
        districts=ranked[:limit],
        ranked=len(ranked),
        campaigns=len(found),
        scoped=scoped,
    )
