"""An offer's terms as residents read them, the same in the offers email, the note a lead
reads out and the pages: each term on a line of its own, in one order, so offers can be
compared term by term."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pledges.offers import Offer

# What every offer page and email says about how offers are listed.
NO_FEE_STATEMENT = (
    "Groundswell takes no fee, and no provider paid for its place: offers are listed by "
    "price, then in an order drawn at random."
)


def day(value: datetime) -> str:
    """A date as residents write it: "5 March 2026" (UTC)."""
    return f"{value.day} {value:%B %Y}"


@dataclass(frozen=True)
class Term:
    label: str
    text: str


def social_tariff_text(offer: Offer) -> str:
    if offer.social_tariff is not None:
        per = offer.price_text.removeprefix(offer.money(offer.price))
        return (
            f"{offer.money(offer.social_tariff.price)}{per}. "
            f"Who qualifies: {offer.social_tariff.who_qualifies}"
        )
    return f"None. {offer.no_social_tariff or ''}".strip()


def offer_terms(offer: Offer) -> list[Term]:
    """The offer's terms, in the order every comparison shows them."""
    term = offer.minimum_term_months
    return [
        Term("Provider", offer.organisation_name),
        Term("Price", offer.price_text),
        Term("Set-up fee", offer.money(offer.setup_fee) if offer.setup_fee else "None"),
        Term(
            "Minimum term",
            "None" if not term else f"{term} month" if term == 1 else f"{term} months",
        ),
        Term(
            "Available from",
            day(offer.available_from) if offer.available_from else "Not given",
        ),
        Term("Offer stands until", day(offer.valid_until) if offer.valid_until else "Not given"),
        Term("Social tariff", social_tariff_text(offer)),
    ]
