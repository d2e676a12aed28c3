"""Letters with one-time codes: the lead prints one per premise on the campaign's list (an
A4 print page), and a resident enters the code at /c/{slug}/verify, or on the pledge
form, to verify their household. The rules and their words are in pledges/letters.py."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.pages.leads import STATUS_LABELS, qr_svg
from app.pages.rendering import render
from app.pages.sharing import campaign_url
from app.pages.sign_in import (
    lead_campaign,
)
from pledges import campaigns as campaign_service
from pledges.campaigns import Campaign
from pledges.errors import ValidationFailed
from pledges.letters import (
    LetterGuessesLimited,
    LettersRefused,
    issue_letters,
    letters_refusal,
    letters_summary,
    parse_letter_code,
    verifiable_campaign,
    verify_letter,
)
from pledges.pledging import PledgeInput, parse_pledge

# What the pledge form's code came to, shown once on the page after pledging.
LETTER_NOTE = "letter_note"
VERIFY_FIELDS = ("postcode", "address_line", "code")


def verify_url(base_url: str, slug: str) -> str:
    return f"{campaign_url(base_url, slug)}/verify"


# ----- the lead's letters ------------------------------------------------------------------


async def _letters_page(
    request: Request, campaign: Campaign, refusal: str | None, status_code: int = 200
) -> Response:
    async with services(request).store.read() as db:
        summary = await letters_summary(db, campaign)
    return render(
        request,
        "lead/letters.html",
        {
            "campaign": campaign,
            "summary": summary,
            "refusal": refusal,
            "status_labels": STATUS_LABELS,
            "verify_url": verify_url(services(request).settings.base_url, campaign.slug),
        },
        status_code,
    )


async def lead_letters(request: Request) -> Response:
    """GET explains the letters; the POST from its button issues the codes and answers
    the print page (the only time the codes are shown)."""
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    if request.method == "GET":
        return await _letters_page(request, campaign, letters_refusal(campaign))
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    svc = services(request)
    try:
        # The lead is the campaign's own (checked above).
        letters = await issue_letters(svc.store, campaign.slug, campaign.lead_id, svc.signer)
    except LettersRefused as exc:
        return await _letters_page(request, campaign, str(exc), status_code=409)
    url = verify_url(svc.settings.base_url, campaign.slug)
    return render(
        request,
        "lead/letters_print.html",
        # segno's SVG: paths and a fixed title, no text from anyone.
        {"campaign": campaign, "letters": letters, "url": url, "qr": Markup(qr_svg(url))},  # noqa: S704
    )


# ----- the resident's code -----------------------------------------------------------------


async def _verify_form(
    request: Request,
    campaign: Campaign,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "verify.html",
        {"campaign": campaign, "form": form, "errors": errors},
        status_code,
    )


async def verify_page(request: Request) -> Response:
    svc = services(request)
    slug = request.path_params["slug"]
    async with svc.store.read() as db:
        campaign = await verifiable_campaign(db, slug)
    if request.method == "GET":
        return await _verify_form(request, campaign, {}, {})
    raw = await request.form()
    check_csrf(request, raw.get("csrf_token"))
    form = {name: str(raw.get(name, "")) for name in VERIFY_FIELDS}
    try:
        outcome = await verify_letter(
            svc.store,
            slug,
            svc.signer,
            postcode=form["postcode"],
            address_line=form["address_line"],
            code=form["code"],
        )
    except ValidationFailed as exc:
        errors = {e.field: e.message for e in exc.errors}
        return await _verify_form(request, campaign, form, errors, status_code=422)
    except LetterGuessesLimited as exc:
        return _limited(request, campaign, exc)
    campaign = await campaign_service.get_campaign(svc.store.database, slug)
    return render(request, "verified.html", {"campaign": campaign, "outcome": outcome})


def _limited(request: Request, campaign: Campaign, exc: LetterGuessesLimited) -> Response:
    response = render(
        request,
        "verify_limited.html",
        {"campaign": campaign, "message": str(exc)},
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


# ----- the code on the pledge form ---------------------------------------------------------


def parse_pledge_with_code(data: dict[str, Any], code: str) -> tuple[PledgeInput, str | None]:
    """The pledge form's fields and its optional letter code, every problem at once: a
    code that cannot be one is refused beside its field before anything is recorded."""
    errors = []
    pledge = None
    try:
        pledge = parse_pledge(data)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    found = None
    try:
        found = parse_letter_code(code)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    assert pledge is not None
    return pledge, found


async def check_pledge_code(request: Request, slug: str, pledge: PledgeInput, code: str) -> None:
    """After a pledge is recorded: its letter code, for the pledge's address. The pledge
    stands whatever the code; the next page says what came of it."""
    try:
        await verify_letter(
            services(request).store,
            slug,
            services(request).signer,
            postcode=pledge.postcode,
            address_line=pledge.address_line,
            code=code,
        )
    except ValidationFailed as exc:
        request.session[LETTER_NOTE] = {"ok": False, "message": exc.errors[0].message}
    except (LetterGuessesLimited, LettersRefused) as exc:
        request.session[LETTER_NOTE] = {"ok": False, "message": str(exc)}
    else:
        request.session[LETTER_NOTE] = {"ok": True, "message": ""}


def letter_note(request: Request) -> dict[str, Any] | None:
    """What the pledge form's code came to, once."""
    note = request.session.pop(LETTER_NOTE, None)
    return note if isinstance(note, dict) else None


routes = [
    Route("/lead/campaigns/{slug}/letters", lead_letters, methods=["GET", "POST"]),
    Route("/c/{slug}/verify", verify_page, methods=["GET", "POST"]),
]
