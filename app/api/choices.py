"""/api/v1 the choice round: the lead opens it, residents choose with the signed link from
the offers email (no account), the lead and each provider follow the totals, and once it
closes each provider downloads the contacts of the residents who chose its offers and
agreed to be contacted."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import (
    Answer,
    Operation,
    answer,
    domain_errors,
    operation,
    parse_body,
    parse_query,
)
from app.api.models import PY_SPACE, Input, Shape, stated, timestamp
from app.api.offer_shapes import (
    ROUND_EXAMPLE,
    PublicOffer,
    RoundDates,
    RoundResults,
    public_offer,
    round_dates,
    round_results,
)
from app.api.requests import bearer_key, require_lead, require_organisation
from app.bootstrap import services
from notifications.answering import NotCovering, covers
from notifications.demand import public_campaign
from pledges import choices as choice_service
from pledges.campaigns import get_campaign, get_campaign_by_id
from pledges.choices import NONE_OF_THESE, ChoiceRound
from pledges.errors import FieldError, NotCampaignLead, ValidationFailed
from pledges.offers import list_offers
from pledges.pledging import get_pledge

# ----- models ----------------------------------------------------------------------------

RoundStatus = Literal["not_opened", "open", "closing", "closed"]
STATUS_WORDS = (
    "not_opened: no round yet; open: residents are choosing; closing: its closing date has "
    "passed and the results are being recorded (within moments); closed: the results are final."
)
# An offer's id, or "none": text that is not blank, without NUL, at most 40 characters.
OFFER_CHOICE = f"^[^\\x00]*[^{PY_SPACE}\\x00][^\\x00]*$"


class ClosingInput(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    closes_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the round closes: an ISO 8601 time (or a date alone: the end of that "
        "day), 3 to 60 days from now. Absent or null: 14 days from now.",
    )


class ChoiceRoundState(Shape):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign": "fibre-for-brudenell",
                    "status": "open",
                    "round": ROUND_EXAMPLE,
                    "results": None,
                }
            ]
        }
    )

    campaign: str = Field(description="The campaign's slug.")
    status: RoundStatus = Field(description=STATUS_WORDS)
    round: RoundDates | None = Field(description="null before the round opens.")
    results: RoundResults | None = Field(
        description="Live totals for the campaign's lead (with its key) while the round is "
        "open; everyone's once it has closed; otherwise null."
    )


class ChoiceBody(Input):
    # No example: a token is signed by the site for one pledge, which no example can be.

    token: str = Field(min_length=1, description="The token from the offers email's link.")
    offer: str = stated(
        OFFER_CHOICE,
        max_length=40,
        description='An offer\'s id, or "none" for none of these.',
    )
    needs_social_tariff: bool | None = Field(
        default=None,
        description="Private: the household would need the offer's social tariff. Only ever "
        "shown as an aggregate, never below 5. Absent or null: no.",
    )
    share_contact: bool | None = Field(
        default=None,
        description="Whether the provider of the chosen offer may have your contact details "
        "once the round closes. Absent or null: as you said when you pledged.",
    )


class ChoiceQuery(Input):
    token: str = Field(min_length=1, description="The token from the offers email's link.")


class ChoiceMade(Shape):
    offer: str = Field(description='The chosen offer\'s id, or "none" for none of these.')
    needs_social_tariff: bool
    share_contact: bool
    updated_at: str = timestamp("When the choice was made or last changed.")


class ChoiceAnswer(Shape):
    """The choice as it now stands (a household's, on a campaign that counts households:
    any of its pledgers may make or change it, and it counts once)."""

    campaign: str = Field(description="The campaign's slug.")
    status: RoundStatus = Field(description=STATUS_WORDS)
    round: RoundDates | None
    choice: ChoiceMade | None = Field(description="null: no choice made yet.")
    can_choose: bool = Field(
        description="Whether this link may make or change the choice now: the round is open "
        "and the pledge is confirmed."
    )
    offers: list[PublicOffer] = Field(
        description="Every offer in fair order (withdrawn ones after, with their reason)."
    )


class Chooser(Shape):
    offer: str = Field(description="The id of the offer this resident chose.")
    name: str
    email: str | None = Field(description="null for a resident who pledged without email.")
    phone: str | None = Field(
        description="A paper pledge's phone number, when the resident gave one."
    )
    postcode: str
    address_line: str | None = Field(description="The first line of the address, if given.")


class ChoosersContacts(Shape):
    campaign: str = Field(description="The campaign's slug.")
    contacts: list[Chooser] = Field(
        description="Only residents who chose one of this organisation's offers and agreed to "
        "be contacted by its provider."
    )


# ----- handlers --------------------------------------------------------------------------


def round_status(found: ChoiceRound | None) -> RoundStatus:
    if found is None:
        return "not_opened"
    if found.closed_at is not None:
        return "closed"
    return "open" if found.is_open() else "closing"


async def _round_state(
    request: Request, campaign_id: int, slug: str, *, with_totals: bool
) -> ChoiceRoundState:
    db = services(request).store.database
    found = await choice_service.get_round(db, campaign_id)
    results = None
    if found is not None and (with_totals or found.closed_at is not None):
        totals = await choice_service.round_results(db, campaign_id)
        results = round_results(totals) if totals is not None else None
    return ChoiceRoundState(
        campaign=slug,
        status=round_status(found),
        round=round_dates(found) if found is not None else None,
        results=results,
    )


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/choice-round",
    operation_id="openChoiceRound",
    summary="Open the choice round: residents choose between the offers (the lead)",
    tag="choices",
    caller="lead",
    body=ClosingInput,
    answers={201: Answer("Opened: each confirmed pledger is sent the offers", ChoiceRoundState)},
    errors=(403, 404, 409),
    description="A 409 before the campaign tipped, when there is no offer to choose between "
    "yet, or when the round has opened already. Offers are fixed from now on.",
)
async def open_choice_round(request: Request) -> Response:
    lead = await require_lead(request)
    store = services(request).store
    campaign = await get_campaign(store.database, request.path_params["slug"])
    if campaign.lead_id != lead.id:
        raise NotCampaignLead(campaign.slug)
    body = await parse_body(request, ClosingInput, choice_service.parse_closing)
    closes_at = choice_service.parse_closing(body.model_dump(exclude_unset=True))
    await choice_service.open_round(store, campaign.id, closes_at, lead_id=lead.id)
    state = await _round_state(request, campaign.id, campaign.slug, with_totals=True)
    return answer(state, 201)


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/choice-round",
    operation_id="getChoiceRound",
    summary="A campaign's choice round: its dates and, once closed, its results",
    tag="choices",
    caller="anyone_or_lead",
    answers={200: Answer("The round", ChoiceRoundState)},
    errors=(404,),
    description="With the campaign's lead's key, the live totals while the round is open.",
)
async def get_choice_round(request: Request) -> Response:
    lead = await require_lead(request) if bearer_key(request) is not None else None
    db = services(request).store.database
    campaign = await public_campaign(db, request.path_params["slug"])
    mine = lead is not None and campaign.lead_id == lead.id
    return answer(await _round_state(request, campaign.id, campaign.slug, with_totals=mine))


async def check_choice(data: Any) -> None:
    """The domain's words for a choice the model refused (the token's, then the offer's)."""
    found: list[FieldError] = []
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        found.append(FieldError("token", "required", "Send the token from the email link."))
    found += await domain_errors(choice_service.parse_choice, data)
    if found:
        raise ValidationFailed(found)


async def _choice_answer(
    request: Request, pledge_id: int, made: choice_service.Choice | None = None
) -> ChoiceAnswer:
    """The offers and the choice as they stand; `made`: the choice just made, not read again."""
    async with services(request).store.read() as db:
        pledge = await get_pledge(db, pledge_id)
        campaign = await get_campaign_by_id(db, pledge.campaign_id)
        found = await choice_service.get_round(db, campaign.id)
        if made is None:
            made = await choice_service.choice_for_pledge(db, pledge_id)
        offers = await list_offers(db, campaign.id)
    choice = None
    if made is not None:
        choice = ChoiceMade(
            offer=made.offer_public_id or NONE_OF_THESE,
            needs_social_tariff=made.needs_social_tariff,
            share_contact=made.share_contact,
            updated_at=made.updated_at.isoformat(),
        )
    return ChoiceAnswer(
        campaign=campaign.slug,
        status=round_status(found),
        round=round_dates(found) if found is not None else None,
        choice=choice,
        can_choose=found is not None and found.is_open() and pledge.status == "confirmed",
        offers=[public_offer(o) for o in offers],
    )


@operation(
    "POST",
    "/api/v1/choices",
    operation_id="makeChoice",
    summary="Choose an offer, or none of these, with the token from the offers email",
    tag="choices",
    caller="token_holder",
    body=ChoiceBody,
    answers={200: Answer("The choice as it now stands", ChoiceAnswer)},
    errors=(404, 409),
    description="The choice may change until the round closes; the last one counts. A 400 "
    "names `token` when the link is not valid or has expired; a 409 when the round is not "
    "open, or the pledge no longer counts; a 422 names `offer` when there is no such offer "
    "on the campaign, or its provider withdrew it.",
)
async def make_choice(request: Request) -> Response:
    svc = services(request)
    body = await parse_body(request, ChoiceBody, check_choice)
    pledge_id = int(svc.signer.unsign(body.token, "offer-choice"))
    choice = choice_service.parse_choice(body.model_dump(exclude={"token"}, exclude_none=True))
    made = await choice_service.choose(svc.store, pledge_id, choice)
    return answer(await _choice_answer(request, pledge_id, made))


@operation(
    "GET",
    "/api/v1/choices",
    operation_id="getChoice",
    summary="The offers and the current choice, with the token from the offers email",
    tag="choices",
    caller="token_holder",
    query=ChoiceQuery,
    answers={200: Answer("The offers and the choice as it stands", ChoiceAnswer)},
    errors=(400, 404),
    description="A 400 names `token` when the link is not valid or has expired.",
)
async def get_choice(request: Request) -> Response:
    svc = services(request)
    query = await parse_query(request, ChoiceQuery)
    pledge_id = int(svc.signer.unsign(query.token, "offer-choice"))
    return answer(await _choice_answer(request, pledge_id))


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/choice-round/contacts",
    operation_id="getChoosersContacts",
    summary="Once the round closed: contacts of the residents who chose your offers",
    tag="choices",
    caller="organisation",
    answers={
        200: Answer(
            "Contacts of consenting residents who chose this organisation's offers",
            ChoosersContacts,
            headers={"Cache-Control": "Always no-store."},
        )
    },
    errors=(403, 404, 409),
    description="A 403 for an organisation an administrator has not approved to receive "
    "contacts, or none of whose active webhook endpoints covers the campaign; a 409 before "
    "the round has closed. Every download is recorded and shown to the campaign's lead. "
    "Never anyone who chose another provider's offer, or who did not agree to be contacted.",
)
async def choosers_contacts(request: Request) -> Response:
    org = await require_organisation(request)
    db = services(request).store.database
    campaign = await public_campaign(db, request.path_params["slug"])
    if not await covers(db, org.id, campaign):
        raise NotCovering()
    found = await choice_service.download_choosers(
        services(request).store, campaign.id, org.id, via="choice_api"
    )
    contacts = ChoosersContacts(
        campaign=campaign.slug,
        contacts=[
            Chooser(
                offer=c.offer_public_id,
                name=c.name,
                email=c.email,
                phone=c.phone,
                postcode=c.postcode,
                address_line=c.address_line,
            )
            for c in found
        ],
    )
    return answer(contacts, headers={"Cache-Control": "no-store"})


operations: list[Operation] = [
    open_choice_round,
    get_choice_round,
    make_choice,
    get_choice,
    choosers_contacts,
]
