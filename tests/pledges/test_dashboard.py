"""The dashboard's numbers: the progress series, the tipping forecast, the district table
and the chart, as pure functions; and the same numbers loaded from both databases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from pledges.campaigns import get_campaign
from pledges.dashboard import (
    Change,
    DayCount,
    Forecast,
    PledgeTiming,
    changed_days,
    changes_from,
    chart_description,
    daily_series,
    district_breakdown,
    forecast_tipping,
    load_dashboard,
    long_date,
    progress_chart_svg,
)
from pledges.pledging import withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import pledges
from tests.factories import make_campaign, make_confirmed_pledge, make_pending_pledges

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own chart, parsed to prove it is well-formed


OPENED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    """A time in March 2026."""
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def confirmed(day: int) -> PledgeTiming:
    return PledgeTiming("confirmed", at(day), None, None)


# The series


def test_series_counts_confirmations_and_takes_off_withdrawals_and_invalidations() -> None:
    timings = [
        confirmed(1),
        confirmed(1),
        confirmed(2),
        PledgeTiming("withdrawn", at(2), at(3), None),  # confirmed, then withdrawn
        PledgeTiming("invalid", at(3), None, at(4)),  # confirmed, then struck out
        PledgeTiming("withdrawn", None, at(2), None),  # withdrawn while pending: never counted
        PledgeTiming("invalid", None, None, at(2)),  # invalidated while pending: never counted
        # Withdrawn and later invalidated: it stopped counting once, at the withdrawal.
        PledgeTiming("invalid", at(1), at(3), at(5)),
    ]

    series = daily_series(changes_from(timings), date(2026, 3, 1), date(2026, 3, 6))

    assert [(p.day.day, p.confirmed) for p in series] == [
        (1, 3),
        (2, 5),
        (3, 4),  # +1 confirmed, -2 withdrawn
        (4, 3),  # invalidated
        (5, 3),
        (6, 3),
    ]


def test_series_starts_from_changes_before_its_first_day_and_ignores_later_ones() -> None:
    changes = [Change(at(1), +1), Change(at(2), +1), Change(at(5), +1), Change(at(9), +1)]

    series = daily_series(changes, date(2026, 3, 3), date(2026, 3, 6))

    assert [p.confirmed for p in series] == [2, 2, 3, 3]


def test_series_has_one_day_when_it_opened_today() -> None:
    series = daily_series([Change(at(4, 10), +1)], date(2026, 3, 4), date(2026, 3, 4))
    assert series == [DayCount(date(2026, 3, 4), 1)]


def test_changed_days_keeps_the_first_day_and_each_change() -> None:
    series = [DayCount(date(2026, 3, d), c) for d, c in [(1, 0), (2, 0), (3, 2), (4, 2), (5, 1)]]
    assert [(p.day.day, p.confirmed) for p in changed_days(series)] == [(1, 0), (3, 2), (5, 1)]


# The forecast


def forecast(**overrides: Any) -> Forecast:
    values: dict[str, Any] = {
        "status": "open",
        "target": 100,
        "confirmed": 40,
        "opened_at": OPENED,
        "deadline": datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
        "tipped_at": None,
        "closed_at": None,
        "changes": [],
        "now": at(20),
    }
    values.update(overrides)
    return forecast_tipping(**values)


def test_forecast_before_the_deadline_from_the_last_seven_days() -> None:
    # 14 net confirmations in the last 7 days (and 26 long before, which do not count).
    changes = [Change(at(2), +1)] * 26 + [Change(at(15), +1)] * 16 + [Change(at(16), -1)] * 2

    result = forecast(changes=changes, confirmed=40)

    assert result.kind == "estimate"
    assert result.rate_per_day == 2.0
    # 60 more at 2 a day: 30 days after 20 March.
    assert result.eta == date(2026, 4, 19)
    assert result.before_deadline is True
    assert "It grew by 14 in the last 7 days (about 2 a day)." in result.message
    assert "reaches its target around 19 April 2026, before its deadline of 30 June 2026" in (
        result.message
    )


def test_forecast_after_the_deadline() -> None:
    changes = [Change(at(18), +1)] * 7  # 1 a day

    result = forecast(changes=changes, confirmed=40, deadline=at(31))

    assert result.kind == "estimate"
    assert result.eta == date(2026, 5, 19)  # 60 days after 20 March
    assert result.before_deadline is False
    assert "around 19 May 2026, after its deadline of 31 March 2026" in result.message


def test_forecast_uses_the_time_since_opening_when_shorter_than_a_week() -> None:
    changes = [Change(at(19), +1)] * 30

    result = forecast(opened_at=at(18), changes=changes, confirmed=30)

    assert result.rate_per_day == 15.0  # 30 over the 2 days since opening
    assert "since it opened" in result.message
    assert result.eta == date(2026, 3, 25)  # 70 more at 15 a day: 4.67 days after noon


def test_forecast_without_a_rate_says_so() -> None:
    quiet = forecast(changes=[Change(at(2), +1)] * 40)
    shrinking = forecast(changes=[Change(at(2), +1)] * 41 + [Change(at(19), -1)])

    for result in (quiet, shrinking):
        assert result.kind == "no_rate"
        assert result.eta is None
        assert result.message == (
            "The count has not grown in the last 7 days, so there is no rate to forecast from."
        )


def test_forecast_far_off_gives_no_date() -> None:
    result = forecast(target=10_000_000, changes=[Change(at(19), +1)])
    assert result.kind == "too_slow"
    assert "more than ten years" in result.message


def test_forecast_of_a_tipped_campaign_says_when_it_tipped() -> None:
    result = forecast(status="tipped", confirmed=100, tipped_at=at(12))
    assert result.kind == "tipped"
    assert result.message == "It reached its target on 12 March 2026."


def test_forecast_for_drafts_and_closed_campaigns() -> None:
    assert forecast(status="draft", opened_at=None).kind == "draft"
    closed = forecast(status="expired", closed_at=at(19))
    assert closed.kind == "closed"
    assert closed.message == "It closed on 19 March 2026 without reaching its target."


# Districts


def test_district_breakdown_lists_the_area_first_then_others() -> None:
    rows = district_breakdown(
        ["LS6", "LS16"],
        [("LS6", "confirmed", 3), ("LS6", "pending", 2), ("M1", "confirmed", 1)],
    )
    assert [(r.district, r.confirmed, r.pending, r.in_area) for r in rows] == [
        ("LS16", 0, 0, True),
        ("LS6", 3, 2, True),
        ("M1", 1, 0, False),
    ]


# The chart


def test_chart_is_well_formed_svg_with_title_desc_line_and_target() -> None:
    series = [DayCount(date(2026, 3, d), c) for d, c in [(1, 0), (2, 3), (3, 5), (4, 4)]]

    svg = progress_chart_svg(series, 10, title="Pledges for <Otley Road> & more")

    root = parse(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "Pledges for <Otley Road> & more"
    assert desc is not None and desc.text == chart_description(series, 10)
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    line = root.find(f".//{SVG}polyline")
    assert line is not None
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 4
    ys = [y for _, y in points]
    assert ys[0] > ys[1] > ys[2] and ys[3] > ys[2]  # up, up, then down (SVG y grows down)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Target: 10" in texts
    assert long_date(date(2026, 3, 1)) in texts and long_date(date(2026, 3, 4)) in texts
    target_line = [
        e
        for e in root.iter(f"{SVG}line")
        if e.get("stroke-dasharray") and e.get("y1") == e.get("y2")
    ]
    assert len(target_line) == 1
    # The target line sits above every point: nobody reached 10.
    assert all(float(target_line[0].get("y1") or 0) < y for y in ys)


def test_chart_of_one_day_and_of_no_days_is_still_well_formed() -> None:
    one = parse(progress_chart_svg([DayCount(date(2026, 3, 1), 2)], 5))
    assert one.find(f".//{SVG}circle") is not None
    empty = parse(progress_chart_svg([], 5))
    assert empty.find(f".//{SVG}polyline") is None


def test_description_names_the_first_and_last_day_and_the_peak() -> None:
    series = [
        DayCount(date(2026, 3, 1), 1),
        DayCount(date(2026, 3, 2), 6),
        DayCount(date(2026, 3, 3), 4),
    ]
    assert chart_description(series, 20) == (
        "Confirmed pledges from 1 March 2026 to 3 March 2026: 1 on the first day, 4 on the "
        "last, at most 6. The target is 20."
    )


# From the database


async def test_load_dashboard_counts_from_the_pledges(store: Store) -> None:
    campaign = await make_campaign(store, target=10)
    first = await make_confirmed_pledge(store, campaign.slug, 1)
    await make_confirmed_pledge(store, campaign.slug, 2, postcode="LS16 5AA")
    await make_confirmed_pledge(store, campaign.slug, 3, postcode="M1 1AE")
    await make_pending_pledges(store, campaign.slug, 2, start=10)
    await withdraw_pledge(store, first)
    # A pledge confirmed two days ago, so the series has more than one day.
    await store.database.execute(
        sa.update(pledges)
        .where(pledges.c.email == "resident2@example.org")
        .values(confirmed_at=utcnow() - timedelta(days=2))
    )
    await store.database.execute(
        sa.text("UPDATE campaigns SET opened_at = :t WHERE id = :id").bindparams(
            t=utcnow() - timedelta(days=3), id=campaign.id
        )
    )
    campaign = await get_campaign(store.database, campaign.slug)

    async with store.read() as db:
        dashboard = await load_dashboard(db, campaign)

    assert dashboard.confirmed == 2
    assert dashboard.pending == 2
    assert len(dashboard.series) == 4
    assert [p.confirmed for p in dashboard.series] == [0, 1, 1, 2]
    assert dashboard.series[-1].day == utcnow().date()
    assert [(d.district, d.confirmed, d.pending) for d in dashboard.districts] == [
        ("LS16", 1, 0),
        ("LS6", 0, 2),
        ("M1", 1, 0),
    ]
    assert dashboard.forecast.kind == "estimate"
    parse(dashboard.chart_svg)
