"""The OpenAPI 3.1 document for /api/v1; tests check it against the routes and responses."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.bootstrap import services
from pledges.campaigns import CATEGORIES, STATUSES
from pledges.money import CURRENCIES, MAX_MONEY_TARGET, MAX_PLEDGE, MIN_PLEDGE


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


PROBLEMS = {
    "400": _problem("Malformed request (not JSON, bad token)."),
    "401": _problem("Missing or invalid API key."),
    "403": _problem("The key is valid but may not do this."),
    "404": _problem("No such campaign or pledge."),
    "409": _problem("Conflicts with the current state (campaign closed, slug taken)."),
    "413": _problem("The body is larger than 64 KiB."),
    "415": _problem("The body is not JSON."),
    "422": _problem("Invalid fields; `errors` names each one."),
    "429": {
        **_problem("Too many anonymous pledges from this address on this campaign."),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before pledging again.",
                "schema": {"type": "integer"},
            }
        },
    },
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: PROBLEMS[code] for code in codes}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Area": {
        "type": "object",
        "required": ["name", "postcode_districts"],
        "properties": {
            "name": {"type": "string"},
            "postcode_districts": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Campaign": {
        "type": "object",
        "required": [
            "slug",
            "title",
            "summary",
            "category",
            "status",
            "area",
            "threshold",
            "progress",
            "deadline",
            "tipped_at",
        ],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "description": {"type": "string"},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "status": {"type": "string", "enum": list(STATUSES)},
            "area": _ref("Area"),
            "threshold": {
                "type": "object",
                "required": ["target"],
                "properties": {
                    "target": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "description": "Confirmed pledges needed; null when only a money "
                        "target counts.",
                    },
                    "money_target": {
                        "type": ["integer", "null"],
                        "description": "Money campaigns only: the money to be pledged, in "
                        "minor units (pence, cents); null when only the count counts.",
                    },
                },
            },
            "progress": {
                "type": "object",
                "required": ["confirmed", "percent"],
                "properties": {
                    "confirmed": {"type": "integer"},
                    "percent": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 100,
                        "description": "The lesser of the count's and the money's progress.",
                    },
                    "pledged": {
                        "type": "integer",
                        "description": "Money campaigns only: the money of the counted "
                        "pledges, in minor units.",
                    },
                },
            },
            "money": {
                "oneOf": [_ref("Money"), {"type": "null"}],
                "description": "null for a campaign that asks for no money.",
            },
            "milestones": {"type": "array", "items": {"type": "integer"}},
            "deadline": {"type": "string", "format": "date-time"},
            "tipped_at": {"type": ["string", "null"], "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "url": {"type": "string", "format": "uri"},
        },
    },
    "Money": {
        "type": "object",
        "description": "What a money campaign asks for and has raised; amounts in minor "
        "units (pence, cents). Each pledge is either the fixed `deposit` or the resident's "
        "choice from `min` to `max`. Cards are saved when pledging and charged when the "
        "campaign tips.",
        "required": [
            "currency",
            "target",
            "deposit",
            "min",
            "max",
            "pledged",
            "collected",
            "refunded",
            "funded_at",
        ],
        "properties": {
            "currency": {"type": "string", "enum": list(CURRENCIES)},
            "target": {"type": ["integer", "null"]},
            "deposit": {"type": ["integer", "null"]},
            "min": {"type": ["integer", "null"]},
            "max": {"type": ["integer", "null"]},
            "pledged": {"type": "integer", "description": "Of the counted pledges."},
            "collected": {"type": "integer", "description": "Charged since the campaign tipped."},
            "refunded": {"type": "integer"},
            "funded_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When charging after tipping was over.",
            },
        },
    },
    "MoneyInput": {
        "type": "object",
        "description": "Give `deposit`, or both `min` and `max`; amounts in minor units. "
        "Errors name `money.currency`, `money.target`, `money.deposit`, `money.min`, "
        "`money.max`, or `money` when this site takes no payments.",
        "required": ["currency"],
        "properties": {
            "currency": {"type": "string", "enum": list(CURRENCIES)},
            "target": {"type": "integer", "minimum": MIN_PLEDGE, "maximum": MAX_MONEY_TARGET},
            "deposit": {"type": "integer", "minimum": MIN_PLEDGE, "maximum": MAX_PLEDGE},
            "min": {"type": "integer", "minimum": MIN_PLEDGE, "maximum": MAX_PLEDGE},
            "max": {"type": "integer", "minimum": MIN_PLEDGE, "maximum": MAX_PLEDGE},
        },
    },
    "CampaignInput": {
        "type": "object",
        "description": "`target` may be left out when `money.target` is given.",
        "required": ["title", "summary", "category", "area", "deadline"],
        "properties": {
            "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$"},
            "title": {"type": "string", "minLength": 3, "maxLength": 200},
            "summary": {"type": "string", "minLength": 3, "maxLength": 500},
            "description": {"type": "string", "maxLength": 20000},
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "area": _ref("Area"),
            "target": {"type": "integer", "minimum": 1},
            "deadline": {"type": "string", "format": "date-time"},
            "milestones": {"type": "array", "items": {"type": "integer"}},
            "draft": {"type": "boolean", "default": False},
            "money": _ref("MoneyInput"),
        },
    },
    "PledgeInput": {
        "type": "object",
        "required": ["name", "email", "postcode"],
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": "string", "format": "email"},
            "postcode": {"type": "string", "description": "A UK postcode, e.g. LS6 1AB."},
            "show_name": {"type": "boolean", "default": False},
            "share_contact": {"type": "boolean", "default": False},
            "amount": {
                "type": "integer",
                "description": "Money campaigns where the resident chooses: the amount in "
                "minor units, from the campaign's `money.min` to `money.max`.",
            },
            "source": {
                "type": "string",
                "enum": ["api", "paper"],
                "description": "paper needs the campaign lead's API key and is confirmed at once.",
            },
        },
    },
    "Token": {
        "type": "object",
        "required": ["token"],
        "properties": {"token": {"type": "string"}},
    },
    "Progress": {
        "type": "object",
        "required": ["slug", "status", "confirmed", "target", "percent"],
        "properties": {
            "slug": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "confirmed": {"type": "integer"},
            "target": {"type": ["integer", "null"], "description": "null: money target only."},
            "percent": {"type": "integer"},
            "pledged_amount": {
                "type": "integer",
                "description": "Money campaigns only: pledged so far, in minor units.",
            },
            "money_target": {
                "type": ["integer", "null"],
                "description": "Money campaigns only: the money target, in minor units.",
            },
        },
    },
    "PledgeAccepted": {
        "type": "object",
        "required": ["status"],
        "description": "The same answer whether or not this email had pledged before. "
        "Money campaigns add `amount`, `payment_status` and `checkout_url`.",
        "properties": {
            "status": {"const": "pending"},
            "amount": {"type": "integer", "description": "The pledge's amount, minor units."},
            "payment_status": {
                "type": ["string", "null"],
                "description": "`awaiting_card`: send the resident to `checkout_url` to save "
                "a card (nothing is charged until the campaign tips). `card_saved`: a card "
                "is saved already.",
            },
            "checkout_url": {
                "type": ["string", "null"],
                "format": "uri",
                "description": "Stripe Checkout, where the resident saves a card; null when "
                "no card is needed now, or Stripe could not be reached (the link in the "
                "confirmation email leads there later).",
            },
        },
    },
}


def webhook_paths() -> dict[str, Any]:
    """Paths for providers and councils (organisation keys)."""
    org: list[dict[str, list[str]]] = [{"organisationKey": []}]
    endpoint_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    endpoint = _json(_ref("WebhookEndpoint"))
    return {
        "/api/v1/webhook-endpoints": {
            "get": {
                "summary": "List my webhook endpoints",
                "operationId": "listWebhookEndpoints",
                "security": org,
                "responses": {
                    "200": {
                        "description": "Endpoints",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "endpoints": {
                                        "type": "array",
                                        "items": _ref("WebhookEndpoint"),
                                    }
                                },
                            }
                        ),
                    },
                    **_errors("401"),
                },
            },
            "post": {
                "summary": "Register an endpoint; the answer holds its secret, shown once",
                "operationId": "createWebhookEndpoint",
                "security": org,
                "requestBody": {"required": True, "content": _json(_ref("WebhookEndpointInput"))},
                "responses": {
                    "201": {"description": "Registered", "content": endpoint},
                    **_errors("400", "401", "413", "415", "422"),
                },
            },
        },
        "/api/v1/webhook-endpoints/{id}": {
            "get": {
                "summary": "One endpoint",
                "operationId": "getWebhookEndpoint",
                "security": org,
                "parameters": [endpoint_id],
                "responses": {
                    "200": {"description": "The endpoint", "content": endpoint},
                    **_errors("401", "404"),
                },
            },
            "patch": {
                "summary": "Change url, description, event_types, filters or status",
                "operationId": "updateWebhookEndpoint",
                "security": org,
                "parameters": [endpoint_id],
                "requestBody": {"required": True, "content": _json(_ref("WebhookEndpointInput"))},
                "responses": {
                    "200": {"description": "Changed", "content": endpoint},
                    **_errors("400", "401", "404", "413", "415", "422"),
                },
            },
            "delete": {
                "summary": "Delete; its pending deliveries are cancelled",
                "operationId": "deleteWebhookEndpoint",
                "security": org,
                "parameters": [endpoint_id],
                "responses": {"204": {"description": "Deleted"}, **_errors("401", "404")},
            },
        },
        "/api/v1/webhook-endpoints/{id}/rotate-secret": {
            "post": {
                "summary": "New secret; the old one signs beside it for 24 hours",
                "operationId": "rotateWebhookSecret",
                "security": org,
                "parameters": [endpoint_id],
                "responses": {
                    "200": {"description": "Rotated; the new secret", "content": endpoint},
                    **_errors("401", "404"),
                },
            },
        },
        "/api/v1/webhook-endpoints/{id}/test": {
            "post": {
                "summary": "Send a webhook.test message",
                "operationId": "sendWebhookTest",
                "security": org,
                "parameters": [endpoint_id],
                "responses": {
                    "202": {"description": "Queued"},
                    **_errors("401", "404", "409"),
                },
            },
        },
        "/api/v1/webhook-endpoints/{id}/deliveries": {
            "get": {
                "summary": "Deliveries, newest first, each with every attempt",
                "operationId": "listWebhookDeliveries",
                "security": org,
                "parameters": [
                    endpoint_id,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Deliveries",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "deliveries": {"type": "array", "items": _ref("Delivery")}
                                },
                            }
                        ),
                    },
                    **_errors("401", "404", "422"),
                },
            },
        },
        "/api/v1/webhook-endpoints/{id}/recover": {
            "post": {
                "summary": "Re-queue failed deliveries created since a time",
                "operationId": "recoverWebhookDeliveries",
                "security": org,
                "parameters": [endpoint_id],
                "requestBody": {
                    "required": True,
                    "content": _json(
                        {
                            "type": "object",
                            "required": ["since"],
                            "properties": {"since": {"type": "string", "format": "date-time"}},
                        }
                    ),
                },
                "responses": {
                    "202": {"description": "How many were re-queued"},
                    **_errors("400", "401", "404", "413", "415", "422"),
                },
            },
        },
        "/api/v1/deliveries/{id}/retry": {
            "post": {
                "summary": "Send a delivery again now, with the same webhook-id",
                "operationId": "retryWebhookDelivery",
                "security": org,
                "parameters": [endpoint_id],
                "responses": {
                    "202": {"description": "Queued"},
                    **_errors("401", "404", "409"),
                },
            },
        },
        "/api/v1/campaigns/{slug}/contacts": {
            "get": {
                "summary": "Consenting pledgers' contact details, once the campaign tipped",
                "operationId": "getCampaignContacts",
                "security": org,
                "parameters": [
                    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "Contacts"},
                    **_errors("401", "403", "404", "409"),
                },
            },
        },
    }


WEBHOOK_SCHEMAS: dict[str, Any] = {
    "WebhookFilters": {
        "type": "object",
        "properties": {
            "categories": {"type": "array", "items": {"type": "string", "enum": list(CATEGORIES)}},
            "postcode_prefixes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Areas (LS) or districts (LS6).",
            },
            "campaigns": {"type": "array", "items": {"type": "string"}},
        },
    },
    "WebhookEndpointInput": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "description": {"type": "string", "maxLength": 500},
            "event_types": {"type": "array", "items": {"type": "string"}},
            "filters": _ref("WebhookFilters"),
            "status": {"type": "string", "enum": ["active", "disabled"]},
        },
    },
    "WebhookEndpoint": {
        "type": "object",
        "required": ["id", "url", "event_types", "filters", "status"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "description": {"type": "string"},
            "event_types": {"type": "array", "items": {"type": "string"}},
            "filters": _ref("WebhookFilters"),
            "status": {"type": "string", "enum": ["active", "disabled"]},
            "disabled_reason": {"type": ["string", "null"]},
            "secret": {"type": "string", "description": "Only at creation and rotation."},
            "created_at": {"type": "string", "format": "date-time"},
            "last_success_at": {"type": ["string", "null"], "format": "date-time"},
            "failing_since": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Delivery": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "message_id": {"type": "string", "description": "The webhook-id header."},
            "event_type": {"type": "string"},
            "status": {"type": "string"},
            "attempt_count": {"type": "integer"},
            "payload": {"type": "object"},
            "attempts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "attempted_at": {"type": "string", "format": "date-time"},
                        "status_code": {"type": ["integer", "null"]},
                        "duration_ms": {"type": "integer"},
                        "error": {"type": ["string", "null"]},
                        "response_body": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
}


def openapi_document(base_url: str) -> dict[str, Any]:
    slug = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
    bearer: list[dict[str, list[str]]] = [{"leadKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Groundswell API",
            "version": "1.0.0",
            "description": "Campaigns of collective demand, pledges and their progress.",
        },
        "servers": [{"url": base_url}],
        "components": {
            "schemas": {**SCHEMAS, **WEBHOOK_SCHEMAS},
            "securitySchemes": {
                "leadKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A campaign lead's key from `groundswell apikey create`.",
                },
                "organisationKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A provider's or council's key (`apikey create --org`).",
                },
            },
        },
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
            "/api/v1/campaigns": {
                "get": {
                    "summary": "List campaigns",
                    "operationId": "listCampaigns",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(STATUSES)},
                        },
                        {
                            "name": "category",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(CATEGORIES)},
                        },
                        {
                            "name": "postcode",
                            "in": "query",
                            "description": "A postcode or district; campaigns covering it.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Campaigns",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["campaigns"],
                                    "properties": {
                                        "campaigns": {"type": "array", "items": _ref("Campaign")}
                                    },
                                }
                            ),
                        },
                        **_errors("422"),
                    },
                },
                "post": {
                    "summary": "Create a campaign (open unless draft is true)",
                    "operationId": "createCampaign",
                    "security": bearer,
                    "requestBody": {"required": True, "content": _json(_ref("CampaignInput"))},
                    "responses": {
                        "201": {"description": "Created", "content": _json(_ref("Campaign"))},
                        **_errors("400", "401", "409", "413", "415"),
                        "422": _problem(
                            "Invalid fields; `errors` names each one (`money.deposit` and "
                            "the like, or `money` when this site takes no payments)."
                        ),
                    },
                },
            },
            "/api/v1/campaigns/{slug}": {
                "get": {
                    "summary": "One campaign",
                    "operationId": "getCampaign",
                    "parameters": [slug],
                    "responses": {
                        "200": {"description": "The campaign", "content": _json(_ref("Campaign"))},
                        **_errors("404"),
                    },
                }
            },
            "/api/v1/campaigns/{slug}/pledges": {
                "post": {
                    "summary": "Pledge (pending until confirmed), or record a paper pledge",
                    "operationId": "createPledge",
                    "parameters": [slug],
                    "security": [{}, {"leadKey": []}],
                    "requestBody": {"required": True, "content": _json(_ref("PledgeInput"))},
                    "responses": {
                        "202": {
                            "description": "Pending: a confirmation email is on its way. "
                            "The same answer whether or not this email had pledged before.",
                            "content": _json(_ref("PledgeAccepted")),
                        },
                        "201": {
                            "description": "A paper pledge, confirmed",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["status", "progress"],
                                    "properties": {
                                        "status": {"const": "confirmed"},
                                        "repeated": {"type": "boolean"},
                                        "progress": {"type": "object"},
                                    },
                                }
                            ),
                        },
                        **_errors("400", "401", "403", "404"),
                        "409": _problem(
                            "The campaign is closed or hidden; or it asks for money and this "
                            "site takes no payments now (`errors` names `money`)."
                        ),
                        **_errors("413", "415"),
                        "422": _problem(
                            "Invalid fields; `errors` names each one (`amount` when it is "
                            "outside the campaign's range, or missing)."
                        ),
                        **_errors("429"),
                    },
                }
            },
            "/api/v1/pledges/confirm": {
                "post": {
                    "summary": "Confirm a pledge with the token from the email",
                    "operationId": "confirmPledge",
                    "requestBody": {"required": True, "content": _json(_ref("Token"))},
                    "responses": {
                        "200": {
                            "description": "Confirmed; the campaign's progress",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["status", "progress"],
                                    "properties": {
                                        "status": {"const": "confirmed"},
                                        "already_confirmed": {"type": "boolean"},
                                        "awaiting_card": {
                                            "type": "boolean",
                                            "description": "Money campaigns only. True: the "
                                            "card is not saved yet; the pledge counts once "
                                            "it is.",
                                        },
                                        "progress": _ref("Progress"),
                                    },
                                }
                            ),
                        },
                        **_errors("400", "404"),
                        "409": _problem(
                            "The pledge was withdrawn, or the campaign is closed or hidden by "
                            "an administrator for now."
                        ),
                        "410": _problem(
                            "The pledge was struck out by the site's moderators, for good."
                        ),
                        **_errors("413", "415", "422"),
                    },
                }
            },
            "/api/v1/pledges/withdraw": {
                "post": {
                    "summary": "Withdraw a pledge with the token from any email",
                    "operationId": "withdrawPledge",
                    "requestBody": {"required": True, "content": _json(_ref("Token"))},
                    "responses": {
                        "200": {
                            "description": "Withdrawn; the campaign's progress",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["status", "progress"],
                                    "properties": {
                                        "status": {"const": "withdrawn"},
                                        "progress": _ref("Progress"),
                                    },
                                }
                            ),
                        },
                        **_errors("400", "404", "413", "415", "422"),
                    },
                }
            },
            **webhook_paths(),
        },
    }


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(services(request).settings.base_url))


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
