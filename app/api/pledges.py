"""/api/v1 pledges: a resident's (or a lead's paper) pledge, confirming and withdrawing."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import (
    Answer,
    DomainCheck,
    Operation,
    answer,
    domain_errors,
    operation,
    parse_body,
    validated,
)
from app.api.demand_inputs import FIRMNESS_WORDS, Firmness, MaxPrice
from app.api.models import (
    NOT_BLANK,
    PY_SPACE,
    WS,
    Flag,
    Input,
    Progress,
    Shape,
    stated,
    trimmed_text,
)
from app.api.requests import bearer_key, client_ip, json_body, require_lead
from app.bootstrap import Services, services
from app.errors import Problem
from pledges import campaigns as campaign_service
from pledges import pledging
from pledges.addresses import MAX_ADDRESS_LINE
from pledges.checkout import card_checkout_url
from pledges.counting import progress_of
from pledges.demand import DEFAULT_FIRMNESS
from pledges.errors import (
    CampaignHidden,
    CampaignNotFound,
    CheckoutRefused,
    FieldError,
    PaymentsOff,
    PledgeInvalid,
    ValidationFailed,
)
from pledges.phones import MAX_PHONE, PHONE_PATTERN
from pledges.pledging import Progress as ProgressRecord

log = logging.getLogger("groundswell.api")

# The domain's own rule for an email address (pledges/identity.py), trimmed of spaces.
EMAIL_PATTERN = (
    f'^{WS}*[^@{PY_SPACE}<>()\\[\\],;:"\\x00]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
    f"(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+{WS}*$"
)

# A paper pledge may leave the email out (or blank): the lead's attestation stands for it.
EMAIL_OR_BLANK = f"^(?:{EMAIL_PATTERN[1:-1]}|{WS}*)$"
# An attestation given: true, or a ticked checkbox's value (as Flag reads them).
ATTESTED = {
    "anyOf": [
        {"enum": [True]},
        {"type": "string", "pattern": r"^(?:[Oo][Nn]|[Tt][Rr][Uu][Ee]|1|[Yy][Ee][Ss])$"},
    ]
}


def pledge_input_extra(schema: dict[str, Any]) -> None:
    # An email address, or (a paper pledge only) the lead's attestation instead. Spelled
    # with anyOf and enum (not if/then or const), which every draft reads.
    schema["anyOf"] = [
        {"required": ["email"], "properties": {"email": {"type": "string", "pattern": NOT_BLANK}}},
        {
            "required": ["source", "attested"],
            "properties": {"source": {"enum": ["paper"]}, "attested": ATTESTED},
        },
    ]
    schema["examples"] = [
        {"name": "Ada Lovelace", "email": "ada@example.org", "postcode": "LS6 1AB"},
    ]


class PledgeInput(Input):
    """A resident's pledge, or one their campaign's lead records (`source: paper`, with the
    lead's key): with an email address, or for a neighbour without one on the lead's word
    (`attested: true`), counted at once as vouched for."""

    model_config = ConfigDict(json_schema_extra=pledge_input_extra)

    name: trimmed_text(1, 200)  # type: ignore[valid-type]
    email: Annotated[str, stated(EMAIL_OR_BLANK, max_length=320)] | None = Field(
        default=None,
        description="An email address: name@example.com. Required, except on a paper pledge "
        "for someone without one (left out, null or blank), which needs `attested`.",
    )
    postcode: str = Field(
        json_schema_extra={"pattern": NOT_BLANK},
        examples=["LS6 1AB"],
        description="A real UK postcode, e.g. LS6 1AB.",
    )
    address_line: trimmed_text(0, MAX_ADDRESS_LINE) | None = Field(  # type: ignore[valid-type]
        default=None,
        examples=["12a Brudenell Road"],
        description="The first line of the address: house number or name and street, and any "
        "flat, on one line: no control characters, and at least one letter or digit. "
        "Required by a campaign that counts households (blank counts as left out); "
        "spellings of one address (12a Brudenell Rd, Flat 12A Brudenell Road) are one "
        "household.",
    )
    phone: Annotated[str, stated(PHONE_PATTERN, max_length=MAX_PHONE)] | None = Field(
        default=None,
        examples=["0113 496 0000"],
        description="A paper pledge's phone number, for the lead to pass on news to someone "
        "without email: 7 to 20 digits, with spaces, brackets and a leading + allowed. "
        "A resident's own pledge does not keep it.",
    )
    show_name: Flag = False
    share_contact: Flag = False
    attested: Flag = Field(
        default=False,
        description="A paper pledge without email: the lead confirms they met or spoke to "
        "this person, who asked them to record their pledge. It counts at once as vouched "
        "for, and what would be emailed appears on the lead's hand notes instead.",
    )
    amount: int | None = Field(
        default=None,
        description="Money campaigns where the resident chooses: the amount in minor units, "
        "from the campaign's `money.min` to `money.max`.",
    )
    source: Literal["api", "paper"] = Field(
        default="api",
        description="paper needs the campaign lead's API key and is confirmed at once (not on "
        "a campaign that asks for money).",
    )
    max_price: MaxPrice = None
    firmness: Firmness = Field(default=DEFAULT_FIRMNESS, description=FIRMNESS_WORDS)


class Token(Input):
    token: str = Field(min_length=1, description="The token from the email's link.")


class PledgeAccepted(Shape):
    """A pledge taken, pending. Money campaigns add `amount`, `payment_status` and
    `checkout_url` for a new pledge; a repeat from an email that has a pledge on the campaign
    already gets one answer whatever that pledge's state (waiting for a card, card saved,
    counted, withdrawn), with both null: the email sent to that address says what is next
    and carries the link to save a card when one is needed."""

    status: Literal["pending"]
    amount: int = Field(default=0, description="The pledge's amount, minor units.")
    payment_status: str | None = Field(
        default=None,
        description="`awaiting_card`: send the resident to `checkout_url` to save a card "
        "(nothing is charged until the campaign tips). Null on a repeated pledge.",
    )
    checkout_url: str | None = Field(
        default=None,
        json_schema_extra={"format": "uri"},
        description="Stripe Checkout, where the resident saves a card; null on a repeated "
        "pledge (the link goes to its email address only), or when Stripe could not be "
        "reached (the link in the confirmation email leads there later).",
    )


class PaperCount(Shape):
    confirmed: int
    percent: int
    households: int = Field(default=0, description="Households campaigns only.")


class PaperPledgeRecorded(Shape):
    status: Literal["confirmed"]
    repeated: bool
    progress: PaperCount


class PledgeConfirmed(Shape):
    status: Literal["confirmed"]
    already_confirmed: bool
    awaiting_card: bool = Field(
        default=False,
        description="Money campaigns only. True: the card is not saved yet; the pledge counts "
        "once it is.",
    )
    progress: Progress


class PledgeWithdrawn(Shape):
    status: Literal["withdrawn"]
    progress: Progress


# ----- handlers --------------------------------------------------------------------------


def progress_model(progress: ProgressRecord, *, money: bool = False) -> Progress:
    found = Progress(
        slug=progress.slug,
        status=progress.status,
        confirmed=progress.confirmed,
        target=progress.target or None,
        percent=progress.percent,
    )
    if money:
        found.pledged_amount = progress.pledged_amount
        found.money_target = progress.money_target
    if progress.counts == "households":
        found.households = progress.households
        found.coverage_percent = progress.tally.coverage_percent
    return found


def _needs_lead(data: dict[str, Any], key: str | None) -> bool:
    source = data.get("source", "api")
    return source in ("api", "paper") and (source == "paper" or key is not None)


def pledge_check(svc: Services, slug: str) -> DomainCheck:
    """The domain's words for a pledge the model refused, and the API's own for `source`."""

    async def check(data: Any) -> None:
        if isinstance(data, dict) and data.get("source", "api") not in ("api", "paper"):
            wrong = FieldError("source", "not_in_choices", "Use 'api' or 'paper'.")
            raise ValidationFailed([wrong])
        paper = isinstance(data, dict) and data.get("source") == "paper"
        parse = pledging.parse_paper_pledge if paper else pledging.parse_pledge
        errors = await domain_errors(parse, data)
        amount = data.get("amount") if isinstance(data, dict) else None
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            errors.append(await _amount_not_a_number(svc, slug))
        if errors:
            raise ValidationFailed(errors)

    return check


async def _amount_not_a_number(svc: Services, slug: str) -> FieldError:
    # The domain checks the amount against the campaign inside its transaction; a body the
    # model refused never gets there, so the domain's words for the range are asked here.
    try:
        campaign = await campaign_service.get_campaign(svc.store.database, slug)
    except CampaignNotFound:
        campaign = None
    if campaign is None or campaign.currency is None or campaign.deposit_amount is not None:
        words = "Enter a whole number of minor units (pence, cents)."
        return FieldError("amount", "not_a_whole_number", words)
    low, high = campaign.min_amount or 0, campaign.max_amount or 0
    return pledging.amount_error("not_a_whole_number", low, high, campaign.currency)


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/pledges",
    operation_id="createPledge",
    summary="Pledge (pending until confirmed), or record a paper pledge",
    tag="pledges",
    caller="anyone_or_lead",
    body=PledgeInput,
    answers={
        202: Answer(
            "Pending: a confirmation email is on its way (to an address that has pledged "
            "already, a note about that pledge). The answer never depends on the state of an "
            "earlier pledge. On a money campaign only a new pledge's answer carries "
            "`payment_status` and `checkout_url`: a repeat's link to save a card goes by "
            "email only.",
            PledgeAccepted,
        ),
        201: Answer("A paper pledge, confirmed", PaperPledgeRecorded),
    },
    errors=(403, 404, 409, 429),
    description="A 409 when the campaign is closed or hidden, or asks for money and this site "
    "takes no payments now (`errors` names `money`), or when a paper pledge without email "
    "repeats one by the same name at the same address (`errors` names `name`), or when a "
    "paper pledge's email has a pledge on the campaign that the site's moderators struck "
    "out (`errors` names `email`: it is not revived); a 422 names "
    "`amount` when it is outside the campaign's range, or missing, and `max_price` when it "
    "is not one of the campaign's price points (or missing where a price is required); a "
    "429 with `Retry-After` when one address pledges too often on one campaign.",
)
async def create_pledge(request: Request) -> Response:
    svc = services(request)
    slug = request.path_params["slug"]
    key = bearer_key(request)
    raw = await json_body(request)
    # A key that is sent must be valid, and a paper pledge needs one: both before the fields.
    lead = await require_lead(request) if _needs_lead(raw, key) else None
    body = await validated(
        PledgeInput, raw, "Some of what was sent is not valid.", pledge_check(svc, slug)
    )
    if body.source == "paper":
        assert lead is not None
        entered = pledging.parse_paper_pledge(body.model_dump(exclude_unset=True))
        outcome = await pledging.record_lead_pledge(svc.store, slug, lead.id, entered)
        progress = outcome.progress  # as of this pledge's commit: no second read
        if progress is None:  # a repeat changed nothing: read the count
            campaign = await campaign_service.get_campaign(svc.store.database, slug)
            progress = progress_of(campaign)
        recorded = PaperPledgeRecorded(
            status="confirmed",
            repeated=outcome.repeated,
            progress=PaperCount(confirmed=progress.confirmed, percent=progress.percent),
        )
        if progress.counts == "households":
            recorded.progress.households = progress.households
        return answer(recorded, 201)
    pledge = pledging.parse_pledge(body.model_dump(exclude_unset=True))
    # An anonymous pledge is limited per client address; one sent with a lead's key is not.
    ip = None if key is not None else client_ip(request)
    outcome = await pledging.record_pledge(
        svc.store,
        slug,
        pledge,
        source="api",
        ip=ip,
        rate_limit=svc.settings.pledge_rate_limit,
        money_enabled=svc.settings.money_enabled,
    )
    # The same answer for a new and a repeated pledge, but a new money pledge's Checkout:
    # nobody learns from it what someone's pledge is waiting for.
    accepted = PledgeAccepted(status="pending")
    if outcome.amount is not None:  # a money campaign
        accepted.amount = outcome.amount
        # A repeat's answer says nothing of the earlier pledge's state (both keys null), and
        # its link to save a card goes by email only.
        accepted.payment_status = None if outcome.had_pledged else outcome.payment_status
        accepted.checkout_url = (
            await _checkout_url(svc, outcome.pledge_id) if outcome.to_checkout else None
        )
    return answer(accepted, 202)


async def _checkout_url(svc: Services, pledge_id: int) -> str | None:
    """Where the resident saves a card; None when Stripe cannot be reached now (the
    pledge stands, and the link in its confirmation email leads to Checkout later)."""
    try:
        return await card_checkout_url(
            svc.store, svc.payments, svc.signer, svc.settings.base_url, pledge_id
        )
    except (PaymentsOff, CheckoutRefused):
        raise
    except Exception as exc:
        log.warning("no Checkout for pledge %s: %s", pledge_id, type(exc).__name__)
        return None


def check_token(data: Any) -> None:
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise ValidationFailed(
            [FieldError("token", "required", "Send the token from the email link.")]
        )


async def _token(request: Request) -> str:
    return (await parse_body(request, Token, check_token)).token


@operation(
    "POST",
    "/api/v1/pledges/confirm",
    operation_id="confirmPledge",
    summary="Confirm a pledge with the token from the email",
    tag="pledges",
    caller="token_holder",
    body=Token,
    answers={200: Answer("Confirmed; the campaign's progress", PledgeConfirmed)},
    errors=(404, 409, 410),
    description="A 409 when the pledge was withdrawn, or the campaign is closed or hidden by "
    "an administrator for now; a 410 when the site's moderators struck the pledge out.",
)
async def confirm_pledge(request: Request) -> Response:
    svc = services(request)
    pledge_id = svc.signer.unsign(await _token(request), "pledge-confirm")
    try:
        outcome = await pledging.confirm_pledge(svc.store, int(pledge_id))
    except PledgeInvalid as exc:  # struck out by the moderators, for good
        raise Problem(410, str(exc)) from exc
    except CampaignHidden as exc:  # hidden by an administrator, for now
        raise Problem(409, str(exc)) from exc
    money = outcome.progress.is_money
    confirmed = PledgeConfirmed(
        status="confirmed",
        already_confirmed=not outcome.newly_confirmed,
        progress=progress_model(outcome.progress, money=money),
    )
    if money:
        # A money pledge counts once its card is saved as well; until then this is true.
        confirmed.awaiting_card = outcome.awaiting_card
    return answer(confirmed)


@operation(
    "POST",
    "/api/v1/pledges/withdraw",
    operation_id="withdrawPledge",
    summary="Withdraw a pledge with the token from any email",
    tag="pledges",
    caller="token_holder",
    body=Token,
    answers={200: Answer("Withdrawn; the campaign's progress", PledgeWithdrawn)},
    errors=(404,),
)
async def withdraw_pledge(request: Request) -> Response:
    svc = services(request)
    pledge_id = svc.signer.unsign(await _token(request), "pledge-withdraw")
    progress = await pledging.withdraw_pledge(svc.store, int(pledge_id))
    money = progress.is_money
    withdrawn = PledgeWithdrawn(status="withdrawn", progress=progress_model(progress, money=money))
    return answer(withdrawn)


operations: list[Operation] = [create_pledge, confirm_pledge, withdraw_pledge]
