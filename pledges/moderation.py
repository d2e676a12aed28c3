"""Moderation by the site's administrators: hiding campaigns, and striking out pledges in
bulk against organised abuse, as UK Parliament e-petitions does.

A hidden campaign leaves every public list and page and takes no pledges; unhiding it
restores everything. Bulk invalidation matches pledges by campaign, client address (one
address or a CIDR network), email domain and creation time, and marks the pending and
confirmed ones "invalid". The count stays exact while residents confirm and withdraw at the
same time: each batch locks the rows it matches (PostgreSQL `SELECT ... FOR UPDATE`, in id
order; SQLite's single writer), changes them with a guarded `UPDATE ... WHERE status IN
(...)`, and lowers the confirmed count through the one atomic counter in
pledges.pledging, in the same transaction. Tipping stays irreversible, as for withdrawal.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign, get_campaign, get_campaign_by_id
from pledges.counting import uncount_pledges
from pledges.errors import CampaignNotFound, FieldError, ValidationFailed
from pledges.identity import canonical_email
from pledges.journal import record_event
from pledges.store import Store, utcnow
from pledges.tables import campaigns, pledges

# Only these are struck out: a withdrawn pledge already counts for nothing.
MATCHABLE_STATUSES = ("pending", "confirmed")
BATCH_SIZE = 500
_DOMAIN = re.compile(r"^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# Hiding


async def set_hidden_in_transaction(db: Database, campaign: Campaign, hidden: bool) -> bool:
    """Hide or unhide inside the caller's write transaction (pledges.reports hides from a
    report with its record of who did it); False when it already was."""
    guard = campaigns.c.hidden_at.is_(None) if hidden else campaigns.c.hidden_at.is_not(None)
    changed = await db.fetch_one(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign.id, guard)
        .values(hidden_at=utcnow() if hidden else None)
        .returning(campaigns.c.id)
    )
    if changed is not None:  # hiding twice records one event
        kind = "campaign.hidden" if hidden else "campaign.unhidden"
        await record_event(db, kind, campaign.id, {"slug": campaign.slug})
    return changed is not None


async def _set_hidden(store: Store, slug: str, hidden: bool) -> Campaign:
    async with store.write() as db:
        campaign = await get_campaign(db, slug)
        await set_hidden_in_transaction(db, campaign, hidden)
        return await get_campaign_by_id(db, campaign.id)


async def hide_campaign(store: Store, slug: str) -> Campaign:
    """Take a campaign off every public surface; its pledges are kept and still count."""
    return await _set_hidden(store, slug, True)


async def unhide_campaign(store: Store, slug: str) -> Campaign:
    """Put a hidden campaign back where it was, as it was."""
    return await _set_hidden(store, slug, False)


# Which pledges


def parse_time(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time, in UTC unless it names a zone. A date alone is the
    start of that day, or with `end_of_day` the start of the next (so the day is included).
    Raises ValueError."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class PledgeFilter:
    """Which pledges to strike out; every filter given must match (AND)."""

    campaign_slug: str | None = None
    network: IPNetwork | None = None  # a single address is a /32 or /128
    email_domain: str | None = None  # exact domain of the canonical email, no subdomains
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before

    def matches(self, ip: str | None, email_canonical: str | None) -> bool:
        """The exact test of what SQL can only narrow down: the address and the domain."""
        if self.network is not None:
            address = _address(ip)
            if address is None or address.version != self.network.version:
                return False
            if address not in self.network:
                return False
        if self.email_domain is not None:
            if email_canonical is None:  # a pledge without email has no domain to match
                return False
            _, at, domain = email_canonical.rpartition("@")
            if not at or domain != self.email_domain:
                return False
        return True


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:203.0.113.5 is 203.0.113.5
    return address


def _parse_network(value: str, errors: list[FieldError]) -> IPNetwork | None:
    text = value.strip()
    if "/" not in text:
        address = _address(text)
        if address is not None:
            return ipaddress.ip_network(address)
    else:
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                pass
            else:  # host bits set: say what was probably meant rather than guess
                errors.append(
                    FieldError(
                        "ip",
                        "not_a_range_start",
                        f"{text} is not the start of a range: did you mean {loose}?",
                        {"value": text, "suggestion": str(loose)},
                    )
                )
                return None
    errors.append(
        FieldError(
            "ip",
            "not_an_ip",
            "Enter an IP address, like 203.0.113.7, or a range, like 203.0.113.0/24.",
        )
    )
    return None


def _parse_domain(value: str, errors: list[FieldError]) -> str | None:
    text = value.strip().lower().removeprefix("@").rstrip(".")
    if not _DOMAIN.match(text):
        errors.append(
            FieldError("email_domain", "not_a_domain", "Enter an email domain, like example.com.")
        )
        return None
    # As the pledges store it: googlemail.com is gmail.com.
    return canonical_email(f"x@{text}").rpartition("@")[2]


def _parse_when(
    value: str | datetime | None, name: str, errors: list[FieldError], *, end_of_day: bool
) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # stored times are UTC; SQLite compares them as text
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not value.strip():
        return None
    try:
        return parse_time(value, end_of_day=end_of_day)
    except (ValueError, OverflowError):
        errors.append(
            FieldError(
                name, "not_a_date", "Enter a date and time like 2025-03-01 14:30, or a date alone."
            )
        )
        return None


def pledge_filter(
    *,
    campaign_slug: str | None = None,
    ip: str | None = None,
    email_domain: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> PledgeFilter:
    """Check the filters an administrator gave; every problem is reported at once, by field.
    At least one is needed: striking out every pledge on the site is never meant."""
    errors: list[FieldError] = []
    slug = (campaign_slug or "").strip() or None
    network = _parse_network(ip, errors) if ip and ip.strip() else None
    domain = _parse_domain(email_domain, errors) if email_domain and email_domain.strip() else None
    start = _parse_when(since, "since", errors, end_of_day=False)
    end = _parse_when(until, "until", errors, end_of_day=True)
    if start is not None and end is not None and start >= end:
        errors.append(FieldError("until", "not_after_start", "The end must be after the start."))
    given = (slug, ip and ip.strip(), email_domain and email_domain.strip(), since, until)
    if not errors and not any(given):
        errors.append(
            FieldError(
                "filters",
                "no_filter",
                "Choose at least one of: a campaign, an IP address or range, an email domain "
                "or a time.",
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return PledgeFilter(slug, network, domain, start, end)


def _ip_prefilter(network: IPNetwork) -> Any:
    """A SQL condition every matching address meets (the exact test is in Python)."""
    if network.version == 6:
        return pledges.c.ip.like("%:%")
    octets = network.network_address.exploded.split(".")
    if network.prefixlen == 32:
        text = str(network.network_address)
        return pledges.c.ip.in_((text, f"::ffff:{text}"))
    whole = octets[: network.prefixlen // 8]
    prefix = "".join(f"{o}." for o in whole)
    return sa.or_(pledges.c.ip.like(f"{prefix}%"), pledges.c.ip.like(f"::ffff:{prefix}%"))


def _conditions(flt: PledgeFilter, campaign_id: int | None) -> list[Any]:
    conditions: list[Any] = [pledges.c.status.in_(MATCHABLE_STATUSES)]
    if campaign_id is not None:
        conditions.append(pledges.c.campaign_id == campaign_id)
    if flt.network is not None:
        conditions.append(_ip_prefilter(flt.network))
    if flt.email_domain is not None:
        conditions.append(pledges.c.email_canonical.like(f"%@{flt.email_domain}"))
    if flt.since is not None:
        conditions.append(pledges.c.created_at >= flt.since)
    if flt.until is not None:
        conditions.append(pledges.c.created_at < flt.until)
    return conditions


# Striking out


@dataclass
class InvalidationResult:
    """What matched (a dry run) or was struck out: counts by status, overall and per
    campaign (by slug)."""

    dry_run: bool
    by_status: dict[str, int] = field(default_factory=dict)
    by_campaign: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def confirmed(self) -> int:
        return self.by_status.get("confirmed", 0)

    @property
    def pending(self) -> int:
        return self.by_status.get("pending", 0)


async def _campaign_id(db: Database, slug: str | None) -> int | None:
    if slug is None:
        return None
    try:
        return (await get_campaign(db, slug)).id
    except CampaignNotFound:
        raise ValidationFailed(
            [FieldError("campaign", "not_found", "There is no campaign with this address.")]
        ) from None


async def _batch(
    store: Store,
    db: Database,
    flt: PledgeFilter,
    campaign_id: int | None,
    after_id: int,
    *,
    lock: bool,
) -> list[Any]:
    query = (
        sa.select(
            pledges.c.id,
            pledges.c.campaign_id,
            pledges.c.status,
            pledges.c.ip,
            pledges.c.email_canonical,
            pledges.c.amount,
        )
        .where(pledges.c.id > after_id, *_conditions(flt, campaign_id))
        .order_by(pledges.c.id)
        .limit(BATCH_SIZE)
    )
    if lock and not store.is_sqlite:
        # Rows locked in id order (others lock one pledge at a time: no deadlock); a row
        # changed meanwhile is read again as committed, and dropped if it no longer matches.
        query = query.with_for_update()
    return list(await db.fetch_all(query))


async def invalidate_pledges(
    store: Store,
    *,
    campaign_slug: str | None = None,
    ip: str | None = None,
    email_domain: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    dry_run: bool = False,
) -> InvalidationResult:
    """Strike out the pending and confirmed pledges that match every filter given (at least
    one is required; ValidationFailed by field otherwise). A dry run changes nothing and
    says what would match. Each pledge struck out gets a "pledge.invalidated" event; the
    confirmed ones lower their campaign's count in the same transaction."""
    flt = pledge_filter(
        campaign_slug=campaign_slug, ip=ip, email_domain=email_domain, since=since, until=until
    )
    campaign_id = await _campaign_id(store.database, flt.campaign_slug)
    by_status: dict[str, int] = defaultdict(int)
    by_campaign: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    after_id = 0
    while True:
        if dry_run:
            async with store.read() as db:
                rows = await _batch(store, db, flt, campaign_id, after_id, lock=False)
                matched = [r for r in rows if flt.matches(r["ip"], r["email_canonical"])]
        else:
            async with store.write() as db:
                rows = await _batch(store, db, flt, campaign_id, after_id, lock=True)
                matched = await _strike_out(db, flt, rows)
        for row in matched:
            by_status[row["status"]] += 1
            by_campaign[row["campaign_id"]][row["status"]] += 1
        # Not `len(rows) < BATCH_SIZE`: PostgreSQL's FOR UPDATE drops rows that stopped
        # matching after LIMIT, so a short batch does not mean the last one.
        if not rows:
            break
        after_id = rows[-1]["id"]
    slugs = await _slugs(store.database, list(by_campaign))
    return InvalidationResult(
        dry_run=dry_run,
        by_status=dict(by_status),
        by_campaign={
            slugs[cid]: dict(counts)
            for cid, counts in sorted(by_campaign.items(), key=lambda item: slugs[item[0]])
        },
    )


async def _strike_out(db: Database, flt: PledgeFilter, rows: list[Any]) -> list[Any]:
    """Inside the batch's transaction, its rows locked: mark the matching ones invalid."""
    candidates = {r["id"]: r for r in rows if flt.matches(r["ip"], r["email_canonical"])}
    if not candidates:
        return []
    changed = await db.fetch_all(
        sa.update(pledges)
        .where(pledges.c.id.in_(list(candidates)), pledges.c.status.in_(MATCHABLE_STATUSES))
        .values(status="invalid", invalidated_at=utcnow())
        .returning(pledges.c.id)
    )
    struck = [candidates[r["id"]] for r in sorted(changed, key=lambda r: r["id"])]
    lost: dict[int, list[int]] = defaultdict(list)
    lost_amount: dict[int, int] = defaultdict(int)
    for row in struck:
        was_confirmed = row["status"] == "confirmed"
        await record_event(
            db,
            "pledge.invalidated",
            row["campaign_id"],
            {"pledge_id": row["id"], "was_confirmed": was_confirmed},
        )
        if was_confirmed:
            lost[row["campaign_id"]].append(row["id"])
            lost_amount[row["campaign_id"]] += row["amount"] or 0
    for campaign_id, ids in sorted(lost.items()):
        await uncount_pledges(db, campaign_id, ids, lost_amount[campaign_id])
    return struck


async def _slugs(db: Database, campaign_ids: list[int]) -> dict[int, str]:
    if not campaign_ids:
        return {}
    rows = await db.fetch_all(
        sa.select(campaigns.c.id, campaigns.c.slug).where(campaigns.c.id.in_(campaign_ids))
    )
    return {r["id"]: r["slug"] for r in rows}


async def pledge_counts(db: Database) -> dict[int, dict[str, int]]:
    """For the administrators' list: each campaign's pledges by status."""
    rows = await db.fetch_all(
        sa.select(pledges.c.campaign_id, pledges.c.status, sa.func.count().label("n")).group_by(
            pledges.c.campaign_id, pledges.c.status
        )
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        counts[r["campaign_id"]][r["status"]] = int(r["n"])
    return dict(counts)
