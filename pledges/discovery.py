"""Finding campaigns to pledge to: the home page's search by postcode district and category,
and the campaigns like one a lead is starting (similar_campaigns).

A postcode orders rather than filters: campaigns whose area covers the district come
first, then every other public campaign, so someone just outside an area still finds it.
Within each group, campaigns still taking pledges (open or tipped) come before closed
ones; open ones by nearest deadline, closed ones most recent first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import UNPUBLISHED, Campaign, load_campaigns
from pledges.tables import campaign_districts, campaigns

TAKING_PLEDGES = ("open", "tipped")
DEFAULT_LIMIT = 100


def _public_campaigns(category: str | None) -> sa.Select[Any]:
    taking = sa.or_(*(campaigns.c.status == s for s in TAKING_PLEDGES))
    query = (
        sa.select(campaigns)
        .where(campaigns.c.status.not_in(UNPUBLISHED), campaigns.c.hidden_at.is_(None))
        .order_by(
            # Literal ranks: PostgreSQL cannot type a bound parameter in an ORDER BY CASE.
            sa.case((taking, sa.literal_column("0")), else_=sa.literal_column("1")),
            # Only one of the next two keys varies within each group of the first.
            sa.case((taking, campaigns.c.deadline), else_=sa.null()).asc(),
            sa.case((taking, sa.null()), else_=campaigns.c.deadline).desc(),
            campaigns.c.id,
        )
    )
    if category:
        query = query.where(campaigns.c.category == category)
    return query


async def find_campaigns(
    db: Database,
    district: str | None = None,
    category: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[Campaign], list[Campaign]]:
    """Public campaigns (published, not hidden) as (in_area, others), at most `limit` in all.

    `district` is a normalised outward code ("LS6"); without it every campaign is in
    `others`. `category` keeps only that category in both groups."""
    if district is None:
        return [], await load_campaigns(db, _public_campaigns(category).limit(limit))
    covering = sa.select(campaign_districts.c.campaign_id).where(
        campaign_districts.c.district == district
    )
    in_area = await load_campaigns(
        db, _public_campaigns(category).where(campaigns.c.id.in_(covering)).limit(limit)
    )
    room = limit - len(in_area)
    others = (
        await load_campaigns(
            db, _public_campaigns(category).where(campaigns.c.id.not_in(covering)).limit(room)
        )
        if room > 0
        else []
    )
    return in_area, others


SIMILAR_LIMIT = 5


@dataclass(frozen=True)
class SimilarCampaign:
    """A public campaign still taking pledges, in the same category as one being started,
    whose area shares these postcode districts with it."""

    campaign: Campaign
    shared_districts: tuple[str, ...]


async def similar_campaigns(
    db: Database, category: str, districts: Sequence[str], limit: int = SIMILAR_LIMIT
) -> list[SimilarCampaign]:
    """Open (or tipped, still taking pledges) public campaigns of `category` whose areas
    overlap `districts`: the most shared districts first, then the most support. Shown to
    a lead before they start a campaign, as e-petitions shows similar petitions, so that a
    duplicate does not split the support."""
    if not districts:
        return []
    shared = (
        sa.select(
            campaign_districts.c.campaign_id,
            sa.func.count().label("shared"),
        )
        .where(campaign_districts.c.district.in_(sorted(set(districts))))
        .group_by(campaign_districts.c.campaign_id)
        .subquery()
    )
    rows = await db.fetch_all(
        sa.select(campaigns.c.id, shared.c.shared)
        .select_from(campaigns.join(shared, shared.c.campaign_id == campaigns.c.id))
        .where(
            campaigns.c.category == category,
            campaigns.c.status.in_(TAKING_PLEDGES),
            campaigns.c.hidden_at.is_(None),
        )
        .order_by(shared.c.shared.desc(), campaigns.c.confirmed_count.desc(), campaigns.c.id)
        .limit(limit)
    )
    if not rows:
        return []
    order = [r["id"] for r in rows]
    found = {
        c.id: c
        for c in await load_campaigns(db, sa.select(campaigns).where(campaigns.c.id.in_(order)))
    }
    wanted = set(districts)
    return [
        SimilarCampaign(found[i], tuple(d for d in found[i].postcode_districts if d in wanted))
        for i in order
        if i in found
    ]
