"""The delivery record's pages: a chosen provider's page to post milestones and mark them
done (or move their dates), and the resident's page to say the service reached them,
reached from the link in their choice and delivery emails. The campaign page's "Delivery"
section is rendered by residents.py from `delivery_view`."""

from __future__ import annotations

from typing import Any

from databases import Database
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.pages.organisations import current_organisation
from app.pages.rendering import render
from notifications.answering import answerable_campaign
from pledges import delivery as delivery_service
from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.delivery import KIND_NAMES, DeliveryRecord, served_words
from pledges.errors import InvalidToken, NotFound, ValidationFailed, WrongState
from pledges.pledging import get_pledge
from pledges.store import utcnow


async def delivery_view(db: Database, campaign: Campaign) -> dict[str, Any]:
    """What the campaign page's "Delivery" section shows."""
    record: DeliveryRecord = await delivery_service.delivery_record(db, campaign.id)
    return {"record": record, "today": utcnow().date(), "words": served_words}


def _errors(exc: ValidationFailed) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


async def provider_campaigns(request: Request) -> Response:
    """The campaigns on which residents chose one of the organisation's offers."""
    org = await current_organisation(request)
    if org is None:
        return RedirectResponse("/org/sign-in", status_code=303)
    found = await delivery_service.campaigns_delivered_by(services(request).store.database, org.id)
    return render(
        request, "org/delivery_list.html", {"org": org, "campaigns": found, "current": "delivery"}
    )


async def provider_record(request: Request) -> Response:
    """GET: the provider's milestones on the campaign, with a form for a new one; POST: post
    it (errors beside the fields)."""
    org = await current_organisation(request)
    if org is None:
        return RedirectResponse("/org/sign-in", status_code=303)
    svc = services(request)
    db = svc.store.database
    campaign = await answerable_campaign(db, org, request.path_params["slug"], "delivery")
    await delivery_service.check_chosen_provider(db, campaign, org.id)
    form: dict[str, Any] = {}
    errors: dict[str, str] = {}
    notice = None
    status_code = 200
    if request.method == "POST":
        raw = await request.form()
        check_csrf(request, raw.get("csrf_token"))
        form = {k: str(raw.get(k, "")) for k in ("kind", "title", "due_on")}
        try:
            milestone = delivery_service.parse_milestone(form)
            posted = await delivery_service.record_milestone(svc.store, campaign, org.id, milestone)
            notice = f"Posted: {posted.title}, due {posted.due_on:%-d %B %Y}."
            form = {}
        except ValidationFailed as exc:
            errors = _errors(exc)
            status_code = 422
    return await _render_record(request, org, campaign, form, errors, notice, status_code)


async def provider_change(request: Request) -> Response:
    """POST: mark one of the provider's milestones done, or move its date."""
    org = await current_organisation(request)
    if org is None:
        return RedirectResponse("/org/sign-in", status_code=303)
    svc = services(request)
    db = svc.store.database
    campaign = await answerable_campaign(db, org, request.path_params["slug"], "delivery")
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    public_id = request.path_params["id"]
    field = "done_on" if raw.get("action") == "done" else "due_on"
    value = str(raw.get(field, ""))
    try:
        change = delivery_service.parse_milestone_change({field: value})
        await delivery_service.change_milestone(svc.store, campaign, org.id, public_id, change)
    except ValidationFailed as exc:
        errors = {f"{public_id}-{field}": e.message for e in exc.errors}
        return await _render_record(
            request, org, campaign, {f"{public_id}-{field}": value}, errors, None, 422
        )
    return RedirectResponse(f"/org/campaigns/{campaign.slug}/delivery", status_code=303)


async def _render_record(
    request: Request,
    org: Any,
    campaign: Campaign,
    form: dict[str, Any],
    errors: dict[str, str],
    notice: str | None,
    status_code: int,
) -> Response:
    db = services(request).store.database
    milestones = await delivery_service.milestones_of(db, campaign.id, org.id)
    record = await delivery_service.delivery_record(db, campaign.id)
    mine = [p for p in record.providers if p.organisation_id == org.id]
    return render(
        request,
        "org/delivery.html",
        {
            "org": org,
            "campaign": campaign,
            "milestones": milestones,
            "offers": mine[0].offers if mine else [],
            "words": served_words,
            "kinds": KIND_NAMES,
            "form": form,
            "errors": errors,
            "notice": notice,
            "today": utcnow().date(),
            "current": "delivery",
        },
        status_code,
    )


async def served_page(request: Request) -> Response:
    """The resident's "the service reached us": GET shows what their home chose and a
    button; POST (CSRF and the signed choice token) records it once."""
    svc = services(request)
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
        token = str(form.get("token", ""))
    else:
        token = request.query_params.get("token", "")
    try:
        pledge_id = int(svc.signer.unsign(token, "offer-choice"))
        async with svc.store.read() as db:
            pledge = await get_pledge(db, pledge_id)
            campaign = await get_campaign_by_id(db, pledge.campaign_id)
            status = await delivery_service.service_status(db, pledge_id)
    except (InvalidToken, NotFound) as exc:
        return render(request, "token_problem.html", {"message": str(exc)}, status_code=400)
    context: dict[str, Any] = {"campaign": campaign, "token": token, "status": status}
    if status is None:
        return render(request, "delivery/served.html", context, status_code=409)
    if request.method == "POST":
        try:
            context["status"] = await delivery_service.confirm_service(svc.store, pledge_id)
        except WrongState as exc:
            context["problem"] = str(exc)
            return render(request, "delivery/served.html", context, status_code=409)
        context["done"] = True
    return render(request, "delivery/served.html", context)


routes = [
    Route("/org/delivery", provider_campaigns, methods=["GET"]),
    Route("/org/campaigns/{slug}/delivery", provider_record, methods=["GET", "POST"]),
    Route("/org/campaigns/{slug}/delivery/{id}", provider_change, methods=["POST"]),
    Route("/choices/served", served_page, methods=["GET", "POST"]),
]
