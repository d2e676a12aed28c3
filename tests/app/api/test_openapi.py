"""The OpenAPI document describes /api/v1 as it is: its routes, its fields, its statuses.

`record_api_answers` and `undeclared_answers` are used by test_api.py and
test_api_errors.py: every status those tests observe from an /api/v1 operation must be
declared for that operation here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from app import api
from app.api.openapi import openapi_document
from pledges.store import Store
from tests.factories import make_campaign

DOCUMENT = openapi_document("http://testserver")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    """The document's operation that answers `method path`, if there is one."""
    for template, item in DOCUMENT["paths"].items():
        if _template_regex(template).match(path):
            found: dict[str, Any] | None = item.get(method.lower())
            return found
    return None


def record_api_answers(client: httpx.AsyncClient) -> list[tuple[str, str, int]]:
    """Remember (method, path, status) of every /api/v1 answer the client receives."""
    answers: list[tuple[str, str, int]] = []

    async def remember(response: httpx.Response) -> None:
        if response.request.url.path.startswith("/api/v1/"):
            answers.append(
                (response.request.method, response.request.url.path, response.status_code)
            )

    client.event_hooks["response"].append(remember)
    return answers


def undeclared_answers(answers: list[tuple[str, str, int]]) -> list[str]:
    problems = []
    for method, path, status in answers:
        operation = operation_for(method, path)
        if operation is None:
            if status not in (404, 405):  # no such operation: only "not here" is right
                problems.append(f"{method} {path} answered {status} but is not documented")
        elif str(status) not in operation["responses"]:
            problems.append(
                f"{method} {path} ({operation['operationId']}) answered {status}, "
                f"not declared (declared: {sorted(operation['responses'])})"
            )
    return problems


def _api_routes() -> set[tuple[str, str]]:
    found = set()
    for route in api.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                found.add((route.path, method.lower()))
    return found


async def test_document_is_openapi_3(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"] == [{"url": "http://testserver"}]
    assert document["paths"]


def test_every_api_route_is_documented_and_nothing_else() -> None:
    documented = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == _api_routes()


def test_every_api_route_is_under_v1() -> None:
    assert all(path.startswith("/api/v1/") for path, _ in _api_routes())


def test_operation_ids_are_unique() -> None:
    ids = [
        operation["operationId"]
        for item in DOCUMENT["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves() -> None:
    refs = re.findall(r"'\$ref': '#/components/schemas/(\w+)'", repr(DOCUMENT))
    assert refs
    assert set(refs) <= set(DOCUMENT["components"]["schemas"])


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = DOCUMENT["components"]["schemas"][name]
    return schema


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _schema(schema["$ref"].rsplit("/", 1)[1])
    return schema


def _check_against(schema: dict[str, Any], value: Any, where: str) -> None:
    """Required fields present, no undocumented fields, at every nested object."""
    schema = _resolve(schema)
    if schema.get("type") != "object":
        return
    assert isinstance(value, dict), where
    assert set(schema["required"]) <= set(value), f"{where}: missing required fields"
    assert set(value) <= set(schema["properties"]), f"{where}: undocumented fields"
    for name, sub in schema["properties"].items():
        if name in value:
            _check_against(sub, value[name], f"{where}.{name}")


async def test_campaign_schema_matches_a_real_campaign(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)

    body = (await client.get(f"/api/v1/campaigns/{campaign.slug}")).json()
    listed = (await client.get("/api/v1/campaigns")).json()

    required = _schema("Campaign")["required"]
    assert set(required) == {
        "slug", "title", "summary", "category", "status", "area", "threshold",
        "progress", "deadline", "tipped_at",
    }  # fmt: skip
    assert set(required) <= set(body)
    _check_against(_schema("Campaign"), body, "campaign")
    _check_against(_schema("Campaign"), listed["campaigns"][0], "listed campaign")
    assert body["status"] in _schema("Campaign")["properties"]["status"]["enum"]
    assert body["category"] in _schema("Campaign")["properties"]["category"]["enum"]


def test_the_declared_status_check_catches_an_undeclared_status() -> None:
    """The check the API tests rely on does flag what is not declared."""
    assert undeclared_answers([("GET", "/api/v1/campaigns/x", 200)]) == []
    assert undeclared_answers([("GET", "/api/v1/campaigns/x", 401)])
    assert undeclared_answers([("DELETE", "/api/v1/campaigns/x", 404)]) == []
    assert undeclared_answers([("DELETE", "/api/v1/campaigns/x", 500)])


def test_the_app_serves_the_api_routes(app: Starlette) -> None:
    served = {route.path for route in app.routes if isinstance(route, Route)}
    assert {path for path, _ in _api_routes()} <= served


def test_every_example_in_the_document_is_valid_against_its_schema() -> None:
    """The examples (a campaign of people and one of households, a households tip) are what
    readers copy: each is valid against the schema it illustrates."""
    from jsonschema import FormatChecker
    from openapi_schema_validator import OAS31Validator

    schemas = DOCUMENT["components"]["schemas"]
    checked = []
    for name, schema in schemas.items():
        validator = OAS31Validator(
            {**schema, "components": DOCUMENT["components"]}, format_checker=FormatChecker()
        )
        for example in schema.get("examples", []):
            assert [e.message for e in validator.iter_errors(example)] == [], name
            checked.append((name, example.get("counts")))
    assert ("Campaign", "households") in checked
    assert ("TippedData", None) in checked and "EventHouseholds" in dict(checked)
