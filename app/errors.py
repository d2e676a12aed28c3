"""HTTP errors: one handler answers problem+json (RFC 9457) under /api and HTML elsewhere."""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifications.endpoints import EndpointNotFound
from notifications.webhooks import DeliveryInFlight, DeliveryNotFound
from pledges import errors as domain
from pledges.campaigns import UNPUBLISHED
from pledges.errors import FieldError
from pledges.letters import LetterGuessesLimited, LettersRefused
from pledges.pledging import AlreadyRecorded
from pledges.responses import ResponseRateLimited
from pledges.review import NotAwaitingReview
from pledges.store import utcnow
from pledges.updates import UpdateRateLimited

log = logging.getLogger("groundswell.http")

TITLES = {
    400: "Bad request",
    401: "Unauthorised",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
}


class Problem(Exception):
    """An HTTP error with a message for people and, where it fits, the fields at fault."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def problem_from_domain(exc: domain.DomainError) -> Problem:
    if isinstance(exc, domain.ValidationFailed):
        return Problem(422, "Some of what was sent is not valid.", exc.errors)
    if isinstance(exc, domain.CampaignNotFound):
        return Problem(404, "There is no campaign at this address.")
    if isinstance(exc, domain.CampaignNotOpen):
        if exc.status in UNPUBLISHED:  # not public: answer as for no campaign at all
            return Problem(404, "There is no campaign at this address.")
        return Problem(409, str(exc))
    if isinstance(exc, domain.SlugTaken):
        return Problem(
            409,
            "Another campaign already uses this address.",
            [FieldError("slug", "taken", "This slug is taken; choose another.")],
        )
    if isinstance(exc, domain.InvalidToken):
        return Problem(400, exc.reason, [FieldError("token", "invalid_token", exc.reason)])
    if isinstance(exc, domain.PledgeNotFound):
        return Problem(404, "That pledge no longer exists.")
    if isinstance(exc, domain.PledgeWithdrawn):
        return Problem(409, "This pledge was withdrawn; pledge again to be counted.")
    if isinstance(exc, EndpointNotFound):
        return Problem(404, "There is no such webhook endpoint.")
    if isinstance(exc, DeliveryNotFound):
        return Problem(404, "There is no such delivery.")
    if isinstance(exc, DeliveryInFlight):
        return Problem(409, "This delivery is being attempted now; retry it once that ends.")
    if isinstance(exc, domain.MoneyUnavailable):
        return Problem(
            409,
            str(exc),
            [
                FieldError(
                    "money",
                    "money_unavailable",
                    "This campaign asks for money, which this site cannot take.",
                )
            ],
        )
    if isinstance(exc, NotAwaitingReview):
        return Problem(409, "This campaign is not waiting for review: it was decided already.")
    if isinstance(exc, domain.NotCampaignLead):
        return Problem(403, "Only this campaign's lead can do that.")
    if isinstance(exc, AlreadyRecorded | domain.StruckOutEmail):
        return Problem(409, str(exc), exc.errors)
    if isinstance(exc, domain.FieldsFixed):
        fixed = "This cannot change once the campaign is published."
        return Problem(409, str(exc), [FieldError(f, "not_valid", fixed) for f in exc.fields])
    if isinstance(exc, UpdateRateLimited):
        wait = max(1, math.ceil((exc.next_allowed_at - utcnow()).total_seconds()))
        return Problem(
            429,
            "Updates are limited to one a day and three a week. "
            f"The next can be posted after {exc.next_allowed_at.isoformat()}.",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, ResponseRateLimited):
        wait = max(1, math.ceil((exc.next_allowed_at - utcnow()).total_seconds()))
        return Problem(429, str(exc), headers={"Retry-After": str(wait)})
    if isinstance(exc, LetterGuessesLimited):
        return Problem(429, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, LettersRefused):
        return Problem(409, str(exc))
    if isinstance(exc, domain.RateLimited):
        return Problem(
            429,
            "Too many pledges from this address on this campaign. "
            f"Try again in {exc.retry_after_seconds} seconds.",
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )
    if isinstance(exc, domain.PaymentsOff):
        return Problem(404, "Money pledges are not available on this site.")
    if isinstance(exc, domain.CardNotNeeded):
        return Problem(409, "This pledge does not need a card now.")
    if isinstance(exc, domain.NothingToPay):
        return Problem(409, "This pledge has nothing to pay now.")
    if isinstance(exc, domain.RefundsUnavailable):
        return Problem(
            409, "Money pledges are not available on this site now, so nothing can be refunded."
        )
    if isinstance(exc, domain.PaymentNotPossible):
        return Problem(409, exc.message)
    if isinstance(exc, domain.RefundFailed):
        return Problem(
            502,
            "Stripe, our card processor, did not make the refund just now, so nothing has "
            "changed. Please try again in a few minutes.",
        )
    if isinstance(exc, domain.NotPermitted):
        return Problem(403, str(exc))
    if isinstance(exc, domain.WrongState):
        return Problem(409, str(exc))
    if isinstance(exc, domain.NotFound):
        return Problem(404, str(exc))
    return Problem(400, str(exc))


def problem_body(problem: Problem, request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    if problem.errors:
        # Only the field and the words: codes and parameters are for the forms' own wording.
        body["errors"] = [{"field": e.field, "message": e.message} for e in problem.errors]
    return body


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def render_problem(request: Request, problem: Problem) -> Response:
    if is_api(request):
        return JSONResponse(
            problem_body(problem, request),
            status_code=problem.status,
            media_type="application/problem+json",
            headers=problem.headers,
        )
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"problem": problem, "title": TITLES.get(problem.status, "Error")},
        status_code=problem.status,
        headers=problem.headers,
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return await render_problem(request, exc)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, domain.DomainError)
    return await render_problem(request, problem_from_domain(exc))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404:
        detail = "There is nothing at this address."
    return await render_problem(
        request, Problem(exc.status_code, detail, headers=dict(exc.headers or {}))
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log; the answer says nothing about internals or settings.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return await render_problem(
        request, Problem(500, "Something went wrong on our side. Please try again.")
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: handle_problem,
    domain.DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
