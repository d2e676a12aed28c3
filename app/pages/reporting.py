"""Residents' reports: "Report this campaign" (or one of its updates) leads to a short form
that needs no account and works without JavaScript. A problem re-renders the form with the
message beside its field; too many reports from one client address answer 429 with the
limit, when to try again, and what was typed."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from pledges import campaigns as campaign_service
from pledges.campaigns import Campaign
from pledges.errors import CampaignNotFound, ValidationFailed
from pledges.rate_limits import RateWindow
from pledges.reports import (
    MAX_DETAILS,
    REPORT_RATE_LIMIT,
    REPORT_REASONS,
    ReportRateLimited,
    file_report,
    parse_report,
)
from pledges.updates import CampaignUpdate, get_update

FIELDS = ("reason", "details", "email")
NOT_HERE = "There is no campaign at this address."


def _span(seconds: int) -> str:
    """60 -> "a minute", 600 -> "10 minutes", 86400 -> "a day"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"a {unit}" if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"


def limit_words(windows: tuple[RateWindow, ...] = REPORT_RATE_LIMIT) -> str:
    """The limit as the page says it: "3 reports in 10 minutes and 10 in a day"."""
    parts = [f"{w.pledges} in {_span(w.seconds)}" for w in windows]
    if parts:
        first = windows[0].pledges
        parts[0] = parts[0].replace(" in ", " report in " if first == 1 else " reports in ", 1)
    return " and ".join(parts)


def wait_words(seconds: int) -> str:
    """How long to wait, rounded up to what a person reads: minutes, then hours."""
    if seconds < 60:
        return "a minute"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"{minutes} minutes"
    hours = -(-minutes // 60)
    return f"{hours} hours"


async def _target(request: Request, update_text: str) -> tuple[Campaign, CampaignUpdate | None]:
    """The public campaign of the address, and the update named (?update=ID) if any."""
    db = services(request).store.database
    try:
        campaign = await campaign_service.get_campaign(db, request.path_params["slug"])
    except CampaignNotFound:
        raise Problem(404, NOT_HERE) from None
    if not campaign.is_public:
        raise Problem(404, NOT_HERE)
    if not update_text:
        return campaign, None
    if not update_text.isdigit() or len(update_text) > 18:
        raise Problem(404, "There is no such update on this campaign.")
    update = await get_update(db, int(update_text))
    if update is None or update.campaign_id != campaign.id:
        raise Problem(404, "There is no such update on this campaign.")
    return campaign, update


def _page(
    request: Request,
    campaign: Campaign,
    update: CampaignUpdate | None,
    form: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    limited: str | None = None,
) -> Response:
    return render(
        request,
        "report.html",
        {
            "campaign": campaign,
            "update": update,
            "form": form,
            "errors": errors,
            "reasons": [{"value": k, "label": v} for k, v in REPORT_REASONS.items()],
            "max_details": MAX_DETAILS,
            "limit": limit_words(),
            "limited": limited,
        },
        status_code=status_code,
    )


async def report_page(request: Request) -> Response:
    campaign, update = await _target(request, request.query_params.get("update", "").strip())
    return _page(request, campaign, update, {}, {})


async def report_form(request: Request) -> Response:
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    campaign, update = await _target(request, str(raw.get("update_id", "")).strip())
    form = {name: str(raw.get(name, "")) for name in FIELDS}
    try:
        report = parse_report(form)
    except ValidationFailed as exc:
        errors = {e.field: e.message for e in exc.errors}
        return _page(request, campaign, update, form, errors, status_code=422)
    try:
        await file_report(
            services(request).store,
            campaign.slug,
            report,
            update_id=update.id if update else None,
            ip=request.client.host if request.client else None,
        )
    except CampaignNotFound:  # hidden or unpublished since the form was read
        raise Problem(404, NOT_HERE) from None
    except ReportRateLimited as exc:
        limited = (
            f"We have had {exc.window.pledges} "
            f"{'report' if exc.window.pledges == 1 else 'reports'} from your internet "
            f"connection in the last {_span(exc.window.seconds)}, so we have not recorded "
            f"this one. Each connection may send {limit_words()}. You can send it in "
            f"{wait_words(exc.retry_after_seconds)}: what you wrote is kept below."
        )
        response = _page(request, campaign, update, form, {}, status_code=429, limited=limited)
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    return RedirectResponse(f"/c/{campaign.slug}/reported", status_code=303)


async def reported(request: Request) -> Response:
    campaign, _ = await _target(request, "")
    return render(request, "reported.html", {"campaign": campaign})


routes = [
    Route("/c/{slug}/report", report_page, methods=["GET"]),
    Route("/c/{slug}/report", report_form, methods=["POST"]),
    Route("/c/{slug}/reported", reported, methods=["GET"]),
]
