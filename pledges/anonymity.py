"""Replacing a pledger's personal data in place: shared by erasure (the resident asks) and
retention (the time after the campaign closed ran out).

The pledge row stays, so counts, events and the district breakdowns still add up: name,
email, address line, phone and IP go, the postcode shrinks to its district, the choices to
show a name or share contact details are cleared, and so are the private answers given
with a choice between providers' offers (pledges.choices.forget_answers), and which
contacts downloads carried the pledge (pledges.contact_downloads). A household left
with no pledge that still holds personal data keeps only its district too
(forget_households). The email outbox belongs to notifications/, which pledges/ never
imports: its copies of a pledger's mail are scrubbed by a ScrubMail the caller passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from databases import Database

from pledges.choices import forget_answers
from pledges.contact_downloads import forget_download_pledges
from pledges.tables import households, pledges


class ScrubMail(Protocol):
    """Scrubs the outbox's copies of the mail of given pledges, in the caller's transaction
    (notifications.outbox.scrub_pledge_mail): "erased" deletes unsent messages and blanks
    sent copies, and with `resident` the sign-in messages sent to that canonical address;
    "anonymised" fails unsent messages and blanks every copy. Erasure and retention take it
    from their callers, because the outbox is notifications' table."""

    def __call__(
        self,
        db: Database,
        pledge_ids: Sequence[int],
        why: Literal["erased", "anonymised"],
        *,
        resident: str | None = None,
    ) -> Awaitable[None]: ...


async def blank_pledges(db: Database, ids: Sequence[int], label: str, now: datetime) -> list[Any]:
    """Replace the personal data of these pledges not anonymised yet, in `db`'s
    transaction; each email becomes `<label>-<id>@invalid` (a pledge without one keeps
    none), and their choices lose their private answers. Returns (id, campaign_id) of
    those changed."""
    if not ids:
        return []
    changed = list(
        await db.fetch_all(
            sa.update(pledges)
            .where(pledges.c.id.in_(list(ids)), pledges.c.anonymised_at.is_(None))
            .values(
                name="",
                # A pledge recorded without email stays without one.
                email=sa.case(
                    (pledges.c.email.is_(None), None),
                    else_=sa.literal(f"{label}-") + sa.cast(pledges.c.id, sa.String) + "@invalid",
                ),
                email_canonical=sa.case(
                    (pledges.c.email_canonical.is_(None), None),
                    else_=sa.literal(f"{label}:") + sa.cast(pledges.c.id, sa.String),
                ),
                postcode=pledges.c.district,
                address_line=None,
                phone=None,
                # A counted pledge's answer stays, an anonymous figure of the campaign's
                # demand curve; an erased or withdrawn one's goes with the rest.
                max_price=sa.case(
                    (pledges.c.status == "confirmed", pledges.c.max_price), else_=None
                ),
                ip=None,
                show_name=False,
                share_contact=False,
                anonymised_at=now,
            )
            .returning(pledges.c.id, pledges.c.campaign_id)
        )
    )
    # A choice keeps the offer chosen, one of the round's results; never the answers.
    await forget_answers(db, [r["id"] for r in changed])
    # The record of contacts downloads keeps its counts, not whose details they carried.
    await forget_download_pledges(db, [r["id"] for r in changed])
    return changed


async def forget_households(db: Database, pledge_ids: Sequence[int], label: str) -> int:
    """After blank_pledges: the households of these pledges that no pledge with personal
    data is left in lose their address (the key becomes `<label>:<id>`, the postcode its
    district, the street blank); whether each counted, its level and whether it was on the
    premises list stay, so totals and coverage still add up. Returns how many."""
    if not pledge_ids:
        return 0
    candidates = sa.select(pledges.c.household_id).where(
        pledges.c.id.in_(list(pledge_ids)), pledges.c.household_id.is_not(None)
    )
    still_personal = sa.select(pledges.c.household_id).where(
        pledges.c.household_id.is_not(None), pledges.c.anonymised_at.is_(None)
    )
    changed = await db.fetch_all(
        sa.update(households)
        .where(
            households.c.id.in_(candidates),
            households.c.id.not_in(still_personal),
            # A normalised address has no colon: a key with one is forgotten already.
            households.c.address_key.not_like("%:%"),
        )
        .values(
            address_key=sa.literal(f"{label}:") + sa.cast(households.c.id, sa.String),
            postcode=households.c.district,
            street="",
        )
        .returning(households.c.id)
    )
    return len(changed)
