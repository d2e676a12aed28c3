"""The numbers on a campaign lead's dashboard: progress over time, a tipping forecast,
the breakdown by postcode district, the progress chart as SVG, and for a money campaign
its money and paid pledges.

The series, the forecast and the chart are pure functions of the pledges' timestamps, so
they are tested without a database; the queries that feed them are at the bottom. All
days are UTC calendar days, as deadlines are shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

import sqlalchemy as sa
from databases import Database

from pledges.campaigns import Campaign
from pledges.payments import payment_totals
from pledges.store import aware, utcnow
from pledges.tables import pledges

# The forecast uses the net confirmations of this recent window (or since opening).
FORECAST_WINDOW = timedelta(days=7)
# A campaign opened an hour ago is not extrapolated from that hour alone.
MIN_FORECAST_WINDOW = timedelta(days=1)
# Beyond this the forecast says "more than ten years" instead of a date.
MAX_FORECAST_DAYS = 3650
# Paid pledges listed on the dashboard (each with its refund button); the CSV has them all.
PAID_LIST_LIMIT = 500


def long_date(value: date | datetime) -> str:
    """12 March 2027 (no leading zero, whatever the platform's strftime allows)."""
    return f"{value.day} {value:%B %Y}"


@dataclass(frozen=True)
class PledgeTiming:
    """When one pledge started and stopped counting."""

    status: str
    confirmed_at: datetime | None
    withdrawn_at: datetime | None
    invalidated_at: datetime | None
    amount: int | None = None  # a money pledge's, in minor units


@dataclass(frozen=True)
class Change:
    at: datetime
    delta: int  # +1 confirmed, -1 a confirmed pledge withdrawn or invalidated


@dataclass(frozen=True)
class DayCount:
    day: date
    confirmed: int  # confirmed pledges at the end of that day


def changes_from(timings: Iterable[PledgeTiming], *, by_amount: bool = False) -> list[Change]:
    """+1 at each confirmation; -1 when a confirmed pledge was withdrawn or invalidated
    (whichever came first). Pending pledges that were withdrawn never counted. With
    `by_amount`, each change is the pledge's amount of money instead of one."""
    found: list[Change] = []
    for t in timings:
        if t.confirmed_at is None:
            continue
        weight = (t.amount or 0) if by_amount else 1
        found.append(Change(t.confirmed_at, +weight))
        if t.status == "confirmed":
            continue
        ends = [e for e in (t.withdrawn_at, t.invalidated_at) if e is not None]
        if ends:
            found.append(Change(max(min(ends), t.confirmed_at), -weight))
    found.sort(key=lambda c: c.at)
    return found


def daily_series(changes: Sequence[Change], first_day: date, last_day: date) -> list[DayCount]:
    """The count at the end of each day from first_day to last_day (at least one day).
    Changes before first_day make the starting count; later ones are left out."""
    last_day = max(last_day, first_day)
    by_day: dict[date, int] = {}
    running = 0
    for change in changes:
        day = change.at.date()
        if day < first_day:
            running += change.delta
        elif day <= last_day:
            by_day[day] = by_day.get(day, 0) + change.delta
    series = []
    day = first_day
    while day <= last_day:
        running += by_day.get(day, 0)
        series.append(DayCount(day, running))
        day += timedelta(days=1)
    return series


def net_change_since(changes: Sequence[Change], since: datetime) -> int:
    return sum(c.delta for c in changes if c.at > since)


@dataclass(frozen=True)
class Forecast:
    """What the dashboard says about tipping. `kind` is one of: draft, tipped, closed,
    no_rate, estimate, too_slow."""

    kind: str
    message: str
    eta: date | None = None
    before_deadline: bool | None = None
    rate_per_day: float = 0.0


def _rate_text(rate: float, amount_text: Callable[[int], str] | None = None) -> str:
    if amount_text is not None:
        return f"{amount_text(round(rate))} a day"
    text = f"{rate:.1f}".rstrip("0").rstrip(".")
    return f"{text} a day"


def forecast_tipping(
    *,
    status: str,
    target: int,
    confirmed: int,
    opened_at: datetime | None,
    deadline: datetime,
    tipped_at: datetime | None,
    closed_at: datetime | None,
    changes: Sequence[Change],
    now: datetime,
    amount_text: Callable[[int], str] | None = None,
) -> Forecast:
    """When the campaign reaches its target at its recent rate: net confirmations over the
    last 7 days, or since it opened when that is shorter (counted as at least a day).

    A campaign with only a money target passes its money target, pledged amount and
    changes in money, with `amount_text` to write amounts ("£20")."""
    if tipped_at is not None:
        return Forecast("tipped", f"It reached its target on {long_date(tipped_at)}.")
    if status == "pending_review":
        return Forecast(
            "review", "It is waiting for an administrator's review; pledges count once it opens."
        )
    if status == "draft" or opened_at is None:
        return Forecast("draft", "It is a draft. Publish it to start counting pledges.")
    if status != "open":
        when = f" on {long_date(closed_at)}" if closed_at else ""
        return Forecast("closed", f"It closed{when} without reaching its target.")
    window_start = max(now - FORECAST_WINDOW, opened_at)
    since_text = "in the last 7 days" if window_start > opened_at else "since it opened"
    window = max(now - window_start, MIN_FORECAST_WINDOW)
    net = net_change_since(changes, window_start)
    remaining = target - confirmed
    if remaining <= 0:
        return Forecast("tipped", "It has reached its target.")
    if net <= 0:
        return Forecast(
            "no_rate",
            f"The count has not grown {since_text}, so there is no rate to forecast from.",
        )
    rate = net / (window / timedelta(days=1))
    days_needed = remaining / rate
    grown = amount_text(net) if amount_text is not None else str(net)
    grew = f"It grew by {grown} {since_text} (about {_rate_text(rate, amount_text)})."
    if days_needed > MAX_FORECAST_DAYS:
        return Forecast(
            "too_slow",
            f"{grew} At this rate it would take more than ten years to reach its target.",
            before_deadline=False,
            rate_per_day=rate,
        )
    eta = now + timedelta(days=days_needed)
    before = eta <= deadline
    return Forecast(
        "estimate",
        f"{grew} At this rate it reaches its target around {long_date(eta)}, "
        f"{'before' if before else 'after'} its deadline of {long_date(deadline)}.",
        eta=eta.date(),
        before_deadline=before,
        rate_per_day=rate,
    )


# The chart's frame, in SVG user units; it scales to the page's width.
CHART_WIDTH = 480
CHART_HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 24, 40


def chart_description(series: Sequence[DayCount], target: int) -> str:
    """What the chart shows, in words; a target of 0 (a campaign with a money target
    only) is left unsaid."""
    target_text = f" The target is {target}." if target > 0 else ""
    if not series:
        return f"No pledges yet.{target_text}"
    first, last = series[0], series[-1]
    peak = max(p.confirmed for p in series)
    text = (
        f"Confirmed pledges from {long_date(first.day)} to {long_date(last.day)}: "
        f"{first.confirmed} on the first day, {last.confirmed} on the last"
    )
    if peak > last.confirmed:
        text += f", at most {peak}"
    return f"{text}.{target_text}"


def progress_chart_svg(
    series: Sequence[DayCount],
    target: int,
    *,
    title: str = "Confirmed pledges over time",
    desc: str | None = None,
    id_prefix: str = "progress-chart",
) -> str:
    """A line chart of the cumulative confirmed count by day, with the target as a dashed
    line (none for a target of 0). Well-formed XML, so it works inline in HTML and as an
    .svg file alike."""
    desc = desc if desc is not None else chart_description(series, target)
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    plot_h = CHART_HEIGHT - _TOP - _BOTTOM
    peak = max([p.confirmed for p in series] + [target, 1])
    top = max(1, math.ceil(peak * 1.1))

    def x_of(i: int) -> float:
        return _LEFT + (plot_w * i / (len(series) - 1) if len(series) > 1 else plot_w / 2)

    def y_of(value: int) -> float:
        return _TOP + plot_h - plot_h * max(0, value) / top

    def num(value: float) -> str:
        return f"{value:.1f}".rstrip("0").rstrip(".")

    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'class="chart" role="img" aria-labelledby={quoteattr(f"{title_id} {desc_id}")}>',
        f"<title id={quoteattr(title_id)}>{escape(title)}</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(desc)}</desc>",
        '<g font-family="system-ui, -apple-system, Segoe UI, Arial, sans-serif" '
        'font-size="16" fill="#505a5f">',
        # Axes
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" stroke="#b1b4b6"/>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}" '
        'stroke="#b1b4b6"/>',
        f'<text x="{_LEFT - 8}" y="{num(y_of(0) + 4)}" text-anchor="end">0</text>',
    ]
    if target > 0:
        target_y = num(y_of(target))
        parts += [
            f'<line x1="{_LEFT}" y1="{target_y}" x2="{_LEFT + plot_w}" y2="{target_y}" '
            'stroke="#d4351c" stroke-width="2" stroke-dasharray="6 4"/>',
            f'<text x="{_LEFT - 8}" y="{num(y_of(target) + 4)}" text-anchor="end">{target}</text>',
            f'<text x="{_LEFT + plot_w}" y="{num(y_of(target) - 6)}" text-anchor="end" '
            f'fill="#d4351c">Target: {target}</text>',
        ]
    if series:
        first, last = series[0].day, series[-1].day
        bottom = _TOP + plot_h + 20
        parts.append(f'<text x="{_LEFT}" y="{bottom}">{escape(long_date(first))}</text>')
        if last != first:
            parts.append(
                f'<text x="{_LEFT + plot_w}" y="{bottom}" text-anchor="end">'
                f"{escape(long_date(last))}</text>"
            )
        points = " ".join(f"{num(x_of(i))},{num(y_of(p.confirmed))}" for i, p in enumerate(series))
        if len(series) == 1:
            parts.append(
                f'<circle cx="{num(x_of(0))}" cy="{num(y_of(series[0].confirmed))}" r="4" '
                'fill="#00703c"/>'
            )
        else:
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="#00703c" stroke-width="3" '
                'stroke-linejoin="round"/>'
            )
    parts += ["</g>", "</svg>"]
    return "\n".join(parts)


def changed_days(series: Sequence[DayCount]) -> list[DayCount]:
    """The days on which the count moved (and the first): the chart's table alternative."""
    found: list[DayCount] = []
    for point in series:
        if not found or point.confirmed != found[-1].confirmed:
            found.append(point)
    return found


@dataclass(frozen=True)
class DistrictCount:
    district: str
    confirmed: int
    pending: int
    in_area: bool


def district_breakdown(
    campaign_districts: Sequence[str], counts: Iterable[tuple[str, str, int]]
) -> list[DistrictCount]:
    """Rows of (district, status, count) as one row per district: every district of the
    campaign's area, and any other district pledges came from (marked not in the area)."""
    table: dict[str, dict[str, int]] = {
        d: {"confirmed": 0, "pending": 0} for d in campaign_districts
    }
    for district, status, count in counts:
        if status in ("confirmed", "pending"):
            table.setdefault(district, {"confirmed": 0, "pending": 0})[status] += int(count)
    area = set(campaign_districts)
    return [
        DistrictCount(d, c["confirmed"], c["pending"], d in area)
        for d, c in sorted(table.items(), key=lambda item: (item[0] not in area, item[0]))
    ]


@dataclass(frozen=True)
class PaidPledge:
    """A pledge whose money was collected: what the lead sees beside its refund button."""

    id: int
    name: str
    amount: int
    paid_at: datetime | None


@dataclass(frozen=True)
class MoneySummary:
    """A money campaign's money (minor units) and its counted pledges by payment state."""

    pledged: int
    collected: int
    refunded: int
    failed: int
    by_status: dict[str, int]
    paid: list[PaidPledge]
    # More paid pledges than PAID_LIST_LIMIT: the rest are in the CSV.
    paid_truncated: bool


@dataclass(frozen=True)
class Dashboard:
    campaign: Campaign
    confirmed: int
    pending: int
    series: list[DayCount]
    changed_days: list[DayCount]
    chart_svg: str
    forecast: Forecast
    districts: list[DistrictCount]
    money: MoneySummary | None = None


async def pledge_timings(db: Database, campaign_id: int) -> list[PledgeTiming]:
    rows = await db.fetch_all(
        sa.select(
            pledges.c.status,
            pledges.c.confirmed_at,
            pledges.c.withdrawn_at,
            pledges.c.invalidated_at,
            pledges.c.amount,
        ).where(pledges.c.campaign_id == campaign_id, pledges.c.confirmed_at.is_not(None))
    )
    return [
        PledgeTiming(
            r["status"],
            aware(r["confirmed_at"]),
            aware(r["withdrawn_at"]),
            aware(r["invalidated_at"]),
            r["amount"],
        )
        for r in rows
    ]


async def paid_pledges(
    db: Database, campaign_id: int, limit: int = PAID_LIST_LIMIT
) -> list[PaidPledge]:
    """The campaign's paid pledges, most recently paid first."""
    rows = await db.fetch_all(
        sa.select(pledges.c.id, pledges.c.name, pledges.c.amount, pledges.c.paid_at)
        .where(pledges.c.campaign_id == campaign_id, pledges.c.payment_status == "paid")
        .order_by(pledges.c.paid_at.desc(), pledges.c.id.desc())
        .limit(limit)
    )
    return [
        PaidPledge(r["id"], r["name"], int(r["amount"] or 0), aware(r["paid_at"])) for r in rows
    ]


async def money_summary(db: Database, campaign: Campaign) -> MoneySummary:
    totals = await payment_totals(db, campaign.id)
    paid = await paid_pledges(db, campaign.id, PAID_LIST_LIMIT + 1)
    return MoneySummary(
        pledged=totals["pledged"],
        collected=totals["collected"],
        refunded=totals["refunded"],
        failed=totals["failed"],
        by_status=totals["pledges"],
        paid=paid[:PAID_LIST_LIMIT],
        paid_truncated=len(paid) > PAID_LIST_LIMIT,
    )


async def district_counts(db: Database, campaign_id: int) -> list[tuple[str, str, int]]:
    rows = await db.fetch_all(
        sa.select(pledges.c.district, pledges.c.status, sa.func.count().label("n"))
        .where(
            pledges.c.campaign_id == campaign_id,
            pledges.c.status.in_(("confirmed", "pending")),
        )
        .group_by(pledges.c.district, pledges.c.status)
    )
    return [(r["district"], r["status"], int(r["n"])) for r in rows]


def _series_for(campaign: Campaign, changes: Sequence[Change], now: datetime) -> list[DayCount]:
    if campaign.opened_at is None:
        return []
    end = campaign.closed_at or now
    return daily_series(changes, campaign.opened_at.date(), end.date())


async def load_dashboard(
    db: Database, campaign: Campaign, now: datetime | None = None
) -> Dashboard:
    """Everything the dashboard shows about one campaign, from one connection."""
    now = now or utcnow()
    timings = await pledge_timings(db, campaign.id)
    changes = changes_from(timings)
    counts = await district_counts(db, campaign.id)
    pending = sum(n for _, status, n in counts if status == "pending")
    series = _series_for(campaign, changes, now)
    # A campaign with a money target and no count target is forecast in money.
    by_money = not campaign.target and bool(campaign.money_target)
    return Dashboard(
        campaign=campaign,
        confirmed=campaign.confirmed,
        pending=pending,
        series=series,
        changed_days=changed_days(series),
        chart_svg=progress_chart_svg(series, campaign.target),
        forecast=forecast_tipping(
            status=campaign.status,
            target=(campaign.money_target or 0) if by_money else campaign.target,
            confirmed=campaign.pledged_amount if by_money else campaign.confirmed,
            opened_at=campaign.opened_at,
            deadline=campaign.deadline,
            tipped_at=campaign.tipped_at,
            closed_at=campaign.closed_at,
            changes=changes_from(timings, by_amount=True) if by_money else changes,
            now=now,
            amount_text=campaign.money if by_money else None,
        ),
        districts=district_breakdown(campaign.postcode_districts, counts),
        money=await money_summary(db, campaign) if campaign.is_money else None,
    )
