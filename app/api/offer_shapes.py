"""Shapes of offers and the choice round as the API and the webhooks both send them: an
offer as anyone may read it, the round's dates, and the totals of each offer (declared
once, for app/api/offers.py, app/api/choices.py and the webhook messages in events.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.api.models import Currency, Shape, timestamp
from pledges.choices import ChoiceRound, OfferTotals, Results
from pledges.offers import Offer

OfferPeriod = Literal["month", "year", "once"]
OfferStatus = Literal["published", "withdrawn"]

OFFER_EXAMPLE: dict[str, Any] = {
    "id": "off_Zk3q9LxVb2TnW8a1",
    "organisation": "FibreCo",
    "title": "Full fibre, 900 Mb",
    "description": "Fibre to every home on the Brudenell streets.\n\nNo price rise for two years.",
    "currency": "gbp",
    "price": 2500,
    "period": "month",
    "setup_fee": 0,
    "minimum_term_months": 12,
    "available_from": "2027-04-01T00:00:00+00:00",
    "valid_until": "2027-06-30T23:59:59+00:00",
    "social_tariff": {
        "price": 1200,
        "who_qualifies": "Households receiving Universal Credit or Pension Credit.",
    },
    "no_social_tariff": None,
    "status": "published",
    "withdrawn_reason": None,
    "withdrawn_at": None,
    "created_at": "2027-01-25T10:00:00+00:00",
    "updated_at": "2027-01-25T10:00:00+00:00",
}
ROUND_EXAMPLE: dict[str, Any] = {
    "opened_by": "lead",
    "opened_at": "2027-02-01T09:00:00+00:00",
    "closes_at": "2027-02-15T23:59:59+00:00",
    "closed_at": None,
}
TOTALS_EXAMPLE: dict[str, Any] = {
    "id": "off_Zk3q9LxVb2TnW8a1",
    "organisation": "FibreCo",
    "title": "Full fibre, 900 Mb",
    "status": "published",
    "chosen": 41,
    "social_tariff_needed": 5,
}
RESULTS_EXAMPLE: dict[str, Any] = {
    "offers": [TOTALS_EXAMPLE],
    "chose_an_offer": 41,
    "none_of_these": 6,
    "social_tariff_needed": 5,
}
SOCIAL_TARIFF_NEEDED = (
    "Households that said, privately, they would need the social tariff: shown only as open "
    "data shows a count (null below 5, else rounded down to a multiple of 5)."
)


class SocialTariff(Shape):
    price: int = Field(ge=0, description="Minor units (pence, cents) per period.")
    who_qualifies: str


class PublicOffer(Shape):
    """A provider's offer as anyone may read it: no counts (those are the provider's own
    and the lead's while the round is open, everyone's once it closes)."""

    model_config = ConfigDict(json_schema_extra={"examples": [OFFER_EXAMPLE]})

    id: str = Field(description='Like "off_Zk3q9LxVb2TnW8a1".')
    organisation: str = Field(description="The provider's name.")
    title: str
    description: str = Field(description="Plain text; paragraphs apart by a blank line.")
    currency: Currency = Field(description="The campaign's currency.")
    price: int = Field(ge=0, description="Minor units (pence, cents) per `period`.")
    period: OfferPeriod
    setup_fee: int = Field(ge=0, description="Minor units; 0 for none.")
    minimum_term_months: int = Field(ge=0, description="0 for none.")
    available_from: str | None = timestamp("null: available now.")
    valid_until: str | None = timestamp("null: no end date given.")
    social_tariff: SocialTariff | None = Field(
        description="What the offer does for households on low incomes; null when the "
        "provider stated there is none (`no_social_tariff`)."
    )
    no_social_tariff: str | None = Field(
        description="The provider's plain statement that there is no social tariff; null "
        "when there is one."
    )
    status: OfferStatus
    withdrawn_reason: str | None = Field(description="Shown to residents beside the offer.")
    withdrawn_at: str | None = timestamp()
    created_at: str = timestamp()
    updated_at: str = timestamp()


def public_offer(offer: Offer) -> PublicOffer:
    return PublicOffer.model_validate(offer.public_payload())


class RoundDates(Shape):
    model_config = ConfigDict(json_schema_extra={"examples": [ROUND_EXAMPLE]})

    opened_by: Literal["lead", "auto"] = Field(
        description="lead: the campaign's lead opened it; auto: it opened by itself 14 days "
        "after the first offer."
    )
    opened_at: str = timestamp()
    closes_at: str = timestamp()
    closed_at: str | None = timestamp("null until the round has closed.")


def round_dates(found: ChoiceRound) -> RoundDates:
    return RoundDates.model_validate(found.payload())


class OfferResult(Shape):
    """How many households (or people, on a campaign that counts people) chose an offer."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOTALS_EXAMPLE]})

    id: str
    organisation: str
    title: str
    status: OfferStatus
    chosen: int = Field(ge=0, description="Exact.")
    social_tariff_needed: int | None = Field(ge=0, description=SOCIAL_TARIFF_NEEDED)


def offer_totals(totals: OfferTotals) -> OfferResult:
    return OfferResult.model_validate(totals.payload())


class RoundResults(Shape):
    model_config = ConfigDict(json_schema_extra={"examples": [RESULTS_EXAMPLE]})

    offers: list[OfferResult] = Field(description="Every offer, in fair order.")
    chose_an_offer: int = Field(ge=0, description="Units that chose one of the offers.")
    none_of_these: int = Field(ge=0, description='Units that chose "none of these".')
    social_tariff_needed: int | None = Field(ge=0, description=SOCIAL_TARIFF_NEEDED)


def round_results(results: Results) -> RoundResults:
    return RoundResults.model_validate(results.payload())
