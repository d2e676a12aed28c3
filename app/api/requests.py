"""What every /api/v1 operation reads from a request: its JSON body (bounded), the client's
address, and the API key that says who is asking."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from app.bootstrap import services
from app.errors import Problem
from pledges.accounts import Lead, Organisation, lead_for_key, organisation_for_key
from pledges.errors import FieldError

MAX_BODY = 64 * 1024
UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="groundswell"'}


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit`: never held whole in memory."""
    too_large = Problem(413, f"The body must be at most {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise Problem(415, "Send the body as application/json.")
    raw = await read_limited(request, MAX_BODY)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            400, "The body is not valid JSON.", [FieldError("body", "not_json", str(exc))]
        ) from exc
    except RecursionError as exc:
        raise Problem(
            400,
            "The body is not valid JSON.",
            [FieldError("body", "too_deep", "Nested too deeply.")],
        ) from exc
    if not isinstance(data, dict):
        raise Problem(
            400,
            "The body must be a JSON object.",
            [FieldError("body", "not_an_object", "Send a JSON object.")],
        )
    return data


def client_ip(request: Request) -> str | None:
    """The client's address (uvicorn's --proxy-headers puts a trusted proxy's
    X-Forwarded-For here)."""
    return request.client.host if request.client else None


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(
            401,
            "Use the header 'Authorization: Bearer <API key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell"'},
        )
    return key.strip()


async def require_lead(request: Request) -> Lead:
    key = bearer_key(request)
    if key is None:
        raise Problem(
            401,
            "This needs a campaign lead's API key.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell"'},
        )
    svc = services(request)
    lead = await lead_for_key(svc.store.database, key, svc.key_cache)
    if lead is None:
        raise Problem(
            401,
            "That API key is not valid.",
            headers={"WWW-Authenticate": 'Bearer realm="groundswell", error="invalid_token"'},
        )
    return lead


async def require_organisation(request: Request) -> Organisation:
    key = bearer_key(request)
    if key is None:
        raise Problem(401, "This needs a provider or council API key.", headers=UNAUTHORISED)
    svc = services(request)
    org = await organisation_for_key(svc.store.database, key, svc.key_cache)
    if org is None:
        raise Problem(401, "That API key is not valid for an organisation.", headers=UNAUTHORISED)
    return org
