"""The price each household would pay, on the pages, as a resident and a lead meet them
without JavaScript: the pledge form's price and firmness radios, the demand curve on the
campaign page (an SVG chart and the same numbers as a table), projected take-up, cost
sharing and the equity floor, the lead's campaign form, dashboard, paper pledges and CSVs."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.main import create_app, services_of
from pledges.campaigns import Campaign, get_campaign
from pledges.store import Store
from pledges.tables import pledges
from tests.app.pages.confirming import press_confirm
from tests.app.pages.test_accessibility import accessibility_problems
from tests.app.pages.test_households_pages import households_campaign, pledge_from
from tests.app.pages.test_leads import (
    campaign_form,
    create,
    csrf_from,
    field_error,
    sign_in,
)
from tests.app.pages.test_residents import Page, csrf_for, form, page_of, sign
from tests.app.pages.test_sharing import _post_updates
from tests.conftest import make_settings, table_snapshot
from tests.factories import make_campaign, make_confirmed_pledge, make_lead
from tests.spreadsheets import spreadsheet_text

POINTS = [1500, 2000, 2500, 3000, 3500]
QUESTION = {"currency": "gbp", "period": "month", "price_points": POINTS}


@pytest.fixture
async def store(app: Starlette) -> Store:
    """The app's own store: the test and the app share SQLite's single writer."""
    found: Store = services_of(app).store
    return found


async def priced_campaign(store: Store, **overrides: Any) -> Campaign:
    settings: dict[str, Any] = {"price_question": QUESTION, "target_price": 2500, "target": 5}
    return await make_campaign(store, **(settings | overrides))


def accessible(response: httpx.Response) -> Page:
    page = page_of(response)
    assert accessibility_problems(response.text) == []
    return page


def radios(page: Page, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, checked) of each radio of `name`, in page order."""
    labels = {e.attrs.get("for"): e.words for e in page.find_all("label")}
    return [
        (e.attrs["value"], labels[e.attrs["id"]], "checked" in e.attrs)
        for e in page.find_all("input", type="radio", name=name)
    ]


def legend_of(page: Page, field_id: str) -> str:
    first = page.by_id(field_id)
    fieldset = next(a for a in reversed(first.ancestors) if a.tag == "fieldset")
    legend = next(e for e in page.elements if e.tag == "legend" and fieldset in e.ancestors)
    return legend.words


def radio_error(page: Page, field_id: str) -> str:
    """The message beside a group of radios, which the group's fieldset points at."""
    first = page.by_id(field_id)
    fieldset = next(a for a in reversed(first.ancestors) if a.tag == "fieldset")
    assert f"{field_id}-error" in fieldset.attrs.get("aria-describedby", "").split()
    return page.by_id(f"{field_id}-error").words


def table_rows(page: Page, caption_id: str) -> list[list[str]]:
    """The body rows of the table captioned `caption_id`, each as its cells' words."""
    caption = page.by_id(caption_id)
    table = caption.ancestors[-1]
    assert table.tag == "table"
    rows = [e for e in page.elements if e.tag == "tr" and table in e.ancestors]
    body = [r for r in rows if not any(a.tag == "thead" for a in r.ancestors)]
    return [
        [c.words for c in page.elements if c.tag in ("th", "td") and r in c.ancestors] for r in body
    ]


async def pledge_by_form(
    client: httpx.AsyncClient, slug: str, i: int = 1, **answers: str
) -> httpx.Response:
    token = await csrf_for(client, slug)
    return await client.post(f"/c/{slug}/pledge", data={**form(i), **answers, "csrf_token": token})


async def answers_of(store: Store, campaign: Campaign) -> list[tuple[int | None, str]]:
    rows = await store.database.fetch_all(
        sa.select(pledges.c.max_price, pledges.c.firmness)
        .where(pledges.c.campaign_id == campaign.id)
        .order_by(pledges.c.id)
    )
    return [(r["max_price"], r["firmness"]) for r in rows]


# ----- the pledge form ----------------------------------------------------------------------


async def test_the_form_asks_the_most_you_would_pay_and_how_sure_you_are(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(store)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    assert legend_of(page, "max_price") == "The most you would pay"
    assert radios(page, "max_price") == [
        ("1500", "£15 a month", False),
        ("2000", "£20 a month", False),
        ("2500", "£25 a month", False),
        ("3000", "£30 a month", False),
        ("3500", "£35 a month", False),
        ("not_sure", "Not sure", False),
    ]
    assert legend_of(page, "firmness") == "How sure are you?"
    assert radios(page, "firmness") == [
        ("interested", "Interested: tell me when it is offered", False),
        ("will_switch", "I will sign up when it is offered at or below my price", True),
    ]
    form_element = page.find("form", action=f"/c/{campaign.slug}/pledge")
    assert form_element is not None and form_element in page.by_id("max_price").ancestors


async def test_a_required_price_has_no_not_sure_and_other_currencies_read_as_theirs(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(
        store,
        price_question={"currency": "eur", "period": "year", "price_points": [9950, 12000]},
        target_price=None,
    )
    required = await priced_campaign(
        store, price_question={**QUESTION, "required": True}, target_price=None
    )

    euros = page_of(await client.get(f"/c/{campaign.slug}"))
    assert radios(euros, "max_price") == [
        ("9950", "€99.50 a year", False),
        ("12000", "€120 a year", False),
        ("not_sure", "Not sure", False),
    ]
    must = page_of(await client.get(f"/c/{required.slug}"))
    assert [value for value, _, _ in radios(must, "max_price")] == [str(p) for p in POINTS]


async def test_a_campaign_without_prices_keeps_the_plain_form(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    assert radios(page, "max_price") == [] and radios(page, "firmness") == []


async def test_a_money_campaign_asks_the_price_but_its_pledges_are_deposits(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url,
        stripe_secret_key="sk_test_never_called",
        stripe_webhook_secret="whsec_never_called",
        stripe_api_base="http://127.0.0.1:9",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        store = services_of(application).store
        campaign = await priced_campaign(
            store, money={"currency": "gbp", "deposit": 2000}, target_price=None
        )
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            page = accessible(await c.get(f"/c/{campaign.slug}"))

    assert [label for _, label, _ in radios(page, "max_price")][:2] == [
        "£15 a month",
        "£20 a month",
    ]
    assert radios(page, "firmness") == []


async def test_a_pledge_keeps_the_price_and_firmness_chosen(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(store)

    chosen = await pledge_by_form(client, campaign.slug, 1, max_price="3000", firmness="interested")
    unsure = await pledge_by_form(client, campaign.slug, 2, max_price="not_sure")
    silent = await pledge_by_form(client, campaign.slug, 3)

    assert chosen.status_code == unsure.status_code == silent.status_code == 303
    assert await answers_of(store, campaign) == [
        (3000, "interested"),
        (None, "will_switch"),
        (None, "will_switch"),
    ]


@pytest.mark.parametrize(
    ("required", "answers", "field", "message"),
    [
        (
            False,
            {"max_price": "2600", "firmness": "interested"},
            "max_price",
            "Choose the most you would pay from the prices given.",
        ),
        (
            False,
            {"max_price": "lots", "firmness": "interested"},
            "max_price",
            "Choose the most you would pay from the prices given.",
        ),
        (True, {"firmness": "interested"}, "max_price", "Choose the most you would pay."),
        (True, {"max_price": "not_sure"}, "max_price", "Choose the most you would pay."),
        (False, {"max_price": "2500", "firmness": "sure"}, "firmness", "Choose how sure you are."),
        # A deposit is money: offered to a lead recording one, never on this form.
        (
            False,
            {"max_price": "2500", "firmness": "deposit"},
            "firmness",
            "Choose how sure you are.",
        ),
    ],
)
async def test_a_wrong_answer_is_said_beside_its_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    store: Store,
    required: bool,
    answers: dict[str, str],
    field: str,
    message: str,
) -> None:
    campaign = await priced_campaign(store, price_question={**QUESTION, "required": required})
    token = await csrf_for(client, campaign.slug)
    before = await table_snapshot(store)

    answer = await client.post(
        f"/c/{campaign.slug}/pledge", data={**form(1), **answers, "csrf_token": token}
    )

    assert answer.status_code == 422
    page = accessible(answer)
    assert page.summary_links() == [f"#{field}"]
    assert radio_error(page, field) == f"Error: {message}"
    assert page.by_id("name").attrs["value"] == form(1)["name"]  # what was typed is kept
    for name, value in answers.items():  # a choice the form offers stays chosen
        offered = {v: on for v, _, on in radios(page, name)}
        assert offered.get(value, True), (name, value)
    assert await table_snapshot(store) == before


# ----- the curve on the campaign page ---------------------------------------------------------


async def test_the_campaign_page_draws_the_curve_and_gives_the_same_numbers_as_a_table(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(store)
    slug = campaign.slug
    await make_confirmed_pledge(store, slug, 0, max_price=3500)
    await make_confirmed_pledge(store, slug, 1, max_price=2500, firmness="interested")
    await make_confirmed_pledge(store, slug, 2, max_price=2000)
    await make_confirmed_pledge(store, slug, 3, max_price="not_sure")
    await pledge_by_form(client, slug, 4, max_price="3500")  # not confirmed: not counted

    page = accessible(await client.get(f"/c/{slug}"))

    assert page.by_id("demand").words == "What people would pay"
    assert table_rows(page, "curve-caption") == [
        # price, at or above, deposit, will switch, interested, projected, revenue a month
        ["£15", "3", "0", "2", "1", "1.5", "£22.50"],
        ["£20", "3", "0", "2", "1", "1.5", "£30"],
        ["£25 (target)", "2", "0", "1", "1", "0.9", "£22.50"],
        ["£30", "1", "0", "1", "0", "0.6", "£18"],
        ["£35", "1", "0", "1", "0", "0.6", "£21"],
    ]
    svg = page.find("svg", role="img")
    assert svg is not None
    title = page.by_id("demand-chart-title").words
    description = page.by_id("demand-chart-desc").words
    assert svg.attrs["aria-labelledby"] == "demand-chart-title demand-chart-desc"
    assert title == "What people would pay"
    assert "3 at £15 a month, 1 at £35 a month" in description
    assert "At the target price of £25 a month: 2." in description
    bars = [e for e in page.elements if e.tag == "rect" and svg in e.ancestors]
    assert len(bars) == 2 * 5  # each price: those willing, and its projected take-up
    assert "Target: £25" in svg.words
    assert "Not sure what they would pay: 1." in page.words
    assert (
        "Projected take-up assumes 30 % of interested, 60 % of will-switch and 90 % of "
        "deposit people sign up." in page.words
    )
    progress = page.find("div", role="group")
    assert progress is not None
    assert "2 of 5 people at £25 a month or more (40%)" in progress.words
    assert "4 pledges in all" in progress.words


async def test_a_pledge_with_a_price_moves_the_curve_once_confirmed(
    app: Starlette, client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(store)
    await make_confirmed_pledge(store, campaign.slug, 0, max_price=2000)
    before = table_rows(page_of(await client.get(f"/c/{campaign.slug}")), "curve-caption")

    await pledge_by_form(client, campaign.slug, 1, max_price="3000", firmness="interested")
    pending = table_rows(page_of(await client.get(f"/c/{campaign.slug}")), "curve-caption")
    [pledge_id] = [
        r["id"]
        for r in await store.database.fetch_all(
            sa.select(pledges.c.id).where(pledges.c.email == form(1)["email"])
        )
    ]
    confirmed = await press_confirm(client, sign(app, pledge_id, "pledge-confirm"))
    assert confirmed.status_code == 200
    after = table_rows(page_of(await client.get(f"/c/{campaign.slug}")), "curve-caption")

    assert pending == before
    assert [row[1] for row in before] == ["1", "1", "0", "0", "0"]
    assert [row[1] for row in after] == ["2", "2", "1", "1", "0"]
    assert [row[4] for row in after] == ["1", "1", "1", "1", "0"]  # interested


async def test_cost_each_if_homes_join_and_the_equity_floor_with_both_counts(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await priced_campaign(
        store,
        price_question={"currency": "gbp", "period": "once", "price_points": [20_000, 50_000]},
        target_price=None,
        quote={"total": 60_000, "currency": "gbp", "voucher_per_home": 5_000},
        equity_floor={"share": 50, "districts": ["LS11"]},
    )
    await make_confirmed_pledge(store, campaign.slug, 0, max_price=50_000, postcode="LS11 5AB")
    await make_confirmed_pledge(store, campaign.slug, 1, max_price=20_000)
    await make_confirmed_pledge(store, campaign.slug, 2, max_price=20_000)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    shares = [e.words for e in page.elements if e.tag == "li" and e.inside("shares")]
    # £600 shared: by 3 homes £200 each, less the £50 voucher; by the 1 at £500, £550.
    assert shares == [
        "Cost each if 1 home joins (at £500 or more): £550",
        "Cost each if 3 homes join (at £200 or more): £150, which they would pay",
    ]
    assert "A provider quoted £600 for the whole build, less a voucher of £50" in page.words
    assert (
        "At least 50% of the people counted must come from priority places (LS11) before it "
        "can tip. So far 1 of 3 (33%): not met yet." in page.words
    )


async def test_a_campaign_tipping_on_the_quote_counts_money_towards_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(
        store,
        target=None,
        price_question={"currency": "gbp", "period": "once", "price_points": [20_000, 50_000]},
        quote={"total": 100_000, "currency": "gbp", "tip": True},
        milestones=[50],
    )
    await make_confirmed_pledge(store, campaign.slug, 0, max_price=50_000)
    await make_confirmed_pledge(store, campaign.slug, 1, max_price=20_000)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    progress = page.find("div", role="group")
    assert progress is not None
    # The most one price's homes would pay: 2 x £200 or 1 x £500.
    assert "£500 of the £1,000 quote covered by what people would pay (50%)" in progress.words
    assert "50% (£500 of the quote): reached" in page.words
    assert "The campaign tips once enough homes would pay their share." in page.words


async def test_a_campaign_without_prices_shows_projected_take_up_by_firmness(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await make_campaign(store)
    fresh = page_of(await client.get(f"/c/{campaign.slug}"))
    await make_confirmed_pledge(store, campaign.slug, 0, firmness="interested")
    await make_confirmed_pledge(store, campaign.slug, 1)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    assert "demand" not in fresh.ids  # nothing to project before anyone counts
    assert page.by_id("demand").words == "Expected take-up"
    assert (
        "About 0.9 of the 2 people counted are expected to sign up (0 deposit, 1 will switch, "
        "1 interested)." in page.words
    )
    assert "assumes 30 % of interested, 60 % of will-switch and 90 % of deposit people" in (
        page.words
    )
    assert page.find("svg", role="img") is None


async def test_a_households_campaign_counts_homes_at_the_target_price(
    client: httpx.AsyncClient, store: Store
) -> None:
    campaign = await households_campaign(store, price_question=QUESTION, target_price=2500)
    for i, (line, price) in enumerate(
        (("12 Brudenell Road", 3000), ("14 Brudenell Road", 1500), ("16 Brudenell Road", 2500))
    ):
        await pledge_from(store, campaign.slug, i, line, max_price=price)

    page = accessible(await client.get(f"/c/{campaign.slug}"))

    progress = page.find("div", role="group")
    assert progress is not None
    # 40 % of 12 premises is 5 homes; two would pay £25 or more.
    assert "2 of 5 households at £25 a month or more (40%)" in progress.words
    assert "Households willing to pay at least each price" in page.words
    assert [row[1] for row in table_rows(page, "curve-caption")] == ["3", "2", "2", "1", "0"]
    assert "90 % of deposit households sign up" in page.words


async def test_the_heaviest_campaign_page_with_a_demand_curve_stays_under_100_kb(
    client: httpx.AsyncClient, store: Store
) -> None:
    """Every text at its longest, 50 names, 3 updates in full, and the most a demand curve
    can carry: 40 price points in the longest amounts, a quote with a share for each,
    an equity floor of many districts."""
    points = [99_999_999 - i * 1_000_001 for i in range(40)]
    campaign = await make_campaign(
        store,
        title="T" * 200,
        summary="S" * 500,
        description="\n\n".join(["D" * 998] * 20),
        area={"name": "A" * 200, "postcode_districts": [f"LS{i}" for i in range(1, 30)]},
        target=1000,
        price_question={"currency": "gbp", "period": "month", "price_points": points},
        target_price=points[20],
        quote={"total": 99_999_999_999, "currency": "gbp", "voucher_per_home": 99_999_999},
        equity_floor={"share": 30, "districts": [f"LS{i}" for i in range(1, 30)]},
    )
    for i in range(50):
        name = f"{i:03d}" + "N" * 197
        await make_confirmed_pledge(
            store,
            campaign.slug,
            i,
            name=name,
            show_name=True,
            max_price=points[i % 40],
            firmness=("interested", "will_switch")[i % 2],
        )
    await _post_updates(store, campaign, 10)

    response = await client.get(f"/c/{campaign.slug}")

    page = accessible(response)
    assert len(table_rows(page, "curve-caption")) == 40
    assert len([e for e in page.elements if e.tag == "li" and e.inside("shares")]) == 40
    assert len(radios(page, "max_price")) == 41
    total = len(response.content) + len((await client.get("/static/site.css")).content)
    assert total < 100_000, f"{total} bytes"


# ----- the lead's campaign form ---------------------------------------------------------------

DEMAND_FORM = {
    "price_currency": "gbp",
    "price_period": "month",
    "price_points": "15, 20, 25.50",
    "target_price": "20",
    "take_up_interested": "25",
    "take_up_will_switch": "",
    "take_up_deposit": "95",
    "quote_total": "111,903",
    "quote_voucher": "1500",
    "equity_share": "30",
    "equity_districts": "ls11 LS12",
}


async def test_a_lead_asks_a_price_question_and_gets_it_back_to_edit(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    await sign_in(client, store)

    created = await create(client, slug="priced-draft", **DEMAND_FORM)

    assert created.status_code == 303, created.text
    campaign = await get_campaign(store.database, "priced-draft")
    assert (campaign.price_currency, campaign.price_period) == ("gbp", "month")
    assert campaign.price_points == (1500, 2000, 2550)
    assert campaign.price_required is False
    assert campaign.target_price == 2000
    assert campaign.take_up_rates == {"interested": 25, "deposit": 95}
    assert (campaign.quote_total, campaign.quote_voucher) == (11_190_300, 150_000)
    assert campaign.tip_on_cost is False
    assert (campaign.equity_share, campaign.equity_districts) == (30, ("LS11", "LS12"))

    edit = accessible(await client.get("/lead/campaigns/priced-draft/edit"))
    shown = {
        name: edit.by_id(name).attrs["value"]
        for name in DEMAND_FORM
        if name not in ("price_currency", "price_period")
    }
    assert shown == {
        "price_points": "15, 20, 25.50",
        "target_price": "20",
        "take_up_interested": "25",
        "take_up_will_switch": "",
        "take_up_deposit": "95",
        "quote_total": "111903",
        "quote_voucher": "1500",
        "equity_share": "30",
        "equity_districts": "LS11, LS12",
    }
    assert "checked" in edit.by_id("price_period-month").attrs

    token = edit.form_fields("/lead/campaigns/priced-draft/edit")["csrf_token"]
    fields = campaign_form(slug="priced-draft", **DEMAND_FORM)
    fields |= {"price_period": "once", "price_required": "on", "target": "", "quote_tip": "on"}
    fields |= {"price_points": "", "price_min": "100", "price_max": "400", "price_step": "50"}
    fields |= {"target_price": "", "csrf_token": token}
    saved = await client.post("/lead/campaigns/priced-draft/edit", data=fields)

    assert saved.status_code == 303, saved.text
    changed = await get_campaign(store.database, "priced-draft")
    assert changed.price_points == tuple(range(10_000, 40_001, 5_000))
    assert changed.price_period == "once" and changed.price_required is True
    assert changed.tip_on_cost is True and changed.target_price is None
    assert changed.equity_districts == ("LS11", "LS12")  # what was not touched stays


DEMAND_ERRORS = [
    ({"price_points": "15, 20, 15"}, "price_points", "Each price must be different: 15"),
    ({"price_points": "15, twenty"}, "price_points", "Enter 2 to 40 prices in pounds"),
    ({"price_points": "15"}, "price_points", "Enter 2 to 40 prices in pounds"),
    (
        {"price_points": "", "price_min": "15", "price_max": "10", "price_step": "5"},
        "price_max",
        "The highest price must be above the lowest.",
    ),
    (
        {"price_points": "", "price_min": "1", "price_max": "100", "price_step": "0.01"},
        "price_step",
        "Choose a step that gives 2 to 40 prices",
    ),
    (
        {"price_points": "", "price_min": "x", "price_max": "30", "price_step": "5"},
        "price_min",
        "Enter the lowest price in pounds, like 15.",
    ),
    (
        {"price_points": "", "target_price": "20", "quote_total": "", "quote_voucher": ""},
        "target_price",
        "A target price needs prices to choose from",
    ),
    ({"target_price": "22"}, "target_price", "The target price must be one of the prices"),
    ({"price_period": "fortnight"}, "price_period", "Choose how often people would pay"),
    ({"price_currency": "xyz"}, "price_currency", "Choose the currency of the prices."),
    ({"take_up_deposit": "120"}, "take_up_deposit", "Enter a whole percent from 0 to 100"),
    ({"take_up_interested": "most"}, "take_up_interested", "Enter a whole percent"),
    (
        {"price_points": "", "target_price": "", "quote_total": "5000"},
        "quote_total",
        "A quote is shared by what each home would pay",
    ),
    ({"quote_total": "lots"}, "quote_total", "Enter the quoted total in pounds"),
    ({"quote_voucher": "-3"}, "quote_voucher", "Enter the voucher for each home in pounds"),
    (
        {"quote_tip": "on", "target_price": "", "price_period": "once"},
        "quote_tip",
        "A campaign tips either on its target or on sharing the quote",
    ),
    (
        {"quote_tip": "on", "target_price": ""},  # a price a month, and a target as well
        "quote_tip",
        "choose Once for how often people would pay",
    ),
    ({"equity_share": "0"}, "equity_share", "Enter the share as a whole percent from 1 to 100"),
    (
        {"equity_districts": "LS11 Leeds 99"},
        "equity_districts",
        "Not a UK postcode district: LEEDS, 99.",
    ),
]


@pytest.mark.parametrize(
    ("typed", "field", "words"),
    DEMAND_ERRORS,
    ids=[e[1] + str(i) for i, e in enumerate(DEMAND_ERRORS)],
)
async def test_a_demand_mistake_is_said_beside_its_field_and_nothing_is_stored(
    app: Starlette, client: httpx.AsyncClient, typed: dict[str, str], field: str, words: str
) -> None:
    store = services_of(app).store
    await sign_in(client, store)
    token = await csrf_from(client, "/lead/campaigns/new")
    before = await table_snapshot(store)

    answer = await client.post(
        "/lead/campaigns/new",
        data={"csrf_token": token, **campaign_form(**(DEMAND_FORM | typed))},
    )

    assert answer.status_code == 422
    page = accessible(answer)
    assert page.summary_links() == [f"#{field}"]
    if field == "price_period":
        assert words in page.by_id("price_period-error").words
    else:
        assert words in field_error(page, field)
    assert page.by_id("title").attrs["value"] == campaign_form()["title"]
    assert await table_snapshot(store) == before


async def test_a_live_campaign_changes_its_quote_and_take_up_rates_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    campaign = await make_campaign(
        store, lead, price_question=QUESTION, target_price=2500, target=5
    )
    edit = f"/lead/campaigns/{campaign.slug}/edit"
    page = accessible(await client.get(edit))
    assert page.find("input", name="price_points") is None
    assert page.find("input", name="quote_tip") is None
    assert "£15 a month, £20 a month, £25 a month, £30 a month, £35 a month, or not sure" in (
        page.words
    )
    shown = page.form_fields(edit)
    assert {"quote_total", "quote_voucher", "take_up_interested", "take_up_deposit"} <= set(shown)
    fields = {
        "csrf_token": shown["csrf_token"],
        "title": campaign.title,
        "summary": campaign.summary,
        "description": campaign.description,
        "deadline": campaign.deadline.date().isoformat(),
    }
    before = await table_snapshot(store)

    wrong = await client.post(edit, data=fields | {"take_up_will_switch": "101"})
    assert wrong.status_code == 422
    assert "Enter a whole percent" in field_error(accessible(wrong), "take_up_will_switch")
    assert await table_snapshot(store) == before

    saved = await client.post(
        edit,
        data=fields | {"quote_total": "9000", "quote_voucher": "", "take_up_will_switch": "70"},
    )
    assert saved.status_code == 303, saved.text
    changed = await get_campaign(store.database, campaign.slug)
    assert (changed.quote_total, changed.quote_voucher) == (900_000, 0)
    assert changed.take_up_rates == {"will_switch": 70}
    assert changed.price_points == campaign.price_points
    public = page_of(await client.get(f"/c/{campaign.slug}"))
    assert "assumes 30 % of interested, 70 % of will-switch" in public.words
    assert "(rates set for this campaign)" in public.words

    tipping = await make_campaign(
        store,
        lead,
        target=None,
        price_question={"currency": "gbp", "period": "once", "price_points": [20_000, 50_000]},
        quote={"total": 100_000, "currency": "gbp", "tip": True},
    )
    tipping_edit = f"/lead/campaigns/{tipping.slug}/edit"
    tipping_fields = fields | {
        "title": tipping.title,
        "summary": tipping.summary,
        "description": tipping.description,
        "deadline": tipping.deadline.date().isoformat(),
    }
    no_quote = await client.post(tipping_edit, data=tipping_fields | {"quote_total": ""})
    assert no_quote.status_code == 422
    assert "tips on sharing the quote, so it keeps one" in field_error(
        accessible(no_quote), "quote_total"
    )
    lower = await client.post(tipping_edit, data=tipping_fields | {"quote_total": "400"})
    assert lower.status_code == 303
    assert (await get_campaign(store.database, tipping.slug)).quote_total == 40_000

    cleared = await client.post(
        edit, data=fields | {"quote_total": "", "quote_voucher": "", "take_up_will_switch": ""}
    )
    assert cleared.status_code == 303
    again = await get_campaign(store.database, campaign.slug)
    assert again.quote_total is None and again.take_up_rates is None


# ----- the lead's dashboard, paper pledges and CSVs ------------------------------------------


async def test_the_dashboard_shows_the_curve_and_offers_it_as_csv(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    campaign = await make_campaign(
        store, lead, price_question=QUESTION, target_price=2500, target=5
    )
    await make_confirmed_pledge(store, campaign.slug, 0, max_price=3000)
    await make_confirmed_pledge(store, campaign.slug, 1, max_price=1500, firmness="interested")
    await make_confirmed_pledge(store, campaign.slug, 2, max_price="not_sure")

    page = accessible(await client.get(f"/lead/campaigns/{campaign.slug}"))
    assert table_rows(page, "curve-caption")[0] == ["£15", "2", "0", "1", "1", "0.9", "£13.50"]
    csv_link = f"/lead/campaigns/{campaign.slug}/demand.csv"
    assert csv_link in [a.attrs.get("href") for a in page.find_all("a")]

    answer = await client.get(csv_link)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    assert list(csv.reader(io.StringIO(spreadsheet_text(answer)))) == [
        [
            "price",
            "people",
            "interested",
            "will_switch",
            "deposit",
            "projected_people",
            "projected_revenue",
        ],
        ["15.00", "2", "1", "1", "0", "0.9", "13.50"],
        ["20.00", "1", "0", "1", "0", "0.6", "12.00"],
        ["25.00", "1", "0", "1", "0", "0.6", "15.00"],
        ["30.00", "1", "0", "1", "0", "0.6", "18.00"],
        ["35.00", "0", "0", "0", "0", "0", "0.00"],
        ["not sure", "1", "0", "1", "0", "", ""],
    ]


async def test_the_demand_csv_is_the_leads_own_and_needs_a_price_question(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    plain = await make_campaign(store, lead)
    other_lead, _ = await make_lead(store, "other@example.org")
    theirs = await make_campaign(store, other_lead, price_question=QUESTION)

    assert (await client.get(f"/lead/campaigns/{plain.slug}/demand.csv")).status_code == 404
    assert (await client.get(f"/lead/campaigns/{theirs.slug}/demand.csv")).status_code == 404
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        answer = await stranger.get(f"/lead/campaigns/{theirs.slug}/demand.csv")
    assert answer.status_code == 303 and answer.headers["location"] == "/lead/sign-in"


@pytest.mark.parametrize("with_email", [True, False])
async def test_a_paper_pledge_records_the_price_and_firmness_even_a_deposit(
    app: Starlette, client: httpx.AsyncClient, with_email: bool
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    campaign = await make_campaign(
        store, lead, price_question=QUESTION, target_price=2500, target=5
    )
    dashboard = f"/lead/campaigns/{campaign.slug}"
    page = accessible(await client.get(dashboard))
    assert radios(page, "firmness")[-1] == ("deposit", "They paid you a deposit (offline)", False)
    assert legend_of(page, "paper-max_price") == "The most they would pay"
    who = {"name": "Pat Paper", "postcode": "LS6 2AB"}
    who |= {"email": "pat@example.org", "consent": "on"} if with_email else {"attested": "on"}
    token = await csrf_from(client, dashboard)
    before = await table_snapshot(store)

    wrong = await client.post(
        f"{dashboard}/paper-pledges",
        data={"csrf_token": token, **who, "max_price": "2600", "firmness": "deposit"},
    )
    assert wrong.status_code == 422
    wrong_page = accessible(wrong)
    assert wrong_page.summary_links() == ["#paper-max_price"]
    assert radio_error(wrong_page, "paper-max_price") == (
        "Error: Choose the most they would pay from the prices given."
    )
    assert "checked" in wrong_page.by_id("paper-firmness-deposit").attrs
    assert await table_snapshot(store) == before

    recorded = await client.post(
        f"{dashboard}/paper-pledges",
        data={"csrf_token": token, **who, "max_price": "3000", "firmness": "deposit"},
    )

    assert recorded.status_code == 303
    assert await answers_of(store, campaign) == [(3000, "deposit")]
    assert (await get_campaign(store.database, campaign.slug)).firm_deposit == 1


async def test_a_lead_says_how_sure_on_a_campaign_asking_no_price(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    campaign = await make_campaign(store, lead)
    dashboard = f"/lead/campaigns/{campaign.slug}"
    page = accessible(await client.get(dashboard))
    assert radios(page, "max_price") == []
    assert radios(page, "firmness") == [
        ("interested", "Interested: they want to hear when it is offered", False),
        ("will_switch", "They will sign up when it is offered", True),
        ("deposit", "They paid you a deposit (offline)", False),
    ]

    recorded = await client.post(
        f"{dashboard}/paper-pledges",
        data={
            "csrf_token": await csrf_from(client, dashboard),
            "name": "Pat Paper",
            "postcode": "LS6 2AB",
            "attested": "on",
            "firmness": "interested",
        },
    )

    assert recorded.status_code == 303
    assert await answers_of(store, campaign) == [(None, "interested")]
    after = page_of(await client.get(dashboard))
    assert after.by_id("demand").words == "Expected take-up"
    assert "About 0.3 of the 1 person counted are expected to sign up" in after.words


async def test_the_pledge_csv_gains_the_price_and_firmness(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    store = services_of(app).store
    lead = await sign_in(client, store)
    priced = await make_campaign(store, lead, price_question=QUESTION)
    plain = await make_campaign(store, lead)
    await make_confirmed_pledge(store, priced.slug, 0, max_price=2500, firmness="interested")
    await make_confirmed_pledge(store, priced.slug, 1, max_price="not_sure")
    await make_confirmed_pledge(store, plain.slug, 2, firmness="interested")

    rows = list(
        csv.DictReader(
            io.StringIO(
                spreadsheet_text(await client.get(f"/lead/campaigns/{priced.slug}/pledges.csv"))
            )
        )
    )
    plain_rows = list(
        csv.DictReader(
            io.StringIO(
                spreadsheet_text(await client.get(f"/lead/campaigns/{plain.slug}/pledges.csv"))
            )
        )
    )

    header = list(rows[0])
    assert header[header.index("withdrawn_at") + 1 :] == ["firmness", "max_price"]
    assert [(r["max_price"], r["firmness"]) for r in rows] == [
        ("25.00", "interested"),
        ("not sure", "will_switch"),
    ]
    assert list(plain_rows[0])[-1] == "firmness" and "max_price" not in plain_rows[0]
    money_and_homes = await make_campaign(
        store,
        lead,
        counts="households",
        money={"currency": "gbp", "deposit": 2000},
        price_question=QUESTION,
    )
    header_line = (await client.get(f"/lead/campaigns/{money_and_homes.slug}/pledges.csv")).text
    assert header_line.splitlines()[0].endswith(
        "withdrawn_at,firmness,max_price,amount,payment_status,household,household_pledge"
    )
    assert plain_rows[0]["firmness"] == "interested"
