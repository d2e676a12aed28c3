"""Who receives residents' contact details: administrators' approval of organisations, and
the record of every download of a campaign's contacts.

An organisation may download contacts only once an administrator has approved it (who and
when are kept). Every download is recorded (which organisation, campaign, when, how many
contacts, and which pledges), shown to the campaign's lead on its dashboard, and to each
resident in their data export: which organisation received their details, and when.
Erasing or anonymising a pledge deletes its rows of which pledges a download carried
(pledges.anonymity.blank_pledges); the download's count stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.errors import DomainError, NotPermitted
from pledges.store import Store, aware, utcnow
from pledges.tables import (
    contact_download_pledges,
    contact_downloads,
    leads,
    organisations,
)

NOT_APPROVED = (
    "Your organisation is not yet approved to receive residents' contact details. The "
    "site's administrators approve each organisation before it can download contacts; ask "
    "them to approve yours."
)


class NotApprovedForContacts(NotPermitted):
    def __init__(self) -> None:
        super().__init__(NOT_APPROVED)


class OrganisationNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("There is no such organisation.")


@dataclass(frozen=True)
class OrganisationStanding:
    """An organisation as administrators see it: whether, when and by whom it was approved
    to receive residents' contact details."""

    id: int
    name: str
    kind: str
    created_at: datetime
    approved_at: datetime | None
    approved_by: str | None  # the approving administrator's email

    @property
    def approved(self) -> bool:
        return self.approved_at is not None


@dataclass(frozen=True)
class ContactDownload:
    organisation: str
    at: datetime
    contact_count: int
    via: str  # api | csv


def _standing(row: Any) -> OrganisationStanding:
    return OrganisationStanding(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        approved_at=aware(row["approved_at"]),
        approved_by=row["approved_by_email"],
    )


def _standing_query() -> sa.Select[Any]:
    return sa.select(
        organisations.c.id,
        organisations.c.name,
        organisations.c.kind,
        organisations.c.created_at,
        organisations.c.approved_at,
        leads.c.email.label("approved_by_email"),
    ).select_from(organisations.outerjoin(leads, leads.c.id == organisations.c.approved_by))


async def list_organisations(db: Database) -> list[OrganisationStanding]:
    """Every organisation, those awaiting approval first, then by name."""
    rows = await db.fetch_all(
        _standing_query().order_by(organisations.c.approved_at.is_not(None), organisations.c.name)
    )
    return [_standing(r) for r in rows]


async def organisation_is_approved(db: Database, organisation_id: int) -> bool:
    found = await db.fetch_val(
        sa.select(organisations.c.approved_at).where(organisations.c.id == organisation_id)
    )
    return found is not None


async def approve_organisation(db: Database, organisation_id: int, approved_by: int | None) -> None:
    """Inside a write transaction: approve the organisation now, by the administrator
    `approved_by` (None: by the site itself, as the demo's seed does). Approving one
    already approved keeps who and when."""
    await db.execute(
        sa.update(organisations)
        .where(organisations.c.id == organisation_id, organisations.c.approved_at.is_(None))
        .values(approved_at=utcnow(), approved_by=approved_by)
    )


async def set_approval(
    store: Store, organisation_id: int, approver_id: int | None
) -> OrganisationStanding:
    """Approve the organisation (by the administrator `approver_id`, now), or withdraw its
    approval (approver_id None). Approving one already approved keeps who and when."""
    async with store.write() as db:
        if approver_id is None:
            await db.execute(
                sa.update(organisations)
                .where(organisations.c.id == organisation_id)
                .values(approved_at=None, approved_by=None)
            )
        else:
            await approve_organisation(db, organisation_id, approver_id)
        row = await db.fetch_one(_standing_query().where(organisations.c.id == organisation_id))
    if row is None:
        raise OrganisationNotFound()
    return _standing(row)


async def record_contact_download(
    db: Database,
    organisation_id: int,
    campaign_id: int,
    pledge_ids: Sequence[int],
    via: str,
) -> int:
    """Inside a write transaction: record one download and the pledges it carried."""
    download_id = await db.fetch_val(
        sa.insert(contact_downloads)
        .values(
            organisation_id=organisation_id,
            campaign_id=campaign_id,
            contact_count=len(pledge_ids),
            via=via,
            created_at=utcnow(),
        )
        .returning(contact_downloads.c.id)
    )
    if pledge_ids:
        await db.execute_many(
            sa.insert(contact_download_pledges),
            [{"download_id": download_id, "pledge_id": p} for p in pledge_ids],
        )
    return int(download_id)


async def campaign_contact_downloads(db: Database, campaign_id: int) -> list[ContactDownload]:
    """The campaign's contacts downloads, newest first, for its lead."""
    rows = await db.fetch_all(
        sa.select(
            organisations.c.name,
            contact_downloads.c.created_at,
            contact_downloads.c.contact_count,
            contact_downloads.c.via,
        )
        .select_from(
            contact_downloads.join(
                organisations, organisations.c.id == contact_downloads.c.organisation_id
            )
        )
        .where(contact_downloads.c.campaign_id == campaign_id)
        .order_by(contact_downloads.c.created_at.desc(), contact_downloads.c.id.desc())
    )
    return [
        ContactDownload(r["name"], aware(r["created_at"]), r["contact_count"], r["via"])  # type: ignore[arg-type]
        for r in rows
    ]


async def recipients_of_pledges(
    db: Database, pledge_ids: Sequence[int]
) -> dict[int, list[dict[str, str]]]:
    """Per pledge, which organisations received its contact details and when, oldest first
    (for the resident's data export)."""
    found: dict[int, list[dict[str, str]]] = {i: [] for i in pledge_ids}
    if not pledge_ids:
        return found
    rows = await db.fetch_all(
        sa.select(
            contact_download_pledges.c.pledge_id,
            organisations.c.name,
            organisations.c.kind,
            contact_downloads.c.created_at,
        )
        .select_from(
            contact_download_pledges.join(
                contact_downloads, contact_downloads.c.id == contact_download_pledges.c.download_id
            ).join(organisations, organisations.c.id == contact_downloads.c.organisation_id)
        )
        .where(contact_download_pledges.c.pledge_id.in_(list(pledge_ids)))
        .order_by(contact_downloads.c.created_at, contact_downloads.c.id)
    )
    for r in rows:
        at = aware(r["created_at"])
        found[r["pledge_id"]].append(
            {
                "organisation": r["name"],
                "kind": r["kind"],
                "received_at": at.isoformat() if at else "",
            }
        )
    return found


async def forget_download_pledges(db: Database, pledge_ids: Sequence[int]) -> None:
    """Erasing or anonymising: the downloads no longer say which of them they carried."""
    if pledge_ids:
        await db.execute(
            sa.delete(contact_download_pledges).where(
                contact_download_pledges.c.pledge_id.in_(list(pledge_ids))
            )
        )
