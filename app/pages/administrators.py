"""Pages for the site's administrators: every campaign with hide and unhide buttons (and
the money of money campaigns), bulk invalidation of pledges against organised abuse
(preview first, then strike out), refunding a paid pledge by its number (look first,
then refund), and residents' reports (hide the campaign, warn its lead, or dismiss).

Administrators sign in as campaign leads do; a lead whose email is in ADMIN_EMAILS may
open these pages. Without a session they lead to the sign-in page; anyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem, problem_from_domain
from app.pages.rendering import render
from app.pages.sign_in import admin_or_redirect
from notifications.moderation_mail import lead_warning_queue
from pledges import moderation, reports
from pledges.accounts import Lead
from pledges.campaigns import get_campaign_by_id, list_campaigns
from pledges.errors import PledgeNotFound, RefundRefused, ValidationFailed
from pledges.payments import payment_view, refund_in_full
from pledges.reports import ReportClosed
from pledges.text import whole_number

# The filters of the invalidation form, in the order they appear.
FILTER_FIELDS = ("campaign", "ip", "email_domain", "since", "until")
MAX_CAMPAIGNS = 10_000


async def _all_campaigns(request: Request) -> list[Any]:
    return await list_campaigns(
        services(request).store.database,
        include_drafts=True,
        include_hidden=True,
        limit=MAX_CAMPAIGNS,
    )


async def admin_home(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    db = services(request).store.database
    return render(
        request,
        "admin/index.html",
        {
            "lead": lead,
            "campaigns": await _all_campaigns(request),
            "counts": await moderation.pledge_counts(db),
            "open_reports": len(await reports.open_reports(db)),
            "notice": request.session.pop("admin_notice", None),
        },
    )


async def set_hidden(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    action = request.path_params["action"]
    if action not in ("hide", "unhide"):
        raise Problem(404, "There is nothing at this address.")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    slug = request.path_params["slug"]
    store = services(request).store
    if action == "hide":
        campaign = await moderation.hide_campaign(store, slug)
        notice = f"“{campaign.title}” is hidden from every public page."
    else:
        campaign = await moderation.unhide_campaign(store, slug)
        notice = f"“{campaign.title}” is shown again."
    request.session["admin_notice"] = notice
    return RedirectResponse("/admin", status_code=303)


async def invalidate(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    context: dict[str, Any] = {"form": {}, "errors": {}, "result": None}
    status = 200
    if request.method == "POST":
        raw = await request.form()
        check_csrf(request, raw.get("csrf_token"))
        form = {name: str(raw.get(name, "")).strip() for name in FILTER_FIELDS}
        action = raw.get("action")
        if action not in ("preview", "invalidate"):
            raise Problem(400, "Choose Preview or Strike out.")
        context["form"] = form
        try:
            context["result"] = await moderation.invalidate_pledges(
                services(request).store,
                campaign_slug=form["campaign"] or None,
                ip=form["ip"] or None,
                email_domain=form["email_domain"] or None,
                since=form["since"] or None,
                until=form["until"] or None,
                dry_run=action == "preview",
            )
        except ValidationFailed as exc:
            context["errors"] = {e.field: e.message for e in exc.errors}
            status = 422
    context["campaigns"] = await _all_campaigns(request)
    return render(request, "admin/invalidate.html", context, status_code=status)


async def refund_page(request: Request) -> Response:
    """GET: a form for a pledge's number. POST with action=show: the pledge, its campaign
    and amount, and a button to refund it; POST with action=refund: refund it in full."""
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    svc = services(request)
    context: dict[str, Any] = {
        "pledge_id": "",
        "errors": {},
        "pledge": None,
        "campaign": None,
        "money_enabled": svc.settings.money_enabled,
    }
    if request.method == "GET":
        return render(request, "admin/refund.html", context)
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    action = raw.get("action")
    if action not in ("show", "refund"):
        raise Problem(400, "Choose Find the pledge or Refund.")
    text = str(raw.get("pledge_id", "")).strip().lstrip("#")
    context["pledge_id"] = text
    pledge_id = whole_number(text, max_digits=18)
    if pledge_id is None:
        context["errors"] = {"pledge_id": "Enter the pledge's number, like 1234."}
        return render(request, "admin/refund.html", context, status_code=422)
    try:
        pledge = await payment_view(svc.store.database, pledge_id)
    except PledgeNotFound:
        context["errors"] = {"pledge_id": f"There is no pledge number {text}."}
        return render(request, "admin/refund.html", context, status_code=404)
    campaign = await get_campaign_by_id(svc.store.database, pledge.campaign_id)
    context |= {"pledge": pledge, "campaign": campaign}
    if action == "show":
        return render(request, "admin/refund.html", context)
    try:
        amount = await refund_in_full(svc.store, svc.payments, pledge.pledge_id, by="admin")
    except RefundRefused as exc:
        problem = problem_from_domain(exc)
        context["pledge"] = await payment_view(svc.store.database, pledge.pledge_id)
        context["errors"] = {"pledge_id": problem.detail}
        return render(request, "admin/refund.html", context, status_code=problem.status)
    request.session["admin_notice"] = (
        f"Refunded {campaign.money(amount)} to pledge {pledge.pledge_id} of “{campaign.title}”."
    )
    return RedirectResponse("/admin", status_code=303)


DECISION_NOTICES = {
    "hide": "“{title}” is hidden from every public page; {closed} closed.",
    "warn": "The lead of “{title}” will be emailed your message; {closed} closed.",
    "dismiss": "The report about “{title}” is dismissed.",
}


async def _reports_page(
    request: Request,
    lead: Lead,
    errors: dict[int, str] | None = None,
    messages: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with services(request).store.read() as db:
        waiting = await reports.open_reports(db)
        decisions = await reports.recent_decisions(db)
    return render(
        request,
        "admin/reports.html",
        {
            "lead": lead,
            "reports": waiting,
            "decisions": decisions,
            "errors": errors or {},
            "messages": messages or {},
            "notice": request.session.pop("admin_notice", None),
        },
        status_code=status_code,
    )


async def reports_page(request: Request) -> Response:
    """The open reports, oldest first, each with its three actions; then recent decisions."""
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    return await _reports_page(request, lead)


async def decide_report(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    action = request.path_params["action"]
    if action not in reports.ACTIONS:
        raise Problem(404, "There is nothing at this address.")
    report_id = request.path_params["report_id"]
    svc = services(request)
    message = str(form.get("message", ""))
    try:
        outcome = await reports.decide_report(
            svc.store,
            report_id,
            action,
            lead.email,
            message=message,
            queue_warning=lead_warning_queue(svc.store, svc.renderer),
        )
    except ValidationFailed as exc:
        errors = {report_id: exc.errors[0].message}
        return await _reports_page(request, lead, errors, {report_id: message}, status_code=422)
    except ReportClosed:
        request.session["admin_notice"] = "Another administrator dealt with that report first."
        return RedirectResponse("/admin/reports", status_code=303)
    closed = f"{outcome.reports_closed} {'report' if outcome.reports_closed == 1 else 'reports'}"
    request.session["admin_notice"] = DECISION_NOTICES[action].format(
        title=outcome.campaign_title, closed=closed
    )
    return RedirectResponse("/admin/reports", status_code=303)


routes = [
    Route("/admin", admin_home, methods=["GET"]),
    Route("/admin/reports", reports_page, methods=["GET"]),
    Route("/admin/reports/{report_id:int}/{action:str}", decide_report, methods=["POST"]),
    Route("/admin/refund", refund_page, methods=["GET", "POST"]),
    Route("/admin/campaigns/{slug}/{action:str}", set_hidden, methods=["POST"]),
    Route("/admin/invalidate", invalidate, methods=["GET", "POST"]),
]
