"""Who a campaign's broadcast goes to, beyond its confirmed pledgers who still want news:
the outbox (emails) and the "to tell by hand" list (notes) ask the same question here.

Never a pledge withdrawn, struck out or anonymised: the callers keep to confirmed pledges
that are not anonymised, whatever the kind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pledges.tables import choices, pledges


def broadcast_audience(kind: str, campaign_id: int) -> sa.Select[Any]:
    """The ids of the pledges a campaign's broadcast of `kind` goes to: confirmed, not
    anonymised, and the news-takers for that kind (an email, or a note without one)."""
    return sa.select(pledges.c.id).where(
        pledges.c.campaign_id == campaign_id,
        pledges.c.status == "confirmed",
        pledges.c.anonymised_at.is_(None),
        news_takers(kind, campaign_id),
    )


def news_takers(kind: str, campaign_id: int | None) -> Any:
    """The condition on `pledges` beyond "confirmed and not anonymised" for this kind."""
    wants_news = pledges.c.unsubscribed_at.is_(None)
    if kind == "offers":
        # The offers and the link to choose go to every confirmed pledger, those who
        # unsubscribed from campaign news too: the choice of provider is theirs to make, and
        # unsubscribing from news must not quietly take their say away. Sent once a round.
        return sa.true()
    if kind == "choice_result":
        # The result goes to those who want news, and to whoever made their home's choice
        # (unsubscribed or not): it says what happens next with the provider they chose.
        chose = sa.select(choices.c.pledge_id).where(choices.c.campaign_id == campaign_id)
        return sa.or_(wants_news, pledges.c.id.in_(chose))
    return wants_news
