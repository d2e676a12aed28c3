"""The bodies of the webhook messages Groundswell sends, declared once; the OpenAPI document
lists them under `webhooks` (notifications/webhooks.py builds them; README "What is sent")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, create_model

from app.api.demand_shapes import Demand, EquityFloor, TakeUp
from app.api.models import Area, Category, Money, Premises, Shape, timestamp
from app.api.offer_shapes import (
    OFFER_EXAMPLE,
    RESULTS_EXAMPLE,
    ROUND_EXAMPLE,
    TOTALS_EXAMPLE,
    OfferResult,
    PublicOffer,
    RoundDates,
    RoundResults,
)

HOUSEHOLDS_EXAMPLE: dict[str, Any] = {
    "count": 61,
    "premises": 140,
    "covered": 56,
    "coverage_percent": 40.0,
    "coverage_target": 40,
    "by_level": {"letter": 12, "vouched": 4, "email": 45},
    "by_district": {"LS16": 3, "LS6": 58},
}


class HouseholdsByLevel(Shape):
    """Counted households by how each was verified."""

    letter: int = Field(ge=0, description="A code from a letter posted to the home was entered.")
    vouched: int = Field(ge=0, description="The campaign's lead recorded or vouched for it.")
    email: int = Field(ge=0, description="A pledger from the home confirmed by email.")


class EventHouseholds(Shape):
    """A households campaign's counted homes, as at the event: counts only, never an
    address."""

    model_config = ConfigDict(json_schema_extra={"examples": [HOUSEHOLDS_EXAMPLE]})

    count: int = Field(ge=0, description="Households with a counted pledge (one each).")
    premises: int | None = Field(
        ge=1, description="The premises in the area (the list's, else as given); null: unknown."
    )
    covered: int = Field(
        ge=0,
        description="Counted households on the premises list (all counted households when "
        "there is no list).",
    )
    coverage_percent: float | None = Field(
        ge=0, description="`covered` as a percent of `premises`, to one decimal place."
    )
    coverage_target: int | None = Field(
        ge=1, le=100, description="The share of the premises that tips the campaign, if set."
    )
    by_level: HouseholdsByLevel
    by_district: dict[str, int] = Field(
        description='Counted households by postcode district: {"LS6": 58}.'
    )


class EventCampaign(Shape):
    """Public facts of the campaign, as at the event."""

    slug: str
    title: str
    category: Category
    area: Area
    target: int | None = Field(description="null when a money target replaces the count.")
    confirmed: int
    deadline: str = timestamp()
    tipped_at: str | None = timestamp()
    money: Money | None = Field(description="null for a campaign that asks for no money.")
    counts: Literal["people", "households"] = Field(
        default="people",
        description="What the campaign counts: each confirmed pledge, or one confirmed pledge "
        "per household. Absent from events recorded before campaigns could count households.",
    )
    premises: Premises | None = Field(
        default=None, description="The premises in the area; null when the lead gave none."
    )
    households: EventHouseholds | None = Field(
        default=None,
        description="Households campaigns' `campaign.milestone` and `campaign.tipped` only.",
    )
    demand: Demand | None = Field(
        default=None,
        description="`campaign.milestone` and `campaign.tipped` only: the demand curve at the "
        "price points, as in campaign JSON; null for a campaign that asks no price.",
    )
    take_up: TakeUp | None = Field(
        default=None,
        description="`campaign.milestone` and `campaign.tipped` only: projected take-up from "
        "the counted units by firmness.",
    )
    equity_floor: EquityFloor | None = Field(
        default=None,
        description="`campaign.milestone` and `campaign.tipped` of a campaign with an equity "
        "floor only: the share of counted pledges needed from priority places, and where it "
        "stands.",
    )
    url: str = Field(json_schema_extra={"format": "uri"})


class CampaignData(Shape):
    campaign: EventCampaign


class MilestoneData(Shape):
    campaign: EventCampaign
    percent: int = Field(ge=1, le=99, description="The milestone crossed: 25, 50, 75 by default.")


class TippedData(Shape):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": {
                        "slug": "fibre-for-brudenell",
                        "title": "Fibre for the Brudenell streets",
                        "category": "broadband",
                        "area": {"name": "Brudenell", "postcode_districts": ["LS6"]},
                        "target": None,
                        "confirmed": 66,
                        "deadline": "2027-03-01T23:59:59+00:00",
                        "tipped_at": "2027-01-20T18:04:11+00:00",
                        "money": None,
                        "counts": "households",
                        "premises": {"count": 140, "listed": 140},
                        "households": HOUSEHOLDS_EXAMPLE,
                        "demand": None,
                        "take_up": {
                            "by_firmness": {"interested": 15, "will_switch": 38, "deposit": 8},
                            "projected": 34.5,
                            "take_up_rates": {"interested": 30, "will_switch": 60, "deposit": 90},
                            "take_up_rates_source": "site",
                            "assumes": "assumes 30 % of interested, 60 % of will-switch and 90 % "
                            "of deposit households sign up",
                        },
                        "url": "https://groundswell.example/c/fibre-for-brudenell",
                    },
                    "pledges_by_district": {"LS6": 63, "LS16": 3},
                    "contacts_url": "https://groundswell.example/api/v1/campaigns/"
                    "fibre-for-brudenell/contacts",
                }
            ]
        }
    )

    campaign: EventCampaign
    pledges_by_district: dict[str, int] = Field(
        description='Confirmed pledges by postcode district: {"LS6": 41}.'
    )
    contacts_url: str = Field(json_schema_extra={"format": "uri"})


class FundedTotals(Shape):
    """Amounts in minor units; `pledges` counts the counted pledges by payment state."""

    currency: str | None
    pledged: int
    collected: int
    refunded: int
    failed: int
    pledges: dict[str, int] = Field(description='Like {"paid": 3}.')


class FundedData(Shape):
    campaign: EventCampaign
    totals: FundedTotals


TIPPED_CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "slug": "fibre-for-brudenell",
    "title": "Fibre for the Brudenell streets",
    "category": "broadband",
    "area": {"name": "Brudenell", "postcode_districts": ["LS6"]},
    "target": 60,
    "confirmed": 66,
    "deadline": "2027-03-01T23:59:59+00:00",
    "tipped_at": "2027-01-20T18:04:11+00:00",
    "money": None,
    "counts": "people",
    "premises": None,
    "url": "https://groundswell.example/c/fibre-for-brudenell",
}


def _examples(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(
        json_schema_extra={"examples": [{"campaign": TIPPED_CAMPAIGN_EXAMPLE, **example}]}
    )


class OfferData(Shape):
    model_config = _examples({"offer": OFFER_EXAMPLE})

    campaign: EventCampaign
    offer: PublicOffer


class ChoiceOpenedData(Shape):
    model_config = _examples({"choice_round": ROUND_EXAMPLE, "offers": [OFFER_EXAMPLE]})

    campaign: EventCampaign
    choice_round: RoundDates
    offers: list[PublicOffer] = Field(
        description="The published offers residents choose between, in fair order."
    )


class ChoiceClosedData(Shape):
    model_config = _examples(
        {
            "choice_round": {**ROUND_EXAMPLE, "closed_at": "2027-02-16T00:00:03+00:00"},
            "results": RESULTS_EXAMPLE,
        }
    )

    campaign: EventCampaign
    choice_round: RoundDates
    results: RoundResults


class OfferChosenData(Shape):
    model_config = _examples(
        {
            "choice_round": {**ROUND_EXAMPLE, "closed_at": "2027-02-16T00:00:03+00:00"},
            "offers": [TOTALS_EXAMPLE],
        }
    )

    campaign: EventCampaign
    choice_round: RoundDates
    offers: list[OfferResult] = Field(
        description="This provider's own offers and how many chose each; the contacts of "
        "those who agreed are at GET /api/v1/campaigns/{slug}/choice-round/contacts."
    )


class ResponseOrganisation(Shape):
    name: str
    kind: Literal["provider", "council"]


class EventResponse(Shape):
    """A provider's or council's public response, as published."""

    id: str = Field(description='The response\'s id, like "rsp_3kq...".')
    organisation: ResponseOrganisation
    body: str = Field(description="Plain text; paragraphs apart by a blank line.")
    created_at: str = timestamp()


class RespondedData(Shape):
    model_config = _examples(
        {
            "response": {
                "id": "rsp_q0Vd3TKZ9n1xYw2b",
                "organisation": {"name": "FibreCo", "kind": "provider"},
                "body": "We can survey the Brudenell streets in March.\n\n"
                "Offers will follow once the survey is done.",
                "created_at": "2027-01-22T09:30:00+00:00",
            }
        }
    )

    campaign: EventCampaign
    response: EventResponse


class EventMilestone(Shape):
    """A chosen provider's delivery milestone, as at the event."""

    id: str = Field(description="The milestone's id (dlm_...).")
    kind: Literal["survey", "build", "first_connections", "other"]
    title: str
    due_on: str = Field(json_schema_extra={"format": "date"}, description="Its due date.")
    done_on: str | None = Field(
        json_schema_extra={"format": "date"}, description="null: not done (yet)."
    )
    missed_at: str | None = timestamp("When Groundswell recorded the date as missed.")
    provider: str = Field(description="The provider's name.")


class MilestoneMissedData(Shape):
    model_config = _examples(
        {
            "milestone": {
                "id": "dlm_3kQ9xYbT0aP1mW2e",
                "kind": "survey",
                "title": "Survey every street for ducts and poles",
                "due_on": "2027-05-01",
                "done_on": None,
                "missed_at": "2027-05-02T00:00:04+00:00",
                "provider": "FibreCo",
            }
        }
    )

    campaign: EventCampaign
    milestone: EventMilestone


class TestData(Shape):
    endpoint: str = Field(description="The endpoint's id.")
    message: str


def _message(event: str, data: type[Shape], doc: str) -> type[Shape]:
    """A Standard Webhooks message: {type, timestamp, data}."""
    name = "".join(part.title() for part in event.replace(".", "_").split("_")) + "Message"
    fields = {
        "type": (Literal[event], ...),
        "timestamp": (str, timestamp("When the event happened.")),
        "data": (data, ...),
    }

    return create_model(name, __base__=Shape, __doc__=doc, **fields)  # type: ignore[call-overload]


# Event type -> (summary, message model). The document's `webhooks` follow this order.
WEBHOOKS: dict[str, tuple[str, type[Shape]]] = {
    event: (summary, _message(event, data, summary))
    for event, summary, data in (
        ("campaign.opened", "A campaign opened to pledges.", CampaignData),
        ("campaign.milestone", "A campaign crossed a milestone.", MilestoneData),
        ("campaign.tipped", "A campaign reached its target.", TippedData),
        ("campaign.expired", "A campaign's deadline passed before it tipped.", CampaignData),
        ("campaign.cancelled", "A campaign's lead cancelled it.", CampaignData),
        (
            "campaign.funded",
            "A tipped money campaign has no pledge left to charge or waiting to be paid.",
            FundedData,
        ),
        (
            "offer.published",
            "A provider posted an offer on a tipped campaign.",
            OfferData,
        ),
        (
            "offer.withdrawn",
            "A provider withdrew an offer, with the reason residents see.",
            OfferData,
        ),
        (
            "campaign.choice_opened",
            "A campaign's choice round opened: its residents choose between the offers.",
            ChoiceOpenedData,
        ),
        (
            "campaign.choice_closed",
            "A campaign's choice round closed, with every offer's results.",
            ChoiceClosedData,
        ),
        (
            "offer.chosen",
            "A choice round closed: to each provider with offers on it alone, its own totals.",
            OfferChosenData,
        ),
        (
            "campaign.responded",
            "A provider or council published a response to a campaign's residents.",
            RespondedData,
        ),
        (
            "delivery.milestone_missed",
            "A provider residents chose let a delivery milestone's date pass undone.",
            MilestoneMissedData,
        ),
        ("webhook.test", "A test message, sent on request.", TestData),
    )
}
