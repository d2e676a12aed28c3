"""The demand curve on pages: D(p) drawn by the server as SVG beside the same numbers as a
table, projected take-up with the rates it assumes, the cost each home would pay of a
provider's quote, the equity floor, the progress line of a campaign that tips on a target
price or on sharing a quote, and the lead's demand-curve CSV.

Every number comes from pledges.demand_curve (counters kept by counting, never a count of
pledges at request time); this module only lays them out.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from databases import Database
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.bootstrap import services
from app.errors import Problem
from app.pages.price_answers import firmness_choices, price_choices, price_label
from app.pages.sign_in import lead_campaign
from app.spreadsheet import SPREADSHEET_BOM, csv_cell
from pledges.campaigns import Campaign
from pledges.demand import FIRMNESS, PERIOD_WORDS, site_take_up
from pledges.demand_curve import DemandCurve, demand_curve, equity_payload, take_up_summary
from pledges.money import format_money, major_text

FIRMNESS_LABELS = {"interested": "Interested", "will_switch": "Will switch", "deposit": "Deposit"}


# ----- words ---------------------------------------------------------------------------------


def figure(value: float) -> str:
    """A projected count as people read it: 7.5, 12 (not 12.0), 1,204.5."""
    return f"{value:,.1f}".removesuffix(".0")


def unit_noun(campaign: Campaign, n: int | None = None) -> str:
    if campaign.counts_households:
        return "household" if n == 1 else "households"
    return "person" if n == 1 else "people"


@dataclass(frozen=True)
class DemandProgress:
    """The progress line of a campaign tipping on a target price or a shared quote:
    `count` shown strong, then `rest` ("of 40 households at £30 a month or more (30%)")."""

    count: str
    rest: str


def demand_progress(campaign: Campaign) -> DemandProgress | None:
    """What counts towards such a campaign's threshold; None for any other campaign."""
    tally = campaign.tally
    if campaign.tip_on_cost and campaign.quote_total:
        money = campaign.price_currency
        return DemandProgress(
            format_money(tally.units, money),
            f"of the {format_money(tally.goal, money)} quote covered by what people would "
            f"pay ({campaign.percent}%)",
        )
    if campaign.target_price is None:
        return None
    if campaign.counts_households and campaign.coverage_target and campaign.premises_listed:
        noun = "listed homes"
    else:
        noun = unit_noun(campaign)
    at = f"at {price_label(campaign, campaign.target_price)} or more"
    if tally.goal:
        return DemandProgress(
            f"{tally.units:,}", f"of {tally.goal:,} {noun} {at} ({campaign.percent}%)"
        )
    return DemandProgress(f"{tally.units:,}", f"{noun} {at}")


def equity_text(campaign: Campaign) -> str | None:
    """The equity floor and where the campaign stands: both counts, and whether it is met."""
    if not campaign.equity_share:
        return None
    floor = equity_payload(campaign)
    places = ", ".join(floor["districts"])
    if campaign.counts_households and campaign.premises_listed:
        places = (
            f"{places} or homes marked priority on the list"
            if places
            else ("homes marked priority on the list")
        )
    where = f" ({places})" if places else ""
    counted = floor["counted"]
    rule = (
        f"At least {floor['share']}% of the {unit_noun(campaign)} counted must come from "
        f"priority places{where} before it can tip."
    )
    if not counted:
        return f"{rule} Nobody is counted yet."
    share = floor["priority"] * 100 // counted
    state = "met" if floor["met"] else "not met yet"
    return f"{rule} So far {floor['priority']:,} of {counted:,} ({share}%): {state}."


# ----- the chart -----------------------------------------------------------------------------

CHART_WIDTH = 480
CHART_HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 30, 36
# Price labels under every bar up to this many points; beyond, the first, target and last.
LABEL_EVERY_UP_TO = 8


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def chart_description(curve: DemandCurve) -> str:
    first, last = curve.points[0], curve.points[-1]
    text = (
        f"{curve.unit.capitalize()} willing to pay at least each price: {first.count:,} at "
        f"{curve.per(first.price)}, {last.count:,} at {curve.per(last.price)}."
    )
    target = next((p for p in curve.points if p.price == curve.target_price), None)
    if target is not None:
        text += f" At the target price of {curve.per(target.price)}: {target.count:,}."
    return text + " Projected take-up at each price is the darker part of its bar."


def curve_svg(curve: DemandCurve, id_prefix: str = "demand-chart") -> str:
    """A bar per price point: the units willing to pay at least that price (pale), the
    projected take-up inside it (dark), the target price as a dashed red line. Every text
    is XML-escaped; the numbers are also in the table beside it."""
    n = len(curve.points)
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    plot_h = CHART_HEIGHT - _TOP - _BOTTOM
    top = max(1, math.ceil(curve.top * 1.1))
    slot = plot_w / n
    bar = max(1.0, slot * 0.8)
    base = _TOP + plot_h

    def height(value: float) -> float:
        return plot_h * max(0.0, value) / top

    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'class="chart" role="img" aria-labelledby={quoteattr(f"{title_id} {desc_id}")}>',
        f"<title id={quoteattr(title_id)}>What people would pay</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(chart_description(curve))}</desc>",
        '<g font-family="system-ui, -apple-system, Segoe UI, Arial, sans-serif" font-size="16" '
        'fill="#505a5f">',
        f'<line x1="{_LEFT}" y1="{base}" x2="{_LEFT + plot_w}" y2="{base}" stroke="#b1b4b6"/>',
        f'<text x="{_LEFT - 6}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 5}" text-anchor="end">{top}</text>',
    ]
    labelled = {0, n - 1} if n > LABEL_EVERY_UP_TO else set(range(n))
    for i, point in enumerate(curve.points):
        x = _LEFT + slot * i + (slot - bar) / 2
        whole, projected = height(point.count), height(point.projected)
        if whole:
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(base - whole)}" width="{_num(bar)}" '
                f'height="{_num(whole)}" fill="#a8d5ba"/>'
            )
        if projected:
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(base - projected)}" width="{_num(bar)}" '
                f'height="{_num(projected)}" fill="#00703c"/>'
            )
        if i in labelled or point.price == curve.target_price:
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            ax = _LEFT if anchor == "start" else _LEFT + plot_w if anchor == "end" else x + bar / 2
            parts.append(
                f'<text x="{_num(ax)}" y="{base + 20}" text-anchor="{anchor}">'
                f"{escape(curve.money(point.price))}</text>"
            )
        if point.price == curve.target_price:
            tx = _num(x - (slot - bar) / 2)
            parts += [
                f'<line x1="{tx}" y1="{_TOP - 4}" x2="{tx}" y2="{base}" stroke="#d4351c" '
                'stroke-width="2" stroke-dasharray="6 4"/>',
                f'<text x="{tx}" y="{_TOP - 10}" text-anchor="{"start" if i < n / 2 else "end"}"'
                f' fill="#d4351c">Target: {escape(curve.money(point.price))}</text>',
            ]
    parts += ["</g>", "</svg>"]
    return "".join(parts)


# ----- what pages show -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemandView:
    """A campaign's demand as its pages show it: the curve (None without a price question)
    and its chart, or else the projected take-up by firmness; the equity floor."""

    curve: DemandCurve | None
    chart: Markup | None
    take_up: dict[str, Any] | None
    equity: str | None

    @property
    def shown(self) -> bool:
        return self.curve is not None or self.take_up is not None or self.equity is not None


async def demand_view(db: Database, campaign: Campaign) -> DemandView:
    curve = await demand_curve(db, campaign)
    take_up = None
    if curve is None and campaign.tally.counted:
        take_up = take_up_summary(campaign)
    return DemandView(
        curve=curve,
        # Built here from numbers and XML-escaped text only.
        chart=Markup(curve_svg(curve)) if curve is not None else None,  # noqa: S704
        take_up=take_up,
        equity=equity_text(campaign),
    )


def period_heading(curve: DemandCurve) -> str:
    """The revenue column's heading: "Projected revenue a month"."""
    return f"Projected revenue {PERIOD_WORDS[curve.period]}"


def price_money(campaign: Campaign, amount: int) -> str:
    """An amount in the price question's currency: "£1,576"."""
    return format_money(amount, campaign.price_currency)


def add_template_helpers(templates: Jinja2Templates) -> None:
    templates.env.globals.update(
        price_money=price_money,
        site_rates=site_take_up,
        unit_noun=unit_noun,
        price_choices=price_choices,
        firmness_choices=firmness_choices,
        demand_progress=demand_progress,
        projected_figure=figure,
        firmness_labels=FIRMNESS_LABELS,
        revenue_heading=period_heading,
    )


# ----- the lead's CSV --------------------------------------------------------------------------


def curve_rows(curve: DemandCurve) -> list[list[Any]]:
    """The curve as CSV rows under a header: price, the units at or above it (households or
    people), by firmness, projected take-up and revenue per period; prices and revenue in
    major units ("25.00"); then a row for those not sure."""
    header = ["price", curve.unit, *FIRMNESS, f"projected_{curve.unit}", "projected_revenue"]
    rows: list[list[Any]] = [header]
    for p in curve.points:
        rows.append(
            [
                _major(p.price),
                p.count,
                *(p.by_firmness[f] for f in FIRMNESS),
                figure(p.projected).replace(",", ""),
                _major(p.revenue),
            ]
        )
    rows.append(
        [
            "not sure",
            curve.not_sure,
            *(curve.not_sure_by_firmness[f] for f in FIRMNESS),
            None,
            None,
        ]
    )
    return rows


def _major(amount: int) -> str:
    text = major_text(amount)
    return text if "." in text else f"{text}.00"


async def demand_csv(request: Request) -> Response:
    campaign = await lead_campaign(request)
    if isinstance(campaign, Response):
        return campaign
    curve = await demand_curve(services(request).store.database, campaign)
    if curve is None:
        raise Problem(404, "This campaign asks no price, so it has no demand curve.")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in curve_rows(curve):
        writer.writerow([csv_cell(v) for v in row])
    return Response(
        SPREADSHEET_BOM + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{campaign.slug}-demand.csv"',
            "Cache-Control": "no-store",
        },
    )


routes = [Route("/lead/campaigns/{slug}/demand.csv", demand_csv, methods=["GET"])]
