"""Residents' pages: finding campaigns, a campaign and its updates, pledging, confirming,
withdrawing and unsubscribing. They work without JavaScript; forms re-render with a
message beside each field."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.http_cache import CAMPAIGN, LISTING, cacheable, own_change_seen, shows_campaign
from app.pages.campaign_demand import demand_view
from app.pages.choices import campaign_offers
from app.pages.delivery_record import delivery_view
from app.pages.letters import check_pledge_code, letter_note, parse_pledge_with_code
from app.pages.price_answers import (
    UNOFFERED_FIRMNESS,
    answer_errors,
    answers_from,
    unoffered_firmness,
)
from app.pages.rendering import render
from pledges import campaigns as campaign_service
from pledges import pledging
from pledges.campaigns import CATEGORIES
from pledges.checkout import card_checkout_url
from pledges.discovery import find_campaigns
from pledges.errors import (
    CampaignHidden,
    CampaignNotOpen,
    CheckoutRefused,
    FieldError,
    InvalidToken,
    MoneyUnavailable,
    PaymentsOff,
    PledgeInvalid,
    PledgeWithdrawn,
    RateLimited,
    ValidationFailed,
)
from pledges.household_standing import household_standing
from pledges.identity import district_of
from pledges.money import parse_major
from pledges.payments import payment_view
from pledges.pledging import unsubscribe_pledge
from pledges.responses import list_responses
from pledges.updates import list_updates

log = logging.getLogger("groundswell.pages")


@cacheable(LISTING)
async def home(request: Request) -> Response:
    """Find campaigns: those covering the postcode's district first, then the rest.

    A GET form, so a search is a link that can be shared. What cannot be understood is
    said beside its field and otherwise ignored, so the page still lists campaigns."""
    svc = services(request)
    postcode = request.query_params.get("postcode", "").strip()
    category = request.query_params.get("category", "").strip()
    district = district_of(postcode) if postcode else None
    errors: dict[str, str] = {}
    if postcode and not district:
        errors["postcode"] = "Enter a UK postcode, like LS6 1AB, or a district, like LS6."
    if category and category not in CATEGORIES:
        errors["category"] = "Choose a category from the list."
        category = ""
    async with svc.store.read() as db:
        in_area, others = await find_campaigns(db, district=district, category=category or None)
    return render(
        request,
        "home.html",
        {
            "in_area": in_area,
            "others": others,
            "postcode": postcode,
            "district": district,
            "category": category,
            "categories": CATEGORIES,
            "errors": errors,
        },
        # Bad search input is a 4xx like any other form; the page still lists campaigns.
        status_code=422 if errors else 200,
    )


# Updates shown in full on a campaign page; each may be 5,000 characters, and the page
# with everything it loads stays under 100 KB.
CAMPAIGN_PAGE_UPDATES = 3


@cacheable(CAMPAIGN)
async def updates_page(request: Request) -> Response:
    svc = services(request)
    async with svc.store.read() as db:
        campaign = await campaign_service.get_campaign(db, request.path_params["slug"])
        if not campaign.is_public:
            raise Problem(404, "There is no campaign at this address.")
        updates = await list_updates(db, campaign.id)
    return render(request, "updates.html", {"campaign": campaign, "updates": updates})


async def _campaign_page(
    request: Request,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    svc = services(request)
    async with svc.store.read() as db:
        campaign = await campaign_service.get_campaign(db, request.path_params["slug"])
        if not campaign.is_public:  # a draft, or hidden by an administrator
            raise Problem(404, "There is no campaign at this address.")
        names = await pledging.public_names(db, campaign.id)
        # The newest few in full; /c/{slug}/updates has the rest, so the page stays light.
        updates = await list_updates(db, campaign.id, limit=CAMPAIGN_PAGE_UPDATES + 1)
        responses = await list_responses(db, campaign.id)
        demand = await demand_view(db, campaign)
        delivery = await delivery_view(db, campaign)
        offers = await campaign_offers(db, campaign)
    page = render(
        request,
        "campaign.html",
        {
            "campaign": campaign,
            "names": names,
            "updates": updates[:CAMPAIGN_PAGE_UPDATES],
            "more_updates": len(updates) > CAMPAIGN_PAGE_UPDATES,
            "responses": responses,
            "demand": demand,
            "delivery": delivery,
            "offers": offers,
            "form": form or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )
    return shows_campaign(page, campaign.id)


@cacheable(CAMPAIGN, shared=True)
async def campaign_page(request: Request) -> Response:
    return await _campaign_page(request)


def _span(seconds: int) -> str:
    """60 -> "minute", 300 -> "5 minutes", 45 -> "45 seconds": a limit's window or a wait."""
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return "second" if seconds == 1 else f"{seconds} seconds"


def rate_limit_message(exc: RateLimited) -> str:
    """What the pledge form says over the per-address limit: the limit, and when to try."""
    wait = exc.retry_after_seconds
    wait_text = (
        f"{wait} second{'s' if wait != 1 else ''}" if wait < 120 else _span(-(-wait // 60) * 60)
    )
    limit = (
        f"We take {exc.pledges} pledge{'s' if exc.pledges != 1 else ''} to a campaign from one "
        f"internet connection every {_span(exc.seconds)}, and this campaign has had "
        f"{'that many' if exc.pledges != 1 else 'one'} from yours, so this pledge is not "
        "recorded yet. "
        if exc.pledges
        else "This campaign has had as many pledges from your internet connection as we take "
        "for now, so this pledge is not recorded yet. "
    )
    return (
        f"{limit}Your answers are kept below: press the button again in {wait_text}. "
        "(Someone else in your home or workplace who pledges from the same connection "
        "counts toward this limit.)"
    )


async def pledge_form(request: Request) -> Response:
    svc = services(request)
    form = dict(await request.form())
    check_csrf(request, form.get("csrf_token"))
    slug = request.path_params["slug"]
    if form.get("website"):
        # The hidden honeypot field: only a bot fills it. It is answered as a success.
        log.info("pledge form honeypot filled on campaign %s; nothing stored", slug)
        return RedirectResponse(f"/c/{slug}/pledged", status_code=303)
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "email": form.get("email", ""),
        "postcode": form.get("postcode", ""),
        # Asked on a campaign that counts households; the domain says when it is required.
        "address_line": form.get("address_line", ""),
        "show_name": form.get("show_name") == "on",
        "share_contact": form.get("share_contact") == "on",
    }
    # The most they would pay and how sure they are: radios, checked by the domain.
    answers = answers_from(form)
    data.update(answers)
    shown = dict(data)  # what a re-rendered form shows: the amount as typed
    # The optional code from a letter (households campaigns with a premises list).
    letter_code = str(form.get("letter_code", "")).strip()
    shown["letter_code"] = letter_code
    form_errors: dict[str, str] = {}
    amount_text = str(form.get("amount", "")).strip()
    if amount_text:  # the field of a money campaign where each resident chooses
        shown["amount"] = amount_text
        amount = parse_major(amount_text)
        if amount is None:
            form_errors["amount"] = "Enter an amount in numbers, like 20 or 12.50."
        else:
            data["amount"] = amount
    if answers["firmness"] == "deposit":  # offered to a lead recording a pledge, not here
        campaign = await campaign_service.get_campaign(svc.store.database, slug)
        if unoffered_firmness(campaign, answers["firmness"]):
            form_errors |= answer_errors([UNOFFERED_FIRMNESS])
    if form_errors:
        errors: dict[str, str] = {}
        try:
            pledging.parse_pledge(data)
        except ValidationFailed as exc:
            errors = _pledge_errors(exc.errors)
        return await _campaign_page(request, shown, errors | form_errors, status_code=422)
    try:
        pledge, code = parse_pledge_with_code(data, letter_code)
        outcome = await pledging.record_pledge(
            svc.store,
            slug,
            pledge,
            source="web",
            ip=request.client.host if request.client else None,
            rate_limit=svc.settings.pledge_rate_limit,
            money_enabled=svc.settings.money_enabled,
        )
    except ValidationFailed as exc:
        return await _campaign_page(request, shown, _pledge_errors(exc.errors), status_code=422)
    except CampaignNotOpen as exc:
        return await _campaign_page(request, shown, {"form": str(exc)}, status_code=409)
    except MoneyUnavailable:
        # The page shows no form then; this is a stale page or a hand-made request.
        return await _campaign_page(request, shown, status_code=409)
    except RateLimited as exc:
        # The campaign page again, with what they typed and the limit said exactly.
        response = await _campaign_page(
            request, shown, {"form": rate_limit_message(exc)}, status_code=429
        )
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    if code is not None:  # the pledge stands whatever the code: the next page says
        await check_pledge_code(request, slug, pledge, code)
    if outcome.to_checkout:  # a new money pledge; a repeat's link goes by email only
        return await _to_checkout(request, slug, outcome.pledge_id)
    return RedirectResponse(f"/c/{slug}/pledged", status_code=303)


def _pledge_errors(errors: list[FieldError]) -> dict[str, str]:
    """The pledge form's messages by field; the answers' words chosen by their codes."""
    return {e.field: e.message for e in errors} | answer_errors(errors)


async def _to_checkout(request: Request, slug: str, pledge_id: int) -> Response:
    """Send the resident to Stripe's Checkout to save a card; if Stripe cannot be reached,
    say the pledge is recorded and the card can be saved later from the confirm link."""
    svc = services(request)
    try:
        url = await card_checkout_url(
            svc.store, svc.payments, svc.signer, svc.settings.base_url, pledge_id
        )
    except (PaymentsOff, CheckoutRefused):
        raise
    except Exception as exc:
        log.warning("no Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
        campaign = await campaign_service.get_campaign(svc.store.database, slug)
        return render(
            request, "pay/checkout_unavailable.html", {"campaign": campaign}, status_code=503
        )
    return RedirectResponse(url, status_code=303)


async def pledged(request: Request) -> Response:
    svc = services(request)
    campaign = await campaign_service.get_campaign(svc.store.database, request.path_params["slug"])
    if not campaign.is_public:
        raise Problem(404, "There is no campaign at this address.")
    return render(request, "pledged.html", {"campaign": campaign, "letter": letter_note(request)})


async def confirm_page(request: Request) -> Response:
    """The emailed link opens a page with a button; only the button (a POST) confirms. Mail
    systems that open every link in a message to check it (Safe Links and the like) would
    otherwise confirm pledges nobody confirmed. Sign-in and withdrawal work the same way."""
    svc = services(request)
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
        token = str(form.get("token", ""))
    else:
        token = request.query_params.get("token", "")
    try:
        pledge_id = svc.signer.unsign(token, "pledge-confirm")
        if request.method != "POST":
            async with svc.store.read() as db:
                pledge, campaign = await pledging.confirmable(db, int(pledge_id))
            if pledge.status != "confirmed":  # confirmed already: say so (changes nothing)
                return render(
                    request,
                    "confirm.html",
                    {"campaign": campaign, "pledge": pledge, "token": token},
                )
        outcome = await pledging.confirm_pledge(svc.store, int(pledge_id))
    except InvalidToken as exc:
        return render(request, "token_problem.html", {"message": exc.reason}, status_code=400)
    except PledgeWithdrawn:
        return render(
            request,
            "token_problem.html",
            {
                "message": "This pledge was withdrawn. "
                "Pledge again on the campaign page to be counted."
            },
            status_code=409,
        )
    except (PledgeInvalid, CampaignHidden) as exc:
        # Struck out for good (410), or its campaign hidden for now (409): not counted.
        return render(
            request,
            "token_problem.html",
            {"message": str(exc), "moderated": True},
            status_code=410 if isinstance(exc, PledgeInvalid) else 409,
        )
    async with svc.store.read() as db:
        campaign = await campaign_service.get_campaign(db, outcome.progress.slug)
        payment = await payment_view(db, int(pledge_id)) if campaign.is_money else None
        standing = (
            await household_standing(db, int(pledge_id), campaign.id)
            if campaign.counts_households
            else None
        )
    card_token = None
    if outcome.awaiting_card and svc.settings.money_enabled:
        card_token = svc.signer.sign(int(pledge_id), "pledge-card")
    confirmed = render(
        request,
        "confirmed.html",
        {
            "campaign": campaign,
            "already": not outcome.newly_confirmed,
            "awaiting_card": outcome.awaiting_card,
            "card_token": card_token,
            "amount": payment.amount if payment else None,
            "payment_status": payment.payment_status if payment else None,
            "household": standing,
        },
    )
    return own_change_seen(confirmed)


async def withdraw_page(request: Request) -> Response:
    svc = services(request)
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf_token"))
        token = str(form.get("token", ""))
    else:
        token = request.query_params.get("token", "")
    try:
        pledge_id = int(svc.signer.unsign(token, "pledge-withdraw"))
        async with svc.store.read() as db:
            pledge = await pledging.get_pledge(db, pledge_id)
            campaign = await campaign_service.get_campaign_by_id(db, pledge.campaign_id)
    except InvalidToken as exc:
        return render(request, "token_problem.html", {"message": exc.reason}, status_code=400)
    if request.method == "POST":
        await pledging.withdraw_pledge(svc.store, pledge_id)
        async with svc.store.read() as db:
            campaign = await campaign_service.get_campaign_by_id(db, campaign.id)
            # A money pledge's page says what happens to the money (a charge may be on its way).
            payment = await payment_view(db, pledge_id) if campaign.is_money else None
        context = {
            "campaign": campaign,
            "payment_status": payment.payment_status if payment else None,
        }
        return own_change_seen(render(request, "withdrawn.html", context))
    return render(
        request, "withdraw.html", {"campaign": campaign, "pledge": pledge, "token": token}
    )


async def unsubscribe(request: Request) -> Response:
    """GET shows a button; POST (the button, or a mail client's one-click) unsubscribes."""
    svc = services(request)
    token = request.query_params.get("token", "")
    if request.method == "POST":
        form = await request.form()
        token = str(form.get("token") or token)
    try:
        pledge_id = int(svc.signer.unsign(token, "unsubscribe"))
    except InvalidToken as exc:
        return render(request, "token_problem.html", {"message": exc.reason}, status_code=400)
    if request.method == "POST":
        await unsubscribe_pledge(svc.store, pledge_id)
        return render(request, "unsubscribed.html", {})
    return render(request, "unsubscribe.html", {"token": token})


routes = [
    Route("/", home, methods=["GET"]),
    Route("/c/{slug}", campaign_page, methods=["GET"]),
    Route("/c/{slug}/pledge", pledge_form, methods=["POST"]),
    Route("/c/{slug}/pledged", pledged, methods=["GET"]),
    Route("/c/{slug}/updates", updates_page, methods=["GET"]),
    Route("/pledges/confirm", confirm_page, methods=["GET", "POST"]),
    Route("/pledges/withdraw", withdraw_page, methods=["GET", "POST"]),
    Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
]
