"""The email outbox's share of a resident's data, for their download from "my pledges".

(Erasing it is outbox.scrub_pledge_mail, which pledges.erasure.erase_resident runs in the
same transaction as the pledges.)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from notifications.tables import emails
from pledges.store import aware


async def emails_for_pledges(
    db: Database, pledge_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Per pledge, the messages queued or sent about it, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in pledge_ids}
    if not pledge_ids:
        return found
    rows = await db.fetch_all(
        sa.select(
            emails.c.pledge_id,
            emails.c.kind,
            emails.c.to_address,
            emails.c.subject,
            emails.c.status,
            emails.c.created_at,
            emails.c.sent_at,
        )
        .where(emails.c.pledge_id.in_(pledge_ids))
        .order_by(emails.c.id)
    )
    for r in rows:
        sent_at = aware(r["sent_at"])
        queued_at = aware(r["created_at"])
        found[r["pledge_id"]].append(
            {
                "kind": r["kind"],
                "to": r["to_address"],
                "subject": r["subject"],
                "status": r["status"],
                "queued_at": queued_at.isoformat() if queued_at else None,
                "sent_at": sent_at.isoformat() if sent_at else None,
            }
        )
    return found
