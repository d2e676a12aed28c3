"""/api/v1 for a campaign's lead, with the lead's key, as on the lead's pages: edit a
campaign, publish or cancel it, read its pledges a page at a time (the CSV's columns), and
post an update to its pledgers. Another lead's key gets 403 and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

from pydantic import ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from starlette.requests import Request
from starlette.responses import Response

from app.api.campaigns import CAMPAIGN_LINKS, CampaignInput, lead_campaign_json
from app.api.contract import (
    Answer,
    Operation,
    answer,
    operation,
    parse_body,
    parse_query,
    validated,
)
from app.api.models import (
    ONE_LINE_REFUSED,
    PY_SPACE,
    WS,
    Campaign,
    Input,
    Shape,
    stated,
    timestamp,
    trimmed_text,
)
from app.api.pagination import NEXT, PageQuery, check_limit, next_link, with_next
from app.api.requests import json_body, require_lead
from app.bootstrap import services
from app.errors import Problem
from pledges import campaigns as campaign_service
from pledges import updates as update_service
from pledges.accounts import Lead
from pledges.campaigns import Campaign as CampaignRecord
from pledges.errors import CampaignNotOpen, NotCampaignLead
from pledges.pledge_rows import ALSO, COUNTED, NOT_COUNTED, pledges_page
from pledges.store import Store, aware
from pledges.updates import MAX_BODY, MAX_TITLE

# ----- models ----------------------------------------------------------------------------


def _without_defaults(schema: dict[str, Any]) -> None:
    # A field left out of a change keeps its value: it has no default to state.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"summary": "Full fibre for every home on our streets."}]


# The body of an edit: any of the fields a campaign is created with, each checked as there;
# only those sent change. Derived from CampaignInput so the two cannot drift apart.
CampaignChange: type[Input] = create_model(  # type: ignore[call-overload]
    "CampaignChange",
    __base__=Input,
    __doc__="Only the fields sent change. A draft may change any of them; once published, "
    "only `title`, `summary`, `description`, a later `deadline`, `take_up_rates` and the "
    "`quote`'s total and voucher (others are a 409 naming them). `money: null` asks for no "
    "money; `quote: null` takes the quote away (not from a campaign tipping on it).",
    **{
        name: (field.rebuild_annotation(), FieldInfo.merge_field_infos(field, default=None))
        for name, field in CampaignInput.model_fields.items()
        if name != "draft"
    },
)
CampaignChange.model_config["json_schema_extra"] = _without_defaults
CampaignChange.model_rebuild(force=True)


HouseholdPledge = Literal["counted", "also from this household", "not counted"]
assert (COUNTED, ALSO, NOT_COUNTED) == ("counted", "also from this household", "not counted")


class PledgeRow(Shape):
    """A pledge as the lead's CSV has it. Personal data: keep it as the privacy page says."""

    id: int
    status: str = Field(description="pending, confirmed, withdrawn or invalid.")
    source: str = Field(description="web, api or paper.")
    name: str
    email: str | None = Field(
        description="Null for a pledge the lead recorded for someone without an email address."
    )
    address_line: str | None = Field(
        description="The first line of the address, if given (households campaigns ask it)."
    )
    postcode: str
    district: str
    show_name: bool
    share_contact: bool
    created_at: str | None = timestamp()
    confirmed_at: str | None = timestamp()
    withdrawn_at: str | None = timestamp()
    firmness: Literal["interested", "will_switch", "deposit"] = Field(
        description="How sure they are: interested, will_switch (will sign up when offered at "
        "or below their price) or deposit (paid one, or a money pledge)."
    )
    max_price: int | None = Field(
        default=None,
        ge=1,
        description="Campaigns with a price question only: the most they would pay, in "
        "minor units; null for not sure.",
    )
    amount: int | None = Field(
        default=None, description="Money campaigns only: minor units (pence, cents)."
    )
    payment_status: str | None = Field(default=None, description="Money campaigns only.")
    household: int | None = Field(
        default=None,
        ge=1,
        description="Households campaigns only: the pledge's household, numbered within the "
        "campaign in the order the homes first pledged; null without one.",
    )
    household_pledge: HouseholdPledge | None = Field(
        default=None,
        description="Households campaigns only: `counted` for the one pledge its home is "
        "counted by, `also from this household` for another pledge from a counted home, "
        "`not counted` while the home is not counted (nobody there confirmed, or a letter "
        "is still awaited).",
    )


class PledgeRows(Shape):
    pledges: list[PledgeRow]
    next: str | None = NEXT


# One line once trimmed: no control characters inside (the domain's rule for a title).
_INNER = f"[^{ONE_LINE_REFUSED}{PY_SPACE}]"
ONE_LINE = f"^{WS}*{_INNER}(?:[^{ONE_LINE_REFUSED}]{{0,{MAX_TITLE - 2}}}{_INNER})?{WS}*$"


class UpdateInput(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "Halfway there", "body": "Thank you all: 50 homes have pledged."}
            ]
        }
    )

    title: str = stated(
        ONE_LINE,
        description=f"One line of 1 to {MAX_TITLE} characters, not counting spaces at either end.",
    )
    body: trimmed_text(1, MAX_BODY, "Paragraphs apart by a blank line.", one_line=False)  # type: ignore[valid-type]


class CampaignUpdate(Shape):
    id: int
    title: str
    body: str
    created_at: str = timestamp()


# ----- handlers --------------------------------------------------------------------------

# open_campaign or cancel_campaign: (store, slug, lead_id) -> the campaign as it is now.
CampaignStep = Callable[[Store, str, int], Awaitable[CampaignRecord]]
SLUG_LINKS = {"getCampaign": CAMPAIGN_LINKS["getCampaign"]}


async def _own_campaign(request: Request, lead: Lead) -> CampaignRecord:
    """The campaign at this address, if it is the lead's (404 if none, 403 if another's)."""
    campaign = await campaign_service.get_campaign(
        services(request).store.database, request.path_params["slug"]
    )
    if campaign.lead_id != lead.id:
        raise NotCampaignLead(campaign.slug)
    return campaign


@operation(
    "PATCH",
    "/api/v1/campaigns/{slug}",
    operation_id="updateCampaign",
    summary="Edit a campaign (the lead's own)",
    tag="campaigns",
    caller="lead",
    body=CampaignChange,
    answers={200: Answer("The campaign as it is now", Campaign, links=SLUG_LINKS)},
    errors=(403, 404, 409),
    description="The same rules as the lead's edit page: every field while a draft; once "
    "published, only the words, a later deadline, the take-up rates and the quote's total "
    "and voucher (a 409 names any other field sent; a lower quote may tip a campaign that "
    "shares it); nothing once closed, or while it waits for review (409).",
)
async def update_campaign(request: Request) -> Response:
    lead = await require_lead(request)
    campaign = await _own_campaign(request, lead)
    if campaign.status == "pending_review":  # to its lead, not "no campaign" as elsewhere
        raise Problem(
            409, "This campaign is waiting for review: it cannot change until it is decided."
        )
    body = await validated(
        CampaignChange,
        await json_body(request),
        "Some of what was sent is not valid.",
        lambda data: campaign_service.parse_changes(data, campaign),
    )
    svc = services(request)
    edit = campaign_service.parse_changes(body.model_dump(exclude_unset=True), campaign)
    changed = await campaign_service.update_campaign(
        svc.store, campaign.slug, lead.id, edit, money_enabled=svc.settings.money_enabled
    )
    return answer(await lead_campaign_json(svc.store.database, changed, svc.settings.base_url))


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/publish",
    operation_id="publishCampaign",
    summary="Publish a draft (the lead's own)",
    tag="campaigns",
    caller="lead",
    answers={
        200: Answer(
            "Published: open for pledges, or (MODERATION=pre) `pending_review`, with `review`",
            Campaign,
            links=SLUG_LINKS,
        )
    },
    errors=(403, 404, 409, 422),
    description="A 409 when it is not a draft; a 422 naming `deadline` when that has passed. "
    "Where the site reviews campaigns before publishing (MODERATION=pre), the campaign "
    "answers with `status` `pending_review` and a `review` object: it is on no public page, "
    "list, API answer or webhook until an administrator approves it.",
)
async def publish_campaign(request: Request) -> Response:
    moderation = services(request).settings.moderation
    return await _step(
        request,
        partial(campaign_service.open_campaign, moderation=moderation),
        "only a draft can be published",
    )


async def _step(request: Request, step: CampaignStep, refusal: str) -> Response:
    """Publish or cancel the lead's own campaign; from another state, a 409 saying why."""
    lead = await require_lead(request)
    campaign = await _own_campaign(request, lead)
    svc = services(request)
    try:
        changed = await step(svc.store, campaign.slug, lead.id)
    except CampaignNotOpen as exc:
        raise Problem(409, f"This campaign is {exc.status}: {refusal}.") from exc
    return answer(await lead_campaign_json(svc.store.database, changed, svc.settings.base_url))


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/cancel",
    operation_id="cancelCampaign",
    summary="Cancel a draft or open campaign (the lead's own)",
    tag="campaigns",
    caller="lead",
    answers={200: Answer("Cancelled; its pledgers are told", Campaign)},
    errors=(403, 404, 409),
    description="A 409 once it has tipped, expired or been cancelled.",
)
async def cancel_campaign(request: Request) -> Response:
    return await _step(request, campaign_service.cancel_campaign, "it can no longer be cancelled")


@operation(
    "GET",
    "/api/v1/campaigns/{slug}/pledges",
    operation_id="listCampaignPledges",
    summary="The campaign's pledges, oldest first (the lead's own)",
    tag="campaigns",
    caller="lead",
    query=PageQuery,
    answers={
        200: Answer(
            "Pledges with the columns of the lead's CSV, a page at a time",
            PledgeRows,
            headers={"Link": 'The next page, as `<url>; rel="next"`; absent on the last.'},
        )
    },
    errors=(403, 404),
)
async def list_pledges(request: Request) -> Response:
    lead = await require_lead(request)
    query = await parse_query(request, PageQuery, check_limit)
    campaign = await _own_campaign(request, lead)
    page = await pledges_page(
        services(request).store.database, campaign, limit=query.limit, cursor=query.cursor
    )
    rows = with_next(PledgeRows(pledges=[_pledge_row(row) for row in page.items]), page.next)
    return answer(rows, headers={"Cache-Control": "no-store", **next_link(request, page.next)})


def _pledge_row(row: Any) -> PledgeRow:
    values = dict(row)
    for name in ("created_at", "confirmed_at", "withdrawn_at"):
        value = aware(values[name])
        values[name] = value.isoformat() if value is not None else None
    return PledgeRow.model_validate(values)


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/updates",
    operation_id="postCampaignUpdate",
    summary="Post an update to the campaign page and its pledgers (the lead's own)",
    tag="campaigns",
    caller="lead",
    body=UpdateInput,
    answers={201: Answer("Posted; emailed to confirmed pledgers who want news", CampaignUpdate)},
    errors=(403, 404, 409, 429),
    description="At most one a day and three a week: a 429 with `Retry-After` past that. "
    "A 409 for a draft or a closed campaign.",
)
async def post_update(request: Request) -> Response:
    lead = await require_lead(request)
    body = await parse_body(request, UpdateInput, update_service.parse_update)
    campaign = await _own_campaign(request, lead)
    update = update_service.parse_update(body.model_dump())
    try:
        posted = await update_service.post_update(
            services(request).store, campaign.slug, lead.id, update
        )
    except CampaignNotOpen as exc:  # the lead's own draft, or a closed campaign
        raise Problem(409, f"This campaign is {exc.status} and takes no updates.") from exc
    created = aware(posted.created_at)
    assert created is not None  # an update always has its time
    shown = CampaignUpdate(
        id=posted.id, title=posted.title, body=posted.body, created_at=created.isoformat()
    )
    return answer(shown, 201)


operations: list[Operation] = [
    update_campaign,
    publish_campaign,
    cancel_campaign,
    list_pledges,
    post_update,
]
