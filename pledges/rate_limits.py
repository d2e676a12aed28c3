"""Per-IP limits on anonymous pledging, counted from the stored pledges themselves.

As e-petitions does: at most so many pledges from one address on one campaign within each
window (by default 1 in 60 s and 5 in 300 s). The count runs inside the pledge's write
transaction, holding a lock on (campaign, address), so it is exact across processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.errors import RateLimited
from pledges.store import Store, aware
from pledges.tables import pledges


@dataclass(frozen=True)
class RateWindow:
    pledges: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.pledges}/{self.seconds}"


RateLimit = tuple[RateWindow, ...]  # empty: no limit

DEFAULT_PLEDGE_RATE_LIMIT: RateLimit = (RateWindow(1, 60), RateWindow(5, 300))


async def check_pledge_rate(
    store: Store,
    db: Database,
    slug: str,
    ip: str,
    limit: RateLimit,
    now: datetime,
    *,
    campaign_id: Any,
) -> None:
    """Raise RateLimited if one more pledge from `ip` on the campaign `slug` would pass
    `limit`. `campaign_id`: its id, or a scalar subquery selecting it (one that selects
    nothing finds no pledges).

    Call inside the write transaction that records the pledge. The lock is taken by slug,
    so a caller that has not read the campaign yet takes the same one."""
    if not limit:
        return
    await store.lock_until_commit(db, f"pledge-rate:{slug}:{ip}")
    longest = max(w.seconds for w in limit)
    rows = await db.fetch_all(
        sa.select(pledges.c.created_at)
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.ip == ip,
            pledges.c.created_at > now - timedelta(seconds=longest),
        )
        .order_by(pledges.c.created_at.desc())
        .limit(max(w.pledges for w in limit))
    )
    recent = [aware(r["created_at"]) for r in rows]
    waits: list[tuple[float, RateWindow]] = []
    for window in limit:
        inside = [
            t for t in recent if t is not None and t > now - timedelta(seconds=window.seconds)
        ]
        if len(inside) >= window.pledges:
            # One more is allowed once the window's oldest counted pledge leaves it.
            leaves = inside[window.pledges - 1] + timedelta(seconds=window.seconds)
            waits.append(((leaves - now).total_seconds(), window))
    if waits:
        wait, window = max(waits, key=lambda w: w[0])
        raise RateLimited(max(1, math.ceil(wait)), window.pledges, window.seconds)
