"""Pages for provider and council members: sign in with the organisation's API key, see
demand in their areas, download a tipped campaign's contacts, publish a response to a
campaign's residents, manage webhook endpoints, read the delivery log with attempts, and
replay deliveries."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from app.pages.where_to_build import ranking_context
from app.sessions import begin_signed_in_session, end_signed_in_session
from app.spreadsheet import SPREADSHEET_BOM, csv_cell
from notifications import demand as demand_service
from notifications import endpoints as endpoint_service
from notifications import webhooks
from notifications.answering import answerable_campaign, check_purpose, may_respond
from notifications.demand import endpoint_covers
from notifications.endpoints import EVENT_TYPES, Endpoint, EndpointInput
from pledges.accounts import Organisation, organisation_by_id, organisation_for_key
from pledges.campaigns import CATEGORIES, Campaign
from pledges.errors import DomainError, ValidationFailed
from pledges.responses import (
    MAX_BODY,
    ResponseRateLimited,
    list_responses,
    publish_response,
)


async def current_organisation(request: Request) -> Organisation | None:
    org_id = request.session.get("org")
    if not org_id:
        return None
    return await organisation_by_id(services(request).store.database, int(org_id))


async def _require(request: Request) -> Organisation | Response:
    org = await current_organisation(request)
    if org is None:
        return RedirectResponse("/org/sign-in", status_code=303)
    return org


async def sign_in(request: Request) -> Response:
    error = None
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"), before_sign_in=True)
        key = str(form.get("api_key", "")).strip()
        org = await organisation_for_key(services(request).store.database, key) if key else None
        if org is not None:
            await begin_signed_in_session(request)
            request.session["org"] = org.id
            return RedirectResponse("/org/demand", status_code=303)
        error = "That is not an organisation's API key."
    return render(request, "org/sign_in.html", {"error": error}, 401 if error else 200)


async def sign_out(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    await end_signed_in_session(request, "org")
    return RedirectResponse("/", status_code=303)


def _form_to_endpoint(form: Any) -> dict[str, Any]:
    def items(name: str) -> list[str]:
        return [
            v.strip() for v in str(form.get(name, "")).replace("\n", ",").split(",") if v.strip()
        ]

    return {
        "url": str(form.get("url", "")).strip(),
        "description": str(form.get("description", "")),
        "event_types": list(form.getlist("event_types")),
        "filters": {
            "categories": list(form.getlist("categories")),
            "postcode_prefixes": items("postcode_prefixes"),
            "campaigns": items("campaigns"),
        },
    }


async def endpoints_page(request: Request) -> Response:
    org = await _require(request)
    if isinstance(org, Response):
        return org
    svc = services(request)
    errors: dict[str, str] = {}
    form: dict[str, Any] = {}
    created: tuple[Endpoint, str] | None = None
    status_code = 200
    if request.method == "POST":
        raw = await request.form()
        check_csrf(request, raw.get("csrf_token"))
        form = _form_to_endpoint(raw)
        try:
            spec = await endpoint_service.parse_endpoint(
                form, partial=False, allow_private=svc.settings.webhook_allow_private_networks
            )
            endpoint = await endpoint_service.create_endpoint(svc.store, org.id, spec)
            created = (endpoint, endpoint.secret)
            form = {}
        except ValidationFailed as exc:
            errors = {e.field.split("[")[0]: e.message for e in exc.errors}
            status_code = 422
    found = await endpoint_service.list_endpoints(svc.store.database, org.id)
    return render(
        request,
        "org/endpoints.html",
        {
            "org": org,
            "endpoints": found,
            "errors": errors,
            "form": form,
            "created": created,
            "event_types": EVENT_TYPES,
            "categories": CATEGORIES,
            "current": "endpoints",
        },
        status_code,
    )


async def endpoint_page(request: Request) -> Response:
    org = await _require(request)
    if isinstance(org, Response):
        return org
    svc = services(request)
    endpoint = await endpoint_service.get_endpoint(
        svc.store.database, org.id, request.path_params["id"]
    )
    secret = None
    notice = None
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
        action = form.get("action")
        if action == "rotate":
            endpoint = await endpoint_service.rotate_secret(svc.store, org.id, endpoint.public_id)
            secret = endpoint.secret
            notice = "New secret made. The old one keeps signing beside it for 24 hours."
        elif action == "test":
            await webhooks.queue_test_message(svc.store, endpoint)
            notice = "A webhook.test message is on its way."
        elif action in ("disable", "enable"):
            change = EndpointInput(status="active" if action == "enable" else "disabled")
            endpoint = await endpoint_service.update_endpoint(
                svc.store, org.id, endpoint.public_id, change
            )
            notice = f"Endpoint {'enabled' if action == 'enable' else 'disabled'}."
        elif action == "retry":
            await webhooks.retry_delivery(svc.store, org.id, str(form.get("delivery", "")))
            notice = "The delivery is queued again, with the same webhook-id."
        elif action == "delete":
            await endpoint_service.delete_endpoint(svc.store, org.id, endpoint.public_id)
            return RedirectResponse("/org/endpoints", status_code=303)
    deliveries = await webhooks.deliveries_for_endpoint(svc.store.database, endpoint, 50)
    return render(
        request,
        "org/endpoint.html",
        {
            "org": org,
            "endpoint": endpoint,
            "deliveries": deliveries,
            "secret": secret,
            "notice": notice,
            "pretty": lambda value: json.dumps(value, indent=2, sort_keys=True),
            "current": "endpoints",
        },
    )


def may_post_offers(org: Organisation, campaign: Campaign, endpoints: list[Endpoint]) -> bool:
    """notifications.answering's rule for offers, as the offers page checks it."""
    try:
        check_purpose(org, campaign, "offer")
    except DomainError:
        return False
    return any(demand_service.endpoint_covers(e, campaign) for e in endpoints)


async def demand_page(request: Request) -> Response:
    """Campaigns in the organisation's areas and categories, by progress; a GET form narrows
    them (category, postcode prefix) or widens them to everywhere."""
    org = await _require(request)
    if isinstance(org, Response):
        return org
    query = request.query_params
    category = query.get("category", "")
    postcode_prefix = query.get("postcode_prefix", "")
    everywhere = query.get("everywhere") == "on"  # a ticked checkbox
    form = {"category": category, "postcode_prefix": postcode_prefix, "everywhere": everywhere}
    errors: dict[str, str] = {}
    found = None
    wanted = None
    try:
        wanted = demand_service.parse_demand_filter(category, postcode_prefix, everywhere)
    except ValidationFailed as exc:
        errors = {e.field: e.message for e in exc.errors}
    else:
        found = await demand_service.organisation_demand(
            services(request).store.database, org.id, wanted
        )
    # Where to build next: districts ranked at a price the organisation enters.
    ranking, ranking_errors = await ranking_context(request, org, wanted)
    errors.update(ranking_errors)
    # Campaigns it may respond to now (notifications.answering's rule, as the form checks).
    respondable: set[int] = set()
    if found is not None:
        respondable = {
            d.campaign.id
            for d in found.campaigns
            if may_respond(org, d.campaign)
            and any(endpoint_covers(e, d.campaign) for e in found.active_endpoints)
        }
    offerable = (
        {
            d.campaign.id
            for d in found.campaigns
            if may_post_offers(org, d.campaign, found.active_endpoints)
        }
        if found is not None
        else set()
    )
    return render(
        request,
        "org/demand.html",
        {
            "org": org,
            "demand": found,
            "form": form,
            "errors": errors,
            "categories": CATEGORIES,
            "limit": demand_service.DEMAND_LIMIT,
            "respondable": respondable,
            "offerable": offerable,
            "current": "demand",
            **ranking,
        },
        422 if errors else 200,
    )


async def respond_page(request: Request) -> Response:
    """A response to a campaign the organisation covers, once it may respond: published on
    the campaign page, emailed to its pledgers and sent as a campaign.responded webhook."""
    org = await _require(request)
    if isinstance(org, Response):
        return org
    svc = services(request)
    form = {"body": ""}
    if request.method == "POST":
        raw = await request.form()
        check_csrf(request, raw.get("csrf_token"))
        form = {"body": str(raw.get("body", ""))}
    # A campaign it does not cover, or one not ready for its response: 403 or 409.
    campaign = await answerable_campaign(
        svc.store.database, org, request.path_params["slug"], "response"
    )
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        try:
            await publish_response(svc.store, campaign.id, org.id, form["body"])
        except ValidationFailed as exc:
            errors = {e.field: e.message for e in exc.errors}
            status_code = 422
        except ResponseRateLimited as exc:
            errors = {"body": str(exc)}
            status_code = 429
        else:
            return RedirectResponse(f"/c/{campaign.slug}#responses", status_code=303)
    published = await list_responses(svc.store.database, campaign.id)
    return render(
        request,
        "org/respond.html",
        {
            "org": org,
            "campaign": campaign,
            "form": form,
            "errors": errors,
            "responses": published,
            "max_body": MAX_BODY,
            "current": "demand",
        },
        status_code,
    )


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


async def contacts_csv(request: Request) -> Response:
    """The consenting pledgers of a tipped campaign, for an organisation that receives it;
    the first line of the address (last, so earlier columns stay where they were) only of
    those who agreed to be contacted, as every row is."""
    org = await _require(request)
    if isinstance(org, Response):
        return org
    slug = request.path_params["slug"]
    try:
        campaign, contacts = await demand_service.campaign_contacts(
            services(request).store, org.id, slug, via="csv"
        )
    except demand_service.ContactsRefused as exc:
        # Not approved, not tipped yet, or no endpoint of theirs names it: not theirs.
        raise Problem(403, str(exc)) from exc
    body = csv_text(
        [
            ("name", "email", "postcode", "district", "confirmed_at", "address_line"),
            *(
                (
                    c.name,
                    c.email,
                    c.postcode,
                    c.district,
                    c.confirmed_at.isoformat(timespec="seconds") if c.confirmed_at else "",
                    c.address_line,
                )
                for c in contacts
            ),
        ]
    )
    return Response(
        SPREADSHEET_BOM + body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign.slug}-contacts.csv"',
            "Cache-Control": "no-store",
        },
    )


routes = [
    Route("/org/sign-in", sign_in, methods=["GET", "POST"]),
    Route("/org/sign-out", sign_out, methods=["POST"]),
    Route("/org/demand", demand_page, methods=["GET"]),
    Route("/org/campaigns/{slug}/contacts.csv", contacts_csv, methods=["GET"]),
    Route("/org/campaigns/{slug}/respond", respond_page, methods=["GET", "POST"]),
    Route("/org/endpoints", endpoints_page, methods=["GET", "POST"]),
    Route("/org/endpoints/{id}", endpoint_page, methods=["GET", "POST"]),
]
