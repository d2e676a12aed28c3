"""The bodies of the webhook messages Groundswell sends, declared once; the OpenAPI document
lists them under `webhooks` (notifications/webhooks.py builds them; README "What is sent")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from app.api.models import Area, Category, Money, Shape, timestamp


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
    url: str = Field(json_schema_extra={"format": "uri"})


class CampaignData(Shape):
    campaign: EventCampaign


class MilestoneData(Shape):
    campaign: EventCampaign
    percent: int = Field(ge=1, le=99, description="The milestone crossed: 25, 50, 75 by default.")


class TippedData(Shape):
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
        ("webhook.test", "A test message, sent on request.", TestData),
    )
}
