"""A provider's pages for its offers on a tipped campaign it covers: post an offer (amounts
typed in pounds, euros or dollars), edit it until the choice round opens, withdraw it with
a reason; see how many households chose each of its offers while the round runs; and,
once the round closes, every offer's results and the contacts of those who chose its
offers and agreed to be contacted.

Who may do this is notifications.answering's rule (a provider whose active endpoints
cover the campaign, once it tipped), checked before every read and write; another
provider's totals are not shown until the round closes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.pages.organisations import csv_text, current_organisation
from app.pages.rendering import render
from app.spreadsheet import SPREADSHEET_BOM
from notifications.answering import answerable_campaign
from pledges.accounts import Organisation
from pledges.campaigns import Campaign
from pledges.choices import download_choosers, get_round, round_results
from pledges.dashboard import long_date
from pledges.demand_curve import open_figure
from pledges.errors import FieldError, NotFound, ValidationFailed, WrongState
from pledges.money import MAX_MONEY_TARGET, format_money, major_text, parse_major
from pledges.offers import (
    MAX_TERM_MONTHS,
    OFFER_PERIODS,
    Offer,
    edit_offer,
    get_offer,
    list_offers,
    offer_currency,
    parse_offer,
    parse_withdrawal,
    post_offer,
    withdraw_offer,
)
from pledges.text import whole_number

FLASH = "org_flash"
# The offer form's fields, in the order the page shows them (and lists its errors).
FORM_FIELDS = (
    "title",
    "description",
    "price",
    "period",
    "setup_fee",
    "minimum_term_months",
    "available_from",
    "valid_until",
    "social_tariff_kind",
    "social_tariff_price",
    "social_tariff_who_qualifies",
    "no_social_tariff",
)
# A domain field name -> the form field beside which its error is shown.
FORM_NAME = {
    "social_tariff": "social_tariff_kind",
    "social_tariff.price": "social_tariff_price",
    "social_tariff.who_qualifies": "social_tariff_who_qualifies",
}
AMOUNT_FIELDS = ("price", "setup_fee", "social_tariff_price")
PERIOD_LABELS = {"month": "A month", "year": "A year", "once": "Once"}
CURRENCY_UNITS = {"gbp": "pounds", "eur": "euros", "usd": "dollars"}
REQUIRED_MESSAGES = {
    "title": "Enter a title for the offer.",
    "description": "Describe the offer: what households get.",
    "price": "Enter the price, like 30 or 29.99.",
    "social_tariff_price": "Enter the social tariff's price, like 15 or 14.99.",
    "social_tariff_who_qualifies": "Say who qualifies for the social tariff.",
    "no_social_tariff": "Say plainly that this offer has no social tariff.",
}


async def _organisation(request: Request) -> Organisation | Response:
    org = await current_organisation(request)
    if org is None:
        return RedirectResponse("/org/sign-in", status_code=303)
    return org


async def _campaign(request: Request, org: Organisation) -> Campaign:
    """The campaign at the path's slug, if this provider may post offers on it: CampaignNotFound
    (404), NotCovering (403) or WrongState (409) otherwise."""
    return await answerable_campaign(
        services(request).store.database, org, request.path_params["slug"], "offer"
    )


def _offers_url(campaign: Campaign) -> str:
    return f"/org/campaigns/{campaign.slug}/offers"


# The form: what was typed, as parse_offer wants it, and its errors back


def _typed(raw: Any) -> dict[str, str]:
    return {name: str(raw.get(name, "")) for name in FORM_FIELDS}


def _amount(text: str) -> int | str | None:
    """A typed amount as minor units; empty as None; anything else as the text itself, so
    parse_offer refuses it and the form says so beside the field."""
    if not text.strip():
        return None
    amount = parse_major(text)
    return text if amount is None else amount


def _months(text: str) -> int | str | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    number = whole_number(cleaned, max_digits=6)
    return cleaned if number is None else number


def offer_data(form: dict[str, str]) -> dict[str, Any]:
    """The API's offer object from the form; parse_offer decides what is valid."""
    kind = form["social_tariff_kind"]
    tariff = (
        {
            "price": _amount(form["social_tariff_price"]),
            "who_qualifies": form["social_tariff_who_qualifies"],
        }
        if kind == "tariff"
        else None
    )
    return {
        "title": form["title"],
        "description": form["description"],
        "price": _amount(form["price"]),
        "period": form["period"],
        "setup_fee": _amount(form["setup_fee"]),
        "minimum_term_months": _months(form["minimum_term_months"]),
        "available_from": form["available_from"].strip() or None,
        "valid_until": form["valid_until"].strip() or None,
        "social_tariff": tariff,
        "no_social_tariff": (form["no_social_tariff"].strip() or None) if kind == "none" else None,
    }


def _message(name: str, error: FieldError, form: dict[str, str], currency: str) -> str:
    """The form's own words for a problem the API names in minor units and field names."""
    if error.code in ("required", "social_tariff_or_statement") and name in REQUIRED_MESSAGES:
        return REQUIRED_MESSAGES[name]
    if name in AMOUNT_FIELDS and error.code == "not_a_whole_number":
        unit = CURRENCY_UNITS.get(currency, "the campaign's currency")
        return f"Enter an amount in {unit}, like 30 or 29.99."
    if name in AMOUNT_FIELDS and error.code == "out_of_range":
        return f"Enter an amount from 0 to {format_money(MAX_MONEY_TARGET, currency)}."
    if error.code == "not_a_date":
        return "Enter a date, like 2027-03-01."
    if name == "period":
        return "Choose how often the price is paid."
    if name == "social_tariff_kind":
        return "Say whether this offer has a social tariff for households on low incomes."
    return error.message


def form_errors(exc: ValidationFailed, form: dict[str, str], currency: str) -> dict[str, str]:
    """The first problem with each form field, in the form's order."""
    found: dict[str, str] = {}
    for error in exc.errors:
        name = FORM_NAME.get(error.field, error.field)
        if name == "social_tariff_kind" and form["social_tariff_kind"] == "none":
            name = "no_social_tariff"  # chose "no social tariff" but gave no statement
        found.setdefault(name, _message(name, error, form, currency))
    return {k: found[k] for k in (*FORM_FIELDS, *found) if k in found}


def form_from_offer(offer: Offer) -> dict[str, str]:
    tariff = offer.social_tariff
    return {
        "title": offer.title,
        "description": offer.description,
        "price": major_text(offer.price),
        "period": offer.period,
        "setup_fee": major_text(offer.setup_fee),
        "minimum_term_months": str(offer.minimum_term_months),
        "available_from": offer.available_from.date().isoformat() if offer.available_from else "",
        "valid_until": offer.valid_until.date().isoformat() if offer.valid_until else "",
        "social_tariff_kind": "tariff" if tariff else "none",
        "social_tariff_price": major_text(tariff.price) if tariff else "",
        "social_tariff_who_qualifies": tariff.who_qualifies if tariff else "",
        "no_social_tariff": offer.no_social_tariff or "",
    }


def _form_context(campaign: Campaign) -> dict[str, Any]:
    currency = offer_currency(campaign)
    return {
        "currency_unit": CURRENCY_UNITS.get(currency, currency.upper()),
        "periods": [(p, PERIOD_LABELS[p]) for p in OFFER_PERIODS],
        "max_term": MAX_TERM_MONTHS,
        "long_date": long_date,
        "open_figure": open_figure,
    }


# The pages


async def _offers_page(
    request: Request,
    org: Organisation,
    campaign: Campaign,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    withdrawing: tuple[str, str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The provider's own offers with their totals, the form for a new one while the round
    has not opened, and everyone's results once it closed. `withdrawing`: (offer id, the
    reason typed, its error)."""
    async with services(request).store.read() as db:
        everyone = await list_offers(db, campaign.id)
        choice_round = await get_round(db, campaign.id)
        closed = choice_round is not None and choice_round.closed_at is not None
        results = await round_results(db, campaign.id) if closed else None
    own = [o for o in everyone if o.organisation_id == org.id]
    errors = errors or {}
    return render(
        request,
        "org/offers.html",
        {
            "org": org,
            "campaign": campaign,
            "offers": own,
            "round": choice_round,
            "results": results,
            "form": form or {"social_tariff_kind": "", "period": "month"},
            "errors": errors,
            "withdrawing": withdrawing,
            "flash": request.session.pop(FLASH, None),
            "current": "demand",
            **_form_context(campaign),
        },
        status_code,
    )


async def offers_page(request: Request) -> Response:
    """GET: the provider's offers on the campaign; POST: publish a new offer."""
    org = await _organisation(request)
    if isinstance(org, Response):
        return org
    raw = await request.form() if request.method == "POST" else None
    if raw is not None:
        check_csrf(request, raw.get("csrf_token"))
    campaign = await _campaign(request, org)
    if raw is None:
        return await _offers_page(request, org, campaign)
    form = _typed(raw)
    try:
        spec = parse_offer(offer_data(form))
        posted = await post_offer(services(request).store, campaign, org.id, spec)
    except ValidationFailed as exc:
        errors = form_errors(exc, form, offer_currency(campaign))
        return await _offers_page(request, org, campaign, form=form, errors=errors, status_code=422)
    except WrongState as exc:  # the round opened meanwhile
        return await _offers_page(
            request, org, campaign, form=form, errors={"form": str(exc)}, status_code=409
        )
    request.session[FLASH] = (
        f"Your offer “{posted.title}” is published. You can change it until the choice round opens."
    )
    return RedirectResponse(_offers_url(campaign), status_code=303)


async def _edit_page(
    request: Request,
    org: Organisation,
    campaign: Campaign,
    offer: Offer,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with services(request).store.read() as db:
        choice_round = await get_round(db, campaign.id)
    return render(
        request,
        "org/offer_edit.html",
        {
            "org": org,
            "campaign": campaign,
            "offer": offer,
            "round": choice_round,
            "form": form or form_from_offer(offer),
            "errors": errors or {},
            "current": "demand",
            **_form_context(campaign),
        },
        status_code,
    )


async def _own_offer(request: Request, org: Organisation, campaign: Campaign) -> Offer:
    """The offer at the path's id, if it is this organisation's; another's answers 404."""
    offer = await get_offer(
        services(request).store.database, campaign.id, request.path_params["offer_id"]
    )
    if offer.organisation_id != org.id:
        raise NotFound("There is no such offer on this campaign.")
    return offer


async def offer_page(request: Request) -> Response:
    """GET: the offer's form, or why it can no longer change; POST: save the changes."""
    org = await _organisation(request)
    if isinstance(org, Response):
        return org
    raw = await request.form() if request.method == "POST" else None
    if raw is not None:
        check_csrf(request, raw.get("csrf_token"))
    campaign = await _campaign(request, org)
    offer = await _own_offer(request, org, campaign)
    if raw is None:
        return await _edit_page(request, org, campaign, offer)
    form = _typed(raw)
    try:
        changed = await edit_offer(
            services(request).store, campaign, org.id, offer.public_id, offer_data(form)
        )
    except ValidationFailed as exc:
        errors = form_errors(exc, form, offer_currency(campaign))
        return await _edit_page(
            request, org, campaign, offer, form=form, errors=errors, status_code=422
        )
    except WrongState as exc:  # the round opened, or the offer was withdrawn, meanwhile
        return await _edit_page(
            request, org, campaign, offer, errors={"form": str(exc)}, status_code=409
        )
    request.session[FLASH] = f"Your offer “{changed.title}” is changed."
    return RedirectResponse(_offers_url(campaign), status_code=303)


async def withdraw_page(request: Request) -> Response:
    """Withdraw one of the provider's offers, with the reason residents will read."""
    org = await _organisation(request)
    if isinstance(org, Response):
        return org
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    campaign = await _campaign(request, org)
    offer = await _own_offer(request, org, campaign)
    typed = str(raw.get("reason", ""))
    try:
        reason = parse_withdrawal({"reason": typed})
        await withdraw_offer(services(request).store, campaign, org.id, offer.public_id, reason)
    except ValidationFailed as exc:
        message = exc.errors[0].message
        if exc.errors[0].code == "required":
            message = "Give the reason residents will read beside the withdrawn offer."
        return await _offers_page(
            request,
            org,
            campaign,
            withdrawing=(offer.public_id, typed, message),
            status_code=422,
        )
    except WrongState as exc:  # withdrawn already
        return await _offers_page(
            request,
            org,
            campaign,
            withdrawing=(offer.public_id, typed, str(exc)),
            status_code=409,
        )
    request.session[FLASH] = (
        f"Your offer “{offer.title}” is withdrawn. Residents see it as withdrawn, with your reason."
    )
    return RedirectResponse(_offers_url(campaign), status_code=303)


async def choosers_csv(request: Request) -> Response:
    """Once the round closed: those who chose one of this provider's offers and agreed that
    it may contact them (no one else; refused before the close with 409)."""
    org = await _organisation(request)
    if isinstance(org, Response):
        return org
    campaign = await _campaign(request, org)
    store = services(request).store
    found = await download_choosers(store, campaign.id, org.id, via="choice_csv")
    async with store.read() as db:
        titles = {o.public_id: o.title for o in await list_offers(db, campaign.id)}
    # Whether someone would need a social tariff is shown only as a count, never per person.
    body = csv_text(
        [
            ("offer", "offer_title", "name", "email", "phone", "address_line", "postcode"),
            *(
                (
                    c.offer_public_id,
                    titles.get(c.offer_public_id, ""),
                    c.name,
                    c.email,
                    c.phone,
                    c.address_line,
                    c.postcode,
                )
                for c in found
            ),
        ]
    )
    return Response(
        SPREADSHEET_BOM + body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign.slug}-choosers.csv"',
            "Cache-Control": "no-store",  # residents' personal data
        },
    )


routes = [
    Route("/org/campaigns/{slug}/offers", offers_page, methods=["GET", "POST"]),
    Route("/org/campaigns/{slug}/offers/{offer_id}", offer_page, methods=["GET", "POST"]),
    Route("/org/campaigns/{slug}/offers/{offer_id}/withdraw", withdraw_page, methods=["POST"]),
    Route("/org/campaigns/{slug}/choosers.csv", choosers_csv, methods=["GET"]),
]
