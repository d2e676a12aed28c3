"""The commonest writes as one statement each, on PostgreSQL: a paper pledge, a
resident's pending pledge and a confirmation, on a campaign that counts people and asks
nothing else (no price question, quote or equity floor, no money).

Each is one statement of data-modifying CTEs, run inside the caller's write transaction:
the pledge's INSERT (or its confirming UPDATE), its event, and (but for a pending pledge,
which counts nothing) the
campaign's count `UPDATE ... SET confirmed_count = confirmed_count + 1 ... RETURNING`,
which takes the campaign's row lock until commit as move_count's does. What follows the
count (milestones, tipping) is counting.after_count, as for every other count. When the
statement writes nothing (another kind of campaign, a closed or hidden one, a repeated
email, a pledge not pending), the caller takes the general path, which decides what to
answer; nothing was written, so the transaction is as it was. SQLite has no
data-modifying CTEs: it keeps the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.counting import PROGRESS_COLUMNS, Progress, after_count
from pledges.demand import PLAIN, Deltas
from pledges.store import Prepared, mark_campaign_changed, mark_journal_written
from pledges.tables import Timestamp, campaigns, events, pledges

c = campaigns.c


def plain_open() -> tuple[Any, ...]:
    """A campaign taking pledges whose count moves by nothing but people and firmness."""
    return (
        sa.or_(c.status == "open", c.status == "tipped"),
        c.hidden_at.is_(None),
        c.counts == "people",
        c.currency.is_(None),
        c.price_points.is_(None),
        c.target_price.is_(None),
        c.quote_total.is_(None),
        c.equity_share.is_(None),
        c.equity_districts.is_(None),
    )


# Typed in the SQL itself: encode/databases' dialect writes no casts, and a parameter in a
# SELECT list or a CASE would otherwise reach PostgreSQL as text.
def _param(name: str, type_: Any = sa.String) -> Any:
    return sa.cast(sa.bindparam(name, type_=type_), type_)


def _const(text: str) -> Any:
    assert "'" not in text
    return sa.literal_column(f"'{text}'", sa.Text)


def _now() -> Any:
    return _param("now", Timestamp)


def _counted(moved: Any) -> Any:
    """The campaign's count and firmness counter moved by the pledge in `moved` (a CTE
    with campaign_id and firmness): move_count's UPDATE, as a CTE."""
    firm = {
        f"firm_{name}": c[f"firm_{name}"]
        + sa.case(
            (moved.c.firmness == _const(name), sa.literal_column("1")), else_=sa.literal_column("0")
        )
        for name in ("interested", "will_switch", "deposit")
    }
    return (
        sa.update(campaigns)
        .where(c.id == moved.c.campaign_id)
        .values(confirmed_count=c.confirmed_count + sa.literal_column("1"), **firm)
        .returning(*PROGRESS_COLUMNS)
        .cte("counted")
    )


def _event(moved: Any, counted: Any, payload_tail: str) -> Any:
    """Its `pledge.confirmed` event, the payload as record_event writes it (sorted keys).
    Read beside the count, so it is written after the campaign's row lock is taken: the
    journal has it before any milestone or tipping that a later pledge causes."""
    payload = _const('{"pledge_id": ') + sa.cast(moved.c.id, sa.Text) + _const(payload_tail)
    return (
        sa.insert(events)
        .from_select(
            ["type", "campaign_id", "payload", "created_at"],
            sa.select(_const("pledge.confirmed"), moved.c.campaign_id, payload, _now()).select_from(
                moved.join(counted, sa.true())
            ),
        )
        .returning(events.c.id)
        .cte("event")
    )


def _answer(moved: Any, payload_tail: str, name: str) -> Prepared:
    counted = _counted(moved)
    return Prepared(
        sa.select(moved.c.id.label("pledge_id"), moved.c.campaign_id, *counted.c)
        .select_from(moved.join(counted, sa.true()))
        .add_cte(_event(moved, counted, payload_tail)),
        name=f"WITH {name}, INSERT events, UPDATE campaigns",
    )


def _paper_pledge() -> Prepared:
    inserted = (
        sa.dialects.postgresql.insert(pledges)
        .from_select(
            [
                "campaign_id",
                "name",
                "email",
                "email_canonical",
                "postcode",
                "district",
                "address_line",
                "phone",
                "show_name",
                "share_contact",
                "source",
                "status",
                "created_at",
                "confirmed_at",
                "firmness",
            ],
            sa.select(
                c.id,
                _param("name"),
                _param("email"),
                _param("email_canonical"),
                _param("postcode"),
                _param("district"),
                _param("address_line"),
                _param("phone"),
                _param("show_name", sa.Boolean),
                _param("share_contact", sa.Boolean),
                _const("paper"),
                _const("confirmed"),
                _now(),
                _now(),
                _param("firmness"),
            ).where(
                c.slug == sa.bindparam("slug"),
                c.lead_id == _param("lead_id", sa.BigInteger),
                *plain_open(),
            ),
        )
        .on_conflict_do_nothing()
        .returning(pledges.c.id, pledges.c.campaign_id, pledges.c.firmness)
        .cte("pledge")
    )
    return _answer(inserted, ', "source": "paper"}', "INSERT pledges")


def _confirmation() -> Prepared:
    confirmed = (
        sa.update(pledges)
        .where(
            pledges.c.id == _param("pledge_id", sa.BigInteger),
            pledges.c.status == "pending",
            pledges.c.amount.is_(None),
            sa.exists().where(c.id == pledges.c.campaign_id, *plain_open()),
        )
        .values(status="confirmed", confirmed_at=_now())
        .returning(pledges.c.id, pledges.c.campaign_id, pledges.c.firmness)
        .cte("pledge")
    )
    return _answer(confirmed, "}", "UPDATE pledges")


def _pending_pledge() -> Prepared:
    """A resident's pledge, pending their confirmation, and its `pledge.created` event."""
    inserted = (
        sa.dialects.postgresql.insert(pledges)
        .from_select(
            [
                "campaign_id",
                "name",
                "email",
                "email_canonical",
                "postcode",
                "district",
                "address_line",
                "show_name",
                "share_contact",
                "source",
                "status",
                "created_at",
                "ip",
                "firmness",
            ],
            sa.select(
                c.id,
                _param("name"),
                _param("email"),
                _param("email_canonical"),
                _param("postcode"),
                _param("district"),
                _param("address_line"),
                _param("show_name", sa.Boolean),
                _param("share_contact", sa.Boolean),
                _param("source"),
                _const("pending"),
                _now(),
                _param("ip"),
                _param("firmness"),
            ).where(c.slug == sa.bindparam("slug"), *plain_open()),
        )
        .on_conflict_do_nothing()
        .returning(pledges.c.id, pledges.c.campaign_id)
        .cte("pledge")
    )
    payload = _const('{"pledge_id": ') + sa.cast(inserted.c.id, sa.Text) + _const("}")
    event = (
        sa.insert(events)
        .from_select(
            ["type", "campaign_id", "payload", "created_at"],
            sa.select(_const("pledge.created"), inserted.c.campaign_id, payload, _now()),
        )
        .returning(events.c.id)
        .cte("event")
    )
    return Prepared(
        sa.select(inserted.c.id.label("pledge_id"), inserted.c.campaign_id).add_cte(event),
        name="WITH INSERT pledges, INSERT events",
    )


PAPER_PLEDGE = _paper_pledge()
CONFIRMATION = _confirmation()
PENDING_PLEDGE = _pending_pledge()


@dataclass(frozen=True)
class Fused:
    pledge_id: int
    progress: Progress


async def _counted_by(db: Database, row: Any) -> Fused | None:
    if row is None:
        return None
    campaign_id = row["campaign_id"]
    mark_journal_written()
    mark_campaign_changed(campaign_id)
    # The firmness counter moved in the statement; nothing else does on such a campaign.
    progress = await after_count(db, campaign_id, row, +1, deltas=Deltas(), settings=PLAIN)
    return Fused(int(row["pledge_id"]), progress)


async def record_paper_pledge(db: Database, values: dict[str, Any]) -> Fused | None:
    """A paper pledge with an email address, confirmed and counted in one statement:
    `values` are the pledge's columns (name, email, email_canonical, postcode, district,
    address_line, phone, show_name, share_contact, firmness), the campaign's `slug`, the
    `lead_id` who must lead it, and `now`. None: nothing written (take the general path)."""
    return await _counted_by(db, await db.fetch_one(PAPER_PLEDGE(**values)))  # type: ignore[arg-type]


async def confirm_pledge(db: Database, pledge_id: int, now: datetime) -> Fused | None:
    """A pending pledge (not a money one) confirmed and counted in one statement. None:
    nothing written (take the general path)."""
    row = await db.fetch_one(CONFIRMATION(pledge_id=pledge_id, now=now))  # type: ignore[arg-type]
    return await _counted_by(db, row)


def plain_campaign_id(slug: str) -> Any:
    """The id of the campaign `slug` if it is one these statements write to, as a scalar
    subquery (NULL otherwise): what the rate limit counts a pending pledge's earlier ones by
    before the statement."""
    return sa.select(c.id).where(c.slug == slug, *plain_open()).scalar_subquery()


async def record_pending_pledge(db: Database, values: dict[str, Any]) -> int | None:
    """A resident's pledge on such a campaign, pending, with its event, in one statement:
    `values` are the pledge's columns (name, email, email_canonical, postcode, district,
    address_line, show_name, share_contact, source, ip, firmness), the campaign's `slug`
    and `now`. Its id, or None: nothing written (take the general path)."""
    row = await db.fetch_one(PENDING_PLEDGE(**values))  # type: ignore[arg-type]
    if row is None:
        return None
    mark_journal_written()  # a pending pledge changes nothing shown: no campaign marked
    return int(row["pledge_id"])
