"""/api/v1 webhook endpoints of a provider or council: register, read, change, rotate, test."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, DomainCheck, Operation, answer, operation, parse_body
from app.api.models import (
    NOT_BLANK,
    SLUG_PATTERN,
    WS,
    Input,
    Shape,
    stated,
    timestamp,
    trimmed_pattern,
)
from app.api.requests import require_organisation
from app.bootstrap import services
from app.errors import Problem
from notifications import endpoints as endpoint_service
from notifications import webhooks
from notifications.endpoints import EVENT_TYPES, Endpoint
from pledges.accounts import Organisation
from pledges.campaigns import CATEGORIES

# ----- models ----------------------------------------------------------------------------


def _trimmed_choice(choices: tuple[str, ...]) -> str:
    """One of `choices`, with spaces either side allowed: the domain trims before it looks."""
    return f"^{WS}*(?:" + "|".join(c.replace(".", r"\.") for c in choices) + f"){WS}*$"


EventType = Annotated[str, stated(_trimmed_choice(EVENT_TYPES))]
CategoryFilter = Annotated[str, stated(_trimmed_choice(CATEGORIES))]
# The domain reads an area (LS) or district (LS6) after dropping spaces and upper-casing.
PostcodePrefix = Annotated[str, stated(NOT_BLANK)]
CampaignSlug = Annotated[str, stated(f"^{WS}*{SLUG_PATTERN[1:-1]}{WS}*$")]


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A URL that may be left out but is never null: no default in the document."""
    schema.pop("default", None)
    schema["pattern"] = NOT_BLANK


class WebhookFiltersInput(Input):
    """Only events about campaigns that match every filter given are sent."""

    model_config = ConfigDict(extra="forbid")

    categories: list[CategoryFilter] | None = Field(default=None, max_length=100)
    postcode_prefixes: list[PostcodePrefix] | None = Field(
        default=None, max_length=100, description="Areas (LS) or districts (LS6)."
    )
    campaigns: list[CampaignSlug] | None = Field(default=None, max_length=100)


class WebhookEndpointChange(Input):
    """What may change on an endpoint; fields left out stay as they are."""

    # No example: a receiver's URL must resolve, which no made-up example does.
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        default=None,  # type: ignore[assignment]
        json_schema_extra=_absent_not_null,
        description="The https URL to deliver to; it must resolve to public internet addresses.",
    )
    description: str = Field(
        default="", max_length=500, pattern=trimmed_pattern(0, 500, one_line=False)
    )
    event_types: list[EventType] | None = Field(
        default=None, max_length=len(EVENT_TYPES), description="Empty or null: every event type."
    )
    filters: WebhookFiltersInput | None = None
    status: Literal["active", "disabled"] = "active"


class WebhookEndpointInput(WebhookEndpointChange):
    url: str = Field(
        json_schema_extra={"pattern": NOT_BLANK},
        description="The https URL to deliver to; it must resolve to public internet addresses.",
    )


class WebhookFilters(Shape):
    categories: list[str] = []
    postcode_prefixes: list[str] = []
    campaigns: list[str] = []


class WebhookEndpoint(Shape):
    id: str
    url: str
    description: str
    event_types: list[str]
    filters: WebhookFilters
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    created_at: str = timestamp()
    last_success_at: str | None = timestamp()
    failing_since: str | None = timestamp()
    secret: str = Field(default="", description="Only at creation and rotation: shown once.")
    previous_secret_expires_at: str | None = timestamp(
        "Only at rotation: until then the old secret signs beside the new one.", default=None
    )


class WebhookEndpointList(Shape):
    endpoints: list[WebhookEndpoint]


class DeliveryQueued(Shape):
    delivery: str = Field(description="The delivery's id.")
    status: Literal["pending"]


# ----- handlers --------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def endpoint_model(endpoint: Endpoint, *, secret: str | None = None) -> WebhookEndpoint:
    found = WebhookEndpoint(
        id=endpoint.public_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        filters=WebhookFilters.model_validate(endpoint.filters),
        status=endpoint.status,  # type: ignore[arg-type]
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at.isoformat(),
        last_success_at=_iso(endpoint.last_success_at),
        failing_since=_iso(endpoint.failing_since),
    )
    if secret is not None:
        found.secret = secret  # shown once, at creation and rotation
    return found


def _domain_check(request: Request, *, partial_change: bool) -> DomainCheck:
    allow = services(request).settings.webhook_allow_private_networks
    return partial(endpoint_service.parse_endpoint, partial=partial_change, allow_private=allow)


ENDPOINT_LINKS = {
    "getWebhookEndpoint": ("getWebhookEndpoint", {"id": "$response.body#/id"}),
    "updateWebhookEndpoint": ("updateWebhookEndpoint", {"id": "$response.body#/id"}),
    "deleteWebhookEndpoint": ("deleteWebhookEndpoint", {"id": "$response.body#/id"}),
    "rotateWebhookSecret": ("rotateWebhookSecret", {"id": "$response.body#/id"}),
    "sendWebhookTest": ("sendWebhookTest", {"id": "$response.body#/id"}),
    "listWebhookDeliveries": ("listWebhookDeliveries", {"id": "$response.body#/id"}),
    "recoverWebhookDeliveries": ("recoverWebhookDeliveries", {"id": "$response.body#/id"}),
}


@operation(
    "GET",
    "/api/v1/webhook-endpoints",
    operation_id="listWebhookEndpoints",
    summary="List my webhook endpoints",
    tag="webhook endpoints",
    caller="organisation",
    answers={200: Answer("Endpoints", WebhookEndpointList)},
)
async def list_endpoints(request: Request) -> Response:
    org = await require_organisation(request)
    found = await endpoint_service.list_endpoints(services(request).store.database, org.id)
    return answer(WebhookEndpointList(endpoints=[endpoint_model(e) for e in found]))


@operation(
    "POST",
    "/api/v1/webhook-endpoints",
    operation_id="createWebhookEndpoint",
    summary="Register an endpoint; the answer holds its secret, shown once",
    tag="webhook endpoints",
    caller="organisation",
    body=WebhookEndpointInput,
    answers={
        201: Answer(
            "Registered",
            WebhookEndpoint,
            headers={"Location": "Where the endpoint is read."},
            links=ENDPOINT_LINKS,
        )
    },
)
async def create_endpoint(request: Request) -> Response:
    org = await require_organisation(request)
    check = _domain_check(request, partial_change=False)
    body = await parse_body(request, WebhookEndpointInput, check)
    spec = await check(body.model_dump(exclude_unset=True))
    endpoint = await endpoint_service.create_endpoint(services(request).store, org.id, spec)
    return answer(
        endpoint_model(endpoint, secret=endpoint.secret),
        201,
        {"Location": f"/api/v1/webhook-endpoints/{endpoint.public_id}"},
    )


async def endpoint_of_request(request: Request, org: Organisation) -> Endpoint:
    return await endpoint_service.get_endpoint(
        services(request).store.database, org.id, request.path_params["id"]
    )


@operation(
    "GET",
    "/api/v1/webhook-endpoints/{id}",
    operation_id="getWebhookEndpoint",
    summary="One endpoint",
    tag="webhook endpoints",
    caller="organisation",
    answers={200: Answer("The endpoint", WebhookEndpoint)},
    errors=(404,),
)
async def get_endpoint(request: Request) -> Response:
    org = await require_organisation(request)
    return answer(endpoint_model(await endpoint_of_request(request, org)))


@operation(
    "PATCH",
    "/api/v1/webhook-endpoints/{id}",
    operation_id="updateWebhookEndpoint",
    summary="Change url, description, event_types, filters or status",
    tag="webhook endpoints",
    caller="organisation",
    body=WebhookEndpointChange,
    answers={200: Answer("Changed", WebhookEndpoint)},
    errors=(404,),
)
async def update_endpoint(request: Request) -> Response:
    org = await require_organisation(request)
    check = _domain_check(request, partial_change=True)
    body = await parse_body(request, WebhookEndpointChange, check)
    change = await check(body.model_dump(exclude_unset=True))
    endpoint = await endpoint_service.update_endpoint(
        services(request).store, org.id, request.path_params["id"], change
    )
    return answer(endpoint_model(endpoint))


@operation(
    "DELETE",
    "/api/v1/webhook-endpoints/{id}",
    operation_id="deleteWebhookEndpoint",
    summary="Delete; its pending deliveries are cancelled",
    tag="webhook endpoints",
    caller="organisation",
    answers={204: Answer("Deleted")},
    errors=(404,),
)
async def delete_endpoint(request: Request) -> Response:
    org = await require_organisation(request)
    await endpoint_service.delete_endpoint(
        services(request).store, org.id, request.path_params["id"]
    )
    return Response(status_code=204)


@operation(
    "POST",
    "/api/v1/webhook-endpoints/{id}/rotate-secret",
    operation_id="rotateWebhookSecret",
    summary="New secret; the old one signs beside it for 24 hours",
    tag="webhook endpoints",
    caller="organisation",
    answers={200: Answer("Rotated; the new secret", WebhookEndpoint)},
    errors=(404,),
)
async def rotate_secret(request: Request) -> Response:
    org = await require_organisation(request)
    endpoint = await endpoint_service.rotate_secret(
        services(request).store, org.id, request.path_params["id"]
    )
    rotated = endpoint_model(endpoint, secret=endpoint.secret)
    rotated.previous_secret_expires_at = _iso(endpoint.previous_secret_expires_at)
    return answer(rotated)


@operation(
    "POST",
    "/api/v1/webhook-endpoints/{id}/test",
    operation_id="sendWebhookTest",
    summary="Queue a webhook.test message to this endpoint",
    tag="webhook endpoints",
    caller="organisation",
    answers={
        202: Answer(
            "Queued",
            DeliveryQueued,
            links={
                "retryWebhookDelivery": ("retryWebhookDelivery", {"id": "$response.body#/delivery"})
            },
        )
    },
    errors=(404, 409),
    description="A 409 when the endpoint is disabled.",
)
async def send_test(request: Request) -> Response:
    org = await require_organisation(request)
    endpoint = await endpoint_of_request(request, org)
    if endpoint.status != "active":
        raise Problem(409, "This endpoint is disabled; enable it before sending a test.")
    delivery_id = await webhooks.queue_test_message(services(request).store, endpoint)
    return answer(DeliveryQueued(delivery=delivery_id, status="pending"), 202)


operations: list[Operation] = [
    list_endpoints,
    create_endpoint,
    get_endpoint,
    update_endpoint,
    delete_endpoint,
    rotate_secret,
    send_test,
]
