"""/api/v1 responses: a provider's or council's public answer to a campaign's residents,
published with the organisation's key and read by anyone."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_body
from app.api.models import Input, Shape, timestamp, trimmed_text
from app.api.requests import require_organisation
from app.bootstrap import services
from app.errors import Problem
from notifications.answering import answerable_campaign
from pledges import campaigns as campaign_service
from pledges import responses as response_service
from pledges.responses import MAX_BODY


class ResponseInput(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "body": "We can survey the Brudenell streets in March.\n\n"
                    "Offers will follow once the survey is done."
                }
            ]
        }
    )

    body: trimmed_text(  # type: ignore[valid-type]
        1,
        MAX_BODY,
        "Plain text, shown as written; paragraphs apart by a blank line.",
        one_line=False,
    )


class ResponseOrganisation(Shape):
    name: str
    kind: Literal["provider", "council"]


class CampaignResponse(Shape):
    id: str = Field(description='Like "rsp_3kq...".')
    organisation: ResponseOrganisation
    body: str
    created_at: str = timestamp()


class CampaignResponses(Shape):
    campaign: str = Field(description="The campaign's slug.")
    responses: list[CampaignResponse] = Field(description="Oldest first.")


def _shown(found: response_service.CampaignResponse) -> CampaignResponse:
    return CampaignResponse(
        id=found.public_id,
        organisation=ResponseOrganisation(
            name=found.organisation_name,
            kind=found.organisation_kind,  # type: ignore[arg-type]
        ),
        body=found.body,
        created_at=found.created_at.isoformat(),
    )


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/responses",
    operation_id="publishCampaignResponse",
    summary="Publish a response to a campaign's residents (a provider or council)",
    tag="responses",
    caller="organisation",
    body=ResponseInput,
    answers={
        201: Answer(
            "Published on the campaign page, emailed to confirmed pledgers who want news and "
            "sent as a campaign.responded webhook",
            CampaignResponse,
        )
    },
    errors=(403, 404, 409, 429),
    description="A 403 when none of the organisation's active webhook endpoints covers the "
    "campaign; a 409 before a provider may respond (once the campaign tipped) or a council "
    "(once it reached a milestone). One response per organisation per campaign a day: a 429 "
    "with `Retry-After` past that.",
)
async def publish_response(request: Request) -> Response:
    org = await require_organisation(request)
    body = await parse_body(request, ResponseInput, response_service.parse_response)
    store = services(request).store
    campaign = await answerable_campaign(
        store.database, org, request.path_params["slug"], "response"
    )
    published = await response_service.publish_response(store, campaign.id, org.id, body.body)
    return answer(_shown(published), 201)


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/responses",
    operation_id="listCampaignResponses",
    summary="Responses published on a campaign, oldest first",
    tag="responses",
    caller="anyone",
    answers={200: Answer("The campaign's responses", CampaignResponses)},
    errors=(404,),
)
async def list_responses(request: Request) -> Response:
    db = services(request).store.database
    campaign = await campaign_service.get_campaign(db, request.path_params["slug"])
    if not campaign.is_public:  # a draft, or hidden by an administrator
        raise Problem(404, "There is no campaign at this address.")
    found = await response_service.list_responses(db, campaign.id)
    return answer(CampaignResponses(campaign=campaign.slug, responses=[_shown(r) for r in found]))


operations: list[Operation] = [publish_response, list_responses]
