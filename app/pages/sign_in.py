"""Sign-in by emailed link, for campaign leads (and administrators, who are leads named
in ADMIN_EMAILS) and for residents opening "my pledges".

Asking for a link answers the same "check your email" page whether or not the address is
known, so the form tells no one which addresses are; past the limits on asking (per mailbox
and per client, pledges.magic_links), which count known and unknown addresses alike, the
form comes back with a 429 saying when to try again. Opening a link shows a button rather
than signing in at once: mail scanners that fetch every link must not spend a single-use
link. Signing in and out begins and ends a server-side session (app.sessions).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.rendering import render
from app.sessions import begin_signed_in_session, end_signed_in_session
from notifications.sign_in import email_sign_in_link
from pledges import campaigns as campaign_service
from pledges.accounts import Lead, ensure_lead, lead_by_id
from pledges.campaigns import Campaign
from pledges.errors import InvalidToken, SignInLinksLimited
from pledges.identity import canonical_email, is_valid_email
from pledges.magic_links import (
    MAX_LINKS_PER_CLIENT_PER_HOUR,
    MAX_LINKS_PER_HOUR,
    check_link,
    use_link,
)

# How long "my pledges" stays open after a resident's link is used.
RESIDENT_SESSION_SECONDS = 60 * 60

PAGES = {
    "lead": {
        "form": "/lead/sign-in",
        "confirm": "/lead/sign-in/confirm",
        "after": "/lead",
        "title": "Sign in to run a campaign",
    },
    "resident": {
        "form": "/me/sign-in",
        "confirm": "/me/sign-in/confirm",
        "after": "/me",
        "title": "See your pledges",
    },
}


async def current_lead(request: Request) -> Lead | None:
    lead_id = request.session.get("lead")
    if not lead_id:
        return None
    return await lead_by_id(services(request).store.database, int(lead_id))


def is_admin(request: Request, lead: Lead | None) -> bool:
    return lead is not None and lead.email in services(request).settings.admin_emails


async def admin_or_redirect(request: Request) -> Lead | Response:
    """The signed-in administrator; the sign-in page without a session; 403 for any other
    lead. Every /admin page starts with it."""
    lead = await current_lead(request)
    if lead is None:
        return sign_in_redirect("lead")
    if not is_admin(request, lead):
        raise Problem(403, "Only the site's administrators can open this page.")
    return lead


def resident_email(request: Request) -> str | None:
    """The canonical email of the resident signed in to "my pledges", while it lasts."""
    found = request.session.get("resident")
    if not isinstance(found, dict) or float(found.get("until", 0)) < time.time():
        return None
    return str(found["email"])


async def lead_or_redirect(request: Request) -> Lead | Response:
    """The signed-in lead, or the redirect to sign in."""
    lead = await current_lead(request)
    return sign_in_redirect("lead") if lead is None else lead


async def own_campaign(request: Request, lead: Lead) -> Campaign:
    """The lead's own campaign at the path's `slug`; another's answers 404, as if it did
    not exist."""
    campaign = await campaign_service.get_campaign(
        services(request).store.database, request.path_params["slug"]
    )
    if campaign.lead_id != lead.id:
        raise Problem(404, "There is no campaign at this address.")
    return campaign


async def lead_campaign(request: Request) -> Campaign | Response:
    """The signed-in lead's own campaign at the path's `slug`, the redirect to sign in,
    or 404 for another's."""
    lead = await lead_or_redirect(request)
    return lead if isinstance(lead, Response) else await own_campaign(request, lead)


def sign_in_redirect(purpose: str) -> Response:
    return RedirectResponse(PAGES[purpose]["form"], status_code=303)


async def _ask(request: Request, purpose: str) -> Response:
    svc = services(request)
    page = PAGES[purpose]
    if request.method == "GET":
        return render(request, "sign_in/ask.html", {"purpose": purpose, "page": page, "form": {}})
    form = await request.form()
    check_csrf(request, form.get("csrf_token"), before_sign_in=True)
    email = str(form.get("email", "")).strip()
    if not is_valid_email(email):
        return render(
            request,
            "sign_in/ask.html",
            {
                "purpose": purpose,
                "page": page,
                "form": {"email": email},
                "error": "Enter an email address in the correct format, like name@example.com",
            },
            status_code=422,
        )
    try:
        await email_sign_in_link(
            svc.store,
            svc.signer,
            svc.renderer,
            purpose,
            email,
            f"{svc.settings.base_url}{page['confirm']}",
            ip=request.client.host if request.client else None,
        )
    except SignInLinksLimited as exc:
        return _limited(request, purpose, email, exc)
    return render(request, "sign_in/check_email.html", {"purpose": purpose, "email": email})


async def _confirm(request: Request, purpose: str) -> Response:
    svc = services(request)
    page = PAGES[purpose]
    if request.method == "GET":
        token = request.query_params.get("token", "")
        try:
            check_link(svc.signer, purpose, token)
        except InvalidToken as exc:
            return _link_problem(request, purpose, exc.reason)
        return render(
            request, "sign_in/confirm.html", {"purpose": purpose, "page": page, "token": token}
        )
    form = await request.form()
    check_csrf(request, form.get("csrf_token"), before_sign_in=True)
    try:
        email = await use_link(svc.store, svc.signer, purpose, str(form.get("token", "")))
    except InvalidToken as exc:
        return _link_problem(request, purpose, exc.reason)
    await begin_signed_in_session(request)
    if purpose == "lead":
        async with svc.store.write() as db:
            lead = await ensure_lead(db, email)
        request.session["lead"] = lead.id
    else:
        request.session["resident"] = {
            "email": canonical_email(email),
            "until": time.time() + RESIDENT_SESSION_SECONDS,
        }
    return RedirectResponse(page["after"], status_code=303)


def _limited(request: Request, purpose: str, email: str, exc: SignInLinksLimited) -> Response:
    """The form again, with what the limit is and when to try again."""
    minutes = max(1, math.ceil(exc.retry_after_seconds / 60))
    at = datetime.now(UTC) + timedelta(seconds=exc.retry_after_seconds)
    if exc.by_client:
        what = (
            f"We have had {MAX_LINKS_PER_CLIENT_PER_HOUR} requests for sign-in links from this "
            "internet connection in the last hour, the most we take from one in an hour"
        )
    else:
        what = (
            f"We have had {MAX_LINKS_PER_HOUR} requests for a sign-in link to this email "
            "address in the last hour, the most we send to one address in an hour"
        )
    when = "1 minute" if minutes == 1 else f"{minutes} minutes"
    message = (
        f"{what}. Please try again in {when} (after {at:%H:%M} UTC). "
        "If a link has already arrived, you can use it."
    )
    response = render(
        request,
        "sign_in/ask.html",
        {"purpose": purpose, "page": PAGES[purpose], "form": {"email": email}, "error": message},
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _link_problem(request: Request, purpose: str, reason: str) -> Response:
    return render(
        request,
        "sign_in/link_problem.html",
        {"purpose": purpose, "page": PAGES[purpose], "message": reason},
        status_code=400,
    )


async def sign_out(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    # An organisation may still be signed in: it keeps a new session id.
    await end_signed_in_session(request, "lead", "resident")
    return RedirectResponse("/", status_code=303)


def _route(path: str, purpose: str, handler: Any) -> Route:
    async def endpoint(request: Request) -> Response:
        return await handler(request, purpose)

    endpoint.__name__ = f"{handler.__name__.strip('_')}_{purpose}"
    return Route(path, endpoint, methods=["GET", "POST"])


routes = [
    _route("/lead/sign-in", "lead", _ask),
    _route("/lead/sign-in/confirm", "lead", _confirm),
    _route("/me/sign-in", "resident", _ask),
    _route("/me/sign-in/confirm", "resident", _confirm),
    Route("/sign-out", sign_out, methods=["POST"]),
]
