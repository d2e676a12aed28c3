"""Demand across campaigns and by postcode district: what providers and councils plan on.

A `DemandQuery` picks public campaigns by category, postcode area (LS) or district (LS6),
status, and the price question they ask (currency, period). With a `price`, only
campaigns asking a price in that currency and period count, and every figure is also
given at that price: D(price), the units (households, or people) whose answer is at
least that price, by firmness, and the take-up and revenue they project under each
campaign's rates (pledges/demand_curve.py).

Figures by district come from the demand counters (pledges/demand.py: demand_counts)
summed in SQL, grouped by district, firmness and answer (and by campaign where a
campaign's own figures are wanted), never by reading pledges one by one. A campaign
without a price question keeps no such counters: its counted units by district and
firmness are grouped, in SQL too, from its confirmed pledges (or counted households).

`open_data`: figures anyone may read, without a key. Only open and tipped campaigns; each
count through `open_figure` (under 5 withheld, else rounded down to a multiple of 5),
projections too (`open_projection`), revenue from the projection shown, coverage from
the households shown, and no breakdown by verification level. Nothing here ever reads a
name, an email or an address.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import CATEGORIES, Campaign, load_campaigns
from pledges.demand import FIRMNESS, NOT_SURE, PERIOD_WORDS, PERIODS, site_take_up
from pledges.demand_curve import (
    DemandCurve,
    curve_from_buckets,
    open_figure,
    open_projection,
    projected,
    projected_revenue,
    take_up_rates,
    take_up_summary,
)
from pledges.errors import FieldError, ValidationFailed
from pledges.identity import district_of
from pledges.money import CURRENCIES, MAX_PLEDGE, format_money, parse_major
from pledges.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of
from pledges.tables import campaign_districts, campaigns, demand_counts, households, pledges

# Public campaigns an organisation's key reads; open data reads the first two only.
PUBLIC_STATUSES = ("open", "tipped", "expired", "cancelled")
OPEN_DATA_STATUSES = ("open", "tipped")
_AREA = re.compile(r"^[A-Z]{1,2}$")
_DISTRICT_PARTS = re.compile(r"^([A-Z]+)(\d+)(.*)$")


# ----- the query ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AskedPrice:
    """A price to plan at: minor units per period, in a currency."""

    price: int
    currency: str
    period: str

    def money(self, amount: int) -> str:
        """An amount in this currency: "£25"."""
        return format_money(amount, self.currency)

    @property
    def per(self) -> str:
        """ "a month", "a year", "once"."""
        return PERIOD_WORDS[self.period]

    @property
    def label(self) -> str:
        """ "£25 a month"."""
        return f"{self.money(self.price)} {self.per}"


@dataclass(frozen=True)
class DemandQuery:
    category: str | None = None
    area: str | None = None  # a postcode area (LS) or district (LS6)
    status: str | None = None
    currency: str | None = None
    period: str | None = None
    price: int | None = None

    @property
    def asked(self) -> AskedPrice | None:
        if self.price is None or self.currency is None or self.period is None:
            return None
        return AskedPrice(self.price, self.currency, self.period)


def area_of(value: str) -> str | None:
    """A postcode area (LS), a district (LS6), or a full postcode standing for its district
    (LS6 1AB -> LS6), upper-cased; None when it is none of these."""
    compact = re.sub(r"\s+", "", value).upper()
    if _AREA.match(compact):
        return compact
    return district_of(compact) if len(compact) <= 8 else None


def in_area(area: str, district: str) -> bool:
    """'LS' takes in every LS district (LS6, LS16; not LSX or L1); 'LS6' takes LS6 alone."""
    if _AREA.match(area):
        return district.startswith(area) and district[len(area) : len(area) + 1].isdigit()
    return district == area


def in_area_clause(column: Any, area: str) -> Any:
    """in_area as SQL: an area's districts are its letters and then a digit."""
    if _AREA.match(area):  # letters only, so safe in a LIKE pattern
        return sa.and_(
            column.like(f"{area}%"), sa.func.substr(column, len(area) + 1, 1).between("0", "9")
        )
    return column == area


def district_order(district: str) -> tuple[str, int, str]:
    """LS2 before LS10: letters, then the number, then the rest."""
    parts = _DISTRICT_PARTS.match(district)
    if parts is None:
        return (district, 0, "")
    return (parts.group(1), int(parts.group(2)), parts.group(3))


def _price_error() -> FieldError:
    return FieldError(
        "price",
        "out_of_range",
        f"Enter a whole number of minor units (pence, cents) from 1 to {MAX_PLEDGE}.",
        {"min": 1, "max": MAX_PLEDGE},
    )


def parse_demand_query(data: Mapping[str, Any], *, open_data: bool) -> DemandQuery:
    """The filters of a demand query from a query string's text; every problem at once,
    by field. `open_data`: asked without a key, which reads open and tipped campaigns."""
    errors: list[FieldError] = []
    category = data.get("category")
    if category is not None and category not in CATEGORIES:
        errors.append(
            FieldError(
                "category",
                "not_in_choices",
                f"Choose one of: {', '.join(CATEGORIES)}.",
                {"choices": CATEGORIES},
            )
        )
    raw_area = data.get("postcode")
    area = area_of(raw_area) if isinstance(raw_area, str) else None
    if raw_area is not None and area is None:
        errors.append(
            FieldError(
                "postcode",
                "not_a_postcode_prefix",
                "Enter a postcode area, like LS, or a district, like LS6.",
            )
        )
    status = data.get("status")
    allowed = OPEN_DATA_STATUSES if open_data else PUBLIC_STATUSES
    if status is not None and status not in allowed:
        words = f"Choose one of: {', '.join(allowed)}."
        if open_data and status in PUBLIC_STATUSES:
            words = (
                "Without an organisation's API key, choose open or tipped: open data covers "
                "those campaigns only."
            )
        errors.append(FieldError("status", "not_in_choices", words, {"choices": allowed}))
    currency = data.get("currency")
    if currency is not None and currency not in CURRENCIES:
        errors.append(
            FieldError(
                "currency",
                "not_in_choices",
                f"Choose one of: {', '.join(CURRENCIES)}.",
                {"choices": tuple(CURRENCIES)},
            )
        )
    period = data.get("period")
    if period is not None and period not in PERIODS:
        errors.append(
            FieldError(
                "period",
                "not_in_choices",
                f"Choose one of: {', '.join(PERIODS)}.",
                {"choices": PERIODS},
            )
        )
    raw_price = data.get("price")
    price = None
    if raw_price is not None:
        text = str(raw_price)
        whole = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PLEDGE))
        if not whole or not 1 <= int(text) <= MAX_PLEDGE:
            errors.append(_price_error())
        else:
            price = int(text)
        for name, value in (("currency", currency), ("period", period)):
            if value is None:
                errors.append(
                    FieldError(
                        name,
                        "required",
                        f"Give the {name} of the price too: a price counts only campaigns "
                        "asking a price in that currency and period.",
                    )
                )
    if errors:
        raise ValidationFailed(errors)
    return DemandQuery(category, area, status, currency, period, price)


def parse_asked_price(price: str, currency: str, period: str) -> AskedPrice:
    """A price from a form: "25" or "24.99" in the currency's major units, a currency and a
    period; every problem at once, by field."""
    errors: list[FieldError] = []
    if currency not in CURRENCIES:
        errors.append(
            FieldError(
                "currency",
                "not_in_choices",
                "Choose a currency from the list.",
                {"choices": tuple(CURRENCIES)},
            )
        )
    if period not in PERIODS:
        errors.append(
            FieldError(
                "period", "not_in_choices", "Choose a period from the list.", {"choices": PERIODS}
            )
        )
    amount = parse_major(price) if len(price) <= 30 else None
    if not price.strip():
        errors.append(FieldError("price", "required", "Enter a price, like 25 or 24.99."))
    elif amount is None or not 1 <= amount <= MAX_PLEDGE:
        errors.append(
            FieldError(
                "price",
                "out_of_range",
                "Enter a price from 0.01 to 999999.99, like 25 or 24.99.",
                {"min": 1, "max": MAX_PLEDGE},
            )
        )
    if errors:
        raise ValidationFailed(errors)
    assert amount is not None
    return AskedPrice(amount, currency, period)


# ----- figures --------------------------------------------------------------------------------


def _shown(n: int, open_data: bool) -> int | None:
    return open_figure(n) if open_data else n


@dataclass(frozen=True)
class AtPrice:
    """D(price): the units whose answer is at least the price, by firmness, and what they
    project to (summed over campaigns, each under its own rates)."""

    price: int
    count: int
    by_firmness: dict[str, int]
    projected: float
    revenue: int

    def payload(self, *, open_data: bool = False) -> dict[str, Any]:
        """As a point of the demand curve: {price, households, by_firmness, projected}."""
        forecast: dict[str, float | int | None]
        if open_data:
            shown = open_projection(self.projected)
            forecast = {
                "households": shown,
                "revenue": shown * self.price if shown is not None else None,
            }
        else:
            forecast = {"households": self.projected, "revenue": self.revenue}
        return {
            "price": self.price,
            "households": _shown(self.count, open_data),
            "by_firmness": {f: _shown(self.by_firmness.get(f, 0), open_data) for f in FIRMNESS},
            "projected": forecast,
        }


@dataclass(frozen=True)
class DistrictFigures:
    """The counted units of a postcode district, of one campaign or summed across the
    campaigns that match; `at_price` when a price was asked and campaigns ask one."""

    district: str
    by_firmness: dict[str, int]
    at_price: AtPrice | None

    @property
    def counted(self) -> int:
        return sum(self.by_firmness.values())

    def payload(self, *, open_data: bool = False) -> dict[str, Any]:
        return {
            "district": self.district,
            "counted": _shown(self.counted, open_data),
            "by_firmness": {f: _shown(self.by_firmness.get(f, 0), open_data) for f in FIRMNESS},
            "at_price": self.at_price.payload(open_data=open_data) if self.at_price else None,
        }


@dataclass(frozen=True)
class CampaignFigures:
    campaign: Campaign
    curve: DemandCurve | None
    at_price: AtPrice | None
    districts: tuple[DistrictFigures, ...]

    def coverage(self, *, open_data: bool = False) -> dict[str, Any] | None:
        """A households campaign's coverage of the premises (null for people): open data
        gives the households shown, and the percent they make."""
        if not self.campaign.counts_households:
            return None
        tally = self.campaign.tally
        covered = _shown(tally.covered, open_data)
        premises = tally.premises
        if not open_data:
            percent = tally.coverage_percent
        elif premises and covered is not None:
            percent = round(covered * 100 / premises, 1)
        else:
            percent = None
        return {"premises": premises, "covered": covered, "percent": percent}

    def take_up(self, *, open_data: bool = False) -> dict[str, Any]:
        summary = take_up_summary(self.campaign)
        if open_data:
            summary["by_firmness"] = {f: open_figure(n) for f, n in summary["by_firmness"].items()}
            summary["projected"] = open_projection(summary["projected"])
        return summary

    def payload(self, *, open_data: bool = False) -> dict[str, Any]:
        """Everything but the campaign's address on the site (the app knows its base URL)."""
        c = self.campaign
        return {
            "slug": c.slug,
            "title": c.title,
            "category": c.category,
            "status": c.status,
            "counts": c.counts,
            "counted": _shown(c.tally.counted, open_data),
            "coverage": self.coverage(open_data=open_data),
            "demand": self.curve.payload(open_data=open_data) if self.curve else None,
            "take_up": self.take_up(open_data=open_data),
            "at_price": self.at_price.payload(open_data=open_data) if self.at_price else None,
            "districts": [d.payload(open_data=open_data) for d in self.districts],
        }


@dataclass(frozen=True)
class DemandPage:
    """A page of matching campaigns with their figures, and the figures by district summed
    across every matching campaign (the same on every page)."""

    asked: AskedPrice | None
    campaigns: list[CampaignFigures]
    districts: list[DistrictFigures]
    next: str | None


# ----- reading the counters --------------------------------------------------------------------


@dataclass(frozen=True)
class DistrictRow:
    """Counted units of one district, firmness and answer (price None: the campaign asks no
    price; NOT_SURE: "not sure"), summed in SQL; campaign_id 0 when summed across campaigns
    with the same take-up rates (`rates`, the lead's JSON, or None for the site's)."""

    campaign_id: int
    district: str
    price: int | None
    firmness: str
    rates: str | None
    n: int


async def district_rows(
    db: Database, campaign_ids: Any, *, area: str | None = None, by_campaign: bool = False
) -> list[DistrictRow]:
    """Counted units by district, firmness and answer of the campaigns `campaign_ids` (a list
    or a select of ids), grouped in SQL: from demand_counts for campaigns asking a price,
    from confirmed pledges or counted households for the others. `area`: only districts in
    it. `by_campaign`: one group per campaign, else per take-up rates across campaigns."""
    c = campaigns.c
    found: list[DistrictRow] = []
    sources = (
        # Campaigns with a price question: their counters, by answer.
        (
            demand_counts,
            demand_counts.c.campaign_id,
            demand_counts.c.district,
            demand_counts.c.price,
            demand_counts.c.firmness,
            sa.func.sum(demand_counts.c.n),
            (c.price_points.is_not(None), demand_counts.c.n != 0),
        ),
        # Campaigns of people without one: confirmed pledges.
        (
            pledges,
            pledges.c.campaign_id,
            pledges.c.district,
            None,
            pledges.c.firmness,
            sa.func.count(),
            (c.price_points.is_(None), c.counts == "people", pledges.c.status == "confirmed"),
        ),
        # Campaigns of households without one: each counted household at its counting pledge.
        (
            households.join(pledges, pledges.c.id == households.c.counting_pledge_id),
            households.c.campaign_id,
            households.c.district,
            None,
            pledges.c.firmness,
            sa.func.count(),
            (c.price_points.is_(None), c.counts == "households"),
        ),
    )
    for table, campaign_id, district, price, firmness, total, conditions in sources:
        keys = [district, firmness, c.take_up_rates]
        if price is not None:
            keys.append(price)
        if by_campaign:
            keys.append(campaign_id)
        query = (
            sa.select(*keys, total.label("n"))
            .select_from(table.join(campaigns, c.id == campaign_id))
            .where(campaign_id.in_(campaign_ids), *conditions)
            .group_by(*keys)
        )
        if area is not None:
            query = query.where(in_area_clause(district, area))
        for r in await db.fetch_all(query):
            n = int(r["n"])
            if n:
                found.append(
                    DistrictRow(
                        campaign_id=r["campaign_id"] if by_campaign else 0,
                        district=r["district"],
                        price=r["price"] if price is not None else None,
                        firmness=r["firmness"],
                        rates=r["take_up_rates"],
                        n=n,
                    )
                )
    return found


class _Rates:
    """Take-up rates by a campaign's stored JSON (None: the site's), read once each."""

    def __init__(self, site: Mapping[str, int] | None = None) -> None:
        self.site = dict(site or site_take_up())
        self.known: dict[str | None, dict[str, int]] = {}

    def __call__(self, raw: str | None) -> dict[str, int]:
        if raw not in self.known:
            self.known[raw] = {**self.site, **(json.loads(raw) if raw else {})}
        return self.known[raw]


def _willing(price: int | None, asked: int) -> bool:
    """A unit whose answer is at least the asked price ("not sure" is no answer)."""
    return price is not None and price != NOT_SURE and price >= asked


def at_price_of(rows: Iterable[DistrictRow], asked: int, rates: _Rates) -> AtPrice:
    """D(asked) of these rows by firmness, projected under each row's rates."""
    by_firmness: Counter[str] = Counter()
    weight = 0
    for r in rows:
        if _willing(r.price, asked):
            by_firmness[r.firmness] += r.n
            weight += r.n * rates(r.rates)[r.firmness]
    return AtPrice(
        price=asked,
        count=sum(by_firmness.values()),
        by_firmness={f: by_firmness[f] for f in FIRMNESS},
        projected=round(weight / 100, 1),
        revenue=round(weight * asked / 100),
    )


def district_figures(
    rows: Iterable[DistrictRow], asked: AskedPrice | None, rates: _Rates
) -> list[DistrictFigures]:
    """One DistrictFigures per district of `rows`, in district order; `at_price` for a
    district with units of a campaign asking a price, when a price is asked."""
    grouped: dict[str, list[DistrictRow]] = defaultdict(list)
    for r in rows:
        grouped[r.district].append(r)
    found = []
    for district in sorted(grouped, key=district_order):
        mine = grouped[district]
        by_firmness: Counter[str] = Counter()
        for r in mine:
            by_firmness[r.firmness] += r.n
        priced = asked is not None and any(r.price is not None for r in mine)
        found.append(
            DistrictFigures(
                district=district,
                by_firmness={f: by_firmness[f] for f in FIRMNESS},
                at_price=at_price_of(mine, asked.price, rates) if priced and asked else None,
            )
        )
    return found


# ----- the query, a page at a time --------------------------------------------------------------


def matching_campaigns(query: DemandQuery, *, open_data: bool) -> Any:
    """The ids of the public campaigns the query picks, as a select."""
    c = campaigns.c
    # Open data reads open and tipped campaigns alone, whatever status was asked for.
    allowed = OPEN_DATA_STATUSES if open_data else PUBLIC_STATUSES
    statuses = [s for s in allowed if query.status in (None, s)]
    found = sa.select(c.id).where(c.status.in_(statuses), c.hidden_at.is_(None))
    if query.category:
        found = found.where(c.category == query.category)
    if query.currency:
        found = found.where(c.price_currency == query.currency)
    if query.period:
        found = found.where(c.price_period == query.period)
    if query.price is not None:
        found = found.where(c.price_points.is_not(None))
    if query.area:
        found = found.where(
            c.id.in_(
                sa.select(campaign_districts.c.campaign_id).where(
                    in_area_clause(campaign_districts.c.district, query.area)
                )
            )
        )
    # Never correlated with an enclosing query of campaigns: it stands on its own.
    return found.correlate(None)


async def _curves(
    db: Database, page: Sequence[Campaign], rates: _Rates
) -> dict[int, tuple[DemandCurve, list[Any]]]:
    """The demand curve of each campaign of the page asking a price, from its counters
    (summed by answer, firmness and level in one query for the whole page)."""
    priced = [c for c in page if c.asks_price]
    if not priced:
        return {}
    dc = demand_counts.c
    keys = (dc.campaign_id, dc.price, dc.firmness, dc.level)
    rows = await db.fetch_all(
        sa.select(*keys, sa.func.sum(dc.n).label("n"))
        .where(dc.campaign_id.in_([c.id for c in priced]), dc.n != 0)
        .group_by(*keys)
    )
    by_campaign: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_campaign[r["campaign_id"]].append(r)
    return {
        c.id: (curve_from_buckets(c, by_campaign[c.id], rates.site), by_campaign[c.id])
        for c in priced
    }


def _campaign_at_price(
    campaign: Campaign, buckets: Sequence[Any], asked: int, site: Mapping[str, int]
) -> AtPrice:
    by_firmness: Counter[str] = Counter()
    for b in buckets:
        if _willing(b["price"], asked):
            by_firmness[b["firmness"]] += int(b["n"])
    counts = {f: by_firmness[f] for f in FIRMNESS}
    rates = take_up_rates(campaign, site)
    return AtPrice(
        price=asked,
        count=sum(counts.values()),
        by_firmness=counts,
        projected=projected(counts, rates),
        revenue=projected_revenue(counts, rates, asked),
    )


async def demand_page(
    db: Database,
    query: DemandQuery,
    *,
    open_data: bool,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    site_rates: Mapping[str, int] | None = None,
) -> DemandPage:
    """The matching campaigns by id, a page at a time, each with its curve, take-up, figures
    at the asked price and by district; and the districts summed across every match."""
    after = decode_cursor(cursor, (int,))[0] if cursor is not None else 0
    matching = matching_campaigns(query, open_data=open_data)
    rows = await load_campaigns(
        db,
        sa.select(campaigns)
        .where(campaigns.c.id.in_(matching), campaigns.c.id > after)
        .order_by(campaigns.c.id)
        .limit(limit + 1),
    )
    page: Page[Campaign] = page_of(rows, limit, lambda c: (c.id,))
    rates = _Rates(site_rates)
    asked = query.asked
    curves = await _curves(db, page.items, rates)
    per_campaign: dict[int, list[DistrictRow]] = defaultdict(list)
    if page.items:
        for r in await district_rows(
            db, [c.id for c in page.items], area=query.area, by_campaign=True
        ):
            per_campaign[r.campaign_id].append(r)
    figures = []
    for c in page.items:
        curve, buckets = curves.get(c.id, (None, []))
        figures.append(
            CampaignFigures(
                campaign=c,
                curve=curve,
                at_price=(
                    _campaign_at_price(c, buckets, asked.price, rates.site)
                    if asked is not None and c.asks_price
                    else None
                ),
                districts=tuple(district_figures(per_campaign[c.id], asked, rates)),
            )
        )
    summed = await district_rows(db, matching, area=query.area)
    return DemandPage(
        asked=asked,
        campaigns=figures,
        districts=district_figures(summed, asked, rates),
        next=page.next,
    )


# ----- where to build next -------------------------------------------------------------------


@dataclass(frozen=True)
class CurveStep:
    """One price of a district's curve: D(price) and its projected take-up."""

    price: int
    count: int
    projected: float


@dataclass(frozen=True)
class RankedDistrict:
    district: str
    at_price: AtPrice
    curve: tuple[CurveStep, ...]
    campaigns: int  # of the campaigns ranked, how many have units here


def rank_order(found: RankedDistrict) -> tuple[float, int, tuple[str, int, str]]:
    return (-found.at_price.projected, -found.at_price.count, district_order(found.district))


async def rank_districts(
    db: Database,
    chosen: Sequence[Campaign],
    asked: AskedPrice,
    *,
    keep: Callable[[Campaign, str], bool] | None = None,
    site_rates: Mapping[str, int] | None = None,
) -> list[RankedDistrict]:
    """The districts of the `chosen` campaigns asking a price in the asked currency and
    period, by projected take-up at the asked price, highest first (then by households
    willing, then district order); each with its curve at every price point of those
    campaigns and the asked price. `keep(campaign, district)`: which districts of a
    campaign count (an organisation's area)."""
    priced = [
        c
        for c in chosen
        if c.asks_price and c.price_currency == asked.currency and c.price_period == asked.period
    ]
    if not priced:
        return []
    by_id = {c.id: c for c in priced}
    rows = [
        r
        for r in await district_rows(db, list(by_id), by_campaign=True)
        if keep is None or keep(by_id[r.campaign_id], r.district)
    ]
    rates = _Rates(site_rates)
    points = sorted({asked.price, *(p for c in priced for p in c.price_points)})
    grouped: dict[str, list[DistrictRow]] = defaultdict(list)
    for r in rows:
        grouped[r.district].append(r)
    ranked = []
    for district, mine in grouped.items():
        curve = []
        for p in points:
            step = at_price_of(mine, p, rates)
            curve.append(CurveStep(p, step.count, step.projected))
        ranked.append(
            RankedDistrict(
                district=district,
                at_price=at_price_of(mine, asked.price, rates),
                curve=tuple(curve),
                campaigns=len({r.campaign_id for r in mine}),
            )
        )
    return sorted(ranked, key=rank_order)
