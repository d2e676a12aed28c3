"""Pages for the site's administrators: every campaign with hide and unhide buttons (and
the money of money campaigns), bulk invalidation of pledges against organised abuse
(preview first, then strike out), and refunding a paid pledge by its number (look first,
then refund).

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
from app.pages.sign_in import current_lead, is_admin, sign_in_redirect
from pledges import moderation
from pledges.accounts import Lead
from pledges.campaigns import get_campaign_by_id, list_campaigns
from pledges.errors import PledgeNotFound, RefundRefused, ValidationFailed
from pledges.payments import payment_view, refund_in_full
from pledges.text import whole_number

# The filters of the invalidation form, in the order they appear.
FILTER_FIELDS = ("campaign", "ip", "email_domain", "since", "until")
MAX_CAMPAIGNS = 10_000


async def _admin(request: Request) -> Lead | Response:
    lead = await current_lead(request)
    if lead is None:
        return sign_in_redirect("lead")
    if not is_admin(request, lead):
        raise Problem(403, "Only the site's administrators can open this page.")
    return lead


async def _all_campaigns(request: Request) -> list[Any]:
    return await list_campaigns(
        services(request).store.database,
        include_drafts=True,
        include_hidden=True,
        limit=MAX_CAMPAIGNS,
    )


async def admin_home(request: Request) -> Response:
    lead = await _admin(request)
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
            "notice": request.session.pop("admin_notice", None),
        },
    )


async def set_hidden(request: Request) -> Response:
    lead = await _admin(request)
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
    lead = await _admin(request)
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
    lead = await _admin(request)
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


routes = [
    Route("/admin", admin_home, methods=["GET"]),
    Route("/admin/refund", refund_page, methods=["GET", "POST"]),
    Route("/admin/campaigns/{slug}/{action:str}", set_hidden, methods=["POST"]),
    Route("/admin/invalidate", invalidate, methods=["GET", "POST"]),
]
