"""The choice round: after a campaign tips and providers post offers, its residents choose.

The lead opens the round with a closing date (or the worker opens it 14 days after the
first offer, for 14 days). Each confirmed pledger is then sent every offer side by side
with a signed link; they choose one offer or "none of these", may say privately that they
would need a social tariff, and may change their mind until the round closes. On a
campaign that counts households the choice is the household's: any of its confirmed
pledgers may make or change it, and it counts once.

Counting follows the house rule: every counter (each offer's chosen and social-tariff
counts, the round's totals) moves by `x = x + :d` in the transaction of the choice that
moves it. Every choice first locks the round's row (SELECT ... FOR UPDATE on PostgreSQL;
SQLite has one writer), so it sees the round open or closed as committed and its
read-then-write of the unit's earlier choice is exact; a withdrawn pledge's choice is
taken off under the same lock (pledges.counting.uncount_pledges calls drop_choices).

When the round closes (the worker, at its closing date) the results are recorded for
everyone (`campaign.choice_closed`), and each provider gets its own offers' totals
(`offer.chosen`, to its endpoints alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.contact_downloads import (
    NotApprovedForContacts,
    organisation_is_approved,
    record_contact_download,
)
from pledges.demand_curve import open_figure
from pledges.errors import (
    FieldError,
    NotCampaignLead,
    NotFound,
    ValidationFailed,
    WrongState,
)
from pledges.journal import record_event
from pledges.offers import Offer, list_offers, lock_offers
from pledges.store import Store, aware, utcnow
from pledges.tables import campaigns, choice_rounds, choices, offers, pledges

# The round opens by itself this long after the first offer, and then lasts this long.
AUTO_OPEN_AFTER = timedelta(days=14)
DEFAULT_LENGTH = timedelta(days=14)
# A round the lead opens closes no sooner and no later than this.
MIN_LENGTH = timedelta(days=3)
MAX_LENGTH = timedelta(days=60)
NONE_OF_THESE = "none"


@dataclass(frozen=True)
class ChoiceRound:
    campaign_id: int
    opened_by: str
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    chose_count: int
    none_count: int
    social_tariff_count: int

    def is_open(self, now: datetime | None = None) -> bool:
        return self.closed_at is None and (now or utcnow()) < self.closes_at

    @property
    def answered(self) -> int:
        """Units that answered: an offer or "none of these"."""
        return self.chose_count + self.none_count

    def payload(self) -> dict[str, Any]:
        return {
            "opened_by": self.opened_by,
            "opened_at": self.opened_at.isoformat(),
            "closes_at": self.closes_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


def _round_from_row(row: Any) -> ChoiceRound:
    return ChoiceRound(
        campaign_id=row["campaign_id"],
        opened_by=row["opened_by"],
        opened_at=aware(row["opened_at"]),  # type: ignore[arg-type]
        closes_at=aware(row["closes_at"]),  # type: ignore[arg-type]
        closed_at=aware(row["closed_at"]),
        chose_count=int(row["chose_count"]),
        none_count=int(row["none_count"]),
        social_tariff_count=int(row["social_tariff_count"]),
    )


@dataclass(frozen=True)
class Choice:
    campaign_id: int
    unit_key: str
    pledge_id: int  # who chose last
    offer_id: int | None  # None: none of these
    offer_public_id: str | None
    needs_social_tariff: bool
    share_contact: bool
    created_at: datetime
    updated_at: datetime
    service_confirmed_at: datetime | None


async def get_round(db: Database, campaign_id: int) -> ChoiceRound | None:
    row = await db.fetch_one(
        sa.select(choice_rounds).where(choice_rounds.c.campaign_id == campaign_id)
    )
    return _round_from_row(row) if row is not None else None


def unit_key(campaign: Campaign | None, pledge_id: int, household_id: int | None) -> str:
    """The unit a pledge chooses for: its household on a campaign counting households."""
    if household_id is not None and (campaign is None or campaign.counts_households):
        return f"h{household_id}"
    return f"p{pledge_id}"


def _choice_query() -> sa.Select[Any]:
    return sa.select(choices, offers.c.public_id.label("offer_public_id")).outerjoin(
        offers, offers.c.id == choices.c.offer_id
    )


def _choice_from_row(row: Any) -> Choice:
    return Choice(
        campaign_id=row["campaign_id"],
        unit_key=row["unit_key"],
        pledge_id=row["pledge_id"],
        offer_id=row["offer_id"],
        offer_public_id=row["offer_public_id"],
        needs_social_tariff=bool(row["needs_social_tariff"]),
        share_contact=bool(row["share_contact"]),
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=aware(row["updated_at"]),  # type: ignore[arg-type]
        service_confirmed_at=aware(row["service_confirmed_at"]),
    )


async def _pledge_unit(db: Database, pledge_id: int) -> Any:
    return await db.fetch_one(
        sa.select(
            pledges.c.id,
            pledges.c.campaign_id,
            pledges.c.status,
            pledges.c.household_id,
            pledges.c.share_contact,
            pledges.c.anonymised_at,
            campaigns.c.counts,
        )
        .join(campaigns, campaigns.c.id == pledges.c.campaign_id)
        .where(pledges.c.id == pledge_id)
    )


def _key_of(row: Any) -> str:
    if row["counts"] == "households" and row["household_id"] is not None:
        return f"h{row['household_id']}"
    return f"p{row['id']}"


async def choice_for_pledge(db: Database, pledge_id: int) -> Choice | None:
    """The choice of the pledge's unit (made by this pledger or, on a households campaign,
    by another of the home's pledgers)."""
    row = await _pledge_unit(db, pledge_id)
    if row is None:
        return None
    found = await db.fetch_one(
        _choice_query().where(
            choices.c.campaign_id == row["campaign_id"], choices.c.unit_key == _key_of(row)
        )
    )
    return _choice_from_row(found) if found is not None else None


# --- opening ---------------------------------------------------------------------------


def parse_closing(data: Any, now: datetime | None = None) -> datetime:
    """The closing date the lead gave (`closes_at`, an ISO date or time; a date alone
    means the end of that day); absent: DEFAULT_LENGTH from now."""
    now = now or utcnow()
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    value = data.get("closes_at")
    if value is None or value == "":
        return now + DEFAULT_LENGTH
    message = "Enter the closing date as an ISO 8601 date, like 2027-03-01."
    if not isinstance(value, str):
        raise ValidationFailed([FieldError("closes_at", "not_a_date", message)])
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([FieldError("closes_at", "not_a_date", message)]) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=now.tzinfo)
        if len(value.strip()) == 10:
            parsed = parsed.replace(hour=23, minute=59, second=59)
    if parsed < now + MIN_LENGTH:
        raise ValidationFailed(
            [
                FieldError(
                    "closes_at",
                    "not_later",
                    "Give residents at least three days: close the round no sooner than "
                    f"{(now + MIN_LENGTH):%d %B %Y}.",
                )
            ]
        )
    if parsed > now + MAX_LENGTH:
        raise ValidationFailed(
            [
                FieldError(
                    "closes_at",
                    "too_far_ahead",
                    "Close the round within 60 days, while the offers still stand.",
                )
            ]
        )
    return parsed


async def open_round(
    store: Store,
    campaign_id: int,
    closes_at: datetime,
    *,
    lead_id: int | None = None,
    now: datetime | None = None,
) -> ChoiceRound:
    """Open the campaign's choice round: by its lead (lead_id), or by the worker (None).
    Needs a tipped campaign with at least one published offer and no round yet."""
    now = now or utcnow()
    async with store.write() as db:
        campaign = await get_campaign_by_id(db, campaign_id)
        if lead_id is not None and campaign.lead_id != lead_id:
            raise NotCampaignLead(campaign.slug)
        await lock_offers(store, db, campaign_id)
        if campaign.status != "tipped":
            raise WrongState("A choice round can open only once the campaign has tipped.")
        if await get_round(db, campaign_id) is not None:
            raise WrongState("This campaign's choice round has already opened.")
        current = [o for o in await list_offers(db, campaign_id) if o.is_published]
        if not current:
            raise WrongState("There are no offers to choose between yet.")
        await db.execute(
            sa.insert(choice_rounds).values(
                campaign_id=campaign_id,
                opened_by="lead" if lead_id is not None else "auto",
                opened_at=now,
                closes_at=closes_at,
            )
        )
        opened = await get_round(db, campaign_id)
        assert opened is not None
        await record_event(
            db,
            "campaign.choice_opened",
            campaign_id,
            {
                **campaign.public_payload(),
                "choice_round": opened.payload(),
                "offers": [o.public_payload() for o in current],
            },
        )
    return opened


async def open_due_rounds(store: Store, now: datetime | None = None) -> list[int]:
    """Open, for DEFAULT_LENGTH, the round of each tipped campaign whose first offer is
    AUTO_OPEN_AFTER old and whose lead has not opened it; returns the campaigns' ids."""
    now = now or utcnow()
    first_offer = (
        sa.select(offers.c.campaign_id)
        .where(offers.c.status == "published")
        .group_by(offers.c.campaign_id)
        .having(sa.func.min(offers.c.created_at) <= now - AUTO_OPEN_AFTER)
    )
    async with store.read() as db:
        rows = await db.fetch_all(
            sa.select(campaigns.c.id).where(
                campaigns.c.status == "tipped",
                campaigns.c.hidden_at.is_(None),
                campaigns.c.id.in_(first_offer),
                campaigns.c.id.not_in(sa.select(choice_rounds.c.campaign_id)),
            )
        )
    opened = []
    for row in rows:
        try:
            await open_round(store, row["id"], now + DEFAULT_LENGTH, now=now)
        except WrongState:  # the lead opened it meanwhile
            continue
        opened.append(int(row["id"]))
    return opened


# --- choosing --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceInput:
    offer: str  # an offer's public id, or NONE_OF_THESE
    needs_social_tariff: bool
    share_contact: bool | None  # None: as the pledge said when pledging


def _flag(data: dict[str, Any], name: str, errors: list[FieldError]) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        errors.append(FieldError(name, "not_a_boolean", "Must be true or false."))
        return None
    return value


def parse_choice(data: Any) -> ChoiceInput:
    """`offer` (an offer's id, or "none" for none of these), and the optional private
    answers `needs_social_tariff` and `share_contact`."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    offer = data.get("offer")
    if not isinstance(offer, str) or not offer.strip():
        errors.append(
            FieldError("offer", "required", 'Choose an offer, or "none" for none of these.')
        )
        offer = ""
    elif "\x00" in offer or len(offer) > 40:
        errors.append(FieldError("offer", "not_found", "There is no such offer on this campaign."))
    needs = _flag(data, "needs_social_tariff", errors)
    share = _flag(data, "share_contact", errors)
    if errors:
        raise ValidationFailed(errors)
    return ChoiceInput(str(offer).strip(), bool(needs), share)


async def _lock_round(db: Database, campaign_id: Any) -> ChoiceRound | None:
    """Lock the round's row until commit and read it. An UPDATE (of nothing) rather than
    SELECT ... FOR UPDATE: on SQLite a transaction that starts by writing waits its turn,
    where one that reads first may find another writer and fail instead of waiting.
    `campaign_id` may be a scalar subquery (the campaign of a pledge)."""
    row = await db.fetch_one(
        sa.update(choice_rounds)
        .where(choice_rounds.c.campaign_id == campaign_id)
        .values(chose_count=choice_rounds.c.chose_count)
        .returning(*choice_rounds.c)
    )
    return _round_from_row(row) if row is not None else None


async def _move(
    db: Database,
    campaign_id: int,
    change: list[tuple[int | None, bool, int]],
) -> None:
    """Move the counters for units whose choice (offer id or None, needs social tariff)
    started (+1) or stopped (-1) counting, under the round's lock."""
    chose = sum(sign for offer_id, _, sign in change if offer_id is not None)
    none = sum(sign for offer_id, _, sign in change if offer_id is None)
    tariff = sum(sign for _, needs, sign in change if needs)
    if chose or none or tariff:
        await db.execute(
            sa.update(choice_rounds)
            .where(choice_rounds.c.campaign_id == campaign_id)
            .values(
                chose_count=choice_rounds.c.chose_count + chose,
                none_count=choice_rounds.c.none_count + none,
                social_tariff_count=choice_rounds.c.social_tariff_count + tariff,
            )
        )
    per_offer: dict[int, list[int]] = {}
    for offer_id, needs, sign in change:
        if offer_id is None:
            continue
        moved = per_offer.setdefault(offer_id, [0, 0])
        moved[0] += sign
        moved[1] += sign if needs else 0
    for offer_id in sorted(per_offer):  # one order, so two choices never wait on each other
        d_chosen, d_tariff = per_offer[offer_id]
        if d_chosen or d_tariff:
            await db.execute(
                sa.update(offers)
                .where(offers.c.id == offer_id)
                .values(
                    chosen_count=offers.c.chosen_count + d_chosen,
                    social_tariff_count=offers.c.social_tariff_count + d_tariff,
                )
            )


async def choose(
    store: Store, pledge_id: int, choice: ChoiceInput, now: datetime | None = None
) -> Choice:
    """Record (or change) the choice of the pledge's unit while the round is open."""
    now = now or utcnow()
    async with store.write() as db:
        # The round's lock first, found through the pledge: the transaction's first statement.
        of_pledge = sa.select(pledges.c.campaign_id).where(pledges.c.id == pledge_id)
        current_round = await _lock_round(db, of_pledge.scalar_subquery())
        pledge = await _pledge_unit(db, pledge_id)
        if pledge is None:
            raise NotFound("That pledge no longer exists.")
        campaign_id = pledge["campaign_id"]
        if current_round is None:
            raise WrongState("The choice round for this campaign has not opened yet.")
        if not current_round.is_open(now):
            raise WrongState("The choice round has closed; choices can no longer change.")
        # Read after the round's lock: a withdrawal committed before it is seen here.
        if pledge["status"] != "confirmed":
            raise WrongState("Only a confirmed pledge that still counts can choose.")
        if pledge["anonymised_at"] is not None:  # its private answers would be kept again
            raise WrongState("This pledge's personal data has been removed; it cannot choose.")
        offer_id: int | None = None
        if choice.offer != NONE_OF_THESE:
            offer = await db.fetch_one(
                sa.select(offers.c.id, offers.c.status).where(
                    offers.c.campaign_id == campaign_id, offers.c.public_id == choice.offer
                )
            )
            if offer is None:
                raise ValidationFailed(
                    [FieldError("offer", "not_found", "There is no such offer on this campaign.")]
                )
            if offer["status"] != "published":
                raise ValidationFailed(
                    [
                        FieldError(
                            "offer",
                            "offer_withdrawn",
                            "Its provider withdrew this offer; choose another.",
                        )
                    ]
                )
            offer_id = int(offer["id"])
        share = (
            bool(pledge["share_contact"]) if choice.share_contact is None else choice.share_contact
        )
        key = _key_of(pledge)
        earlier = await db.fetch_one(
            sa.select(choices).where(
                choices.c.campaign_id == campaign_id, choices.c.unit_key == key
            )
        )
        values = {
            "pledge_id": pledge_id,
            "offer_id": offer_id,
            "needs_social_tariff": choice.needs_social_tariff,
            "share_contact": share,
            "updated_at": now,
        }
        change: list[tuple[int | None, bool, int]] = [(offer_id, choice.needs_social_tariff, +1)]
        if earlier is None:
            await db.execute(
                sa.insert(choices).values(
                    campaign_id=campaign_id, unit_key=key, created_at=now, **values
                )
            )
        else:
            change.append((earlier["offer_id"], bool(earlier["needs_social_tariff"]), -1))
            await db.execute(
                sa.update(choices).where(choices.c.id == earlier["id"]).values(**values)
            )
        await _move(db, campaign_id, change)
        found = await db.fetch_one(
            _choice_query().where(choices.c.campaign_id == campaign_id, choices.c.unit_key == key)
        )
    return _choice_from_row(found)


async def drop_choices(db: Database, campaign_id: int, pledge_ids: Sequence[int]) -> int:
    """In the caller's transaction, after its pledges stopped counting (withdrawn, erased,
    struck out): take back the choices they made while the round is open, so the totals
    count only pledges that still stand. A closed round's results stay as they were."""
    current_round = await _lock_round(db, campaign_id)
    if current_round is None or current_round.closed_at is not None or not pledge_ids:
        return 0
    rows = await db.fetch_all(
        sa.select(choices).where(
            choices.c.campaign_id == campaign_id, choices.c.pledge_id.in_(list(pledge_ids))
        )
    )
    if not rows:
        return 0
    await db.execute(sa.delete(choices).where(choices.c.id.in_([r["id"] for r in rows])))
    await _move(
        db, campaign_id, [(r["offer_id"], bool(r["needs_social_tariff"]), -1) for r in rows]
    )
    return len(rows)


async def forget_answers(db: Database, pledge_ids: Sequence[int]) -> int:
    """In the caller's transaction, as these pledges are erased or anonymised: the choices
    they made keep the offer chosen (part of the round's results) but lose their private
    answers, "I would need a social tariff" and "the provider I chose may contact me".
    A closed round's results stay as they were reported, aggregates that name no one; an
    open round's social-tariff counts fall with the answers, so its live totals stay
    exact. Returns how many choices changed."""
    if not pledge_ids:
        return 0
    mine = choices.c.pledge_id.in_(list(pledge_ids))
    private = sa.or_(choices.c.needs_social_tariff.is_(True), choices.c.share_contact.is_(True))
    # Every round of their campaigns, not only those holding their choices now: once
    # locked, a choice of theirs in flight has committed (and is seen below) or waits, and
    # then finds the pledge erased or anonymised and refuses.
    of_pledges = sa.select(pledges.c.campaign_id).where(pledges.c.id.in_(list(pledge_ids)))
    found = await db.fetch_all(
        sa.select(choice_rounds.c.campaign_id).where(choice_rounds.c.campaign_id.in_(of_pledges))
    )
    changed = 0
    for campaign_id in sorted(int(r["campaign_id"]) for r in found):
        # The round's lock first, then the rows as committed: a household's choice another
        # of its pledgers changed meanwhile is no longer this pledge's to forget.
        current_round = await _lock_round(db, campaign_id)
        rows = await db.fetch_all(
            sa.select(choices.c.id, choices.c.offer_id, choices.c.needs_social_tariff).where(
                choices.c.campaign_id == campaign_id, mine, private
            )
        )
        if not rows:
            continue
        if current_round is not None and current_round.closed_at is None:
            needing = [r["offer_id"] for r in rows if r["needs_social_tariff"]]
            await _move(
                db,
                campaign_id,
                [(o, True, -1) for o in needing] + [(o, False, +1) for o in needing],
            )
        await db.execute(
            sa.update(choices)
            .where(choices.c.id.in_([r["id"] for r in rows]))
            .values(needs_social_tariff=False, share_contact=False)
        )
        changed += len(rows)
    return changed


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferTotals:
    offer: Offer
    chosen: int
    # Exact, for the round's own figures; show it through open_figure (never below 5).
    social_tariff: int

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.offer.public_id,
            "organisation": self.offer.organisation_name,
            "title": self.offer.title,
            "status": self.offer.status,
            "chosen": self.chosen,
            "social_tariff_needed": open_figure(self.social_tariff),
        }


@dataclass(frozen=True)
class Results:
    round: ChoiceRound
    offers: list[OfferTotals]

    def payload(self) -> dict[str, Any]:
        return {
            "offers": [t.payload() for t in self.offers],
            "chose_an_offer": self.round.chose_count,
            "none_of_these": self.round.none_count,
            "social_tariff_needed": open_figure(self.round.social_tariff_count),
        }


async def round_results(db: Database, campaign_id: int) -> Results | None:
    """Every offer's totals (read from the counters), in fair order; None before a round."""
    current = await get_round(db, campaign_id)
    if current is None:
        return None
    found = await list_offers(db, campaign_id)
    return Results(current, [OfferTotals(o, o.chosen_count, o.social_tariff_count) for o in found])


async def close_round(store: Store, campaign_id: int, now: datetime | None = None) -> bool:
    """Close the round (once: a guarded UPDATE), recording `campaign.choice_closed` with
    every offer's results and one `offer.chosen` per provider with its own totals."""
    now = now or utcnow()
    async with store.write() as db:
        closed = await db.fetch_one(
            sa.update(choice_rounds)
            .where(choice_rounds.c.campaign_id == campaign_id, choice_rounds.c.closed_at.is_(None))
            .values(closed_at=now)
            .returning(choice_rounds.c.campaign_id)
        )
        if closed is None:
            return False
        campaign = await get_campaign_by_id(db, campaign_id)
        results = await round_results(db, campaign_id)
        assert results is not None
        await record_event(
            db,
            "campaign.choice_closed",
            campaign_id,
            {
                **campaign.public_payload(),
                "choice_round": results.round.payload(),
                "results": results.payload(),
            },
        )
        by_provider: dict[int, list[OfferTotals]] = {}
        for totals in results.offers:
            by_provider.setdefault(totals.offer.organisation_id, []).append(totals)
        for organisation_id in sorted(by_provider):
            await record_event(
                db,
                "offer.chosen",
                campaign_id,
                {
                    **campaign.public_payload(),
                    "organisation_id": organisation_id,
                    "choice_round": results.round.payload(),
                    "offers": [t.payload() for t in by_provider[organisation_id]],
                },
            )
    return True


async def close_due_rounds(store: Store, now: datetime | None = None) -> list[int]:
    """Close every round whose closing date has passed; returns the campaigns' ids."""
    now = now or utcnow()
    async with store.read() as db:
        rows = await db.fetch_all(
            sa.select(choice_rounds.c.campaign_id).where(
                choice_rounds.c.closed_at.is_(None), choice_rounds.c.closes_at <= now
            )
        )
    return [r["campaign_id"] for r in rows if await close_round(store, r["campaign_id"], now)]


@dataclass(frozen=True)
class Chooser:
    """A resident who chose an offer and agreed that its provider may contact them. Their
    answer to "I would need a social tariff" is not here: it is only ever shown as an
    aggregate (never below 5), so a provider learns who needs one only from the resident."""

    offer_public_id: str
    name: str
    email: str | None
    phone: str | None
    address_line: str | None
    postcode: str


async def _choosers(
    db: Database, campaign_id: int, organisation_id: int
) -> list[tuple[int, Chooser]]:
    current = await get_round(db, campaign_id)
    if current is None or current.closed_at is None:
        raise WrongState("Contacts of those who chose an offer are shared once the round closes.")
    rows = await db.fetch_all(
        sa.select(
            offers.c.public_id,
            pledges.c.name,
            pledges.c.email,
            pledges.c.phone,
            pledges.c.address_line,
            pledges.c.postcode,
            pledges.c.id.label("pledge_id"),
        )
        .select_from(
            choices.join(offers, offers.c.id == choices.c.offer_id).join(
                pledges, pledges.c.id == choices.c.pledge_id
            )
        )
        .where(
            choices.c.campaign_id == campaign_id,
            offers.c.organisation_id == organisation_id,
            choices.c.share_contact.is_(True),
            pledges.c.status == "confirmed",
            pledges.c.anonymised_at.is_(None),
        )
        .order_by(choices.c.id)
    )
    return [
        (
            r["pledge_id"],
            Chooser(
                offer_public_id=r["public_id"],
                name=r["name"],
                email=r["email"],
                phone=r["phone"],
                address_line=r["address_line"],
                postcode=r["postcode"],
            ),
        )
        for r in rows
    ]


async def choosers_for_provider(
    db: Database, campaign_id: int, organisation_id: int
) -> list[Chooser]:
    """Once the round closed: the residents whose choice is one of this provider's offers
    and who agreed to be contacted (no one else's, and no one before the close)."""
    return [c for _, c in await _choosers(db, campaign_id, organisation_id)]


async def download_choosers(
    store: Store, campaign_id: int, organisation_id: int, *, via: str
) -> list[Chooser]:
    """choosers_for_provider for an organisation an administrator approved (else
    NotApprovedForContacts), recorded as one contacts download (`via` choice_api or
    choice_csv), with the pledges it carried, in the transaction that reads them."""
    async with store.write() as db:
        if not await organisation_is_approved(db, organisation_id):
            raise NotApprovedForContacts()
        found = await _choosers(db, campaign_id, organisation_id)
        await record_contact_download(
            db, organisation_id, campaign_id, [pledge_id for pledge_id, _ in found], via
        )
    return [c for _, c in found]


def pledges_choosing(campaign_id: int) -> sa.Select[Any]:
    """The ids of the campaign's confirmed pledges (not anonymised) whose unit chose an
    offer, joined to that choice and offer for the caller to narrow: every pledger of a
    home, whoever of them chose."""
    unit_of_pledge = sa.or_(
        choices.c.unit_key == sa.literal("p") + sa.cast(pledges.c.id, sa.String),
        sa.and_(
            pledges.c.household_id.is_not(None),
            choices.c.unit_key == sa.literal("h") + sa.cast(pledges.c.household_id, sa.String),
        ),
    )
    return (
        sa.select(pledges.c.id)
        .join(choices, sa.and_(choices.c.campaign_id == pledges.c.campaign_id, unit_of_pledge))
        .join(offers, offers.c.id == choices.c.offer_id)
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.status == "confirmed",
            pledges.c.anonymised_at.is_(None),
        )
    )


def choosers_of_offer(campaign_id: int, offer_public_id: str) -> sa.Select[Any]:
    """The pledges whose home's choice is this offer while the round is still open (told
    when it is withdrawn, so they can choose again before the close)."""
    still_open = sa.select(choice_rounds.c.campaign_id).where(
        choice_rounds.c.campaign_id == campaign_id, choice_rounds.c.closed_at.is_(None)
    )
    return pledges_choosing(campaign_id).where(
        offers.c.public_id == offer_public_id, pledges.c.campaign_id.in_(still_open)
    )


async def counted_choices(db: Database, campaign_id: int) -> dict[str, Any]:
    """The totals recounted from the choices themselves (the oracle the counters are
    checked against in tests and by the consistency check). After a round closed, the
    social-tariff answers of erased or anonymised choosers are forgotten while its results
    stay as reported: the oracle's social_tariff may then fall below the counters'."""
    rows = await db.fetch_all(
        sa.select(choices.c.offer_id, choices.c.needs_social_tariff).where(
            choices.c.campaign_id == campaign_id
        )
    )
    per_offer: dict[int, list[int]] = {}
    chose = none = tariff = 0
    for r in rows:
        tariff += 1 if r["needs_social_tariff"] else 0
        if r["offer_id"] is None:
            none += 1
            continue
        chose += 1
        counts = per_offer.setdefault(int(r["offer_id"]), [0, 0])
        counts[0] += 1
        counts[1] += 1 if r["needs_social_tariff"] else 0
    return {"chose": chose, "none": none, "social_tariff": tariff, "offers": per_offer}
