"""/api/v1 offers: a provider posts, edits and withdraws its offers on a tipped campaign its
endpoints cover; anyone reads them, in an order that favours nobody. A provider's key adds
the live totals of its own offers; once the choice round closes everyone sees every
offer's totals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_body
from app.api.models import (
    ONE_LINE_REFUSED,
    PY_SPACE,
    WS,
    Input,
    Shape,
    stated,
    trimmed_pattern,
    trimmed_text,
)
from app.api.offer_shapes import (
    OFFER_EXAMPLE,
    SOCIAL_TARIFF_NEEDED,
    OfferPeriod,
    PublicOffer,
)
from app.api.requests import bearer_key, require_organisation
from app.bootstrap import services
from notifications.answering import answerable_campaign
from notifications.demand import public_campaign
from pledges import offers as offer_service
from pledges.choices import get_round
from pledges.demand_curve import open_figure
from pledges.money import MAX_MONEY_TARGET
from pledges.offers import MAX_DESCRIPTION, MAX_STATEMENT, MAX_TERM_MONTHS, MAX_TITLE, Offer
from pledges.store import utcnow

# ----- models ----------------------------------------------------------------------------

# One line of text: trimmed, 1 to MAX_TITLE characters, no control characters inside.
_LINE = ONE_LINE_REFUSED
ONE_LINE_TITLE = (
    f"^{WS}*[^{PY_SPACE}{_LINE}](?:[^{_LINE}]{{0,{MAX_TITLE - 2}}}[^{PY_SPACE}{_LINE}])?{WS}*$"
)
DATE_WORDS = "An ISO 8601 time (or a date alone), within three years."


def _date(description: str) -> Any:
    return Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description=f"{description} {DATE_WORDS}",
    )


class SocialTariffInput(Input):
    price: int = Field(
        ge=0,
        le=MAX_MONEY_TARGET,
        description="Minor units per period; not more than the offer's own price.",
    )
    who_qualifies: trimmed_text(1, MAX_STATEMENT, one_line=False)  # type: ignore[valid-type]


def _example_dates() -> dict[str, str]:
    """Dates a month and four months from now: the document's examples stay valid."""
    now = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "available_from": (now + timedelta(days=30)).isoformat(),
        "valid_until": (now + timedelta(days=120)).isoformat(),
    }


def _given(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: rule}}


# A social tariff (an object), or a statement that there is none (text that is not blank).
TARIFF_GIVEN = _given("social_tariff", {"type": "object"})
STATEMENT_GIVEN = _given("no_social_tariff", {"type": "string", "pattern": f"[^{PY_SPACE}]"})


def _one_or_the_other(schema: dict[str, Any]) -> None:
    # Spelled with anyOf and not, which every draft of JSON Schema reads alike.
    schema["anyOf"] = [
        {"allOf": [TARIFF_GIVEN, {"not": STATEMENT_GIVEN}]},
        {"allOf": [STATEMENT_GIVEN, {"not": TARIFF_GIVEN}]},
    ]
    example = {k: v for k, v in OFFER_EXAMPLE.items() if k in offer_service.OFFER_FIELDS}
    schema["examples"] = [{**example, **_example_dates()}]


class OfferInput(Input):
    """Every offer says what it does for households on low incomes: `social_tariff`, or
    `no_social_tariff`. Amounts are whole minor units of the campaign's currency."""

    model_config = ConfigDict(json_schema_extra=_one_or_the_other)

    title: str = stated(ONE_LINE_TITLE, description=f"One line, up to {MAX_TITLE} characters.")
    description: trimmed_text(  # type: ignore[valid-type]
        1, MAX_DESCRIPTION, "Plain text; paragraphs apart by a blank line.", one_line=False
    )
    price: int = Field(
        ge=0, le=MAX_MONEY_TARGET, description="Minor units (pence, cents) per `period`."
    )
    period: OfferPeriod
    setup_fee: int | None = Field(
        default=None, ge=0, le=MAX_MONEY_TARGET, description="Minor units; absent or null: none."
    )
    minimum_term_months: int | None = Field(
        default=None, ge=0, le=MAX_TERM_MONTHS, description="Absent or null: none."
    )
    available_from: str | None = _date("When households could have it; null: now.")
    valid_until: str | None = _date(
        "Until when the offer stands (a date alone: the end of that day); in the future, and "
        "not before `available_from`."
    )
    social_tariff: SocialTariffInput | None = Field(
        default=None,
        description="What the offer does for households on low incomes: give this, or "
        "`no_social_tariff`, not both.",
    )
    no_social_tariff: str | None = stated(
        trimmed_pattern(0, MAX_STATEMENT, one_line=False),
        default=None,
        description="A plain statement that there is no social tariff (blank counts as "
        f"absent). Up to {MAX_STATEMENT} characters.",
    )


def _a_change(schema: dict[str, Any]) -> None:
    # A field left out of a change keeps its value: it has no default to state.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["not"] = {"allOf": [TARIFF_GIVEN, STATEMENT_GIVEN]}
    schema["examples"] = [{"price": 2200, "valid_until": _example_dates()["valid_until"]}]


# The body of an edit: any of an offer's fields, each checked as when posting; only those
# sent change. Derived from OfferInput so the two cannot drift apart.
OfferChanges: type[Input] = create_model(  # type: ignore[call-overload]
    "OfferChanges",
    __base__=Input,
    __doc__="Only the fields sent change. A social tariff given replaces the statement that "
    "there is none, and a statement replaces the social tariff.",
    **{
        name: (field.rebuild_annotation(), FieldInfo.merge_field_infos(field, default=None))
        for name, field in OfferInput.model_fields.items()
    },
)
OfferChanges.model_config["json_schema_extra"] = _a_change
OfferChanges.model_rebuild(force=True)


class Withdrawal(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "We cannot build here before 2028."}]}
    )

    reason: trimmed_text(  # type: ignore[valid-type]
        1, MAX_STATEMENT, "Shown to residents beside the withdrawn offer.", one_line=False
    )


class OfferShown(PublicOffer):
    """An offer; `chosen` and `social_tariff_needed` appear on the provider's own offers
    (with its key) and, once the choice round has closed, on every offer."""

    chosen: int = Field(default=0, ge=0, description="Units that chose it: exact.")
    social_tariff_needed: int | None = Field(default=None, ge=0, description=SOCIAL_TARIFF_NEEDED)


class CampaignOffers(Shape):
    campaign: str = Field(description="The campaign's slug.")
    offers: list[OfferShown] = Field(
        description="Published offers by price, then in a random order drawn for each offer "
        "(no provider can buy or predict its place); withdrawn ones after."
    )


# ----- handlers --------------------------------------------------------------------------


def offer_shown(offer: Offer, *, with_totals: bool) -> OfferShown:
    shown = OfferShown.model_validate(offer.public_payload())
    if with_totals:
        shown.chosen = offer.chosen_count
        shown.social_tariff_needed = open_figure(offer.social_tariff_count)
    return shown


def _offer_path(request: Request) -> tuple[str, str]:
    return request.path_params["slug"], request.path_params["offer"]


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/offers",
    operation_id="createOffer",
    summary="Post an offer on a tipped campaign (a provider)",
    tag="offers",
    caller="organisation",
    body=OfferInput,
    answers={
        201: Answer(
            "Published: listed on the campaign and sent as an offer.published webhook",
            OfferShown,
            links={
                "updateOffer": (
                    "updateOffer",
                    {"slug": "$request.path.slug", "offer": "$response.body#/id"},
                ),
                "withdrawOffer": (
                    "withdrawOffer",
                    {"slug": "$request.path.slug", "offer": "$response.body#/id"},
                ),
            },
        )
    },
    errors=(403, 404, 409),
    description="A 403 when none of the organisation's active webhook endpoints covers the "
    "campaign, or the organisation is a council; a 409 before the campaign tipped, or once "
    "its choice round has opened.",
)
async def create_offer(request: Request) -> Response:
    org = await require_organisation(request)
    store = services(request).store
    campaign = await answerable_campaign(store.database, org, request.path_params["slug"], "offer")
    body = await parse_body(request, OfferInput, offer_service.parse_offer)
    offer = offer_service.parse_offer(body.model_dump(exclude_unset=True))
    posted = await offer_service.post_offer(store, campaign, org.id, offer)
    return answer(offer_shown(posted, with_totals=True), 201)


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/offers",
    operation_id="listOffers",
    summary="A campaign's offers, in an order that favours nobody",
    tag="offers",
    caller="anyone_or_organisation",
    answers={200: Answer("The campaign's offers, withdrawn ones too", CampaignOffers)},
    errors=(404,),
    description="With a provider's key, its own offers carry their live totals (`chosen`, "
    "`social_tariff_needed`); no one sees another provider's before the choice round "
    "closes, and everyone sees every offer's once it has.",
)
async def list_offers(request: Request) -> Response:
    org = await require_organisation(request) if bearer_key(request) is not None else None
    db = services(request).store.database
    campaign = await public_campaign(db, request.path_params["slug"])
    found = await offer_service.list_offers(db, campaign.id)
    current = await get_round(db, campaign.id)
    closed = current is not None and current.closed_at is not None
    shown = [
        offer_shown(o, with_totals=closed or (org is not None and o.organisation_id == org.id))
        for o in found
    ]
    return answer(CampaignOffers(campaign=campaign.slug, offers=shown))


@operation(
    "PATCH",
    "/api/v1/campaigns/{slug}/offers/{offer}",
    operation_id="updateOffer",
    summary="Change an offer, until the choice round opens (its provider)",
    tag="offers",
    caller="organisation",
    body=OfferChanges,
    answers={200: Answer("The offer as changed", OfferShown)},
    errors=(404, 409),
    description="A 404 for an offer that is not this organisation's; a 409 once the choice "
    "round has opened (residents choose between the offers as they were sent) or after the "
    "offer was withdrawn. Nothing changes on a refusal.",
)
async def update_offer(request: Request) -> Response:
    org = await require_organisation(request)
    store = services(request).store
    slug, offer_id = _offer_path(request)
    campaign = await public_campaign(store.database, slug)
    body = await parse_body(request, OfferChanges)
    changed = await offer_service.edit_offer(
        store, campaign, org.id, offer_id, body.model_dump(exclude_unset=True)
    )
    return answer(offer_shown(changed, with_totals=True))


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/offers/{offer}/withdraw",
    operation_id="withdrawOffer",
    summary="Withdraw an offer, with a reason residents see (its provider)",
    tag="offers",
    caller="organisation",
    body=Withdrawal,
    answers={
        200: Answer("Withdrawn, and sent as an offer.withdrawn webhook", OfferShown),
    },
    errors=(404, 409),
    description="A 404 for an offer that is not this organisation's; a 409 when it was "
    "withdrawn already. Residents who chose it may choose again while the round is open.",
)
async def withdraw_offer(request: Request) -> Response:
    org = await require_organisation(request)
    store = services(request).store
    slug, offer_id = _offer_path(request)
    campaign = await public_campaign(store.database, slug)
    body = await parse_body(request, Withdrawal, offer_service.parse_withdrawal)
    reason = offer_service.parse_withdrawal(body.model_dump())
    withdrawn = await offer_service.withdraw_offer(store, campaign, org.id, offer_id, reason)
    return answer(offer_shown(withdrawn, with_totals=True))


operations: list[Operation] = [create_offer, list_offers, update_offer, withdraw_offer]
