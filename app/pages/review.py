"""Review of campaigns (MODERATION=pre or post): the administrators' queue at
/admin/moderation, with Approve, and Reject with a reason from the published list and a
note; every decision listed with who took it and when. And the public page /moderation:
the reasons a campaign is rejected, and the campaigns rejected (title and reason only), as
UK Parliament's e-petitions publishes why petitions are rejected.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from app.pages.sign_in import admin_or_redirect
from pledges.dashboard import long_date
from pledges.errors import CampaignNotFound, ValidationFailed
from pledges.review import (
    REJECTION_REASONS,
    NotAwaitingReview,
    approve_campaign,
    public_rejections,
    recent_decisions,
    reject_campaign,
    review_queue,
)

NOTICE = "review_notice"


async def _queue_page(
    request: Request,
    *,
    failed: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    db = services(request).store.database
    return render(
        request,
        "admin/moderation.html",
        {
            "queue": await review_queue(db),
            "decisions": await recent_decisions(db),
            "reasons": REJECTION_REASONS,
            "moderation": services(request).settings.moderation,
            "notice": request.session.pop(NOTICE, None),
            "failed": failed,  # the slug whose rejection form has errors
            "form": form or {},
            "errors": errors or {},
            "long_date": long_date,
        },
        status_code=status_code,
    )


async def queue(request: Request) -> Response:
    admin = await admin_or_redirect(request)
    if isinstance(admin, Response):
        return admin
    return await _queue_page(request)


async def decide(request: Request) -> Response:
    admin = await admin_or_redirect(request)
    if isinstance(admin, Response):
        return admin
    action = request.path_params["action"]
    if action not in ("approve", "reject"):
        raise Problem(404, "There is nothing at this address.")
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    slug = request.path_params["slug"]
    store = services(request).store
    try:
        if action == "approve":
            try:
                campaign = await approve_campaign(store, slug, admin.email)
            except ValidationFailed as exc:
                notice = " ".join(e.message for e in exc.errors)
            else:
                notice = f"“{campaign.title}” is approved. Its lead is being emailed."
        else:
            form = {"reason": str(raw.get("reason", "")), "note": str(raw.get("note", ""))}
            try:
                campaign = await reject_campaign(
                    store, slug, admin.email, form["reason"], form["note"]
                )
            except ValidationFailed as exc:
                errors = {e.field: e.message for e in exc.errors}
                return await _queue_page(
                    request, failed=slug, form=form, errors=errors, status_code=422
                )
            notice = f"“{campaign.title}” is rejected. Its lead is being emailed the reason."
    except CampaignNotFound:
        raise Problem(404, "There is no campaign at this address.") from None
    except NotAwaitingReview:
        notice = "That campaign is not waiting for review any more: it was decided already."
    request.session[NOTICE] = notice
    return RedirectResponse("/admin/moderation", status_code=303)


async def rejection_reasons(request: Request) -> Response:
    """Public: why campaigns are rejected, and which were (no personal data)."""
    db = services(request).store.database
    return render(
        request,
        "moderation.html",
        {
            "reasons": REJECTION_REASONS,
            "rejections": await public_rejections(db),
            "moderation": services(request).settings.moderation,
            "long_date": long_date,
        },
    )


routes = [
    Route("/moderation", rejection_reasons, methods=["GET"]),
    Route("/admin/moderation", queue, methods=["GET"]),
    Route("/admin/moderation/{slug}/{action:str}", decide, methods=["POST"]),
]
