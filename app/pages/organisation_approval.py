"""Administrators' page of organisations: approving a provider or council to receive
residents' contact details, or withdrawing that approval. Who approved it, and when, is
kept and shown. (The contacts rule itself is notifications.demand.check_contacts_allowed.)"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from app.pages.sign_in import admin_or_redirect
from pledges.contact_downloads import OrganisationNotFound, list_organisations, set_approval

NOTICE = "admin_organisations_notice"


async def organisations_page(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    return render(
        request,
        "admin/organisations.html",
        {
            "lead": lead,
            "organisations": await list_organisations(services(request).store.database),
            "notice": request.session.pop(NOTICE, None),
        },
    )


async def set_organisation_approval(request: Request) -> Response:
    lead = await admin_or_redirect(request)
    if isinstance(lead, Response):
        return lead
    action = request.path_params["action"]
    if action not in ("approve", "withdraw"):
        raise Problem(404, "There is nothing at this address.")
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    try:
        org = await set_approval(
            services(request).store,
            request.path_params["id"],
            lead.id if action == "approve" else None,
        )
    except OrganisationNotFound as exc:
        raise Problem(404, str(exc)) from exc
    request.session[NOTICE] = (
        f"{org.name} may now download the contacts of campaigns its webhooks name."
        if org.approved
        else f"{org.name} may no longer download residents' contact details."
    )
    return RedirectResponse("/admin/organisations", status_code=303)


routes = [
    Route("/admin/organisations", organisations_page, methods=["GET"]),
    Route(
        "/admin/organisations/{id:int}/{action:str}",
        set_organisation_approval,
        methods=["POST"],
    ),
]
