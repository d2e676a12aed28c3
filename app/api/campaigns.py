"""/api/v1 campaigns: list, read and create. Parse, call the domain, render."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from databases import Database
from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_body, parse_query
from app.api.demand_inputs import (
    CURRENCY_ANY_CASE,
    PRICED_EXAMPLE,
    TIPS_ON_QUOTE,
    EquityFloorInput,
    PriceQuestionInput,
    QuoteInput,
    TakeUpRatesInput,
    demand_conditions,
)
from app.api.demand_shapes import Demand, EquityFloor, PriceQuestion, TakeUp
from app.api.models import (
    Area,
    Campaign,
    CampaignProgress,
    CampaignStatus,
    Category,
    Input,
    Money,
    Premises,
    Review,
    Shape,
    Threshold,
    stated,
    trimmed_text,
)
from app.api.pagination import NEXT, PageQuery, check_limit, next_link, with_next
from app.api.requests import require_lead
from app.bootstrap import services
from app.errors import Problem
from app.http_cache import LISTING, shows_campaign
from pledges import campaigns as campaign_service
from pledges.campaigns import (
    CATEGORIES,
    DEFAULT_MILESTONES,
    MAX_PREMISES_COUNT,
    MAX_TARGET,
    STATUSES,
)
from pledges.campaigns import Campaign as CampaignRecord
from pledges.demand_curve import DemandCurve, demand_curve, equity_payload, take_up_summary
from pledges.demand_curves import demand_curves
from pledges.errors import FieldError, ValidationFailed
from pledges.identity import district_of
from pledges.money import MAX_MONEY_TARGET, MAX_PLEDGE, MIN_PLEDGE
from pledges.review import decisions_for_campaign
from pledges.store import utcnow

# ----- models ----------------------------------------------------------------------------


class CampaignList(Shape):
    campaigns: list[Campaign]
    next: str | None = NEXT


class CampaignQuery(PageQuery):
    """The filters of the list; an empty value is refused, not read as "any"."""

    status: CampaignStatus | None = None
    category: Category | None = None
    postcode: str | None = Field(
        default=None,
        min_length=1,
        description="A UK postcode or district (LS6 1AB, LS6): the campaigns covering it.",
    )


PledgeAmount = Annotated[int, Field(ge=MIN_PLEDGE, le=MAX_PLEDGE)]


class MoneyInput(Input):
    """Give `deposit`, or both `min` and `max`; amounts in minor units (the maximum not below
    the minimum). Errors name `money.currency`, `money.target`, `money.deposit`, `money.min`,
    `money.max`, or `money` when this site takes no payments."""

    model_config = ConfigDict(
        json_schema_extra={
            # A fixed deposit, or a range: never both, never neither (null counts as absent).
            "oneOf": [
                {
                    "required": ["deposit"],
                    "properties": {"deposit": {"type": "integer"}},
                    "not": {
                        "anyOf": [
                            {"required": ["min"], "properties": {"min": {"type": "integer"}}},
                            {"required": ["max"], "properties": {"max": {"type": "integer"}}},
                        ]
                    },
                },
                {
                    "required": ["min", "max"],
                    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                    "not": {
                        "required": ["deposit"],
                        "properties": {"deposit": {"type": "integer"}},
                    },
                },
            ],
            "examples": [{"currency": "gbp", "target": 500000, "deposit": 2500}],
        }
    )

    currency: str = stated(CURRENCY_ANY_CASE, description="gbp, eur or usd, in any case.")
    target: int | None = Field(default=None, ge=MIN_PLEDGE, le=MAX_MONEY_TARGET)
    deposit: PledgeAmount | None = None
    min: PledgeAmount | None = None
    max: PledgeAmount | None = None


class AreaInput(Input):
    name: trimmed_text(2, 200)  # type: ignore[valid-type]
    postcode_districts: list[str] = Field(
        min_length=1,
        examples=[["LS6", "LS16"]],
        max_length=200,
        description="UK postcode districts (LS6, M1); repeats are counted once.",
    )


def example_deadline() -> str:
    """Noon UTC three months from today: the document's examples stay valid as time passes,
    and the document is the same all day (so its ETag is)."""
    day = utcnow() + timedelta(days=90)
    return day.replace(hour=12, minute=0, second=0, microsecond=0).isoformat()


def _given(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: `name` is present and matches `rule`."""
    return {"required": [name], "properties": {name: rule}}


def campaign_input_extra(schema: dict[str, Any]) -> None:
    # A count target, or a money target instead: JSON Schema says so with anyOf.
    # A coverage target or letters need a households campaign; a coverage target stands
    # instead of `target`, and outside a draft needs the number of premises.
    # Spelled with anyOf, not and enum (not if/then or const), which every draft reads.
    households = {"required": ["counts"], "properties": {"counts": {"enum": ["households"]}}}
    coverage = _given("coverage_target", {"type": "integer"})
    letter = _given("require_letter", {"enum": [True]})
    schema["allOf"] = [
        {
            "anyOf": [
                {"not": coverage},
                {
                    "allOf": [
                        households,
                        {"properties": {"target": {"type": "null"}}},
                        {
                            "anyOf": [
                                _given("premises", {"type": "object"}),
                                _given("draft", {"enum": [True]}),
                            ]
                        },
                    ]
                },
            ]
        },
        {"anyOf": [{"not": letter}, households]},
        *demand_conditions(),
    ]
    schema["anyOf"] = [
        {"required": ["target"], "properties": {"target": {"type": "integer"}}},
        {
            "required": ["money"],
            "properties": {
                "money": {
                    "type": "object",
                    "required": ["target"],
                    "properties": {"target": {"type": "integer"}},
                }
            },
        },
        {"required": ["coverage_target"], "properties": {"coverage_target": {"type": "integer"}}},
        TIPS_ON_QUOTE,
    ]
    schema["examples"] = [
        {
            "title": "Fibre for Headingley",
            "summary": "Full fibre broadband for our streets.",
            "category": "broadband",
            "area": {"name": "Headingley", "postcode_districts": ["LS6"]},
            "target": 100,
            "deadline": example_deadline(),
        },
        {**PRICED_EXAMPLE, "deadline": example_deadline()},
    ]


class PremisesInput(Input):
    count: int = Field(ge=1, le=MAX_PREMISES_COUNT, description="Premises in the area.")


class CampaignInput(Input):
    """`target` may be left out when `money.target` or `coverage_target` is given, or when
    the campaign tips on sharing a quote (`quote.tip`)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: campaign_input_extra(schema))

    slug: str | None = Field(
        default=None,
        json_schema_extra={"pattern": r"^(?:(?!new$)[a-z0-9][a-z0-9-]{1,78}[a-z0-9])?$"},
        description="The campaign's address; made from the title when left out or empty.",
    )
    title: trimmed_text(3, 200)  # type: ignore[valid-type]
    summary: trimmed_text(3, 500)  # type: ignore[valid-type]
    description: trimmed_text(0, 20_000, one_line=False) = ""  # type: ignore[valid-type]
    category: Category
    area: AreaInput
    target: int | None = Field(default=None, ge=1, le=MAX_TARGET)
    deadline: str = Field(
        json_schema_extra=lambda schema: schema.update(
            format="date-time", examples=[example_deadline()]
        ),
        description="An ISO 8601 time (or a date alone: the end of that day), in the future "
        "and within two years.",
    )
    milestones: list[Annotated[int, Field(ge=1, le=99)]] = Field(
        default=list(DEFAULT_MILESTONES),
        max_length=10,
        description="Whole percentages of the target.",
    )
    draft: bool = False
    money: MoneyInput | None = None
    counts: Literal["people", "households"] = Field(
        default="people",
        description="people: each confirmed pledge counts. households: one confirmed pledge "
        "per home counts, and pledges must give `address_line`.",
    )
    premises: PremisesInput | None = Field(
        default=None,
        description="The number of premises in the area (or upload the list later with "
        "PUT /api/v1/campaigns/{slug}/premises).",
    )
    coverage_target: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Households campaigns: the threshold as a percent of the premises, instead "
        "of `target`. Publishing needs the premises (their number, or the list).",
    )
    require_letter: bool = Field(
        default=False,
        description="Households campaigns: count a household only once verified by the code "
        "in the letter posted to it (a pledge the lead vouched for counts too).",
    )
    price_question: PriceQuestionInput | None = Field(
        default=None,
        description="Ask each pledger the most they would pay, choosing one of the price "
        'points (or "not sure", unless `required`). Fixed once published.',
    )
    target_price: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PLEDGE,
        description="One of the price points: only pledges at or above it count towards the "
        "target (or coverage target). Needs `price_question`; fixed once published.",
    )
    take_up_rates: TakeUpRatesInput | None = Field(
        default=None,
        description="This campaign's own take-up rates for its projections, instead of the "
        "site's. May change once published.",
    )
    quote: QuoteInput | None = Field(
        default=None,
        description="A provider's quote to share: the page shows the cost each if N homes "
        "join. Needs `price_question`. Its total and voucher may change once published "
        "(a lower quote may tip the campaign); `tip` may not.",
    )
    equity_floor: EquityFloorInput | None = Field(
        default=None,
        description="Hold tipping until this share of the counted pledges comes from priority "
        "places. Fixed once published.",
    )


# ----- handlers --------------------------------------------------------------------------


def campaign_model(campaign: CampaignRecord, base_url: str, curve: DemandCurve | None) -> Campaign:
    """The campaign as the API gives it, with its demand curve (`curve`: None when it asks
    no price), read before by the caller (campaign_json, or the list's one query)."""
    # target is null when a money target stands in for a count of pledges; the money
    # fields appear on money campaigns only, so other campaigns read as they always did.
    threshold = Threshold(target=campaign.target or None)
    progress = CampaignProgress(confirmed=campaign.confirmed, percent=campaign.percent)
    if campaign.is_money:
        threshold.money_target = campaign.money_target
        progress.pledged = campaign.pledged_amount
    if campaign.target_price is not None:
        threshold.target_price = campaign.target_price
        progress.priced = campaign.priced_count
    money = campaign.money_payload()
    households: dict[str, Any] = {}
    if campaign.counts_households:
        tally = campaign.tally
        progress.households = campaign.household_count
        progress.coverage_percent = tally.coverage_percent
        if campaign.coverage_target is not None:
            threshold.coverage_target = campaign.coverage_target
        households = {"counts": campaign.counts, "require_letter": campaign.require_letter}
    if campaign.premises is not None:
        households["premises"] = Premises(count=campaign.premises, listed=campaign.premises_listed)
    return Campaign(
        **households,
        slug=campaign.slug,
        title=campaign.title,
        summary=campaign.summary,
        description=campaign.description,
        category=campaign.category,
        status=campaign.status,
        area=Area(name=campaign.area_name, postcode_districts=list(campaign.postcode_districts)),
        threshold=threshold,
        progress=progress,
        money=Money(**money) if money is not None else None,
        price_question=_price_question(campaign),
        demand=Demand.model_validate(curve.payload()) if curve is not None else None,
        take_up=TakeUp.model_validate(take_up_summary(campaign)),
        equity_floor=(
            EquityFloor.model_validate(equity_payload(campaign))
            if campaign.equity_share is not None
            else None
        ),
        milestones=list(campaign.milestones),
        deadline=campaign.deadline.isoformat(),
        tipped_at=campaign.tipped_at.isoformat() if campaign.tipped_at else None,
        created_at=campaign.created_at.isoformat(),
        url=f"{base_url}/c/{campaign.slug}",
    )


def _price_question(campaign: CampaignRecord) -> PriceQuestion | None:
    if not campaign.asks_price:
        return None
    return PriceQuestion.model_validate(
        {
            "currency": campaign.price_currency,
            "period": campaign.price_period,
            "price_points": list(campaign.price_points),
            "required": campaign.price_required,
        }
    )


async def campaign_json(db: Database, campaign: CampaignRecord, base_url: str) -> Campaign:
    """The campaign as the API gives it, its demand curve read first."""
    return campaign_model(campaign, base_url, await demand_curve(db, campaign))


async def lead_campaign_json(db: Database, campaign: CampaignRecord, base_url: str) -> Campaign:
    """The campaign as its own lead reads it: with `review` once it was queued for review."""
    model = await campaign_json(db, campaign, base_url)
    if campaign.moderation is None:
        return model
    decisions = await decisions_for_campaign(db, campaign.id)
    last = decisions[0] if decisions else None
    rejected = last is not None and last.decision == "reject" and campaign.moderation != "pending"
    model.review = Review(
        state=campaign.moderation,  # type: ignore[arg-type]  # pending|approved|rejected
        submitted_at=campaign.submitted_at.isoformat() if campaign.submitted_at else None,
        decided_at=(
            last.decided_at.isoformat()
            if last is not None and campaign.moderation != "pending"
            else None
        ),
        reason=last.reason if rejected and last else None,
        reason_title=last.reason_title if rejected and last else None,
        note=(last.note or None) if rejected and last else None,
    )
    return model


POSTCODE_MESSAGE = "Not a UK postcode or postcode district."


def check_query(data: dict[str, Any]) -> None:
    """The filters in the words the API has always used."""
    errors: list[FieldError] = []
    try:
        check_limit(data)
    except ValidationFailed as exc:
        errors += exc.errors
    if "status" in data and data["status"] not in STATUSES:
        errors.append(
            FieldError("status", "not_in_choices", f"Choose one of: {', '.join(STATUSES)}.")
        )
    if "category" in data and data["category"] not in CATEGORIES:
        errors.append(
            FieldError("category", "not_in_choices", f"Choose one of: {', '.join(CATEGORIES)}.")
        )
    if "postcode" in data and district_of(data["postcode"]) is None:
        errors.append(FieldError("postcode", "not_a_postcode", POSTCODE_MESSAGE))
    if errors:
        raise ValidationFailed(errors)


CAMPAIGN_LINKS = {
    "getCampaign": ("getCampaign", {"slug": "$response.body#/slug"}),
    "createPledge": ("createPledge", {"slug": "$response.body#/slug"}),
}


@operation(
    "GET",
    "/api/v1/campaigns",
    operation_id="listCampaigns",
    summary="List campaigns",
    tag="campaigns",
    caller="anyone",
    cache=LISTING,
    query=CampaignQuery,
    answers={
        200: Answer(
            "Campaigns by deadline, soonest first, a page at a time",
            CampaignList,
            headers={"Link": 'The next page, as `<url>; rel="next"`; absent on the last.'},
        )
    },
)
async def list_campaigns(request: Request) -> Response:
    query = await parse_query(request, CampaignQuery, check_query)
    district = district_of(query.postcode) if query.postcode is not None else None
    if query.postcode is not None and district is None:  # a real postcode: the domain's rule
        raise Problem(
            422,
            "Some query parameters are not valid.",
            [FieldError("postcode", "not_a_postcode", POSTCODE_MESSAGE)],
        )
    svc = services(request)
    page = await campaign_service.campaigns_page(
        svc.store.database,
        status=query.status,
        category=query.category,
        district=district,
        limit=query.limit,
        cursor=query.cursor,
    )
    base_url = svc.settings.base_url
    # One query for the curves of the whole page, not one per campaign.
    curves = await demand_curves(svc.store.database, page.items)
    models = [campaign_model(c, base_url, curves.get(c.id)) for c in page.items]
    listed = with_next(CampaignList(campaigns=models), page.next)
    return answer(listed, headers=next_link(request, page.next))


@operation(
    "GET",
    "/api/v1/campaigns/{slug}",
    operation_id="getCampaign",
    summary="One campaign",
    tag="campaigns",
    caller="anyone",
    answers={200: Answer("The campaign", Campaign)},
    errors=(404,),
    shared_render=True,
)
async def get_campaign(request: Request) -> Response:
    svc = services(request)
    campaign = await campaign_service.get_campaign(svc.store.database, request.path_params["slug"])
    if not campaign.is_public:  # a draft, or hidden by an administrator
        raise Problem(404, "There is no campaign at this address.")
    found = await campaign_json(svc.store.database, campaign, svc.settings.base_url)
    return shows_campaign(answer(found), campaign.id)


@operation(
    "POST",
    "/api/v1/campaigns",
    operation_id="createCampaign",
    summary="Create a campaign (open unless draft is true)",
    tag="campaigns",
    caller="lead",
    body=CampaignInput,
    answers={
        201: Answer(
            "Created",
            Campaign,
            headers={"Location": "Where the campaign is read: /api/v1/campaigns/{slug}."},
            links=CAMPAIGN_LINKS,
        )
    },
    errors=(409,),
    description="Errors name each field at fault (`money.deposit` and the like, or `money` "
    "when this site takes no payments); a slug already taken is a 409. Where the site "
    "reviews campaigns before publishing (MODERATION=pre), one created open answers with "
    "`status` `pending_review` and a `review` object, and is read at its Location only "
    "once an administrator approves it.",
)
async def create_campaign(request: Request) -> Response:
    lead = await require_lead(request)
    body = await parse_body(request, CampaignInput, campaign_service.parse_campaign)
    svc = services(request)
    spec = campaign_service.parse_campaign(body.model_dump(exclude_unset=True))
    campaign = await campaign_service.create_campaign(
        svc.store,
        lead.id,
        spec,
        money_enabled=svc.settings.money_enabled,
        moderation=svc.settings.moderation,
    )
    return answer(
        await lead_campaign_json(svc.store.database, campaign, svc.settings.base_url),
        201,
        {"Location": f"/api/v1/campaigns/{campaign.slug}"},
    )


operations: list[Operation] = [list_campaigns, get_campaign, create_campaign]
