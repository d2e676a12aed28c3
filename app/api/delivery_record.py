"""/api/v1 the delivery record of a campaign after its choice round: the chosen provider
posts dated milestones and marks them done; anyone reads the record, with how many of the
households that chose each offer say the service reached them."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_body
from app.api.models import PY_SPACE, WS, Input, Shape, stated, timestamp
from app.api.requests import require_organisation
from app.bootstrap import services
from notifications.answering import answerable_campaign
from notifications.demand import public_campaign
from pledges import delivery as delivery_service
from pledges.campaigns import Campaign as CampaignRecord
from pledges.delivery import KINDS, MAX_TITLE, DeliveryRecord, Milestone, served_words
from pledges.store import utcnow

# ----- models ----------------------------------------------------------------------------

_INNER = f"[^\\x00-\\x1f\\x7f{PY_SPACE}]"
ONE_LINE = f"^{WS}*{_INNER}(?:[^\\x00-\\x1f\\x7f]{{0,{MAX_TITLE - 2}}}{_INNER})?{WS}*$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MilestoneKind = Literal["survey", "build", "first_connections", "other"]
assert set(get_args(MilestoneKind)) == set(KINDS), "MilestoneKind must list pledges.delivery's"


def _date(schema: dict[str, Any]) -> None:
    schema.update({"pattern": DATE, "format": "date"})


def _absent_date(schema: dict[str, Any]) -> None:
    """A date that may be left out but is never null: no default in the document."""
    schema.pop("default", None)
    _date(schema)


class MilestoneInput(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "survey", "title": "Survey every street", "due_on": "2027-05-01"}]
        }
    )

    kind: MilestoneKind
    title: str = stated(
        ONE_LINE,
        description=f"What will be done: one line of 1 to {MAX_TITLE} characters.",
    )
    due_on: str = Field(
        json_schema_extra=_date,
        description="The date it will be done by (YYYY-MM-DD): today or later, within five years.",
    )


class MilestoneChangeInput(Input):
    """Mark the milestone done, move its due date, or both; fields left out stay as they
    are. A milestone marked done no longer changes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"done_on": "2027-04-28"}]}
    )

    due_on: str = Field(
        default=None,  # type: ignore[assignment]
        json_schema_extra=_absent_date,
        description="A new due date (YYYY-MM-DD): today or later, within five years.",
    )
    done_on: str = Field(
        default=None,  # type: ignore[assignment]
        json_schema_extra=_absent_date,
        description="The date it was done (YYYY-MM-DD): not in the future, nor before the "
        "choice round closed.",
    )


class DeliveryMilestone(Shape):
    id: str = Field(description="The milestone's id (dlm_...).")
    kind: MilestoneKind
    title: str
    due_on: str = Field(json_schema_extra={"format": "date"}, description="The current due date.")
    done_on: str | None = Field(json_schema_extra={"format": "date"})
    status: Literal["planned", "done", "missed"] = Field(
        description="missed: its due date passed before it was done."
    )
    missed_at: str | None = timestamp(
        "When its date was recorded as missed; kept when it is later done or its date moved."
    )
    provider: str = Field(description="The provider's name.")


class ServedOffer(Shape):
    id: str = Field(description="The offer's id.")
    title: str
    chosen: int = Field(ge=0, description="Units (households, or people) that chose it.")
    served: int = Field(ge=0, description="Of them, those that say the service reached them.")
    summary: str = Field(
        description='In words: "2 of 3 households who chose it say the service reached them".'
    )


class ProviderDelivery(Shape):
    provider: str
    milestones: list[DeliveryMilestone] = Field(description="By due date.")
    offers: list[ServedOffer] = Field(description="Its offers that residents chose.")


class CampaignDelivery(Shape):
    campaign: str
    round_closed_at: str | None = timestamp(
        "When the choice round closed; null before (and then `providers` is empty)."
    )
    providers: list[ProviderDelivery] = Field(description="Each provider residents chose.")


# ----- handlers --------------------------------------------------------------------------


def milestone_model(milestone: Milestone) -> DeliveryMilestone:
    return DeliveryMilestone(
        id=milestone.public_id,
        kind=milestone.kind,  # type: ignore[arg-type]
        title=milestone.title,
        due_on=milestone.due_on.isoformat(),
        done_on=milestone.done_on.isoformat() if milestone.done_on else None,
        status=milestone.status_on(utcnow().date()),  # type: ignore[arg-type]
        missed_at=milestone.missed_at.isoformat() if milestone.missed_at else None,
        provider=milestone.provider,
    )


def record_model(campaign: CampaignRecord, record: DeliveryRecord) -> CampaignDelivery:
    return CampaignDelivery(
        campaign=campaign.slug,
        round_closed_at=record.round_closed_at.isoformat() if record.round_closed_at else None,
        providers=[
            ProviderDelivery(
                provider=p.name,
                milestones=[milestone_model(m) for m in p.milestones],
                offers=[
                    ServedOffer(
                        id=o.public_id,
                        title=o.title,
                        chosen=o.chosen,
                        served=o.served,
                        summary=served_words(campaign, o.served, o.chosen),
                    )
                    for o in p.offers
                ],
            )
            for p in record.providers
        ],
    )


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/delivery",
    operation_id="postDeliveryMilestone",
    summary="Post a delivery milestone (a provider residents chose)",
    tag="delivery",
    caller="organisation",
    body=MilestoneInput,
    answers={201: Answer("Posted; shown on the campaign page", DeliveryMilestone)},
    errors=(403, 404, 409),
    description="Once the choice round has closed (409 before), a provider whose offer at "
    "least one resident chose posts the milestones of its delivery: survey, build, first "
    "connections or other, each with a due date. A 403 for an organisation whose endpoints "
    "do not cover the campaign, a council, or a provider nobody chose; nothing is stored.",
)
async def post_milestone(request: Request) -> Response:
    org = await require_organisation(request)
    store = services(request).store
    campaign = await answerable_campaign(
        store.database, org, request.path_params["slug"], "delivery"
    )
    body = await parse_body(request, MilestoneInput, delivery_service.parse_milestone)
    milestone = delivery_service.parse_milestone(body.model_dump())
    posted = await delivery_service.record_milestone(store, campaign, org.id, milestone)
    return answer(milestone_model(posted), 201)


@operation(
    "PATCH",
    "/api/v1/campaigns/{slug}/delivery/{id}",
    operation_id="changeDeliveryMilestone",
    summary="Mark a delivery milestone done, or move its due date (the provider's own)",
    tag="delivery",
    caller="organisation",
    body=MilestoneChangeInput,
    answers={200: Answer("The milestone as it is now", DeliveryMilestone)},
    errors=(403, 404, 409),
    description="A 409 once it is marked done (it no longer changes); a 404 for a milestone "
    "that is not this provider's on this campaign. A date that was missed stays recorded as "
    "missed when the date moves.",
)
async def change_milestone(request: Request) -> Response:
    org = await require_organisation(request)
    store = services(request).store
    campaign = await answerable_campaign(
        store.database, org, request.path_params["slug"], "delivery"
    )
    body = await parse_body(request, MilestoneChangeInput, delivery_service.parse_milestone_change)
    change = delivery_service.parse_milestone_change(body.model_dump(exclude_unset=True))
    changed = await delivery_service.change_milestone(
        store, campaign, org.id, request.path_params["id"], change
    )
    return answer(milestone_model(changed))


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/delivery",
    operation_id="getCampaignDelivery",
    summary="The campaign's delivery record: milestones and served counts per provider",
    tag="delivery",
    caller="anyone",
    answers={200: Answer("The record; empty before the choice round closed", CampaignDelivery)},
    errors=(404,),
)
async def get_delivery(request: Request) -> Response:
    store = services(request).store
    async with store.read() as db:
        campaign = await public_campaign(db, request.path_params["slug"])
        record = await delivery_service.delivery_record(db, campaign.id)
    return answer(record_model(campaign, record))


operations: list[Operation] = [post_milestone, change_milestone, get_delivery]
