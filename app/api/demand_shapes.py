"""The shapes of a campaign's demand in campaign JSON and in the milestone and tipping
webhooks: its price question, its demand curve (pledges/demand_curve.py: `payload`), the
projected take-up by firmness (`take_up_summary`) and the equity floor (`equity_payload`).

Response shapes only; handlers and the events journal build the values, these declare them.
Kept apart from app/api/models.py, which builds the campaign's shape from them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pledges.demand import FIRMNESS, PERIODS
from pledges.money import CURRENCIES

PriceCurrency = Literal["gbp", "eur", "usd"]
Period = Literal[PERIODS]  # type: ignore[valid-type]
Unit = Literal["households", "people"]
RatesSource = Literal["campaign", "site"]
assert set(CURRENCIES) == {"gbp", "eur", "usd"}, "PriceCurrency must list pledges.money's"
assert FIRMNESS == ("interested", "will_switch", "deposit"), "ByFirmness must list FIRMNESS"


class DemandShape(BaseModel):
    """A response body part, as app/api/models.py's Shape: no field beyond those declared."""

    model_config = ConfigDict(extra="forbid")


# A campaign of people asking "the most you would pay" in pounds a month, with a target
# price of £25: what its JSON's `demand` reads like (the document's examples).
DEMAND_EXAMPLE: dict[str, Any] = {
    "currency": "gbp",
    "period": "month",
    "unit": "people",
    "points": [
        {
            "price": price,
            "households": households,
            "by_firmness": {"interested": i, "will_switch": w, "deposit": d},
            "projected": {"households": projected, "revenue": revenue},
            "by_level": {"letter": 0, "vouched": vouched, "email": households - vouched},
        }
        for price, households, (i, w, d), projected, revenue, vouched in (
            (1500, 43, (10, 25, 8), 25.2, 37800, 2),
            (2000, 37, (8, 22, 7), 21.9, 43800, 2),
            (2500, 30, (6, 18, 6), 18.0, 45000, 1),
            (3000, 18, (3, 11, 4), 11.1, 33300, 1),
            (3500, 8, (1, 5, 2), 5.1, 17850, 0),
        )
    ],
    "not_sure": 5,
    "target_price": 2500,
    "take_up_rates": {"interested": 30, "will_switch": 60, "deposit": 90},
    "take_up_rates_source": "site",
    "assumes": "assumes 30 % of interested, 60 % of will-switch and 90 % of deposit people sign up",
}
TAKE_UP_EXAMPLE: dict[str, Any] = {
    "by_firmness": {"interested": 12, "will_switch": 28, "deposit": 8},
    "projected": 27.6,
    "take_up_rates": {"interested": 30, "will_switch": 60, "deposit": 90},
    "take_up_rates_source": "site",
    "assumes": DEMAND_EXAMPLE["assumes"],
}
EQUITY_EXAMPLE: dict[str, Any] = {
    "share": 20,
    "districts": ["LS11"],
    "priority": 11,
    "counted": 48,
    "met": True,
}
PRICE_QUESTION_EXAMPLE: dict[str, Any] = {
    "currency": "gbp",
    "period": "month",
    "price_points": [1500, 2000, 2500, 3000, 3500],
    "required": False,
}


class PriceQuestion(DemandShape):
    """What each pledger is asked: the most they would pay, one of the price points (or
    "not sure", unless an answer is required)."""

    model_config = ConfigDict(json_schema_extra={"examples": [PRICE_QUESTION_EXAMPLE]})

    currency: PriceCurrency
    period: Period = Field(description="What the price is for: a month, a year, or once.")
    price_points: list[int] = Field(
        description="The prices offered, lowest first, in minor units (pence, cents)."
    )
    required: bool = Field(description='false: a pledger may answer "not sure".')


class ByFirmness(DemandShape):
    """Counted units (households, or people) by how firm their pledge is."""

    interested: int = Field(ge=0, description="Interested, no more.")
    will_switch: int = Field(ge=0, description="Will sign up when offered at or below their price.")
    deposit: int = Field(ge=0, description="Would put down a deposit (a money pledge is one).")


class ByLevel(DemandShape):
    """Counted units by how each was verified."""

    letter: int = Field(ge=0, description="A code from a letter posted to the home was entered.")
    vouched: int = Field(ge=0, description="The campaign's lead recorded or vouched for it.")
    email: int = Field(ge=0, description="Confirmed by email.")


class TakeUpRates(DemandShape):
    """The share of each firmness expected to sign up when offered, whole percents."""

    interested: int = Field(ge=0, le=100)
    will_switch: int = Field(ge=0, le=100)
    deposit: int = Field(ge=0, le=100)


class Projection(DemandShape):
    households: float = Field(
        ge=0,
        description="Expected sign-ups at this price (households, or people: see `unit`): "
        "the sum over firmness of count x take-up rate, to one decimal place.",
    )
    revenue: int = Field(
        ge=0, description="Expected revenue per period at this price, in minor units."
    )


class DemandPoint(DemandShape):
    price: int = Field(ge=1, description="The price point, in minor units.")
    households: int = Field(
        ge=0,
        description="Counted units (households, or people: see `unit`) whose most they would "
        "pay is at least this price: D(price). Never more than at a lower price.",
    )
    by_firmness: ByFirmness
    by_level: ByLevel
    projected: Projection


class CostShare(DemandShape):
    homes: int = Field(ge=1, description="If this many homes joined ...")
    cost_each: int = Field(
        ge=0,
        description="... each would pay this towards the quote, less the voucher, in minor "
        "units (rounded up).",
    )
    willing: bool = Field(
        description="At least that many would pay at least that much (by their answers)."
    )


class DemandQuote(DemandShape):
    """A provider's quote for the whole build, shared by the homes that join."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 11190300,
                    "voucher_per_home": 0,
                    "tip": False,
                    "cost_each": [
                        {"homes": 71, "cost_each": 157610, "willing": False},
                        {"homes": 215, "cost_each": 52049, "willing": False},
                    ],
                }
            ]
        }
    )

    total: int = Field(ge=1, description="The quote, in minor units.")
    voucher_per_home: int = Field(ge=0, description="Vouchers or subsidy per home, minor units.")
    tip: bool = Field(
        description="true: the campaign tips when, for some N, at least N households would pay "
        "at least quote / N less the voucher (instead of on a target)."
    )
    cost_each: list[CostShare] = Field(
        description="Cost each if N homes join: for the units at each price point, for "
        "everyone counted and for every premises, fewest homes first."
    )


class Demand(DemandShape):
    """The demand curve: for each price point, the counted units willing to pay at least
    that much, by firmness and verification level, with projected take-up and revenue."""

    model_config = ConfigDict(json_schema_extra={"examples": [DEMAND_EXAMPLE]})

    currency: PriceCurrency
    period: Period
    unit: Unit = Field(description="What `households` counts: households, or people.")
    points: list[DemandPoint] = Field(description="One per price point, lowest price first.")
    not_sure: int = Field(ge=0, description='Counted units that answered "not sure".')
    target_price: int | None = Field(
        description="Only units at or above this price count towards the target; null: all."
    )
    take_up_rates: TakeUpRates
    take_up_rates_source: RatesSource = Field(
        description="campaign: set by its lead; site: the site's rates (TAKE_UP_RATES)."
    )
    assumes: str = Field(
        description='The rates in words, shown beside every projection: "assumes 30 % of '
        'interested, 60 % of will-switch and 90 % of deposit households sign up".'
    )
    quote: DemandQuote | None = Field(
        default=None, description="Present when the lead entered a provider's quote."
    )


class TakeUp(DemandShape):
    """Projected take-up without prices: the counted units by firmness, and how many of
    them are expected to sign up under the take-up rates."""

    model_config = ConfigDict(json_schema_extra={"examples": [TAKE_UP_EXAMPLE]})

    by_firmness: ByFirmness
    projected: float = Field(ge=0, description="Expected sign-ups, to one decimal place.")
    take_up_rates: TakeUpRates
    take_up_rates_source: RatesSource = Field(
        description="campaign: set by its lead; site: the site's rates (TAKE_UP_RATES)."
    )
    assumes: str = Field(description="The rates in words.")


class EquityFloor(DemandShape):
    """A share of the counted pledges that must come from priority places before the
    campaign can tip, and where it stands."""

    model_config = ConfigDict(json_schema_extra={"examples": [EQUITY_EXAMPLE]})

    share: int = Field(ge=1, le=100, description="The share needed, a whole percent.")
    districts: list[str] = Field(
        description="Priority postcode districts (premises marked priority on the premises "
        "list count too)."
    )
    priority: int = Field(ge=0, description="Counted units in priority places.")
    counted: int = Field(ge=0, description="Every counted unit, whatever its price.")
    met: bool = Field(description="`priority` is at least `share` % of `counted`.")
