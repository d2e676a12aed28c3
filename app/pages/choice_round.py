"""The lead's page for a tipped campaign's offers and choice round: the providers' offers in
fair order, opening the round with a closing date, the live totals (each offer, "none of
these", and how many would need a social tariff, shown as open data shows it), and the
choice of a neighbour without email, recorded on their word so no one is left out.

As on the lead's other pages: the lead's session is needed, and another lead's campaign
answers 404, as if it did not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.errors import Problem
from app.pages.leads import FLASH
from app.pages.rendering import render
from app.pages.sign_in import lead_campaign
from pledges.campaigns import Campaign
from pledges.choices import (
    DEFAULT_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    NONE_OF_THESE,
    Choice,
    choice_for_pledge,
    choose,
    get_round,
    open_round,
    parse_choice,
    parse_closing,
    round_results,
)
from pledges.dashboard import long_date
from pledges.demand_curve import open_figure
from pledges.erasure import RecordedPledge, pledges_without_email
from pledges.errors import ValidationFailed, WrongState
from pledges.offers import list_offers
from pledges.store import utcnow


@dataclass(frozen=True)
class Neighbour:
    """A confirmed pledge recorded without email, and the choice its home has made."""

    pledge: RecordedPledge
    choice: Choice | None


def _choice_url(campaign: Campaign) -> str:
    return f"/lead/campaigns/{campaign.slug}/choice"


async def _choice_page(
    request: Request,
    campaign: Campaign,
    *,
    closes_at: str | None = None,
    errors: dict[str, str] | None = None,
    recording: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """`recording`: what was sent for one neighbour's choice and its error, re-shown."""
    now = utcnow()
    async with services(request).store.read() as db:
        offers = await list_offers(db, campaign.id)
        choice_round = await get_round(db, campaign.id)
        results = await round_results(db, campaign.id)
        neighbours = []
        if choice_round is not None:
            for pledge in await pledges_without_email(db, campaign.id):
                if pledge.status == "confirmed":
                    neighbours.append(Neighbour(pledge, await choice_for_pledge(db, pledge.id)))
    errors = errors or {}
    summary = [(f"choice-{k}", v) for k, v in errors.items()]
    if recording and recording.get("error"):
        summary.append((f"choice-{recording['pledge_id']}-offer", recording["error"]))
    return render(
        request,
        "lead/choice.html",
        {
            "campaign": campaign,
            "offers": offers,
            "published": [o for o in offers if o.is_published],
            "round": choice_round,
            "is_open": choice_round is not None and choice_round.is_open(now),
            "results": results,
            "neighbours": neighbours,
            "closes_at": closes_at or (now + DEFAULT_LENGTH).date().isoformat(),
            "earliest": (now + MIN_LENGTH).date(),
            "latest": (now + MAX_LENGTH - timedelta(days=1)).date(),  # the whole last day counts
            "errors": errors,
            "error_summary": summary,
            "recording": recording or {},
            "none_of_these": NONE_OF_THESE,
            "flash": request.session.pop(FLASH, None),
            "long_date": long_date,
            "open_figure": open_figure,
        },
        status_code,
    )


async def choice_page(request: Request) -> Response:
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    return await _choice_page(request, campaign)


async def open_choice_round(request: Request) -> Response:
    """Open the round with the closing date the lead chose; residents are then emailed."""
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    typed = str(form.get("closes_at", ""))
    try:
        closes_at = parse_closing({"closes_at": typed.strip()})
        await open_round(services(request).store, campaign.id, closes_at, lead_id=campaign.lead_id)
    except ValidationFailed as exc:
        errors = {"closes_at": exc.errors[0].message}
        if exc.errors[0].code == "not_a_date":
            errors["closes_at"] = "Enter the closing date, like 2027-03-01."
        return await _choice_page(
            request, campaign, closes_at=typed, errors=errors, status_code=422
        )
    except WrongState as exc:  # no offers yet, not tipped, or opened already
        return await _choice_page(
            request, campaign, closes_at=typed, errors={"open": str(exc)}, status_code=409
        )
    request.session[FLASH] = (
        f"The choice round is open until {long_date(closes_at)}. Everyone who pledged with "
        "an email address is being sent the offers; record below the choices of those "
        "without one."
    )
    return RedirectResponse(_choice_url(campaign), status_code=303)


async def record_choice(request: Request) -> Response:
    """The choice a neighbour without email told the lead (at the door, on the phone)."""
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    text = request.path_params["pledge_id"]
    pledge_id = int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 0
    recorded = {
        p.id: p
        for p in await pledges_without_email(services(request).store.database, campaign.id)
        if p.status == "confirmed"
    }
    if pledge_id not in recorded:
        raise Problem(404, "There is no such pledge recorded without email on this campaign.")
    offer = str(form.get("offer", ""))
    needs = form.get("needs_social_tariff") == "on"
    share = form.get("share_contact") == "on"
    sent = {"pledge_id": pledge_id, "offer": offer, "needs": needs, "share": share}
    try:
        spec = parse_choice({"offer": offer, "needs_social_tariff": needs, "share_contact": share})
        await choose(services(request).store, pledge_id, spec)
    except ValidationFailed as exc:
        message = exc.errors[0].message
        if exc.errors[0].code == "required":
            message = "Choose the offer they chose, or “None of these”."
        return await _choice_page(
            request, campaign, recording={**sent, "error": message}, status_code=422
        )
    except WrongState as exc:  # the round closed, or the pledge stopped counting
        return await _choice_page(request, campaign, errors={"record": str(exc)}, status_code=409)
    request.session[FLASH] = f"Recorded the choice of {recorded[pledge_id].name}."
    return RedirectResponse(f"{_choice_url(campaign)}#neighbours", status_code=303)


routes = [
    Route("/lead/campaigns/{slug}/choice", choice_page, methods=["GET"]),
    Route("/lead/campaigns/{slug}/choice/open", open_choice_round, methods=["POST"]),
    Route("/lead/campaigns/{slug}/choice/recorded/{pledge_id}", record_choice, methods=["POST"]),
]
