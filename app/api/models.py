"""Shapes that several /api/v1 resources share: the problem+json error, a campaign and its
parts, a campaign's progress; and the building blocks of request models (text whose length
the domain counts after trimming spaces, a checkbox-like flag).

A request model states, in JSON Schema, each rule the domain enforces that a schema can
state exactly; the domain (pledges/, notifications/) still checks everything and words the
messages. A response model is built by the handler, so each field name is written once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.api.contract import PLAIN
from app.api.demand_shapes import (
    DEMAND_EXAMPLE,
    EQUITY_EXAMPLE,
    PRICE_QUESTION_EXAMPLE,
    TAKE_UP_EXAMPLE,
    Demand,
    EquityFloor,
    PriceQuestion,
    TakeUp,
)
from pledges.campaigns import CATEGORIES, STATUSES
from pledges.money import CURRENCIES

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
CampaignStatus = Literal[STATUSES]  # type: ignore[valid-type]
Currency = Literal["gbp", "eur", "usd"]
assert set(CURRENCIES) == {"gbp", "eur", "usd"}, "Currency must list pledges.money's"


def timestamp(description: str = "", *, default: Any = ...) -> Any:
    """An ISO 8601 time as the API has always written it (`datetime.isoformat()`)."""
    return Field(
        default, json_schema_extra={"format": "date-time"}, description=description or None
    )


class Shape(BaseModel):
    """A response body. Built by handlers; fields left unset are not sent (see `answer`)."""

    model_config = ConfigDict(extra="forbid")


class Input(BaseModel):
    """A request body: strict JSON types (no "5" for 5, no 1 for true), patterns matched
    with Python's `re` as the domain matches them, fields the domain ignores ignored."""

    model_config = ConfigDict(strict=True, regex_engine="python-re", extra="ignore")


# ----- request building blocks -----------------------------------------------------------

# Patterns in the document are JSON Schema's (ECMA-262) and state the domain's rules, which
# are Python's: so whitespace is spelled out as str.strip() and re's \s know it (ECMA's \s
# differs), and `$` only ever follows what may end the text. The domain enforces them (in
# its own words); the document states them, so such patterns are not checked twice.
PY_SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0"  # ASCII and Latin-1 spaces, as str.isspace() has them
    r"\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
WS = f"[{PY_SPACE}]"
TEXT_EDGE = f"[^{PY_SPACE}\\x00]"  # what a trimmed text starts and ends with
NOT_BLANK = f"^{WS}*[^{PY_SPACE}][\\s\\S]*$"  # anything but spaces alone


def stated(pattern: str, **extra: Any) -> Any:
    """A pattern the document states and the domain enforces (see PY_SPACE)."""
    return Field(json_schema_extra={"pattern": pattern}, **extra)


# What pledges.text lets a field hold, once trimmed: never NUL, C1 controls or lone
# surrogates; a one-line field no line break or other C0 control or DEL, a field of several
# lines keeps line feeds, carriage returns and tabs (and the Unicode line separators).
# (Lone surrogates are refused too, but go unstated: a pattern naming them compiles in no
# validator that works in UTF-8, and a JSON document cannot carry one in valid UTF-8.)
ONE_LINE_REFUSED = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
LINES_REFUSED = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"


def trimmed_pattern(low: int, high: int, *, one_line: bool = True) -> str:
    """Text whose length once trimmed is from `low` to `high`, holding only what pledges.text
    allows a field of one line (or, `one_line=False`, of several)."""
    refused = ONE_LINE_REFUSED if one_line else LINES_REFUSED
    char = f"[^{refused}]"
    edge = f"[^{refused}{PY_SPACE}]"  # what a trimmed text starts and ends with
    if low <= 1:
        inner = f"{edge}(?:{char}{{0,{high - 2}}}{edge})?"
        return f"^{WS}*(?:{inner})?{WS}*$" if low == 0 else f"^{WS}*{inner}{WS}*$"
    return f"^{WS}*{edge}{char}{{{low - 2},{high - 2}}}{edge}{WS}*$"


def trimmed_text(low: int, high: int, description: str = "", *, one_line: bool = True) -> Any:
    note = f"{low} to {high} characters, not counting spaces at either end."
    return Annotated[
        str,
        stated(
            trimmed_pattern(low, high, one_line=one_line),
            description=f"{description} {note}".strip(),
        ),
    ]


_CHECKBOX = r"^(?:[Oo][Nn]|[Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss])?$"


def _flag(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and re.match(_CHECKBOX, value):
        return value
    raise PydanticCustomError(PLAIN, "Must be true or false.")


# HTML checkboxes reach the same domain rule, so the API takes their values too.
Flag = Annotated[
    Any,
    AfterValidator(_flag),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "null"},
                {"type": "string", "pattern": _CHECKBOX},
            ],
            "description": "true or false (a checkbox's on, yes or 1 also mean true).",
        }
    ),
]

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$"


# ----- errors ----------------------------------------------------------------------------


class FieldProblem(Shape):
    field: str = Field(description="The field at fault: `area.postcode_districts[2]`.")
    message: str = Field(description="What is wrong, in plain English.")


class Problem(Shape):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "Some of what was sent is not valid.",
                    "instance": "/api/v1/campaigns",
                    "errors": [{"field": "title", "message": "Enter a value."}],
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str = ""
    errors: list[FieldProblem] = []


# ----- campaigns -------------------------------------------------------------------------


class Area(Shape):
    name: str
    postcode_districts: list[str]


class Threshold(Shape):
    target: int | None = Field(
        ge=1,
        description="Confirmed pledges needed (households, on a campaign that counts them); "
        "null when a money target or a coverage target stands instead.",
    )
    coverage_target: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Households campaigns only: the percent of the premises whose households "
        "must pledge; null when `target` counts households instead.",
    )
    money_target: int | None = Field(
        default=None,
        description="Money campaigns only: the money to be pledged, in minor units (pence, "
        "cents); null when only the count counts.",
    )
    target_price: int | None = Field(
        default=None,
        ge=1,
        description="Campaigns with a target price only: only pledges whose most they would "
        "pay is at least this price (minor units) count towards the target.",
    )


class CampaignProgress(Shape):
    confirmed: int = Field(ge=0)
    percent: int = Field(
        ge=0, le=100, description="The lesser of the count's and the money's progress."
    )
    pledged: int = Field(
        default=0,
        description="Money campaigns only: the money of the counted pledges, in minor units.",
    )
    households: int = Field(
        default=0,
        ge=0,
        description="Households campaigns only: the homes with a counted pledge (one each, "
        "however many people there pledged).",
    )
    coverage_percent: float | None = Field(
        default=None,
        ge=0,
        description="Households campaigns only: counted households on the premises list (all "
        "counted households when there is no list) as a percent of the premises, to one "
        "decimal place; null while the number of premises is unknown.",
    )
    priced: int = Field(
        default=0,
        ge=0,
        description="Campaigns with a target price only: counted units (people, or households) "
        "whose most they would pay is at least the target price.",
    )


class Premises(Shape):
    count: int = Field(ge=0, description="The premises in the area: the list's, else as given.")
    listed: int = Field(ge=0, description="Premises on the lead's uploaded list (0: no list).")


class Money(Shape):
    """What a money campaign asks for and has raised; amounts in minor units (pence, cents).
    Each pledge is either the fixed `deposit` or the resident's choice from `min` to `max`.
    Cards are saved when pledging and charged when the campaign tips."""

    currency: Currency
    target: int | None
    deposit: int | None
    min: int | None
    max: int | None
    pledged: int = Field(description="Of the counted pledges.")
    collected: int = Field(description="Charged since the campaign tipped.")
    refunded: int
    funded_at: str | None = timestamp("When charging after tipping was over.")


class Review(Shape):
    """Where a campaign stands with the site's administrators (MODERATION pre or post): only
    in its lead's own answers."""

    state: Literal["pending", "approved", "rejected"] = Field(
        description="pending: in the administrators' queue (with MODERATION=pre it is on no "
        "public page, list or webhook until approved); approved; rejected (a draft again, "
        "to edit and publish anew; or, reviewed after going live, hidden)."
    )
    submitted_at: str | None = timestamp("When it entered the queue.", default=None)
    decided_at: str | None = timestamp(
        "When the last decision was taken; null before one.", default=None
    )
    reason: str | None = Field(
        default=None, description="A rejection's reason, one of those listed at /moderation."
    )
    reason_title: str | None = Field(default=None, description="That reason, in words.")
    note: str | None = Field(default=None, description="The administrator's note to the lead.")


class Campaign(Shape):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slug": "fibre-for-headingley",
                    "title": "Fibre for Headingley",
                    "summary": "Full fibre broadband for our streets.",
                    "description": "",
                    "category": "broadband",
                    "status": "open",
                    "area": {"name": "Headingley", "postcode_districts": ["LS6"]},
                    "threshold": {"target": 100},
                    "progress": {"confirmed": 12, "percent": 12},
                    "money": None,
                    "counts": "people",
                    "premises": None,
                    "milestones": [25, 50, 75],
                    "deadline": "2027-03-01T23:59:59+00:00",
                    "tipped_at": None,
                    "created_at": "2026-12-03T09:00:00+00:00",
                    "url": "https://groundswell.example/c/fibre-for-headingley",
                },
                {
                    "slug": "fibre-for-brudenell",
                    "title": "Fibre for the Brudenell streets",
                    "summary": "Full fibre for every home on our two streets.",
                    "description": "",
                    "category": "broadband",
                    "status": "open",
                    "area": {"name": "Brudenell", "postcode_districts": ["LS6"]},
                    "threshold": {"target": None, "coverage_target": 40},
                    "progress": {
                        "confirmed": 45,
                        "percent": 67,
                        "households": 38,
                        "coverage_percent": 27.1,
                    },
                    "money": None,
                    "counts": "households",
                    "premises": {"count": 140, "listed": 140},
                    "require_letter": False,
                    "milestones": [25, 50, 75],
                    "deadline": "2027-03-01T23:59:59+00:00",
                    "tipped_at": None,
                    "created_at": "2026-12-03T09:00:00+00:00",
                    "url": "https://groundswell.example/c/fibre-for-brudenell",
                },
                {
                    "slug": "fibre-for-meanwood",
                    "title": "Fibre for Meanwood",
                    "summary": "Full fibre, at a price we would pay.",
                    "description": "",
                    "category": "broadband",
                    "status": "open",
                    "area": {"name": "Meanwood", "postcode_districts": ["LS6", "LS11"]},
                    "threshold": {"target": 40, "target_price": 2500},
                    "progress": {"confirmed": 48, "percent": 75, "priced": 30},
                    "money": None,
                    "counts": "people",
                    "premises": None,
                    "price_question": PRICE_QUESTION_EXAMPLE,
                    "demand": DEMAND_EXAMPLE,
                    "take_up": TAKE_UP_EXAMPLE,
                    "equity_floor": EQUITY_EXAMPLE,
                    "milestones": [25, 50, 75],
                    "deadline": "2027-03-01T23:59:59+00:00",
                    "tipped_at": None,
                    "created_at": "2026-12-03T09:00:00+00:00",
                    "url": "https://groundswell.example/c/fibre-for-meanwood",
                },
            ]
        }
    )

    slug: str
    title: str
    summary: str
    description: str = ""
    category: Category
    status: CampaignStatus
    area: Area
    threshold: Threshold
    progress: CampaignProgress
    money: Money | None = Field(
        default=None, description="null for a campaign that asks for no money."
    )
    counts: Literal["people", "households"] = Field(
        default="people",
        description="What the campaign counts: each confirmed pledge, or one confirmed "
        "pledge per household (the postcode and first line of the address).",
    )
    premises: Premises | None = Field(
        default=None, description="The premises in the area, when the lead gave them."
    )
    require_letter: bool = Field(
        default=False,
        description="Households campaigns: a household counts only once verified by the code "
        "in a letter posted to it (or vouched for by the lead).",
    )
    price_question: PriceQuestion | None = Field(
        default=None, description="What each pledger is asked to pay at most; null: nothing."
    )
    demand: Demand | None = Field(
        default=None,
        description="The demand curve at the price points; null for a campaign that asks no price.",
    )
    take_up: TakeUp | None = Field(
        default=None,
        description="Projected take-up from the counted units by firmness (every campaign "
        "has it, with or without a price question).",
    )
    equity_floor: EquityFloor | None = Field(
        default=None,
        description="The share of counted pledges that must come from priority places before "
        "the campaign can tip, and where it stands; null when none is set.",
    )
    milestones: list[int] = []
    deadline: str = timestamp()
    tipped_at: str | None = timestamp()
    created_at: str = timestamp(default="")
    url: str = Field(default="", json_schema_extra={"format": "uri"})
    review: Review | None = Field(
        default=None,
        description="Only in answers to the campaign's lead, once it has been queued for "
        "review: see Review.",
    )


class Progress(Shape):
    """A campaign's progress after a pledge was confirmed or withdrawn."""

    slug: str
    status: CampaignStatus
    confirmed: int
    target: int | None = Field(description="null: money target only.")
    percent: int
    pledged_amount: int = Field(
        default=0, description="Money campaigns only: pledged so far, in minor units."
    )
    money_target: int | None = Field(
        default=None, description="Money campaigns only: the money target, in minor units."
    )
    households: int = Field(
        default=0, ge=0, description="Households campaigns only: the counted households."
    )
    coverage_percent: float | None = Field(
        default=None,
        description="Households campaigns only: the share of the premises covered, percent.",
    )
