"""The choice page: a resident follows the offers email's signed link (no account),
compares the offers side by side, and chooses one or "none of these", changing their mind
as often as they like until the round closes. Works without JavaScript; on a households
campaign the choice is the home's, and a housemate's choice is shown as such."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from databases import Database
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import services
from app.csrf import check_csrf
from app.pages.campaign_demand import demand_view
from app.pages.rendering import render
from notifications.offer_words import NO_FEE_STATEMENT, Term, day, offer_terms
from pledges.campaigns import Campaign, get_campaign_by_id
from pledges.choices import (
    NONE_OF_THESE,
    Choice,
    ChoiceRound,
    choice_for_pledge,
    choose,
    get_round,
    parse_choice,
)
from pledges.demand_curve import MIN_CELL
from pledges.errors import InvalidToken, NotFound, PledgeNotFound, ValidationFailed, WrongState
from pledges.offers import Offer, list_offers
from pledges.pledging import Pledge, get_pledge


@dataclass(frozen=True)
class OfferCard:
    offer: Offer
    terms: list[Term]


@dataclass(frozen=True)
class ChoiceView:
    """What the page shows one pledger: the round, its offers, and their home's choice."""

    pledge: Pledge
    campaign: Campaign
    round: ChoiceRound | None
    offers: list[OfferCard]
    choice: Choice | None

    @property
    def chosen_offer(self) -> Offer | None:
        if self.choice is None or self.choice.offer_id is None:
            return None
        return next((c.offer for c in self.offers if c.offer.id == self.choice.offer_id), None)

    @property
    def by_housemate(self) -> bool:
        return self.choice is not None and self.choice.pledge_id != self.pledge.id

    def form_defaults(self) -> dict[str, Any]:
        """The form as this pledger left it; a housemate's private answers are not shown,
        and whether the provider may contact them starts from what they said pledging."""
        own = self.choice if self.choice is not None and not self.by_housemate else None
        selected = None
        if self.choice is not None:
            selected = self.choice.offer_public_id or NONE_OF_THESE
        return {
            "offer": selected,
            "needs_social_tariff": bool(own and own.needs_social_tariff),
            "share_contact": own.share_contact if own else self.pledge.share_contact,
        }


async def _load(request: Request, pledge_id: int) -> ChoiceView:
    svc = services(request)
    async with svc.store.read() as db:
        pledge = await get_pledge(db, pledge_id)
        campaign = await get_campaign_by_id(db, pledge.campaign_id)
        current = await get_round(db, campaign.id)
        found = await list_offers(db, campaign.id) if current is not None else []
        choice = await choice_for_pledge(db, pledge_id) if current is not None else None
    return ChoiceView(
        pledge, campaign, current, [OfferCard(o, offer_terms(o)) for o in found], choice
    )


@dataclass(frozen=True)
class CampaignOffers:
    """The campaign page's "Offers": every offer in fair order, the round if it opened;
    how many chose each only once the round has closed."""

    cards: list[OfferCard]
    round: ChoiceRound | None

    @property
    def is_open(self) -> bool:
        return self.round is not None and self.round.is_open()

    @property
    def no_fee(self) -> str:
        return NO_FEE_STATEMENT

    @property
    def closed(self) -> bool:
        return self.round is not None and not self.round.is_open()


async def campaign_offers(db: Database, campaign: Campaign) -> CampaignOffers | None:
    """None while there are no offers."""
    found = await list_offers(db, campaign.id)
    if not found:
        return None
    return CampaignOffers(
        [OfferCard(o, offer_terms(o)) for o in found], await get_round(db, campaign.id)
    )


def _problem(
    request: Request,
    view: ChoiceView | None,
    message: str,
    status: int,
    *,
    token: str | None = None,
) -> Response:
    """`token`: after the close, the page links on to say the chosen service reached them."""
    return render(
        request,
        "choose_unavailable.html",
        {"view": view, "message": message, "day": day, "token": token},
        status_code=status,
    )


async def choose_page(request: Request) -> Response:
    svc = services(request)
    form: dict[str, Any] = {}
    if request.method == "POST":
        form = dict(await request.form())
        check_csrf(request, form.get("csrf_token"))
        token = str(form.get("token", ""))
    else:
        token = request.query_params.get("token", "")
    try:
        pledge_id = int(svc.signer.unsign(token, "offer-choice"))
        view = await _load(request, pledge_id)
    except InvalidToken as exc:
        return render(request, "token_problem.html", {"message": exc.reason}, status_code=400)
    except PledgeNotFound:
        return render(
            request,
            "token_problem.html",
            {"message": "This pledge no longer exists, so it cannot choose.", "moderated": True},
            status_code=410,
        )
    if view.round is None:
        return _problem(
            request, view, "The choice round for this campaign has not opened yet.", 409
        )
    if view.pledge.status != "confirmed":
        return _problem(
            request,
            view,
            "This pledge no longer counts (it was withdrawn), so it cannot choose.",
            409,
        )
    if not view.round.is_open():
        return _problem(
            request,
            view,
            f"The choice round closed on {day(view.round.closed_at or view.round.closes_at)}; "
            "choices can no longer change.",
            409,
            token=token,
        )
    if request.method == "GET":
        return await _page(request, view, token, view.form_defaults())
    shown = {
        "offer": str(form.get("offer", "")),
        "needs_social_tariff": form.get("needs_social_tariff") == "on",
        "share_contact": form.get("share_contact") == "on",
    }
    try:
        await choose(svc.store, pledge_id, parse_choice(shown))
    except ValidationFailed as exc:
        errors = {e.field: e.message for e in exc.errors}
        return await _page(request, view, token, shown, errors, status_code=422)
    except (WrongState, NotFound) as exc:  # closed, or withdrawn, since the page was read
        return _problem(request, await _load(request, pledge_id), str(exc), 409)
    view = await _load(request, pledge_id)
    return await _page(request, view, token, view.form_defaults(), saved=True)


async def _page(
    request: Request,
    view: ChoiceView,
    token: str,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    async with services(request).store.read() as db:
        demand = await demand_view(db, view.campaign)
    assert view.round is not None
    return render(
        request,
        "choose.html",
        {
            "view": view,
            "campaign": view.campaign,
            "closes": day(view.round.closes_at),
            "token": token,
            "form": form,
            "errors": errors or {},
            "saved": saved,
            "demand": demand,
            "no_fee": NO_FEE_STATEMENT,
            "none_of_these": NONE_OF_THESE,
            # The social-tariff answer is only ever shown as a total, never below this.
            "shown_from": MIN_CELL,
        },
        status_code=status_code,
    )


routes = [Route("/choose", choose_page, methods=["GET", "POST"])]
