"""/api/v1 deliveries of an organisation's webhook endpoint: the log, retrying, recovering."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_body, parse_query
from app.api.models import Input, Shape, timestamp
from app.api.pagination import NEXT, PageQuery, check_limit, next_link, with_next
from app.api.requests import require_organisation
from app.api.webhook_endpoints import endpoint_of_request
from app.bootstrap import services
from app.errors import Problem
from notifications import webhooks
from pledges.errors import FieldError, ValidationFailed
from pledges.store import utcnow

# ----- models ----------------------------------------------------------------------------


class DeliveryQuery(PageQuery):
    """Newest first."""


class Attempt(Shape):
    attempted_at: str | None = timestamp()
    status_code: int | None = Field(description="The receiver's answer; null when none came.")
    duration_ms: int | None
    error: str | None
    response_body: str | None = Field(description="The start of the receiver's answer.")


class Delivery(Shape):
    id: str
    message_id: str = Field(description="The webhook-id header: the same on every retry.")
    event_type: str
    status: str = Field(description="pending, sending, succeeded, failed or cancelled.")
    attempt_count: int
    next_attempt_at: str | None = timestamp("While pending: when it is tried next.")
    created_at: str | None = timestamp()
    completed_at: str | None = timestamp()
    payload: dict[str, Any] = Field(description="The body sent: one of the `webhooks` below.")
    attempts: list[Attempt]


class DeliveryList(Shape):
    deliveries: list[Delivery]
    next: str | None = NEXT


class RecoverInput(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"since": "2026-12-01T00:00:00+00:00"}]}
    )

    since: str = Field(
        json_schema_extra={"format": "date-time"},
        description="An ISO 8601 time with a zone, in the past.",
    )


class Recovered(Shape):
    requeued: int = Field(description="How many failed deliveries were queued again.")


class RetryQueued(Shape):
    delivery: str
    status: Literal["pending"]


# ----- handlers --------------------------------------------------------------------------


@operation(
    "GET",
    "/api/v1/webhook-endpoints/{id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Deliveries, newest first, each with every attempt",
    tag="deliveries",
    caller="organisation",
    query=DeliveryQuery,
    answers={
        200: Answer(
            "Deliveries, newest first, a page at a time",
            DeliveryList,
            headers={"Link": 'The next page, as `<url>; rel="next"`; absent on the last.'},
        )
    },
    errors=(404,),
)
async def list_deliveries(request: Request) -> Response:
    org = await require_organisation(request)
    endpoint = await endpoint_of_request(request, org)
    query = await parse_query(request, DeliveryQuery, check_limit)
    page = await webhooks.deliveries_page(
        services(request).store.database, endpoint, limit=query.limit, cursor=query.cursor
    )
    listed = with_next(
        DeliveryList(deliveries=[Delivery.model_validate(d) for d in page.items]), page.next
    )
    return answer(listed, headers=next_link(request, page.next))


@operation(
    "POST",
    "/api/v1/deliveries/{id}/retry",
    operation_id="retryWebhookDelivery",
    summary="Send a delivery again now, with the same webhook-id",
    tag="deliveries",
    caller="organisation",
    answers={202: Answer("Queued", RetryQueued)},
    errors=(404, 409),
    description="A 409 while the delivery is being attempted.",
)
async def retry_delivery(request: Request) -> Response:
    org = await require_organisation(request)
    await webhooks.retry_delivery(services(request).store, org.id, request.path_params["id"])
    return answer(RetryQueued(delivery=request.path_params["id"], status="pending"), 202)


def since_of(data: Any) -> datetime:
    since_raw = data.get("since") if isinstance(data, dict) else None
    since = None
    if isinstance(since_raw, str):
        try:
            since = datetime.fromisoformat(since_raw.replace("Z", "+00:00"))
        except ValueError:
            since = None
    if since is None or since.tzinfo is None or since > utcnow():
        raise ValidationFailed(
            [FieldError("since", "not_a_date", "An ISO 8601 time with a zone, in the past.")]
        )
    return since


@operation(
    "POST",
    "/api/v1/webhook-endpoints/{id}/recover",
    operation_id="recoverWebhookDeliveries",
    summary="Re-queue failed deliveries created since a time",
    tag="deliveries",
    caller="organisation",
    body=RecoverInput,
    answers={202: Answer("How many were re-queued", Recovered)},
    errors=(404,),
)
async def recover(request: Request) -> Response:
    org = await require_organisation(request)
    endpoint = await endpoint_of_request(request, org)
    body = await parse_body(request, RecoverInput, since_of)
    try:
        since = since_of(body.model_dump())
    except ValidationFailed as exc:
        raise Problem(422, "Give the time to recover from.", exc.errors) from exc
    count = await webhooks.recover_failed(services(request).store, endpoint, since)
    return answer(Recovered(requeued=count), 202)


operations: list[Operation] = [list_deliveries, retry_delivery, recover]
