"""The OpenAPI 3.1 document of /api/v1, generated from the declared operations
(app/api/contract.py) and their pydantic models, and the route that serves it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.api.contract import Answer, Operation, cache_policy, operation
from app.api.events import WEBHOOKS
from app.api.models import Problem
from app.bootstrap import services
from app.http_cache import STATIC_TEXT

REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"

# What each problem+json status means, whichever operation answers it.
PROBLEMS = {
    400: "Malformed request: the body is not JSON, or a token is bad.",
    401: "Missing or invalid API key.",
    403: "The key is valid but may not do this.",
    404: "Nothing at this address.",
    409: "Conflicts with the current state.",
    410: "Gone for good.",
    413: "The body is larger than 64 KiB (or the larger limit the operation states).",
    415: "The body is not JSON (or another media type the operation takes).",
    422: "Invalid fields; `errors` names each one.",
    429: "Too many requests.",
}
# On every read anyone may make (app/http_cache.py).
CACHE_HEADERS = {
    "ETag": "A strong validator of this answer: send it back in If-None-Match.",
    "Cache-Control": "How long any cache may keep this answer: public, a few seconds to an "
    "hour by resource, with stale-while-revalidate; private, no-cache when a key was sent.",
}
PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="groundswell".'},
    429: {"Retry-After": "Seconds to wait before trying again."},
}

SECURITY_SCHEMES = {
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
}
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "lead": [{"leadKey": []}],
    "anyone_or_lead": [{}, {"leadKey": []}],
    "organisation": [{"organisationKey": []}],
    "anyone_or_organisation": [{}, {"organisationKey": []}],
}


class ContractSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, without the defaults of response fields: a response field
    left out is absent (see `answer`), not its default."""

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        found = super().default_schema(schema)
        if self.mode == "serialization":
            found.pop("default", None)
        return found


def problem_statuses(op: Operation) -> list[int]:
    """The problem+json statuses an operation may answer: from who may call it, whether it
    reads a body or a query, and what it declares besides."""
    found = set(op.errors)
    if op.caller in ("lead", "anyone_or_lead", "organisation", "anyone_or_organisation"):
        found.add(401)
    if op.body is not None:
        found |= {400, 413, 415, 422}
    if op.query is not None:
        found.add(422)
    return sorted(found)


def _models(operations: Iterable[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for op in operations:
        if op.body is not None:
            found.append((op.body, "validation"))
        if op.query is not None:
            found.append((op.query, "validation"))
        found += [(a.model, "serialization") for a in op.answers.values() if a.model]
    found += [(model, "serialization") for _, model in WEBHOOKS.values()]
    return list(dict.fromkeys(found))


def _every_object_lists_required(schema: Any) -> None:
    """`required: []` on objects that need nothing, so readers need not guess."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("required", [])
        for value in schema.values():
            _every_object_lists_required(value)
    elif isinstance(schema, list):
        for value in schema:
            _every_object_lists_required(value)


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's `null` (a query has no null)."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**rest, **options[0]}
    return {k: v for k, v in schema.items() if k != "default"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _headers(headers: dict[str, str]) -> dict[str, Any]:
    return {
        name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
    }


def _answer(ans: Answer, ref: dict[str, Any] | None) -> dict[str, Any]:
    found: dict[str, Any] = {"description": ans.description}
    if ans.headers:
        found["headers"] = _headers(dict(ans.headers))
    if ref is not None:
        found["content"] = _json(ref)
    elif ans.schema is not None:
        found["content"] = _json(dict(ans.schema))
    if ans.other_content:
        found["content"] = {**found.get("content", {}), **ans.other_content}
    if ans.links:
        found["links"] = {
            name: {"operationId": target, "parameters": dict(params)}
            for name, (target, params) in ans.links.items()
        }
    return found


def _operation(
    op: Operation,
    refs: dict[Any, dict[str, Any]],
    defs: dict[str, Any],
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        found["description"] = op.description
    if op.caller in SECURITY:
        found["security"] = SECURITY[op.caller]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", op.path)
    ]
    if op.query is not None:
        schema = defs[refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[1]]
        for name, prop in schema["properties"].items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in schema.get("required", []),
                "schema": _not_null(prop),
            }
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    policy = cache_policy(op)
    if policy is not None:
        parameters.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of a copy you hold: 304 if it is still current.",
                "schema": {"type": "string"},
            }
        )
    if parameters:
        found["parameters"] = parameters
    if op.body is not None:
        content = {**_json(refs[(op.body, "validation")]), **op.other_bodies}
        found["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {
        str(status): _answer(ans, refs[(ans.model, "serialization")] if ans.model else None)
        for status, ans in sorted(op.answers.items())
    }
    if policy is not None:
        responses["200"].setdefault("headers", {}).update(_headers(CACHE_HEADERS))
        responses["304"] = {
            "description": "Not modified: the copy whose ETag you sent is current.",
            "headers": _headers({"ETag": CACHE_HEADERS["ETag"]}),
        }
    for status in problem_statuses(op):
        problem: dict[str, Any] = {
            "description": PROBLEMS[status],
            "content": {PROBLEM_JSON: {"schema": refs[(Problem, "serialization")]}},
        }
        if status in PROBLEM_HEADERS:
            problem["headers"] = _headers(PROBLEM_HEADERS[status])
        responses[str(status)] = problem
    found["responses"] = responses
    return found


def build_document(operations: Iterable[Operation], base_url: str) -> dict[str, Any]:
    operations = list(operations)
    refs, schemas = models_json_schema(
        _models(operations), ref_template=REF, schema_generator=ContractSchema
    )
    defs: dict[str, Any] = schemas.get("$defs", {})
    _every_object_lists_required(defs)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, defs)
    webhooks = {
        event: {
            "post": {
                "operationId": f"on-{event}",
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": _json(refs[(model, "serialization")]),
                },
                "responses": {"200": {"description": "A 2xx answer means received."}},
            }
        }
        for event, (summary, model) in WEBHOOKS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Groundswell API",
            "version": "1.0.0",
            "description": "Campaigns of collective demand, pledges and their progress. Errors "
            "are `application/problem+json` (RFC 9457) whose `errors` name each field at "
            "fault. Whole numbers are written without a fraction (5, not 5.0), which JSON Schema "
            "cannot say. Webhook messages follow Standard Webhooks: see `webhooks`.",
        },
        "servers": [{"url": base_url}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in operations)],
        "paths": paths,
        "webhooks": webhooks,
        "components": {"schemas": defs, "securitySchemes": SECURITY_SCHEMES},
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    """The whole document for the API as it is declared (app/api/__init__.py)."""
    from app import api  # the operations of every module, this one's included

    return build_document(api.operations, base_url)


@operation(
    "GET",
    "/api/v1/openapi.json",
    operation_id="openapi",
    summary="This document",
    tag="document",
    caller="anyone",
    cache=STATIC_TEXT,
    answers={
        200: Answer(
            "OpenAPI 3.1 document",
            schema={
                "type": "object",
                "required": ["openapi", "info", "paths"],
                "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}},
                "externalDocs": {"url": "https://spec.openapis.org/oas/v3.1.0"},
            },
        )
    },
)
async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(services(request).settings.base_url))


operations: list[Operation] = [openapi]
