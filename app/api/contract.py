"""The /api/v1 contract, declared once: each operation names its method, path, who may call
it, the typed model of its body and of each answer. From these declarations come the
Starlette routes (one per path, so a 405 lists every allowed method in `Allow`), the parsing
of bodies and query strings into typed models with plain-English errors by field, and the
OpenAPI document (app/api/openapi.py).

Parsing checks a body against its model first; where the model refuses a field and the
domain's own check (`words`) finds fault with it too, the domain's message is the one sent.
A body the model takes still goes to the domain, which checks what no schema can say.

FastAPI and Litestar derive OpenAPI from declared models the same way; Starlette stays the
framework, and the declarations are plain data a test can walk.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.api.requests import json_body
from app.errors import Problem
from app.http_cache import CAMPAIGN, CachePolicy, cacheable
from pledges.errors import ErrorCode, FieldError, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)
# The error type of a PydanticCustomError whose message is already in the project's words.
PLAIN = "plain"
Endpoint = Callable[[Request], Awaitable[Response]]

# Who may call an operation: the OpenAPI security requirement follows from it.
Caller = Literal[
    "anyone", "lead", "anyone_or_lead", "organisation", "anyone_or_organisation", "token_holder"
]


@dataclass(frozen=True)
class Answer:
    """One status an operation may answer: its model (None for no body) and what it means."""

    description: str
    model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> description
    # OpenAPI links: name -> (operationId, {parameter: runtime expression}).
    links: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    # A body no model describes (the OpenAPI document itself), as JSON Schema.
    schema: Mapping[str, Any] | None = None
    # Media types the body may take besides JSON: media type -> OpenAPI media type object.
    other_content: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    caller: Caller
    endpoint: Endpoint
    answers: Mapping[int, Answer]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # problem+json statuses besides those the caller implies
    description: str = ""
    # Media types the body may take besides JSON: media type -> OpenAPI media type object.
    other_bodies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # How long caches may keep a public read (app/http_cache.py); None: as cache_policy says.
    cache: CachePolicy | None = None
    # Render once for every anonymous reader (the hottest reads only).
    shared_render: bool = False


def cache_policy(op: Operation) -> CachePolicy | None:
    """A read anyone may make is cacheable (as a campaign is, unless it says otherwise);
    nothing else is kept by any cache."""
    if op.method != "GET" or not op.caller.startswith("anyone"):
        return None
    return op.cache or CAMPAIGN


def operation(
    method: str,
    path: str,
    *,
    operation_id: str,
    summary: str,
    tag: str,
    caller: Caller,
    answers: Mapping[int, Answer],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: Iterable[int] = (),
    description: str = "",
    other_bodies: Mapping[str, Mapping[str, Any]] | None = None,
    cache: CachePolicy | None = None,
    shared_render: bool = False,
) -> Callable[[Endpoint], Operation]:
    """Declare the decorated endpoint as an operation of the API."""

    def declare(endpoint: Endpoint) -> Operation:
        return Operation(
            method=method.upper(),
            path=path,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            caller=caller,
            endpoint=endpoint,
            answers=answers,
            body=body,
            query=query,
            errors=tuple(errors),
            description=description,
            other_bodies=dict(other_bodies or {}),
            cache=cache,
            shared_render=shared_render,
        )

    return declare


def routes_for(operations: Iterable[Operation]) -> list[Route]:
    """One route per path that dispatches on the method, so that a method the path does not
    have is a 405 whose `Allow` names every method it does have."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op in operations:
        methods = by_path.setdefault(op.path, {})
        if op.method in methods:
            raise ValueError(f"{op.method} {op.path} is declared twice")
        policy = cache_policy(op)
        methods[op.method] = (
            op.endpoint
            if policy is None
            else cacheable(policy, shared=op.shared_render)(op.endpoint)
        )
    return [
        Route(path, _dispatcher(methods), methods=list(methods))
        for path, methods in by_path.items()
    ]


def _dispatcher(methods: dict[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        # HEAD is answered as GET (Starlette drops the body); the Route already refused others.
        return await methods["GET" if request.method == "HEAD" else request.method](request)

    return dispatch


# ----- parsing --------------------------------------------------------------------------


def field_name(location: Iterable[str | int]) -> str:
    """Pydantic's error location as the API names fields: area.postcode_districts[2]."""
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name = f"{name}.{part}" if name else part
    return name or "body"


def _plural(n: Any, one: str, many: str) -> str:
    return one if n == 1 else many


def plain_message(error: Mapping[str, Any]) -> str:
    """A pydantic error in the project's own words (never "Input should be a valid ...")."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "This is required."
    if kind in ("string_type", "string_sub_type"):
        return "Enter text."
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "Enter a value." if n == 1 else f"Must be at least {n} characters."
    if kind == "string_too_long":
        n = ctx.get("max_length")
        return f"Must be {n} {_plural(n, 'character', 'characters')} or fewer."
    if kind == "string_pattern_mismatch":
        return "Not in the expected format."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "Enter a whole number."
    if kind in ("bool_type", "bool_parsing"):
        return "Must be true or false."
    if kind in ("greater_than_equal", "greater_than"):
        return f"Must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"Must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in ("list_type", "tuple_type", "set_type"):
        return "Send a list."
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"List at least {n} {_plural(n, 'item', 'items')}."
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"List at most {n} {_plural(n, 'item', 'items')}."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "Send a JSON object."
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        return (
            f"Choose one of: {expected.replace(chr(39), '')}."
            if expected
            else "Choose one of the allowed values."
        )
    if kind in (
        "date_type",
        "date_parsing",
        "date_from_datetime_parsing",
        "date_from_datetime_inexact",
    ):
        return "Enter a date as YYYY-MM-DD."
    if kind in (
        "datetime_type",
        "datetime_parsing",
        "datetime_from_date_parsing",
        "timezone_aware",
    ):
        return "Enter an ISO 8601 time with a zone."
    if kind == "extra_forbidden":
        return "This field is not part of the request."
    if kind == "value_error":  # raised by a model's own validator, in the project's words
        return str(ctx.get("error", error.get("msg", "Not valid.")))
    if kind == PLAIN:  # a PydanticCustomError raised with the project's words
        return str(error["msg"])
    return "Not valid."


# Pydantic's error types as the domain's error codes (pledges.errors.ErrorCode).
_CODES: dict[str, ErrorCode] = {
    "missing": "required",
    "string_type": "not_text",
    "string_sub_type": "not_text",
    "string_too_short": "wrong_length",
    "string_too_long": "too_long",
    "int_type": "not_a_whole_number",
    "int_parsing": "not_a_whole_number",
    "int_from_float": "not_a_whole_number",
    "bool_type": "not_a_boolean",
    "bool_parsing": "not_a_boolean",
    "greater_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "list_type": "not_a_list",
    "tuple_type": "not_a_list",
    "set_type": "not_a_list",
    "too_short": "not_a_list",
    "too_long": "not_a_list",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "dict_type": "not_an_object",
    "literal_error": "not_in_choices",
    "enum": "not_in_choices",
    "extra_forbidden": "unknown_field",
}


def error_code(error: Mapping[str, Any]) -> ErrorCode:
    """The domain's code for a pydantic error (its words come from plain_message)."""
    kind = str(error["type"])
    if kind.startswith(("date", "datetime", "timezone")):
        return "not_a_date"
    return _CODES.get(kind, "not_valid")


def field_errors(exc: ValidationError) -> list[FieldError]:
    found: list[FieldError] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        name = field_name(error["loc"])
        if name not in seen:  # one message per field, the first pydantic found
            seen.add(name)
            found.append(FieldError(name, error_code(error), plain_message(error)))
    return found


# The domain's own check of a raw body (it raises ValidationFailed in the domain's words).
DomainCheck = Callable[[Any], Any]


async def domain_errors(check: DomainCheck, data: Any) -> list[FieldError]:
    """What the domain says about `data`, in its own words; [] when it finds nothing."""
    try:
        found = check(data)
        if inspect.isawaitable(found):
            await found
    except ValidationFailed as exc:
        return list(exc.errors)
    return []


def _overlaps(a: str, b: str) -> bool:
    return a == b or any(x.startswith(y) and x[len(y)] in ".[" for x, y in ((a, b), (b, a)))


async def validated(
    model: type[ModelT], data: Any, detail: str, words: DomainCheck | None = None
) -> ModelT:
    """`data` as `model`, or a 422 naming each field at fault. Where the domain finds fault
    with a field too (`words`), its message is the one sent: it knows the rule best."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = field_errors(exc)
        if words is not None:
            domain = await domain_errors(words, data)
            found = domain + [
                e for e in found if not any(_overlaps(e.field, d.field) for d in domain)
            ]
        raise Problem(422, detail, found) from exc


async def parse_body(
    request: Request, model: type[ModelT], words: DomainCheck | None = None
) -> ModelT:
    """The JSON body as `model`; 400/413/415 for a body that is not a JSON object, 422 naming
    each field that does not fit the model (in the domain's words where `words` has them)."""
    data = await json_body(request)
    return await validated(model, data, "Some of what was sent is not valid.", words)


async def parse_query(
    request: Request, model: type[ModelT], words: DomainCheck | None = None
) -> ModelT:
    """The query string as `model` (each parameter once; an empty value counts as given)."""
    data = dict(request.query_params)
    return await validated(model, data, "Some query parameters are not valid.", words)


def answer(
    model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """`model` as the JSON body. Only the fields the handler set are sent, so a field that
    appears on some campaigns only (the money ones) stays absent on the others."""
    return Response(
        model.model_dump_json(exclude_unset=True),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="application/json",
    )
