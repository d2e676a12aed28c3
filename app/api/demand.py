"""/api/v1/demand: demand across campaigns and by postcode district, for providers and
councils to plan on, as JSON or CSV. With an organisation's key, exact figures for public
campaigns of any status; without one, open data (pledges/demand_areas.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, parse_query
from app.api.demand_shapes import (
    ByLevel,
    DemandQuote,
    Period,
    PriceCurrency,
    RatesSource,
    TakeUpRates,
    Unit,
)
from app.api.models import Category, Shape
from app.api.pagination import NEXT, PageQuery, check_limit, next_link, with_next
from app.api.requests import bearer_key, require_organisation
from app.bootstrap import services
from app.errors import Problem
from app.spreadsheet import csv_cell
from pledges import demand_areas
from pledges.demand import FIRMNESS
from pledges.errors import FieldError, ValidationFailed
from pledges.money import MAX_PLEDGE

OPEN_NOTE = "Open data (no key): null under 5, else rounded down to a multiple of 5."

# ----- models ----------------------------------------------------------------------------


class DemandQuery(PageQuery):
    """The filters; an empty value is refused, not read as "any"."""

    category: Category | None = None
    postcode: str | None = Field(
        default=None,
        min_length=1,
        description="A postcode area (LS) or district (LS6); a full postcode stands for its "
        "district. Campaigns whose area lies in it, and figures of its districts only.",
    )
    status: Literal["open", "tipped", "expired", "cancelled"] | None = Field(
        default=None,
        description="Without a key, open or tipped only (open data covers those).",
    )
    price: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PLEDGE,
        description="A price to plan at, in minor units (pence, cents) per `period`: only "
        "campaigns asking a price in `currency` and `period` count (give both), and each "
        "figure is also given at this price (`at_price`).",
    )
    currency: PriceCurrency | None = Field(
        default=None, description="Only campaigns asking a price in this currency."
    )
    period: Period | None = Field(
        default=None, description="Only campaigns asking a price per this period."
    )


def _counts(description: str = "") -> Any:
    return Field(ge=0, description=f"{description} {OPEN_NOTE}".strip())


class FirmnessCounts(Shape):
    interested: int | None = _counts()
    will_switch: int | None = _counts()
    deposit: int | None = _counts()


class Forecast(Shape):
    households: int | float | None = Field(
        ge=0,
        description="Projected take-up: the sum over firmness of units x its take-up rate, "
        "to one decimal place. Open data: whole units rounded down to a multiple of 5, null "
        "under 5.",
    )
    revenue: int | None = Field(
        description="Projected take-up x the price, per period, in minor units (open data: "
        "of the projection shown)."
    )


class PriceFigures(Shape):
    """D(price): the units (households, or people) whose answer is at least the price."""

    price: int = Field(description="Minor units per period.")
    households: int | None = _counts("Units willing to pay at least the price.")
    by_firmness: FirmnessCounts
    projected: Forecast
    by_level: ByLevel | None = Field(
        default=None, description="Curve points only, with a key: by verification level."
    )


class DemandCurveFigures(Shape):
    """A campaign's demand curve, as campaign JSON's `demand` gives it (with a key), or as
    open data."""

    currency: PriceCurrency
    period: Period
    unit: Unit
    points: list[PriceFigures]
    not_sure: int | None = _counts('Units that answered "not sure".')
    target_price: int | None
    take_up_rates: TakeUpRates
    take_up_rates_source: RatesSource
    assumes: str = Field(description='"assumes 30 % of interested, ... sign up".')
    quote: DemandQuote | None = Field(
        default=None,
        description="Present when the lead gave a quote (open data: only the shares of a "
        "number of homes it may show).",
    )


class TakeUpFigures(Shape):
    """Counted units by firmness and what they project to, price question or not."""

    by_firmness: FirmnessCounts
    projected: int | float | None = Field(
        ge=0, description=Forecast.model_fields["households"].description
    )
    take_up_rates: TakeUpRates
    take_up_rates_source: RatesSource
    assumes: str


class Coverage(Shape):
    premises: int | None = Field(ge=0, description="Premises in the area; null when unknown.")
    covered: int | None = _counts("Counted households on the premises list.")
    percent: float | None = Field(
        ge=0, description="Covered as a percent of the premises (open data: of those shown)."
    )


class DistrictDemand(Shape):
    district: str
    counted: int | None = _counts("Counted units (households, or people).")
    by_firmness: FirmnessCounts
    at_price: PriceFigures | None = Field(
        description="At the asked price; null without `price`, or for units of campaigns "
        "asking no price."
    )


class CampaignDemand(Shape):
    slug: str
    title: str
    category: Category
    status: Literal["open", "tipped", "expired", "cancelled"]
    url: str = Field(json_schema_extra={"format": "uri"})
    counts: Unit
    counted: int | None = _counts("Counted units: households, or people.")
    coverage: Coverage | None = Field(description="Households campaigns; null for people.")
    demand: DemandCurveFigures | None = Field(description="null for a campaign asking no price.")
    take_up: TakeUpFigures
    at_price: PriceFigures | None = Field(description="D(price) at the asked price.")
    districts: list[DistrictDemand] = Field(
        description="Its counted units by the pledgers' postcode district."
    )


class AskedPrice(Shape):
    price: int
    currency: PriceCurrency
    period: Period


class DemandList(Shape):
    open_data: bool = Field(description="true when asked without a key.")
    price: AskedPrice | None = Field(description="The price asked for, if any.")
    campaigns: list[CampaignDemand]
    districts: list[DistrictDemand] = Field(
        description="Summed across every campaign that matches (not only this page's): the "
        "same on every page."
    )
    next: str | None = NEXT


# ----- CSV -------------------------------------------------------------------------------

CSV_COLUMNS = (
    "campaign",
    "title",
    "category",
    "status",
    "counts",
    "district",
    "counted",
    "interested",
    "will_switch",
    "deposit",
    "currency",
    "period",
    "price",
    "households_at_price",
    "interested_at_price",
    "will_switch_at_price",
    "deposit_at_price",
    "projected_at_price",
    "revenue_at_price",
)
CSV_WORDS = (
    "With `Accept: text/csv`, the same figures as CSV, one row per campaign of the page and "
    "postcode district where it has counted units, with the columns "
    + ", ".join(f"`{c}`" for c in CSV_COLUMNS)
    + ": `counts` is people or households; `currency`, `period` and the `_at_price` columns "
    "are filled when `price` is given and the campaign asks one (`price` and "
    "`revenue_at_price` in minor units). Withheld open-data figures are empty cells; text a "
    "spreadsheet would run as a formula starts with `'`."
)


def wants_csv(accept: str) -> bool:
    """Whether the Accept header prefers text/csv to JSON (JSON by default)."""
    csv_q, json_q = 0.0, -1.0
    for item in accept.split(","):
        media, *params = [part.strip() for part in item.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() == "text/csv":
            csv_q = max(csv_q, q)
        elif media.lower() == "application/json":
            json_q = max(json_q, q)
    return csv_q > 0 and csv_q > json_q


def _csv_rows(page: demand_areas.DemandPage, open_data: bool) -> Iterator[list[Any]]:
    yield list(CSV_COLUMNS)
    asked = page.asked
    for figures in page.campaigns:
        c = figures.campaign
        for d in figures.districts:
            shown = d.payload(open_data=open_data)
            at = shown["at_price"]
            priced = at is not None and asked is not None
            yield [
                c.slug,
                c.title,
                c.category,
                c.status,
                c.counts,
                d.district,
                shown["counted"],
                *(shown["by_firmness"][f] for f in FIRMNESS),
                asked.currency if priced and asked else None,
                asked.period if priced and asked else None,
                at["price"] if priced else None,
                at["households"] if priced else None,
                *(at["by_firmness"][f] if priced else None for f in FIRMNESS),
                at["projected"]["households"] if priced else None,
                at["projected"]["revenue"] if priced else None,
            ]


def csv_text(page: demand_areas.DemandPage, open_data: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _csv_rows(page, open_data):
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


# ----- the handler -----------------------------------------------------------------------


def _whole(data: Any) -> Any:
    """Whole numbers without a fraction (5, not 5.0), as the whole API writes them."""
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {key: _whole(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_whole(value) for value in data]
    return data


def _query_check(open_data: bool) -> Any:
    def check(data: dict[str, Any]) -> None:
        errors: list[FieldError] = []
        try:
            check_limit(data)
        except ValidationFailed as exc:
            errors += exc.errors
        try:
            demand_areas.parse_demand_query(data, open_data=open_data)
        except ValidationFailed as exc:
            errors += exc.errors
        if errors:
            raise ValidationFailed(errors)

    return check


@operation(
    "GET",
    "/api/v1/demand",
    operation_id="listDemand",
    summary="Demand across campaigns and by postcode district (open data without a key)",
    tag="demand",
    caller="anyone_or_organisation",
    query=DemandQuery,
    answers={
        200: Answer(
            "Matching campaigns by id, a page at a time, with their demand curves, projected "
            "take-up and counted units by district; and those districts summed across every "
            "matching campaign",
            DemandList,
            headers={
                "Link": 'The next page, as `<url>; rel="next"`; absent on the last.',
                "Vary": "Accept, Authorization: the answer depends on both.",
            },
            other_content={"text/csv": {"schema": {"type": "string"}}},
        )
    },
    description="With an organisation's key: exact figures for public campaigns of any "
    "status. Without a key: open data, for open and tipped campaigns only, every count null "
    "under 5 and otherwise rounded down to a multiple of 5 (projections likewise), no "
    "breakdown by verification level; never a name, email or address. Units are households "
    "on campaigns that count them, else people. A 401 for a key that is not an "
    "organisation's; a 422 names each filter at fault. " + CSV_WORDS,
)
async def list_demand(request: Request) -> Response:
    # A key that is sent must be an organisation's, checked before the filters.
    org = await require_organisation(request) if bearer_key(request) is not None else None
    open_data = org is None
    check = _query_check(open_data)
    parsed = await parse_query(request, DemandQuery, check)
    try:
        wanted = demand_areas.parse_demand_query(dict(request.query_params), open_data=open_data)
    except ValidationFailed as exc:
        raise Problem(422, "Some query parameters are not valid.", exc.errors) from exc
    svc = services(request)
    page = await demand_areas.demand_page(
        svc.store.database,
        wanted,
        open_data=open_data,
        limit=parsed.limit,
        cursor=parsed.cursor,
    )
    headers = {**next_link(request, page.next), "Vary": "Accept, Authorization"}
    if wants_csv(request.headers.get("accept", "")):
        return Response(
            csv_text(page, open_data), media_type="text/csv; charset=utf-8", headers=headers
        )
    base_url = svc.settings.base_url
    asked = page.asked
    listed = DemandList.model_validate(
        _whole(
            {
                "open_data": open_data,
                "price": (
                    {"price": asked.price, "currency": asked.currency, "period": asked.period}
                    if asked
                    else None
                ),
                "campaigns": [
                    {
                        **f.payload(open_data=open_data),
                        "url": f"{base_url}/c/{f.campaign.slug}",
                    }
                    for f in page.campaigns
                ],
                "districts": [d.payload(open_data=open_data) for d in page.districts],
            }
        )
    )
    return answer(with_next(listed, page.next), headers=headers)


operations: list[Operation] = [list_demand]
