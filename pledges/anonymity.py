"""Replacing a pledger's personal data in place: shared by erasure (the resident asks) and
retention (the time after the campaign closed ran out).

The pledge row stays, so counts, events and the district breakdowns still add up: name,
email and IP go, the postcode shrinks to its district, the choices to show a name or share
contact details are cleared. The email outbox belongs to notifications/, which pledges/
never imports; `outbox` names just the columns that hold or describe a pledger's messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.tables import pledges

outbox = sa.table(
    "emails",
    sa.column("id", sa.BigInteger),
    sa.column("pledge_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("to_address", sa.String),
    sa.column("subject", sa.String),
    sa.column("text_body", sa.Text),
    sa.column("html_body", sa.Text),
    sa.column("status", sa.String),
    sa.column("last_error", sa.String),
    sa.column("lease_until", sa.DateTime(timezone=True)),
    sa.column("sent_at", sa.DateTime(timezone=True)),
)


async def blank_pledges(db: Database, ids: Sequence[int], label: str, now: datetime) -> list[Any]:
    """Replace the personal data of these pledges not anonymised yet, in `db`'s
    transaction; each email becomes `<label>-<id>@invalid`. Returns (id, campaign_id) of
    those changed."""
    if not ids:
        return []
    return list(
        await db.fetch_all(
            sa.update(pledges)
            .where(pledges.c.id.in_(list(ids)), pledges.c.anonymised_at.is_(None))
            .values(
                name="",
                email=sa.literal(f"{label}-") + sa.cast(pledges.c.id, sa.String) + "@invalid",
                email_canonical=sa.literal(f"{label}:") + sa.cast(pledges.c.id, sa.String),
                postcode=pledges.c.district,
                ip=None,
                show_name=False,
                share_contact=False,
                anonymised_at=now,
            )
            .returning(pledges.c.id, pledges.c.campaign_id)
        )
    )
