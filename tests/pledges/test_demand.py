"""The price each household would pay: the price question, tipping on a target price, the
demand counters and the curve, cost sharing and the equity floor. Counters are compared
with a count of the pledges after every concurrent run, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from pledges.campaigns import (
    Campaign,
    get_campaign,
    parse_campaign,
    parse_changes,
    update_campaign,
)
from pledges.demand import changes_of, counted_units, demand_settings
from pledges.demand_curve import demand_curve, open_figure
from pledges.erasure import erase_resident
from pledges.errors import FieldsFixed, ValidationFailed
from pledges.identity import canonical_email
from pledges.journal import events_for_campaign
from pledges.moderation import invalidate_pledges
from pledges.pledging import (
    confirm_pledge,
    parse_paper_pledge,
    parse_pledge,
    record_lead_pledge,
    record_pledge,
    withdraw_pledge,
)
from pledges.premises import parse_premises_csv
from pledges.premises_list import replace_premises
from pledges.store import Store
from pledges.tables import campaigns, demand_counts
from tests.factories import campaign_data, make_campaign, make_lead, pledge_data

POINTS = [1500, 2000, 2500, 3000, 3500]
QUESTION = {"currency": "gbp", "period": "month", "price_points": POINTS}


async def no_scrub(*args: Any, **kwargs: Any) -> None:
    return None


async def assert_counters_exact(store: Store, campaign_id: int) -> None:
    """Every counter counting moved equals what a count of the counted units gives."""
    db = store.database
    settings = await demand_settings(db, campaign_id, lock=False)
    units = await counted_units(db, campaign_id, settings)
    expected = changes_of(settings, ((u, +1) for u in units))
    row = await db.fetch_one(sa.select(campaigns).where(campaigns.c.id == campaign_id))
    assert row is not None
    assert (
        row["firm_interested"],
        row["firm_will_switch"],
        row["firm_deposit"],
        row["priced_count"],
        row["priced_covered"],
        row["priority_count"],
    ) == (
        expected.firm["interested"],
        expected.firm["will_switch"],
        expected.firm["deposit"],
        expected.priced,
        expected.priced_covered,
        expected.priority,
    )
    buckets = await db.fetch_all(
        sa.select(demand_counts).where(demand_counts.c.campaign_id == campaign_id)
    )
    stored = Counter(
        {
            (b["price"], b["firmness"], b["level"], bool(b["listed"]), b["district"]): b["n"]
            for b in buckets
            if b["n"]
        }
    )
    assert stored == Counter({k: n for k, n in expected.buckets.items() if n})
    assert all(b["n"] >= 0 for b in buckets)


async def pledge(store: Store, slug: str, i: int, **extra: Any) -> int:
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, **extra)))
    return outcome.pledge_id


async def priced_campaign(store: Store, **overrides: Any) -> Campaign:
    settings: dict[str, Any] = {"price_question": QUESTION, "target_price": 2500, "target": 5}
    return await make_campaign(store, **(settings | overrides))


# ----- the price question ------------------------------------------------------------------


def test_the_price_question_as_a_list_or_a_range() -> None:
    spec = parse_campaign(campaign_data(price_question=QUESTION))
    assert spec.demand.question is not None
    assert spec.demand.question.points == tuple(POINTS)
    ranged = parse_campaign(
        campaign_data(
            price_question={
                "currency": "gbp",
                "period": "month",
                "min": 2000,
                "max": 4000,
                "step": 500,
                "required": True,
            }
        )
    )
    assert ranged.demand.question is not None
    assert ranged.demand.question.points == (2000, 2500, 3000, 3500, 4000)
    assert ranged.demand.question.required


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"price_question": "yes"}, "price_question", "not_an_object"),
        (
            {"price_question": {**QUESTION, "period": "week"}},
            "price_question.period",
            "not_in_choices",
        ),
        (
            {"price_question": {**QUESTION, "currency": "xyz"}},
            "price_question.currency",
            "not_in_choices",
        ),
        (
            {"price_question": {**QUESTION, "price_points": [1500]}},
            "price_question.price_points",
            "not_a_list",
        ),
        (
            {"price_question": {**QUESTION, "price_points": [1500, 1500]}},
            "price_question.price_points",
            "duplicate",
        ),
        (
            {
                "price_question": {
                    "currency": "gbp",
                    "period": "month",
                    "min": 3000,
                    "max": 2000,
                    "step": 500,
                }
            },
            "price_question.max",
            "below_minimum",
        ),
        (
            {
                "price_question": {
                    "currency": "gbp",
                    "period": "month",
                    "min": 1,
                    "max": 9000,
                    "step": 1,
                }
            },
            "price_question.step",
            "out_of_range",
        ),
        ({"target_price": 2500}, "target_price", "needs_price_question"),
        ({"price_question": QUESTION, "target_price": 2600}, "target_price", "not_in_choices"),
        ({"quote": {"total": 100000}}, "quote", "needs_price_question"),
        (
            {"price_question": QUESTION, "quote": {"total": 100000, "tip": True}},
            "quote.tip",
            "period_once_only",
        ),
        (
            {
                "price_question": {**QUESTION, "period": "once"},
                "quote": {"total": 100000, "tip": True},
            },
            "quote.tip",
            "target_or_cost",
        ),
        ({"price_question": QUESTION, "quote": {"total": 0}}, "quote.total", "out_of_range"),
        (
            {"price_question": QUESTION, "quote": {"total": 5000, "currency": "eur"}},
            "quote.currency",
            "not_in_choices",
        ),
        ({"take_up_rates": {"interested": 101}}, "take_up_rates.interested", "out_of_range"),
        ({"take_up_rates": {"keen": 50}}, "take_up_rates", "not_an_object"),
        ({"equity_floor": {"share": 0}}, "equity_floor.share", "out_of_range"),
        (
            {"equity_floor": {"share": 30, "districts": ["nowhere"]}},
            "equity_floor.districts[0]",
            "not_a_postcode_district",
        ),
    ],
)
def test_demand_settings_are_checked_by_field(
    overrides: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_campaign(campaign_data(**overrides))
    assert (field, code) in [(e.field, e.code) for e in caught.value.errors]


async def test_an_answer_must_be_one_of_the_points(store: Store) -> None:
    campaign = await priced_campaign(store)
    with pytest.raises(ValidationFailed) as caught:
        await pledge(store, campaign.slug, 1, max_price=2600)
    assert [(e.field, e.code) for e in caught.value.errors] == [("max_price", "not_in_choices")]
    with pytest.raises(ValidationFailed) as bad_firmness:
        parse_pledge(pledge_data(1, firmness="maybe"))
    assert [e.field for e in bad_firmness.value.errors] == ["firmness"]
    # "not sure" is an answer unless the lead requires a price.
    await pledge(store, campaign.slug, 2, max_price="not_sure")
    strict = await make_campaign(store, price_question={**QUESTION, "required": True}, target=5)
    with pytest.raises(ValidationFailed) as required:
        await pledge(store, strict.slug, 3, max_price="not_sure")
    assert [(e.field, e.code) for e in required.value.errors] == [("max_price", "required")]


async def test_a_price_on_a_campaign_without_a_question_is_not_kept(store: Store) -> None:
    campaign = await make_campaign(store, target=5)
    pledge_id = await pledge(store, campaign.slug, 1, max_price=2500, firmness="interested")
    await confirm_pledge(store, pledge_id)
    after = await get_campaign(store.database, campaign.slug)
    assert after.firmness_counts == {"interested": 1, "will_switch": 0, "deposit": 0}
    assert await demand_curve(store.database, after) is None
    await assert_counters_exact(store, campaign.id)


# ----- tipping on a target price -----------------------------------------------------------


async def test_only_pledges_at_or_above_the_target_price_tip_it(store: Store) -> None:
    campaign = await priced_campaign(store)
    below = [
        await pledge(store, campaign.slug, i, max_price=POINTS[i % 2]) for i in range(12)
    ]  # 1500 and 2000
    for pledge_id in below:
        await confirm_pledge(store, pledge_id)
    unsure = await pledge(store, campaign.slug, 50, max_price="not_sure")
    await confirm_pledge(store, unsure)
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.priced_count, after.status, after.percent) == (
        13,
        0,
        "open",
        0,
    )
    above = [
        await pledge(store, campaign.slug, 100 + i, max_price=POINTS[2 + i % 3]) for i in range(5)
    ]
    for n, pledge_id in enumerate(above[:4], start=1):
        await confirm_pledge(store, pledge_id)
        assert (await get_campaign(store.database, campaign.slug)).status == "open", n
    outcome = await confirm_pledge(store, above[4])
    assert outcome.progress.status == "tipped"
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.priced_count) == (18, 5)
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1
    await assert_counters_exact(store, campaign.id)


async def test_the_curve_is_non_increasing_and_a_count_of_the_pledges(store: Store) -> None:
    campaign = await priced_campaign(store, target=1000)
    answers = [POINTS[i % 5] if i % 7 else "not_sure" for i in range(40)]
    firmness = ("interested", "will_switch", "deposit")
    ids = [
        await pledge(store, campaign.slug, i, max_price=answers[i], firmness=firmness[i % 3])
        for i in range(40)
    ]
    for pledge_id in ids[:36]:
        await confirm_pledge(store, pledge_id)
    await withdraw_pledge(store, ids[0])
    curve = await demand_curve(store.database, await get_campaign(store.database, campaign.slug))
    assert curve is not None
    counted = {i for i in range(1, 36)}
    for point in curve.points:
        expected = [
            i for i in counted if answers[i] != "not_sure" and int(answers[i]) >= point.price
        ]
        assert point.count == len(expected)
        assert point.by_firmness == {
            f: sum(1 for i in expected if firmness[i % 3] == f) for f in firmness
        }
    counts = [p.count for p in curve.points]
    assert counts == sorted(counts, reverse=True)
    assert curve.not_sure == sum(1 for i in counted if answers[i] == "not_sure")
    # 30 % of interested, 60 % of will-switch, 90 % of deposit, by default.
    first = curve.points[0]
    assert first.projected == round(
        (
            first.by_firmness["interested"] * 30
            + first.by_firmness["will_switch"] * 60
            + first.by_firmness["deposit"] * 90
        )
        / 100,
        1,
    )
    assert "assumes 30 % of interested" in curve.assumes
    await assert_counters_exact(store, campaign.id)


async def test_concurrent_confirmations_at_many_prices_tip_once_and_count_exactly(
    store: Store,
) -> None:
    campaign = await priced_campaign(store, target=60)
    answers = [POINTS[i % 5] for i in range(300)]  # 180 at 2500 or more
    ids = [await pledge(store, campaign.slug, i, max_price=answers[i]) for i in range(300)]

    await asyncio.gather(*(confirm_pledge(store, i) for i in ids))

    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.priced_count, after.status) == (300, 180, "tipped")
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1
    await assert_counters_exact(store, campaign.id)


async def test_concurrent_withdrawals_and_confirmations_move_the_right_counters(
    store: Store,
) -> None:
    campaign = await priced_campaign(store, target=1000)
    ids = [
        await pledge(
            store,
            campaign.slug,
            i,
            max_price=POINTS[i % 5],
            firmness=("interested", "will_switch", "deposit")[i % 3],
        )
        for i in range(80)
    ]
    await asyncio.gather(*(confirm_pledge(store, i) for i in ids[:40]))
    await asyncio.gather(
        *(withdraw_pledge(store, i) for i in ids[:20]),
        *(confirm_pledge(store, i) for i in ids[40:]),
    )
    after = await get_campaign(store.database, campaign.slug)
    assert after.confirmed == 60
    assert after.priced_count == sum(1 for i in range(20, 80) if POINTS[i % 5] >= 2500)
    await assert_counters_exact(store, campaign.id)


async def test_erasure_and_striking_out_take_their_answers_off_the_curve(store: Store) -> None:
    campaign = await priced_campaign(store, target=1000)
    ids = [await pledge(store, campaign.slug, i, max_price=POINTS[i % 5]) for i in range(10)]
    for pledge_id in ids:
        await confirm_pledge(store, pledge_id)
    # Six answered 2500 or more; resident3 (3000) erases everything of theirs.
    await erase_resident(store, canonical_email("resident3@example.org"), scrub_mail=no_scrub)
    struck = [
        await pledge(store, campaign.slug, 20 + i, max_price=3500, email=f"x{i}@example.com")
        for i in range(3)
    ]
    for pledge_id in struck:
        await confirm_pledge(store, pledge_id)
    assert (await get_campaign(store.database, campaign.slug)).priced_count == 5 + 3
    await invalidate_pledges(store, campaign_slug=campaign.slug, email_domain="example.com")
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.priced_count) == (9, 5)
    curve = await demand_curve(store.database, after)
    assert curve is not None and curve.points[0].count == 9
    await assert_counters_exact(store, campaign.id)


# ----- households ------------------------------------------------------------------------


async def test_a_household_counts_at_its_counting_pledges_price(store: Store) -> None:
    campaign = await make_campaign(
        store, counts="households", price_question=QUESTION, target_price=2500, target=10
    )
    homes = 10
    ids = [
        await pledge(
            store,
            campaign.slug,
            i,
            address_line=f"{10 + i % homes} Brudenell Road",
            max_price=POINTS[(i % homes) % 5],
        )
        for i in range(50)
    ]
    await asyncio.gather(*(confirm_pledge(store, i) for i in ids))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.priced_count) == (10, 6)
    await asyncio.gather(*(withdraw_pledge(store, i) for i in ids[:25]))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.priced_count) == (10, 6)
    await assert_counters_exact(store, campaign.id)


# ----- the equity floor -------------------------------------------------------------------


async def test_the_equity_floor_holds_tipping_until_priority_places_pledge(store: Store) -> None:
    campaign = await make_campaign(
        store,
        target=4,
        area={"name": "Beeston", "postcode_districts": ["LS6", "LS11"]},
        equity_floor={"share": 25, "districts": ["LS11"]},
    )
    for i in range(6):
        await confirm_pledge(store, await pledge(store, campaign.slug, i))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.confirmed, after.priority_count, after.status) == (6, 0, "open")
    await confirm_pledge(store, await pledge(store, campaign.slug, 10, postcode="LS11 5AB"))
    assert (await get_campaign(store.database, campaign.slug)).status == "open"  # 1 of 7
    await confirm_pledge(store, await pledge(store, campaign.slug, 11, postcode="LS11 6DB"))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.priority_count, after.status) == (2, "tipped")  # 2 of 8 = 25 %
    await assert_counters_exact(store, campaign.id)


# ----- sharing a quoted cost --------------------------------------------------------------

ONCE = {"currency": "gbp", "period": "once", "price_points": [25000, 50000, 100000, 150000]}


async def test_a_quote_shared_tips_when_enough_would_pay_their_share(store: Store) -> None:
    # £2,000 to share less a £100 voucher each: 4 at £500 (4 x (500 + 100) >= 2000) tip it.
    campaign = await make_campaign(
        store,
        price_question=ONCE,
        quote={"total": 200000, "voucher_per_home": 10000, "tip": True},
        target=None,
    )
    assert campaign.target == 0
    for i in range(5):  # at £250: 5 x (250 + 100) = 1750, short of 2000
        await confirm_pledge(store, await pledge(store, campaign.slug, i, max_price=25000))
    after = await get_campaign(store.database, campaign.slug)
    assert (after.status, after.cost_covered) == ("open", 5 * 35000)
    assert after.percent == 87
    await confirm_pledge(store, await pledge(store, campaign.slug, 9, max_price=100000))
    after = await get_campaign(store.database, campaign.slug)
    # At £250: 6 x £350 = £2,100; at £1,000: 1 x £1,100.
    assert (after.status, after.cost_covered) == ("tipped", 210000)
    curve = await demand_curve(store.database, after)
    assert curve is not None
    six = next(s for s in curve.shares if s.homes == 6)
    assert (six.cost_each, six.willing) == (-(-200000 // 6) - 10000, True)
    await assert_counters_exact(store, campaign.id)


async def test_concurrent_pledges_share_a_quote_exactly_once(store: Store) -> None:
    campaign = await make_campaign(
        store, price_question=ONCE, quote={"total": 1000000, "tip": True}, target=None
    )
    ids = [
        await pledge(store, campaign.slug, i, max_price=ONCE["price_points"][i % 4])
        for i in range(120)
    ]
    await asyncio.gather(*(confirm_pledge(store, i) for i in ids))
    after = await get_campaign(store.database, campaign.slug)
    curve = await demand_curve(store.database, after)
    assert curve is not None
    best = max(p.count * p.price for p in curve.points)
    assert after.cost_covered == best
    assert after.status == "tipped"
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1
    await assert_counters_exact(store, campaign.id)


# ----- people without email, and the lead's paper -----------------------------------------


async def test_the_lead_records_answers_on_paper_and_without_email(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(
        store, lead=lead, price_question=QUESTION, target_price=2500, target=2
    )
    await record_lead_pledge(
        store,
        campaign.slug,
        lead.id,
        parse_paper_pledge(pledge_data(1, max_price=3000, firmness="interested")),
    )
    outcome = await record_lead_pledge(
        store,
        campaign.slug,
        lead.id,
        parse_paper_pledge(
            pledge_data(2, email="", attested=True, max_price="3500", firmness="deposit")
        ),
    )
    assert outcome.progress is not None and outcome.progress.status == "tipped"
    curve = await demand_curve(store.database, await get_campaign(store.database, campaign.slug))
    assert curve is not None
    assert curve.points[-1].by_level == {"letter": 0, "vouched": 1, "email": 0}
    assert curve.points[3].by_firmness == {"interested": 1, "will_switch": 0, "deposit": 1}
    await assert_counters_exact(store, campaign.id)


def test_open_figures_never_show_a_count_under_five() -> None:
    assert [open_figure(n) for n in range(12)] == [None] * 5 + [5] * 5 + [10, 10]


async def test_a_quote_given_once_open_can_tip_it_and_its_tip_is_fixed(store: Store) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(
        store,
        lead=lead,
        price_question=ONCE,
        quote={"total": 900000, "tip": True},
        target=None,
    )
    for i in range(4):
        await confirm_pledge(store, await pledge(store, campaign.slug, i, max_price=150000))
    current = await get_campaign(store.database, campaign.slug)
    assert (current.status, current.cost_covered, current.percent) == ("open", 600000, 66)
    # The provider comes back with a lower quote: four homes at £1,500 now cover it.
    edit = parse_changes({"quote": {"total": 600000, "tip": True}}, current)
    updated = await update_campaign(store, campaign.slug, lead.id, edit)
    assert (updated.quote_total, updated.status) == (600000, "tipped")
    events = await events_for_campaign(store.database, campaign.id)
    assert [e.type for e in events].count("campaign.tipped") == 1
    with pytest.raises(ValidationFailed) as fixed:
        parse_changes({"quote": {"total": 600000, "tip": False}}, updated)
    assert [e.field for e in fixed.value.errors] == ["quote.tip"]
    rates = parse_changes({"take_up_rates": {"interested": 10}}, updated)
    changed = await update_campaign(store, campaign.slug, lead.id, rates)
    assert changed.take_up_rates == {"interested": 10}
    curve = await demand_curve(store.database, changed)
    assert (
        curve is not None and curve.rates["interested"] == 10 and curve.rates_source == "campaign"
    )


async def test_fixed_demand_settings_cannot_change_once_published(store: Store) -> None:
    campaign = await priced_campaign(store)
    with pytest.raises(FieldsFixed):
        parse_changes({"target_price": 3000}, campaign)


def test_the_premises_list_marks_priority_places() -> None:
    rows = parse_premises_csv(
        "address_line,postcode,priority\n1 Low Road,LS11 5AB,yes\n2 Low Road,LS11 5AB,no\n"
        "3 Low Road,LS11 5AB,\n"
    )
    assert [r.priority for r in rows] == [True, False, False]
    with pytest.raises(ValidationFailed) as caught:
        parse_premises_csv("address_line,postcode,priority\n1 Low Road,LS11 5AB,perhaps\n")
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("rows[2].priority", "not_a_boolean")
    ]


async def test_marked_premises_count_for_the_equity_floor_as_the_list_changes(
    store: Store,
) -> None:
    lead, _ = await make_lead(store)
    campaign = await make_campaign(
        store,
        lead=lead,
        counts="households",
        target=3,
        price_question=QUESTION,
        equity_floor={"share": 50},
    )
    for i in range(4):
        await confirm_pledge(
            store, await pledge(store, campaign.slug, i, address_line=f"{i + 1} Low Road")
        )
    after = await get_campaign(store.database, campaign.slug)
    assert (after.household_count, after.priority_count, after.status) == (4, 0, "open")
    listed = "address_line,postcode,priority\n" + "".join(
        f"{i + 1} Low Road,LS6 1AB,{'yes' if i < 2 else 'no'}\n" for i in range(6)
    )
    await replace_premises(store, campaign.slug, lead.id, parse_premises_csv(listed))
    after = await get_campaign(store.database, campaign.slug)
    # Two of the four counted homes are marked: 50 %, and the list's change tips it.
    assert (after.priority_count, after.covered_count, after.status) == (2, 4, "tipped")
    await assert_counters_exact(store, campaign.id)
