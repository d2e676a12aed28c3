"""Providers' offers on a tipped campaign, which its residents choose between.

An offer says what a household would pay (a price per period in the campaign's currency,
a set-up fee, a minimum term), when it is available and until when it stands, and what it
does for households on low incomes: a social tariff (its price and who qualifies) or a
plain statement that there is none. It can be edited until the campaign's choice round
opens, then it is fixed; it can be withdrawn at any time with a reason residents see.

Offers are listed in an order that favours nobody: by price, then by a random key drawn
for each offer when it is posted (a shuffle no provider can buy or predict).

Who may post is decided outside the domain (notifications.answering: a provider whose
endpoints cover the campaign, once it tipped); every write here takes the campaign's
offers lock, which opening the choice round takes too, so an edit and the round's opening
never interleave.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign
from pledges.errors import FieldError, NotFound, ValidationFailed, WrongState
from pledges.journal import record_event
from pledges.money import MAX_MONEY_TARGET, format_money
from pledges.store import Store, aware, utcnow
from pledges.tables import choice_rounds, offers, organisations
from pledges.text import several_lines, text_error

OFFER_PERIODS = ("month", "year", "once")
OFFER_STATUSES = ("published", "withdrawn")
MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_STATEMENT = 1000
MAX_TERM_MONTHS = 120
# Offers a provider may have published on one campaign at once: residents compare them side
# by side in one email and on one page, which a flood of variants would bury.
MAX_OFFERS_PER_PROVIDER = 3
# The furthest ahead an offer's dates may be.
MAX_AHEAD = timedelta(days=3 * 365)
OFFER_FIELDS = (
    "title",
    "description",
    "price",
    "period",
    "setup_fee",
    "minimum_term_months",
    "available_from",
    "valid_until",
    "social_tariff",
    "no_social_tariff",
)


@dataclass(frozen=True)
class SocialTariff:
    price: int
    who_qualifies: str

    def payload(self) -> dict[str, Any]:
        return {"price": self.price, "who_qualifies": self.who_qualifies}


@dataclass(frozen=True)
class OfferInput:
    title: str
    description: str
    price: int
    period: str
    setup_fee: int
    minimum_term_months: int
    available_from: datetime | None
    valid_until: datetime | None
    social_tariff: SocialTariff | None
    no_social_tariff: str | None

    def columns(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "price": self.price,
            "period": self.period,
            "setup_fee": self.setup_fee,
            "minimum_term_months": self.minimum_term_months,
            "available_from": self.available_from,
            "valid_until": self.valid_until,
            "social_tariff_price": self.social_tariff.price if self.social_tariff else None,
            "social_tariff_eligibility": (
                self.social_tariff.who_qualifies if self.social_tariff else None
            ),
            "no_social_tariff": self.no_social_tariff,
        }


@dataclass(frozen=True)
class Offer:
    id: int
    public_id: str
    campaign_id: int
    organisation_id: int
    organisation_name: str
    title: str
    description: str
    currency: str
    price: int
    period: str
    setup_fee: int
    minimum_term_months: int
    available_from: datetime | None
    valid_until: datetime | None
    social_tariff: SocialTariff | None
    no_social_tariff: str | None
    status: str
    withdrawn_reason: str | None
    withdrawn_at: datetime | None
    shuffle_key: str
    chosen_count: int
    social_tariff_count: int
    served_count: int
    created_at: datetime
    updated_at: datetime

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    def money(self, amount: int | None) -> str:
        return format_money(amount, self.currency)

    @property
    def price_text(self) -> str:
        """ "£30 a month", "£400 once"."""
        per = {"month": "a month", "year": "a year", "once": "once"}[self.period]
        return f"{self.money(self.price)} {per}"

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.description.split("\n\n") if p.strip()]

    def as_input(self) -> dict[str, Any]:
        """The offer as parse_offer reads it: the starting point of a partial edit."""
        return {
            "title": self.title,
            "description": self.description,
            "price": self.price,
            "period": self.period,
            "setup_fee": self.setup_fee,
            "minimum_term_months": self.minimum_term_months,
            "available_from": self.available_from.isoformat() if self.available_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "social_tariff": self.social_tariff.payload() if self.social_tariff else None,
            "no_social_tariff": self.no_social_tariff,
        }

    def public_payload(self) -> dict[str, Any]:
        """What anyone may read of an offer (no counts: those are the provider's and the
        lead's during the round, everyone's once it closes)."""
        return {
            "id": self.public_id,
            "organisation": self.organisation_name,
            "title": self.title,
            "description": self.description,
            "currency": self.currency,
            "price": self.price,
            "period": self.period,
            "setup_fee": self.setup_fee,
            "minimum_term_months": self.minimum_term_months,
            "available_from": _iso(self.available_from),
            "valid_until": _iso(self.valid_until),
            "social_tariff": self.social_tariff.payload() if self.social_tariff else None,
            "no_social_tariff": self.no_social_tariff,
            "status": self.status,
            "withdrawn_reason": self.withdrawn_reason,
            "withdrawn_at": _iso(self.withdrawn_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def offer_currency(campaign: Campaign) -> str:
    """The currency of a campaign's offers: its price question's, its money's, else pounds."""
    return campaign.price_currency or campaign.currency or "gbp"


# --- parsing ---------------------------------------------------------------------------


def _one_line(
    data: dict[str, Any], name: str, errors: list[FieldError], *, high: int, multiline: bool
) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.append(FieldError(name, "required", "Enter a value."))
        return ""
    if not isinstance(value, str):
        errors.append(FieldError(name, "not_text", "Must be text."))
        return ""
    value = several_lines(value).strip()
    if error := text_error(name, value, one_line=not multiline):
        errors.append(error)
    elif len(value) > high:
        errors.append(
            FieldError(name, "too_long", f"Must be {high} characters or fewer.", {"max": high})
        )
    return value


def _amount(
    value: Any, name: str, errors: list[FieldError], *, required: bool, default: int = 0
) -> int:
    if value is None and not required:
        return default
    if value is None:
        errors.append(FieldError(name, "required", "Enter an amount in minor units (pence)."))
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            FieldError(name, "not_a_whole_number", "Enter a whole number of minor units (pence).")
        )
        return 0
    if not 0 <= value <= MAX_MONEY_TARGET:
        errors.append(
            FieldError(
                name,
                "out_of_range",
                f"Must be between 0 and {MAX_MONEY_TARGET}.",
                {"min": 0, "max": MAX_MONEY_TARGET},
            )
        )
        return 0
    return value


def _date(value: Any, name: str, now: datetime, errors: list[FieldError]) -> datetime | None:
    """An ISO 8601 date or time; a date alone means the start of that day (UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, "not_a_date", "Enter an ISO 8601 date, like 2027-03-01."))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors.append(FieldError(name, "not_a_date", "Enter an ISO 8601 date, like 2027-03-01."))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=now.tzinfo)
    if parsed - now > MAX_AHEAD:
        errors.append(FieldError(name, "too_far_ahead", "Must be within three years."))
        return None
    return parsed


def parse_offer(data: Any, now: datetime | None = None) -> OfferInput:
    """An offer from what the provider sent; every problem at once, by field. Amounts are
    whole minor units (pence) of the campaign's currency."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    now = now or utcnow()
    errors: list[FieldError] = []
    unknown = sorted(set(data) - set(OFFER_FIELDS))
    for name in unknown:
        errors.append(FieldError(name, "unknown_field", "This field is not part of an offer."))
    title = _one_line(data, "title", errors, high=MAX_TITLE, multiline=False)
    description = _one_line(data, "description", errors, high=MAX_DESCRIPTION, multiline=True)
    price = _amount(data.get("price"), "price", errors, required=True)
    period = data.get("period")
    if period not in OFFER_PERIODS:
        errors.append(
            FieldError(
                "period",
                "not_in_choices",
                f"Choose one of: {', '.join(OFFER_PERIODS)}.",
                {"choices": OFFER_PERIODS},
            )
        )
        period = "month"
    setup_fee = _amount(data.get("setup_fee"), "setup_fee", errors, required=False)
    term = data.get("minimum_term_months", 0)
    if term is None:
        term = 0
    if isinstance(term, bool) or not isinstance(term, int) or not 0 <= term <= MAX_TERM_MONTHS:
        errors.append(
            FieldError(
                "minimum_term_months",
                "out_of_range",
                f"Enter a whole number of months from 0 to {MAX_TERM_MONTHS}.",
                {"min": 0, "max": MAX_TERM_MONTHS},
            )
        )
        term = 0
    available_from = _date(data.get("available_from"), "available_from", now, errors)
    valid_until = _date(data.get("valid_until"), "valid_until", now, errors)
    if valid_until is not None and len(str(data.get("valid_until")).strip()) == 10:
        valid_until = valid_until.replace(hour=23, minute=59, second=59)  # the whole last day
    if valid_until is not None and valid_until <= now:
        errors.append(
            FieldError("valid_until", "not_in_future", "The offer must stand until a later date.")
        )
    elif valid_until and available_from and valid_until < available_from:
        errors.append(
            FieldError(
                "valid_until",
                "before_available_from",
                "The offer must stand until on or after the date it is available from.",
            )
        )
    social_tariff, no_social_tariff = _social_tariff(data, price, errors)
    if errors:
        raise ValidationFailed(errors)
    return OfferInput(
        title=title,
        description=description,
        price=price,
        period=str(period),
        setup_fee=setup_fee,
        minimum_term_months=term,
        available_from=available_from,
        valid_until=valid_until,
        social_tariff=social_tariff,
        no_social_tariff=no_social_tariff,
    )


def _social_tariff(
    data: dict[str, Any], price: int, errors: list[FieldError]
) -> tuple[SocialTariff | None, str | None]:
    """Either a social tariff (its price and who qualifies) or a statement there is none:
    every offer says what it does for households on low incomes."""
    tariff = data.get("social_tariff")
    statement = data.get("no_social_tariff")
    if isinstance(statement, str) and not statement.strip():
        statement = None
    if tariff is None and statement is None:
        errors.append(
            FieldError(
                "social_tariff",
                "social_tariff_or_statement",
                "Give a social tariff (its price and who qualifies), or say plainly in "
                "no_social_tariff that there is none.",
            )
        )
        return None, None
    if tariff is not None and statement is not None:
        errors.append(
            FieldError(
                "no_social_tariff",
                "social_tariff_or_statement",
                "Give a social tariff or a statement that there is none, not both.",
            )
        )
        return None, None
    if statement is not None:
        text = _one_line(data, "no_social_tariff", errors, high=MAX_STATEMENT, multiline=True)
        return None, text
    if not isinstance(tariff, dict):
        errors.append(
            FieldError("social_tariff", "not_an_object", "Send an object: {price, who_qualifies}.")
        )
        return None, None
    for name in sorted(set(tariff) - {"price", "who_qualifies"}):
        errors.append(
            FieldError(f"social_tariff.{name}", "unknown_field", "Not part of a social tariff.")
        )
    tariff_price = _amount(tariff.get("price"), "social_tariff.price", errors, required=True)
    if tariff_price > price and not any(e.field == "price" for e in errors):
        errors.append(
            FieldError(
                "social_tariff.price",
                "above_price",
                "A social tariff must not cost more than the offer's own price.",
            )
        )
    who = _one_line(
        {"social_tariff.who_qualifies": tariff.get("who_qualifies")},
        "social_tariff.who_qualifies",
        errors,
        high=MAX_STATEMENT,
        multiline=True,
    )
    return SocialTariff(tariff_price, who), None


def parse_withdrawal(data: Any) -> str:
    """The reason residents will read beside a withdrawn offer."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    errors: list[FieldError] = []
    reason = _one_line(data, "reason", errors, high=MAX_STATEMENT, multiline=True)
    if errors:
        raise ValidationFailed(errors)
    return reason


# --- reading ---------------------------------------------------------------------------


def _offer_query() -> sa.Select[Any]:
    return sa.select(offers, organisations.c.name.label("organisation_name")).join(
        organisations, organisations.c.id == offers.c.organisation_id
    )


def offer_from_row(row: Any) -> Offer:
    tariff = (
        SocialTariff(int(row["social_tariff_price"]), row["social_tariff_eligibility"] or "")
        if row["social_tariff_price"] is not None
        else None
    )
    return Offer(
        id=row["id"],
        public_id=row["public_id"],
        campaign_id=row["campaign_id"],
        organisation_id=row["organisation_id"],
        organisation_name=row["organisation_name"],
        title=row["title"],
        description=row["description"],
        currency=row["currency"],
        price=int(row["price"]),
        period=row["period"],
        setup_fee=int(row["setup_fee"]),
        minimum_term_months=int(row["minimum_term_months"]),
        available_from=aware(row["available_from"]),
        valid_until=aware(row["valid_until"]),
        social_tariff=tariff,
        no_social_tariff=row["no_social_tariff"],
        status=row["status"],
        withdrawn_reason=row["withdrawn_reason"],
        withdrawn_at=aware(row["withdrawn_at"]),
        shuffle_key=row["shuffle_key"],
        chosen_count=int(row["chosen_count"]),
        social_tariff_count=int(row["social_tariff_count"]),
        served_count=int(row["served_count"]),
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=aware(row["updated_at"]),  # type: ignore[arg-type]
    )


def fair_order(found: list[Offer]) -> list[Offer]:
    """Published offers by price, then by each offer's random key; withdrawn ones after,
    in the same order."""
    return sorted(found, key=lambda o: (not o.is_published, o.price, o.shuffle_key))


async def list_offers(db: Database, campaign_id: int) -> list[Offer]:
    """Every offer on the campaign, withdrawn ones too, in fair order."""
    rows = await db.fetch_all(_offer_query().where(offers.c.campaign_id == campaign_id))
    return fair_order([offer_from_row(r) for r in rows])


async def get_offer(db: Database, campaign_id: int, public_id: str) -> Offer:
    row = await db.fetch_one(
        _offer_query().where(offers.c.campaign_id == campaign_id, offers.c.public_id == public_id)
    )
    if row is None:
        raise NotFound("There is no such offer on this campaign.")
    return offer_from_row(row)


async def _round_opened_at(db: Database, campaign_id: int) -> datetime | None:
    return aware(
        await db.fetch_val(
            sa.select(choice_rounds.c.opened_at).where(choice_rounds.c.campaign_id == campaign_id)
        )
    )


async def lock_offers(store: Store, db: Database, campaign_id: int) -> None:
    """The campaign's offers lock: every offer write and the round's opening take it."""
    await store.lock_until_commit(db, f"offers:{campaign_id}")


# --- writing ---------------------------------------------------------------------------


async def post_offer(
    store: Store,
    campaign: Campaign,
    organisation_id: int,
    offer: OfferInput,
    now: datetime | None = None,
) -> Offer:
    """Publish a provider's offer (the caller checked the provider may answer the campaign);
    refused with WrongState once the choice round has opened."""
    now = now or utcnow()
    async with store.write() as db:
        await lock_offers(store, db, campaign.id)
        opened = await _round_opened_at(db, campaign.id)
        if opened is not None:
            raise WrongState(
                "The choice round has opened, so no new offers can be posted: residents are "
                "choosing between the offers they were sent."
            )
        published = await db.fetch_val(
            sa.select(sa.func.count()).where(
                offers.c.campaign_id == campaign.id,
                offers.c.organisation_id == organisation_id,
                offers.c.status == "published",
            )
        )
        if published >= MAX_OFFERS_PER_PROVIDER:
            raise WrongState(
                f"A provider may have at most {MAX_OFFERS_PER_PROVIDER} offers on a campaign, "
                "so residents can compare them side by side: change or withdraw one instead."
            )
        offer_id = await db.fetch_val(
            sa.insert(offers)
            .values(
                public_id=f"off_{secrets.token_urlsafe(12)}",
                campaign_id=campaign.id,
                organisation_id=organisation_id,
                currency=offer_currency(campaign),
                status="published",
                shuffle_key=secrets.token_hex(16),
                created_at=now,
                updated_at=now,
                **offer.columns(),
            )
            .returning(offers.c.id)
        )
        row = await db.fetch_one(_offer_query().where(offers.c.id == offer_id))
        posted = offer_from_row(row)
        await record_event(
            db,
            "offer.published",
            campaign.id,
            {**campaign.public_payload(), "offer": posted.public_payload()},
        )
    return posted


async def _own_offer(db: Database, campaign_id: int, organisation_id: int, public_id: str) -> Offer:
    found = await get_offer(db, campaign_id, public_id)
    if found.organisation_id != organisation_id:  # as good as absent to anyone else
        raise NotFound("There is no such offer on this campaign.")
    return found


async def edit_offer(
    store: Store,
    campaign: Campaign,
    organisation_id: int,
    public_id: str,
    changes: Any,
    now: datetime | None = None,
) -> Offer:
    """Change some of an offer's fields (the rest stay as they are) until the choice round
    opens; then WrongState, and nothing changes."""
    now = now or utcnow()
    if not isinstance(changes, dict):
        raise ValidationFailed([FieldError("body", "not_an_object", "Send a JSON object.")])
    async with store.write() as db:
        await lock_offers(store, db, campaign.id)
        current = await _own_offer(db, campaign.id, organisation_id, public_id)
        opened = await _round_opened_at(db, campaign.id)
        if opened is not None:
            raise WrongState(
                f"This offer is fixed: the choice round opened on {opened:%d %B %Y}, and "
                "residents are choosing between the offers as they were sent."
            )
        if not current.is_published:
            raise WrongState("This offer was withdrawn; post a new one instead.")
        merged = {**current.as_input(), **changes}
        if "social_tariff" in changes and changes["social_tariff"] is not None:
            merged["no_social_tariff"] = changes.get("no_social_tariff")
        if changes.get("no_social_tariff"):
            merged["social_tariff"] = changes.get("social_tariff")
        parsed = parse_offer(merged, now)
        await db.execute(
            sa.update(offers)
            .where(offers.c.id == current.id)
            .values(updated_at=now, **parsed.columns())
        )
        row = await db.fetch_one(_offer_query().where(offers.c.id == current.id))
    return offer_from_row(row)


async def withdraw_offer(
    store: Store,
    campaign: Campaign,
    organisation_id: int,
    public_id: str,
    reason: str,
    now: datetime | None = None,
) -> Offer:
    """Withdraw an offer with a reason shown to residents. Choices already made for it stay
    (residents see it was withdrawn and may choose again while the round is open)."""
    now = now or utcnow()
    async with store.write() as db:
        await lock_offers(store, db, campaign.id)
        current = await _own_offer(db, campaign.id, organisation_id, public_id)
        if not current.is_published:
            raise WrongState("This offer was already withdrawn.")
        await db.execute(
            sa.update(offers)
            .where(offers.c.id == current.id)
            .values(status="withdrawn", withdrawn_reason=reason, withdrawn_at=now, updated_at=now)
        )
        row = await db.fetch_one(_offer_query().where(offers.c.id == current.id))
        withdrawn = offer_from_row(row)
        await record_event(
            db,
            "offer.withdrawn",
            campaign.id,
            {**campaign.public_payload(), "offer": withdrawn.public_payload()},
        )
    return withdrawn
