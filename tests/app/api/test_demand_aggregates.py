"""GET /api/v1/demand: demand across campaigns and by postcode district, as providers and
councils read it with their key (exact), and as anyone reads it without one (open data):
per campaign and per district, at a price, filtered, a page at a time, as JSON and CSV.
Every figure is checked against what the residents said, counted here by hand."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from app.api.demand import CSV_COLUMNS, wants_csv
from app.api.openapi import openapi_document
from app.main import services_of
from pledges.accounts import create_organisation_api_key
from pledges.campaigns import Campaign, get_campaign
from pledges.demand_curve import demand_curve, open_figure
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge, withdraw_pledge
from pledges.store import Store, utcnow
from pledges.tables import campaigns

# Every answer of these tests is one the document declares (test_api's autouse fixture).
from tests.app.api.test_api import bearer, every_answer_is_declared  # noqa: F401
from tests.app.api.test_api_errors import assert_problem
from tests.conftest import table_snapshot
from tests.factories import (
    make_campaign,
    make_cancelled_campaign,
    make_expired_campaign,
    make_lead,
    pledge_data,
)

POINTS = [1500, 2000, 2500, 3000, 3500]
MONTHLY = {"currency": "gbp", "period": "month", "price_points": POINTS}
LEEDS = {"name": "Headingley", "postcode_districts": ["LS6", "LS16"]}
FIRMNESS = ("interested", "will_switch", "deposit")
RATES = {"interested": 30, "will_switch": 60, "deposit": 90}  # the site's, by default
POSTCODES = {"LS6": "LS6 1AB", "LS16": "LS16 5AA", "LS11": "LS11 6DB", "M1": "M1 1AE"}


@dataclass(frozen=True)
class Said:
    """What one counted pledge said: its most (None: not sure), firmness and district."""

    price: int | None
    firmness: str
    district: str


@pytest.fixture
def app_store(app: Starlette) -> Store:
    return services_of(app).store


@pytest.fixture
async def org_h(app_store: Store) -> dict[str, str]:
    _, key = await create_organisation_api_key(
        app_store, "ops@fibreco.example", "FibreCo", "provider"
    )
    return bearer(key)


async def said(
    store: Store, slug: str, i: int, price: int | None, firmness: str, district: str, **kw: Any
) -> Said:
    """A confirmed pledge to a campaign asking a price, saying this (None: "not sure")."""
    extra: dict[str, Any] = {"firmness": firmness, "postcode": POSTCODES[district], **kw}
    extra["max_price"] = "not_sure" if price is None else price
    outcome = await record_pledge(store, slug, parse_pledge(pledge_data(i, **extra)))
    await confirm_pledge(store, outcome.pledge_id)
    return Said(price, firmness, district)


async def plain(store: Store, slug: str, i: int, firmness: str, district: str) -> Said:
    """A confirmed pledge on a campaign that asks no price."""
    outcome = await record_pledge(
        store,
        slug,
        parse_pledge(pledge_data(i, firmness=firmness, postcode=POSTCODES[district])),
    )
    await confirm_pledge(store, outcome.pledge_id)
    return Said(None, firmness, district)


def by_firmness(found: Iterable[Said]) -> dict[str, int]:
    counts = Counter(s.firmness for s in found)
    return {f: counts[f] for f in FIRMNESS}


def willing(found: Iterable[Said], price: int) -> list[Said]:
    return [s for s in found if s.price is not None and s.price >= price]


def projection(found: Iterable[Said], rates: dict[str, int] = RATES) -> float:
    return sum(rates[s.firmness] for s in found) / 100


def district_figures(found: list[Said]) -> list[dict[str, Any]]:
    """Counted units by district (no price asked), in the API's district order."""
    order = {"LS6": 0, "LS11": 1, "LS16": 2, "M1": 3}
    districts = sorted({s.district for s in found}, key=order.__getitem__)
    return [
        {
            "district": d,
            "counted": sum(1 for s in found if s.district == d),
            "by_firmness": by_firmness(s for s in found if s.district == d),
            "at_price": None,
        }
        for d in districts
    ]


async def get_demand(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    answer = await client.get("/api/v1/demand", params=params, headers=headers or {})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, Any] = answer.json()
    return body


def slugs(body: dict[str, Any]) -> list[str]:
    return [c["slug"] for c in body["campaigns"]]


async def hide(store: Store, campaign: Campaign) -> None:
    async with store.write() as db:
        await db.execute(
            sa.update(campaigns).where(campaigns.c.id == campaign.id).values(hidden_at=utcnow())
        )


# ----- exact figures, with a key ------------------------------------------------------------


async def test_an_organisation_reads_each_campaign_and_district_exactly(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    store = app_store
    priced = await make_campaign(store, title="Priced", price_question=MONTHLY, area=LEEDS)
    answers = [
        await said(store, priced.slug, 0, 3500, "deposit", "LS6"),
        await said(store, priced.slug, 1, 2500, "will_switch", "LS6"),
        await said(store, priced.slug, 2, 2000, "interested", "LS16"),
        await said(store, priced.slug, 3, None, "will_switch", "LS16"),
        await said(store, priced.slug, 4, 3000, "interested", "M1"),
    ]
    gone = await record_pledge(
        store, priced.slug, parse_pledge(pledge_data(5, max_price=1500, postcode="LS6 1AB"))
    )
    await confirm_pledge(store, gone.pledge_id)
    await withdraw_pledge(store, gone.pledge_id)
    await record_pledge(store, priced.slug, parse_pledge(pledge_data(6, max_price=2500)))  # pending
    unpriced = await make_campaign(store, title="Unpriced", area=LEEDS)
    plain_said = [
        await plain(store, unpriced.slug, 10, "interested", "LS6"),
        await plain(store, unpriced.slug, 11, "will_switch", "LS6"),
        await plain(store, unpriced.slug, 12, "deposit", "LS16"),
    ]

    body = await get_demand(client, org_h)
    assert body["open_data"] is False and body["price"] is None
    assert slugs(body) == [priced.slug, unpriced.slug]
    first, second = body["campaigns"]
    assert first["counts"] == "people" and first["counted"] == 5
    assert first["coverage"] is None and first["at_price"] is None
    assert first["url"] == f"http://testserver/c/{priced.slug}"
    assert first["take_up"]["by_firmness"] == by_firmness(answers)
    assert first["take_up"]["projected"] == projection(answers)
    assert "assumes 30 % of interested" in first["take_up"]["assumes"]
    # The curve: D(p) for each point is the count of the answers at or above it.
    curve = first["demand"]
    assert [p["price"] for p in curve["points"]] == POINTS
    for point in curve["points"]:
        at = willing(answers, point["price"])
        assert point["households"] == len(at)
        assert point["by_firmness"] == by_firmness(at)
        assert point["by_level"] == {"letter": 0, "vouched": 0, "email": len(at)}
        assert point["projected"]["households"] == projection(at)
    assert curve["not_sure"] == 1
    fresh = await demand_curve(store.database, await get_campaign(store.database, priced.slug))
    assert fresh is not None and curve == fresh.payload()
    assert first["districts"] == district_figures(answers)
    assert second["demand"] is None
    assert second["districts"] == district_figures(plain_said)
    # Districts summed across both campaigns.
    assert body["districts"] == district_figures(answers + plain_said)
    # Counts only: no resident is named, emailed or placed.
    answer = await client.get("/api/v1/demand", headers=org_h)
    assert "resident" not in answer.text.lower() and "Resident" not in answer.text
    assert "LS6 1AB" not in answer.text


async def test_at_a_price_only_campaigns_asking_in_that_currency_and_period_count(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    store = app_store
    monthly = await make_campaign(store, title="Monthly", price_question=MONTHLY, area=LEEDS)
    first = [
        await said(store, monthly.slug, 0, 3500, "deposit", "LS6"),
        await said(store, monthly.slug, 1, 2500, "will_switch", "LS6"),
        await said(store, monthly.slug, 2, 2000, "interested", "LS16"),
        await said(store, monthly.slug, 3, None, "will_switch", "LS16"),
        await said(store, monthly.slug, 4, 3000, "interested", "M1"),
    ]
    own_rates = {"interested": 50, "will_switch": 80, "deposit": 100}
    keen = await make_campaign(
        store,
        title="Monthly, its own rates",
        price_question={**MONTHLY, "price_points": [2000, 3000, 4000]},
        take_up_rates=own_rates,
        area=LEEDS,
    )
    second = [
        await said(store, keen.slug, 10, 4000, "interested", "LS6"),
        await said(store, keen.slug, 11, 3000, "will_switch", "LS16"),
        await said(store, keen.slug, 12, 2000, "deposit", "LS6"),
    ]
    yearly = await make_campaign(
        store,
        title="Yearly",
        price_question={"currency": "gbp", "period": "year", "price_points": [20000, 30000]},
    )
    await said(store, yearly.slug, 20, 30000, "deposit", "LS6")
    euros = await make_campaign(store, title="Euros", price_question={**MONTHLY, "currency": "eur"})
    await said(store, euros.slug, 30, 3500, "deposit", "LS6")
    unpriced = await make_campaign(store, title="Unpriced")
    await plain(store, unpriced.slug, 40, "deposit", "LS6")

    price = 2200  # between two points: the answers of 2500 and more are willing
    body = await get_demand(client, org_h, price=price, currency="gbp", period="month")
    assert body["price"] == {"price": price, "currency": "gbp", "period": "month"}
    assert slugs(body) == [monthly.slug, keen.slug]

    def at_price(found: list[Said], rates: dict[str, int]) -> dict[str, Any]:
        at = willing(found, price)
        expected = projection(at, rates)
        return {
            "price": price,
            "households": len(at),
            "by_firmness": by_firmness(at),
            "projected": {"households": expected, "revenue": round(expected * price)},
        }

    assert body["campaigns"][0]["at_price"] == at_price(first, RATES)
    assert body["campaigns"][1]["at_price"] == at_price(second, own_rates)
    assert body["campaigns"][1]["take_up"]["take_up_rates"] == own_rates
    # Each district sums the campaigns, each projected under its own rates.
    districts = {d["district"]: d for d in body["districts"]}
    assert list(districts) == ["LS6", "LS16", "M1"]
    for name, found in districts.items():
        mine = [s for s in first if s.district == name]
        theirs = [s for s in second if s.district == name]
        assert found["counted"] == len(mine) + len(theirs)
        assert found["by_firmness"] == by_firmness(mine + theirs)
        at_mine, at_theirs = willing(mine, price), willing(theirs, price)
        expected = round(projection(at_mine) + projection(at_theirs, own_rates), 1)
        assert found["at_price"] == {
            "price": price,
            "households": len(at_mine) + len(at_theirs),
            "by_firmness": by_firmness(at_mine + at_theirs),
            "projected": {"households": expected, "revenue": round(expected * price)},
        }
    # Each campaign's districts carry its own figures at the price.
    ls6 = body["campaigns"][1]["districts"][0]
    assert ls6["district"] == "LS6" and ls6["at_price"]["households"] == 1
    # Currency and period alone pick campaigns, with no figures at a price.
    yearly_only = await get_demand(client, org_h, currency="gbp", period="year")
    assert slugs(yearly_only) == [yearly.slug]
    assert yearly_only["campaigns"][0]["at_price"] is None
    assert yearly_only["districts"][0]["at_price"] is None
    # At a price above every answer, nobody is willing and nothing is projected.
    high = await get_demand(client, org_h, price=9000, currency="gbp", period="month")
    assert [c["at_price"]["households"] for c in high["campaigns"]] == [0, 0]
    assert {d["at_price"]["projected"]["households"] for d in high["districts"]} == {0}


async def test_filters_by_category_postcode_and_status(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    store = app_store
    leeds = await make_campaign(store, title="Leeds", area=LEEDS)
    await plain(store, leeds.slug, 0, "interested", "LS6")
    await plain(store, leeds.slug, 1, "deposit", "M1")
    adel = await make_campaign(
        store, title="Adel", area={"name": "Adel", "postcode_districts": ["LS16"]}
    )
    await plain(store, adel.slug, 2, "will_switch", "LS16")
    waste = await make_campaign(store, title="Waste", category="waste", area=LEEDS)
    liverpool = await make_campaign(
        store, title="Liverpool", area={"name": "Liverpool", "postcode_districts": ["L1"]}
    )
    tipped = await make_campaign(store, title="Tipped", target=1, area=LEEDS)
    await plain(store, tipped.slug, 3, "deposit", "LS6")
    expired = await make_expired_campaign(store, title="Expired", area=LEEDS)
    cancelled = await make_cancelled_campaign(store, title="Cancelled", area=LEEDS)
    await make_campaign(store, title="Draft", draft=True, area=LEEDS)
    hidden = await make_campaign(store, title="Hidden", area=LEEDS)
    await hide(store, hidden)

    every = await get_demand(client, org_h)
    assert slugs(every) == [
        leeds.slug,
        adel.slug,
        waste.slug,
        liverpool.slug,
        tipped.slug,
        expired.slug,
        cancelled.slug,
    ]
    assert [c["status"] for c in every["campaigns"][-3:]] == ["tipped", "expired", "cancelled"]
    assert slugs(await get_demand(client, org_h, status="tipped")) == [tipped.slug]
    assert slugs(await get_demand(client, org_h, status="expired")) == [expired.slug]
    assert slugs(await get_demand(client, org_h, category="waste")) == [waste.slug]
    area = await get_demand(client, org_h, postcode="ls")
    assert liverpool.slug not in slugs(area) and leeds.slug in slugs(area)
    assert slugs(await get_demand(client, org_h, postcode="L")) == [liverpool.slug]
    for district in ("LS16", "LS16 5AA"):
        found = await get_demand(client, org_h, postcode=district, status="open")
        assert slugs(found) == [leeds.slug, adel.slug, waste.slug]
        # Figures of that district only, summed across the campaigns there.
        assert found["districts"] == [
            {
                "district": "LS16",
                "counted": 1,
                "by_firmness": {"interested": 0, "will_switch": 1, "deposit": 0},
                "at_price": None,
            }
        ]
        assert found["campaigns"][0]["districts"] == []  # Leeds has none from LS16
        assert found["campaigns"][0]["counted"] == 2  # the campaign's own count is whole
    # Without a key: open and tipped campaigns only.
    assert slugs(await get_demand(client)) == [
        leeds.slug,
        adel.slug,
        waste.slug,
        liverpool.slug,
        tipped.slug,
    ]


async def test_a_households_campaign_gives_its_households_and_coverage(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    store = app_store
    homes = await make_campaign(
        store,
        title="Homes",
        counts="households",
        premises={"count": 40},
        price_question=MONTHLY,
        area=LEEDS,
    )
    lines = ["2 Brudenell Road", "4 Brudenell Road", "6 Brudenell Road", "2 Brudenell Road"]
    for i, line in enumerate(lines):
        await said(store, homes.slug, i, POINTS[i], FIRMNESS[i % 3], "LS6", address_line=line)
    body = await get_demand(client, org_h, price=1500, currency="gbp", period="month")
    [found] = body["campaigns"]
    assert found["counts"] == "households" and found["counted"] == 3
    assert found["coverage"] == {"premises": 40, "covered": 3, "percent": 7.5}
    # The household at 2 Brudenell Road counts once, at its first counted pledge's answer.
    assert found["at_price"]["households"] == 3
    assert found["demand"]["unit"] == "households"
    assert [p["households"] for p in found["demand"]["points"]] == [3, 2, 1, 0, 0]
    assert body["districts"][0]["counted"] == 3


# ----- pages --------------------------------------------------------------------------------


async def test_pages_follow_the_next_link_and_districts_are_the_same_on_each(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    made = []
    for n in range(5):
        campaign = await make_campaign(app_store, title=f"Campaign {n}", area=LEEDS)
        await plain(app_store, campaign.slug, n, "will_switch", "LS6" if n % 2 else "LS16")
        made.append(campaign.slug)
    seen: list[str] = []
    districts = []
    answer = await client.get("/api/v1/demand", params={"limit": "2"}, headers=org_h)
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += slugs(body)
        districts.append(body["districts"])
        if "next" not in body:
            assert "link" not in answer.headers
            break
        link = answer.headers["link"]
        assert link.endswith('>; rel="next"') and "limit=2" in link
        answer = await client.get(link[1 : link.index(">")], headers=org_h)
    assert seen == made
    assert len(districts) == 3 and all(d == districts[0] for d in districts)
    assert [d["counted"] for d in districts[0]] == [2, 3]  # LS6, LS16
    # The CSV is paginated the same way.
    as_csv = {**org_h, "Accept": "text/csv"}
    page = await client.get("/api/v1/demand", params={"limit": "2"}, headers=as_csv)
    assert page.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'rel="next"' in page.headers["link"]
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert [r["campaign"] for r in rows] == made[:2]


# ----- CSV ----------------------------------------------------------------------------------


async def test_csv_has_a_row_per_campaign_and_district_with_formulas_defused(
    client: httpx.AsyncClient, app_store: Store, org_h: dict[str, str]
) -> None:
    store = app_store
    risky = await make_campaign(
        store, title='=HYPERLINK("http://x")', price_question=MONTHLY, area=LEEDS
    )
    answers = [
        await said(store, risky.slug, 0, 3500, "deposit", "LS6"),
        await said(store, risky.slug, 1, 2000, "will_switch", "LS6"),
        await said(store, risky.slug, 2, 3000, "interested", "LS16"),
    ]
    other = await make_campaign(store, title="-Unpriced", area=LEEDS)
    await plain(store, other.slug, 3, "interested", "LS16")
    params = {"price": "2500", "currency": "gbp", "period": "month"}
    answer = await client.get(
        "/api/v1/demand", params=params, headers={**org_h, "Accept": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "Accept" in answer.headers["vary"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [(r["campaign"], r["district"]) for r in records] == [
        (risky.slug, "LS6"),
        (risky.slug, "LS16"),
    ]  # the unpriced campaign asks no price in gbp a month
    assert {r["title"] for r in records} == {'\'=HYPERLINK("http://x")'}
    ls6 = records[0]
    at = willing([s for s in answers if s.district == "LS6"], 2500)
    assert (ls6["counted"], ls6["interested"], ls6["will_switch"], ls6["deposit"]) == (
        "2",
        "0",
        "1",
        "1",
    )
    assert (ls6["currency"], ls6["period"], ls6["price"]) == ("gbp", "month", "2500")
    assert ls6["households_at_price"] == str(len(at)) == "1"
    assert ls6["deposit_at_price"] == "1" and ls6["interested_at_price"] == "0"
    assert float(ls6["projected_at_price"]) == projection(at)
    assert ls6["revenue_at_price"] == str(round(projection(at) * 2500))
    # Without a price: the unpriced campaign too, its price columns empty.
    plain_rows = list(
        csv.DictReader(
            io.StringIO(
                (await client.get("/api/v1/demand", headers={**org_h, "Accept": "text/csv"})).text
            )
        )
    )
    last = plain_rows[-1]
    assert (last["campaign"], last["title"], last["district"]) == (
        other.slug,
        "'-Unpriced",
        "LS16",
    )
    assert (last["price"], last["households_at_price"], last["projected_at_price"]) == ("", "", "")


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv, */*;q=0.5", True),
        ("text/csv;q=0.5, application/json", False),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("text/csv;q=0", False),
        ("text/csv;q=x", False),
    ],
)
def test_csv_is_chosen_by_the_accept_header(accept: str, csv_wanted: bool) -> None:
    assert wants_csv(accept) is csv_wanted


# ----- open data ----------------------------------------------------------------------------


async def test_open_data_rounds_every_count_and_shows_no_levels(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    store = app_store
    campaign = await make_campaign(store, title="Open", price_question=MONTHLY, area=LEEDS)
    answers = [await said(store, campaign.slug, i, 3500, "will_switch", "LS6") for i in range(7)]
    answers += [await said(store, campaign.slug, 10 + i, 1500, "deposit", "LS16") for i in range(3)]
    expired = await make_expired_campaign(store, title="Expired", price_question=MONTHLY)

    body = await get_demand(client, price=2500, currency="gbp", period="month")
    assert body["open_data"] is True
    assert slugs(body) == [campaign.slug]  # never the expired one
    [found] = body["campaigns"]
    assert found["counted"] == open_figure(len(answers)) == 10
    assert found["take_up"]["by_firmness"] == {
        "interested": None,
        "will_switch": 5,
        "deposit": None,
    }
    # 7 x 60 % + 3 x 90 % = 6.9 projected: shown as 5, not as the 6.9 it is made of.
    assert found["take_up"]["projected"] == 5
    points = found["demand"]["points"]
    assert [p["households"] for p in points] == [10, 5, 5, 5, 5]
    assert all("by_level" not in p for p in points)
    assert points[-1]["projected"] == {"households": None, "revenue": None}  # 4.2: withheld
    assert found["at_price"] == {
        "price": 2500,
        "households": 5,
        "by_firmness": {"interested": None, "will_switch": 5, "deposit": None},
        "projected": {"households": None, "revenue": None},
    }
    assert [(d["district"], d["counted"]) for d in found["districts"]] == [
        ("LS6", 5),
        ("LS16", None),
    ]
    # An organisation's key sees the same exactly, and the expired campaign too.
    _, key = await create_organisation_api_key(store, "ops@council.example", "Council", "council")
    exact = await get_demand(client, bearer(key), price=2500, currency="gbp", period="month")
    assert slugs(exact) == [campaign.slug, expired.slug]
    assert exact["campaigns"][0]["counted"] == 10
    assert exact["campaigns"][0]["at_price"]["households"] == 7
    assert exact["campaigns"][0]["districts"][1]["counted"] == 3
    # Expired and cancelled campaigns are not open data.
    refused = await client.get("/api/v1/demand", params={"status": "expired"})
    problem = assert_problem(refused, 422, ["status"])
    assert "open or tipped" in problem["errors"][0]["message"]


# ----- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"category": "pizza"}, ["category"]),
        ({"category": ""}, ["category"]),
        ({"postcode": "Leeds 6"}, ["postcode"]),
        ({"postcode": ""}, ["postcode"]),
        ({"postcode": "L" * 300}, ["postcode"]),
        ({"status": "draft"}, ["status"]),
        ({"status": "x"}, ["status"]),
        ({"price": "cheap", "currency": "gbp", "period": "month"}, ["price"]),
        ({"price": "0", "currency": "gbp", "period": "month"}, ["price"]),
        ({"price": "25.50", "currency": "gbp", "period": "month"}, ["price"]),
        ({"price": "100000000", "currency": "gbp", "period": "month"}, ["price"]),
        ({"price": "9" * 5000, "currency": "gbp", "period": "month"}, ["price"]),
        ({"price": "\uff12\uff15", "currency": "gbp", "period": "month"}, ["price"]),  # wide 25
        ({"price": "2500"}, ["currency", "period"]),
        ({"price": "2500", "currency": "gbp"}, ["period"]),
        ({"currency": "GBP"}, ["currency"]),
        ({"currency": "btc"}, ["currency"]),
        ({"period": "week"}, ["period"]),
        ({"limit": "0"}, ["limit"]),
        ({"limit": "201"}, ["limit"]),
        ({"cursor": "not-a-cursor"}, ["cursor"]),
        ({"category": "x", "postcode": "?", "period": "day"}, ["category", "postcode", "period"]),
    ],
)
@pytest.mark.parametrize("keyed", [True, False])
async def test_bad_filters_are_422_naming_each_field(
    client: httpx.AsyncClient,
    app_store: Store,
    org_h: dict[str, str],
    params: dict[str, str],
    fields: list[str],
    keyed: bool,
) -> None:
    await make_campaign(app_store, price_question=MONTHLY)
    before = await table_snapshot(app_store)
    answer = await client.get("/api/v1/demand", params=params, headers=org_h if keyed else {})
    assert_problem(answer, 422, fields, params)
    assert await table_snapshot(app_store) == before


@pytest.mark.parametrize("limit", ["9" * 5000, "\u00b2", "\uff15"])
@pytest.mark.parametrize("path", ["/api/v1/demand", "/api/v1/campaigns"])
async def test_a_limit_of_huge_or_other_digits_is_422_on_every_list(
    client: httpx.AsyncClient, path: str, limit: str
) -> None:
    assert_problem(await client.get(path, params={"limit": limit}), 422, ["limit"])


@pytest.mark.parametrize("authorization", ["Bearer gs_not_a_key", "Bearer", "Basic abc", "lead"])
async def test_a_key_that_is_not_an_organisations_is_401(
    client: httpx.AsyncClient, app_store: Store, authorization: str
) -> None:
    if authorization == "lead":
        _, lead_key = await make_lead(app_store)
        authorization = f"Bearer {lead_key}"
    answer = await client.get(
        "/api/v1/demand", params={"status": "x"}, headers={"Authorization": authorization}
    )
    assert_problem(answer, 401, [])
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_the_document_declares_the_filters_an_optional_key_json_and_csv() -> None:
    operation = openapi_document("http://testserver")["paths"]["/api/v1/demand"]["get"]
    assert operation["operationId"] == "listDemand"
    assert operation["security"] == [{}, {"organisationKey": []}]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert set(operation["responses"]) == {"200", "304", "401", "422"}
    assert [p["name"] for p in operation["parameters"]] == [
        "limit",
        "cursor",
        "category",
        "postcode",
        "status",
        "price",
        "currency",
        "period",
        "If-None-Match",  # a header: an anonymous reader may ask again for a 304
    ]
    assert all(c in operation["description"] for c in CSV_COLUMNS)
