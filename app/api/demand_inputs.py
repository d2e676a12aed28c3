"""What a lead sends about demand when creating or editing a campaign (`price_question`,
`target_price`, `take_up_rates`, `quote`, `equity_floor`), and what a pledger answers
(`max_price`, `firmness`): the request models, stating in JSON Schema what a schema can
state exactly. The domain (pledges/demand.py, pledges/pledging.py) checks everything and
words the messages; where a rule joins several fields, `demand_conditions` states it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.api.contract import PLAIN
from app.api.models import Input
from pledges.demand import DEFAULT_FIRMNESS, FIRMNESS, MAX_POINTS, MAX_QUOTE, PERIODS
from pledges.money import CURRENCIES, MAX_PLEDGE

CURRENCY_ANY_CASE = (
    "^(?:" + "|".join("".join(f"[{c.upper()}{c}]" for c in code) for code in CURRENCIES) + ")$"
)
Price = Annotated[int, Field(ge=1, le=MAX_PLEDGE)]
Percent = Annotated[int, Field(ge=0, le=100)]
Amount = Annotated[int, Field(ge=0, le=MAX_QUOTE)]


def _given(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: `name` is present and matches `rule`."""
    return {"required": [name], "properties": {name: rule}}


class PriceQuestionInput(Input):
    """The price points as a list, or as `min`, `max` and `step` (from min up to max, 2 to
    40 points; the maximum above the minimum). Errors name `price_question.currency`,
    `price_question.period`, `price_question.price_points`, `price_question.min` and the
    like."""

    model_config = ConfigDict(
        json_schema_extra={
            # A list of points, or a range to make them from: JSON Schema says so with anyOf.
            "anyOf": [
                _given("price_points", {"type": "array"}),
                {
                    "required": ["min", "max", "step"],
                    "properties": {
                        "min": {"type": "integer"},
                        "max": {"type": "integer"},
                        "step": {"type": "integer"},
                    },
                },
            ],
            "examples": [
                {
                    "currency": "gbp",
                    "period": "month",
                    "price_points": [1500, 2000, 2500, 3000, 3500],
                },
                {"currency": "gbp", "period": "month", "min": 2000, "max": 4000, "step": 500},
            ],
        }
    )

    currency: str = Field(
        json_schema_extra={"pattern": CURRENCY_ANY_CASE}, description="gbp, eur or usd, any case."
    )
    period: Literal[PERIODS] = Field(  # type: ignore[valid-type]
        description="What the price is for: a month, a year, or once (a one-off cost)."
    )
    price_points: (
        Annotated[
            list[Price],
            Field(min_length=2, max_length=MAX_POINTS, json_schema_extra={"uniqueItems": True}),
        ]
        | None
    ) = Field(default=None, description="The prices offered, each different, in minor units.")
    min: Price | None = Field(default=None, description="The lowest point, without a list.")
    max: Price | None = Field(default=None, description="The highest point, without a list.")
    step: Price | None = Field(default=None, description="Between points, without a list.")
    required: bool = Field(
        default=False, description='true: every pledge must give a price, not "not sure".'
    )


class TakeUpRatesInput(Input):
    """Whole percents by firmness; any left out (or null) take the site's rate."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"interested": 20, "will_switch": 50, "deposit": 75}]},
    )

    interested: Percent | None = None
    will_switch: Percent | None = None
    deposit: Percent | None = None


class QuoteInput(Input):
    """A provider's quote for the whole build, shared by the homes that join; needs a price
    question (in its currency)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 11190300, "voucher_per_home": 0, "tip": False}]}
    )

    total: int = Field(ge=1, le=MAX_QUOTE, description="The quote, in minor units.")
    currency: Literal["gbp", "eur", "usd"] | None = Field(
        default=None, description="The price question's currency, if given."
    )
    voucher_per_home: Amount = Field(
        default=0, description="Vouchers or subsidy per home, in minor units."
    )
    tip: bool = Field(
        default=False,
        description="true: tip when, for some N, at least N households would pay at least "
        'quote / N less the voucher, instead of on a target. Needs a `"period": "once"` '
        "price question, and no `target` or `coverage_target`. Fixed once published.",
    )


class EquityFloorInput(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"share": 30, "districts": ["LS11", "LS12"]}]}
    )

    share: int = Field(
        ge=1,
        le=100,
        description="The share of counted pledges that must come from priority places before "
        "the campaign can tip, a whole percent.",
    )
    districts: list[str] = Field(
        default=[],
        max_length=200,
        description="Priority postcode districts (LS11); premises marked `priority` on the "
        "premises list count too. Repeats are counted once.",
    )


# The campaign tips on sharing the quote: a threshold of its own, as `target` is.
TIPS_ON_QUOTE = _given(
    "quote", {"type": "object", "required": ["tip"], "properties": {"tip": {"enum": [True]}}}
)


def demand_conditions() -> list[dict[str, Any]]:
    """The rules that join the demand fields to others, for a campaign's allOf: a target
    price or a quote needs a price question to answer it; tipping on the quote needs a
    one-off price and stands instead of `target` and `coverage_target`."""
    asked = _given("price_question", {"type": "object"})
    return [
        {"anyOf": [{"not": _given("target_price", {"type": "integer"})}, asked]},
        {"anyOf": [{"not": _given("quote", {"type": "object"})}, asked]},
        {
            "anyOf": [
                {"not": TIPS_ON_QUOTE},
                {
                    "allOf": [
                        {"not": _given("target", {"type": "integer"})},
                        {"not": _given("coverage_target", {"type": "integer"})},
                        _given(
                            "price_question",
                            {
                                "type": "object",
                                "required": ["period"],
                                "properties": {"period": {"enum": ["once"]}},
                            },
                        ),
                    ]
                },
            ]
        },
    ]


PRICED_EXAMPLE: dict[str, Any] = {
    "title": "Fibre for Meanwood",
    "summary": "Full fibre, at a price we would pay.",
    "category": "broadband",
    "area": {"name": "Meanwood", "postcode_districts": ["LS6", "LS11"]},
    "target": 40,
    "price_question": {
        "currency": "gbp",
        "period": "month",
        "price_points": [1500, 2000, 2500, 3000, 3500],
    },
    "target_price": 2500,
    "take_up_rates": {"interested": 20},
    "equity_floor": {"share": 20, "districts": ["LS11"]},
}


# ----- a pledger's answers ---------------------------------------------------------------

NOT_SURE = "not_sure"
PRICE_WORDS = (
    "Choose the most you would pay from the prices given, as a whole number of minor units, "
    'or "not_sure".'
)


def _max_price(value: Any) -> Any:
    if value is None or value == NOT_SURE:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PLEDGE:
        return value
    raise PydanticCustomError(PLAIN, PRICE_WORDS)


# One field that takes a number or a word: read as one, so an error names `max_price` alone.
MaxPrice = Annotated[
    Any,
    AfterValidator(_max_price),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PLEDGE},
                {"enum": [NOT_SURE]},
                {"type": "null"},
            ],
            "description": "On a campaign with a price question: the most you would pay, one "
            'of its `price_question.price_points` (minor units), or "not_sure" (refused when '
            "the campaign requires a price). Ignored by a campaign that asks no price.",
            "examples": [2500, NOT_SURE],
        }
    ),
]
Firmness = Literal[FIRMNESS]  # type: ignore[valid-type]
FIRMNESS_WORDS = (
    "How firm the pledge is: interested; will_switch (will sign up when offered at or below "
    "the price given; the default); deposit (would put down a deposit). A pledge of money is "
    "always a deposit."
)
assert DEFAULT_FIRMNESS == "will_switch", "FIRMNESS_WORDS names the default"
assert NOT_SURE in PRICE_WORDS
