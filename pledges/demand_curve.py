"""The demand curve of a campaign, and what it projects.

D(p): the counted units (households, or people) whose answer is at least p, for each of
the campaign's price points, by firmness and verification level, read from the counters
counting keeps (pledges/demand.py: demand_counts), never by counting pledges. Projected
take-up at p = sum over tiers of D_tier(p) x the tier's take-up rate; revenue per period =
projected take-up x p. The rates are the site's (TAKE_UP_RATES) unless the lead set the
campaign's own, and every projection says which it assumes.

Open data (figures anyone may read) passes each count through `open_figure`: under 5 it
is withheld, otherwise rounded down to a multiple of 5, so no household can be singled
out, by one figure or by the difference of two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from databases import Database

from pledges.campaigns import Campaign
from pledges.demand import (
    FIRMNESS,
    LEVELS,
    NOT_SURE,
    PERIOD_WORDS,
    bucket_rows,
    site_take_up,
)
from pledges.money import format_money

MIN_CELL = 5  # open data withholds any count under this
FIRMNESS_WORDS = {"interested": "interested", "will_switch": "will-switch", "deposit": "deposit"}


def open_figure(n: int) -> int | None:
    """A count as open data shows it: None under MIN_CELL, else rounded down to a multiple
    of MIN_CELL (so that no difference of two figures is exact either)."""
    return None if n < MIN_CELL else n - n % MIN_CELL


def open_projection(expected: float) -> int | None:
    """A projected take-up as open data shows it: whole units, then as open_figure shows a
    count (a projection to one decimal place would give away the counts it is made of)."""
    return open_figure(int(expected))


def take_up_rates(campaign: Campaign, site: Mapping[str, int] | None = None) -> dict[str, int]:
    """The rates a campaign's projections assume: its lead's where set, else the site's."""
    rates = dict(site or site_take_up())
    rates.update(campaign.take_up_rates or {})
    return rates


def assumption(rates: Mapping[str, int], unit: str) -> str:
    """ "assumes 30 % of interested, 60 % of will-switch and 90 % of deposit households
    sign up"."""
    parts = [f"{rates[f]} % of {FIRMNESS_WORDS[f]}" for f in FIRMNESS]
    return f"assumes {parts[0]}, {parts[1]} and {parts[2]} {unit} sign up"


def projected(by_firmness: Mapping[str, int], rates: Mapping[str, int]) -> float:
    """Expected sign-ups: sum of count x rate, to one decimal place."""
    return round(sum(by_firmness.get(f, 0) * rates[f] for f in FIRMNESS) / 100, 1)


def projected_revenue(by_firmness: Mapping[str, int], rates: Mapping[str, int], price: int) -> int:
    """Expected revenue per period at `price` (minor units), rounded to a whole unit."""
    return round(sum(by_firmness.get(f, 0) * rates[f] for f in FIRMNESS) * price / 100)


@dataclass(frozen=True)
class Point:
    price: int
    count: int
    by_firmness: dict[str, int]
    by_level: dict[str, int]
    projected: float
    revenue: int


@dataclass(frozen=True)
class CostShare:
    """What each home would pay towards the quote if `homes` joined."""

    homes: int
    cost_each: int
    label: str  # "everyone who pledged", "at £25 or more", "every premises"
    willing: bool  # at least that many would pay at least that much


@dataclass(frozen=True)
class DemandCurve:
    currency: str
    period: str
    unit: str  # "households" | "people"
    points: tuple[Point, ...]
    not_sure: int
    not_sure_by_firmness: dict[str, int]
    target_price: int | None
    rates: dict[str, int]
    rates_source: str  # "campaign" | "site"
    quote_total: int | None
    quote_voucher: int
    tip_on_cost: bool
    shares: tuple[CostShare, ...]

    @property
    def assumes(self) -> str:
        return assumption(self.rates, self.unit)

    def money(self, amount: int) -> str:
        return format_money(amount, self.currency)

    def per(self, amount: int) -> str:
        """ "£25 a month"."""
        return f"{self.money(amount)} {PERIOD_WORDS[self.period]}"

    @property
    def top(self) -> int:
        """The highest count on the curve (its first point's): the chart's scale."""
        return max((p.count for p in self.points), default=0)

    def payload(self, *, open_data: bool = False) -> dict[str, Any]:
        """The curve as campaign JSON and webhooks give it (`demand`); `open_data`: counts
        through open_figure, and no breakdown by verification level."""
        figure = open_figure if open_data else (lambda n: n)

        def firm(counts: Mapping[str, int]) -> dict[str, int | None]:
            return {f: figure(counts.get(f, 0)) for f in FIRMNESS}

        def forecast(p: Point) -> dict[str, Any]:
            if not open_data:
                return {"households": p.projected, "revenue": p.revenue}
            shown = open_projection(p.projected)
            return {"households": shown, "revenue": shown * p.price if shown else None}

        points = []
        for p in self.points:
            item: dict[str, Any] = {
                "price": p.price,
                "households": figure(p.count),
                "by_firmness": firm(p.by_firmness),
                "projected": forecast(p),
            }
            if not open_data:
                item["by_level"] = dict(p.by_level)
            points.append(item)
        payload: dict[str, Any] = {
            "currency": self.currency,
            "period": self.period,
            "unit": self.unit,
            "points": points,
            "not_sure": figure(self.not_sure),
            "target_price": self.target_price,
            "take_up_rates": dict(self.rates),
            "take_up_rates_source": self.rates_source,
            "assumes": self.assumes,
        }
        if self.quote_total is not None:
            payload["quote"] = {
                "total": self.quote_total,
                "voucher_per_home": self.quote_voucher,
                "tip": self.tip_on_cost,
                "cost_each": [
                    {"homes": s.homes, "cost_each": s.cost_each, "willing": s.willing}
                    for s in self.shares
                    if not open_data or figure(s.homes) == s.homes
                ],
            }
        return payload


def cost_each(quote: int, voucher: int, homes: int) -> int:
    """Each home's share of the quote when `homes` join, less the voucher (never below 0),
    rounded up to a whole minor unit."""
    return max(0, -(-quote // homes) - voucher)


def curve_from_buckets(
    campaign: Campaign, buckets: list[Any], site_rates: Mapping[str, int] | None = None
) -> DemandCurve:
    """The curve of a campaign with a price question from its demand counters."""
    assert campaign.asks_price and campaign.price_currency and campaign.price_period
    rates = take_up_rates(campaign, site_rates)
    exact: dict[int, Counter[str]] = {}
    levels: dict[int, Counter[str]] = {}
    not_sure: Counter[str] = Counter()
    for b in buckets:
        if b["price"] == NOT_SURE:
            not_sure[b["firmness"]] += b["n"]
            continue
        exact.setdefault(b["price"], Counter())[b["firmness"]] += b["n"]
        levels.setdefault(b["price"], Counter())[b["level"]] += b["n"]
    points = []
    for price in campaign.price_points:
        firm: Counter[str] = Counter()
        level: Counter[str] = Counter()
        for answer, counts in exact.items():
            if answer >= price:
                firm.update(counts)
                level.update(levels[answer])
        by_firmness = {f: firm[f] for f in FIRMNESS}
        points.append(
            Point(
                price=price,
                count=sum(by_firmness.values()),
                by_firmness=by_firmness,
                by_level={lv: level[lv] for lv in LEVELS},
                projected=projected(by_firmness, rates),
                revenue=projected_revenue(by_firmness, rates, price),
            )
        )
    unit = "households" if campaign.counts_households else "people"
    return DemandCurve(
        currency=campaign.price_currency,
        period=campaign.price_period,
        unit=unit,
        points=tuple(points),
        not_sure=sum(not_sure.values()),
        not_sure_by_firmness={f: not_sure[f] for f in FIRMNESS},
        target_price=campaign.target_price,
        rates=rates,
        rates_source="campaign" if campaign.take_up_rates else "site",
        quote_total=campaign.quote_total,
        quote_voucher=campaign.quote_voucher,
        tip_on_cost=campaign.tip_on_cost,
        shares=_shares(campaign, points),
    )


def _shares(campaign: Campaign, points: list[Point]) -> tuple[CostShare, ...]:
    """ "Cost each if N homes join": for everyone counted, for the units at each point,
    and for every premises, when there is a quote."""
    quote = campaign.quote_total
    if not quote:
        return ()
    voucher = campaign.quote_voucher
    seen: dict[int, CostShare] = {}
    # Highest price first: N homes are judged willing by the most the last N would pay.
    for p in reversed(points):
        if p.count and p.count not in seen:
            each = cost_each(quote, voucher, p.count)
            seen[p.count] = CostShare(
                p.count,
                each,
                f"at {format_money(p.price, campaign.price_currency)} or more",
                each <= p.price,
            )
    counted = campaign.tally.counted
    if counted and counted not in seen:
        each = cost_each(quote, voucher, counted)
        seen[counted] = CostShare(counted, each, "everyone counted", False)
    premises = campaign.premises
    if premises and premises not in seen:
        seen[premises] = CostShare(
            premises, cost_each(quote, voucher, premises), "every premises", False
        )
    return tuple(sorted(seen.values(), key=lambda s: s.homes))


async def demand_curve(
    db: Database, campaign: Campaign, site_rates: Mapping[str, int] | None = None
) -> DemandCurve | None:
    """The campaign's demand curve, or None when it asks no price."""
    if not campaign.asks_price:
        return None
    return curve_from_buckets(campaign, await bucket_rows(db, campaign.id), site_rates)


def take_up_summary(
    campaign: Campaign, site_rates: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Projected take-up without prices: counted units by firmness, and what they project
    to under the rates (every campaign has this, price question or not)."""
    rates = take_up_rates(campaign, site_rates)
    by_firmness = campaign.firmness_counts
    unit = "households" if campaign.counts_households else "people"
    return {
        "by_firmness": by_firmness,
        "projected": projected(by_firmness, rates),
        "take_up_rates": rates,
        "take_up_rates_source": "campaign" if campaign.take_up_rates else "site",
        "assumes": assumption(rates, unit),
    }


def equity_payload(campaign: Campaign) -> dict[str, Any]:
    """The equity floor and where the campaign stands against it."""
    tally = campaign.tally
    return {
        "share": campaign.equity_share,
        "districts": list(campaign.equity_districts),
        "priority": campaign.priority_count,
        "counted": tally.counted,
        "met": tally.equity_met,
    }
