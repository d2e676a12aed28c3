"""Where to build next, on the provider's and council's demand page: a price entered in a
GET form ranks the organisation's postcode districts by the take-up projected at it,
across the campaigns in its categories and areas asking a price in that currency and
period, each district with its demand curve as a table; a bad price is explained beside
its field."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from app.main import services_of
from notifications.demand import DemandFilter
from notifications.demand_ranking import where_to_build
from pledges.demand_areas import AskedPrice
from pledges.pledging import confirm_pledge, parse_pledge, record_pledge
from pledges.store import Store
from tests.app.pages.test_organisations_demand import organisation, sign_in
from tests.app.pages.test_residents import Page, page_of
from tests.conftest import table_snapshot
from tests.factories import make_campaign, pledge_data

POINTS = [1500, 2000, 2500, 3000, 3500]
MONTHLY = {"currency": "gbp", "period": "month", "price_points": POINTS}
POSTCODES = {"LS6": "LS6 1AB", "LS16": "LS16 5AA", "LS11": "LS11 6DB", "M1": "M1 1AE"}
AREA = {"name": "South and north Leeds", "postcode_districts": ["LS6", "LS11", "LS16"]}
AT_25 = {"price": "25", "currency": "gbp", "period": "month"}


@pytest.fixture
def app_store(app: Starlette) -> Store:
    return services_of(app).store


class Pledges:
    """Confirmed pledges with answers, numbered so that no two residents are one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = 0

    async def add(self, slug: str, count: int, price: int, firmness: str, district: str) -> None:
        for _ in range(count):
            self.n += 1
            data = pledge_data(
                self.n, max_price=price, firmness=firmness, postcode=POSTCODES[district]
            )
            outcome = await record_pledge(self.store, slug, parse_pledge(data))
            await confirm_pledge(self.store, outcome.pledge_id)


async def leeds_demand(store: Store) -> None:
    """Broadband in Leeds at £15-£35 a month (and one campaign with its own rates), and what
    an organisation covering broadband in LS must not see ranked: waste, a yearly price,
    pledgers from M1."""
    pledges = Pledges(store)
    fibre = await make_campaign(store, title="Fibre", price_question=MONTHLY, area=AREA)
    await pledges.add(fibre.slug, 3, 3000, "will_switch", "LS6")  # 3 x 60 % at £25
    await pledges.add(fibre.slug, 5, 2500, "interested", "LS16")  # 5 x 30 %
    await pledges.add(fibre.slug, 2, 3500, "deposit", "LS11")  # 2 x 90 %
    await pledges.add(fibre.slug, 4, 1500, "deposit", "LS11")  # below £25
    await pledges.add(fibre.slug, 6, 3500, "deposit", "M1")  # outside LS
    keen = await make_campaign(
        store,
        title="Keen",
        price_question={**MONTHLY, "price_points": [2000, 3000, 4000]},
        take_up_rates={"interested": 100},
        area={"name": "Adel", "postcode_districts": ["LS16"]},
    )
    await pledges.add(keen.slug, 1, 3000, "interested", "LS16")  # 1 x 100 %
    await pledges.add(keen.slug, 1, 2000, "will_switch", "LS16")  # below £25
    waste = await make_campaign(
        store, title="Waste", category="waste", price_question=MONTHLY, area=AREA
    )
    await pledges.add(waste.slug, 10, 3500, "deposit", "LS6")
    yearly = await make_campaign(
        store,
        title="Yearly",
        price_question={"currency": "gbp", "period": "year", "price_points": [20000, 30000]},
        area=AREA,
    )
    await pledges.add(yearly.slug, 10, 30000, "deposit", "LS6")


def ranked(page: Page) -> list[str]:
    """The ranked districts' names, in the order shown."""
    return [h.words for h in page.find_all("h3") if h.inside("ranking")]


def curve_rows(page: Page, district: str) -> list[tuple[str, ...]]:
    [table] = [
        t
        for t in page.find_all("table")
        if t.inside("ranking") and f"Demand curve in {district}" in t.words
    ]
    rows = [tr for tr in page.find_all("tr") if table in tr.ancestors]
    return [
        tuple(td.words for td in page.find_all("td") if tr in td.ancestors)
        for tr in rows
        if any(td for td in page.find_all("td") if tr in td.ancestors)
    ]


async def ranking(client: httpx.AsyncClient, **params: str) -> Page:
    answer = await client.get("/org/demand", params={**AT_25, **params})
    assert answer.status_code == 200, answer.text
    return page_of(answer)


async def test_districts_are_ranked_by_the_take_up_projected_at_the_price(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    await leeds_demand(app_store)
    _, key = await organisation(
        app_store, "FibreCo", {"categories": ["broadband"], "postcode_prefixes": ["LS"]}
    )
    await sign_in(client, key)
    page = await ranking(client)
    # LS16: 5 x 30 % + 1 x 100 % = 2.5; LS6: 3 x 60 % = 1.8 from 3 homes; LS11: 2 x 90 %
    # = 1.8 from 2. Waste, the yearly price and the pledgers from M1 are not counted.
    assert ranked(page) == ["LS16", "LS6", "LS11"]
    assert "3 districts across 2 campaigns" in page.words
    assert "2.5 projected to sign up at £25 a month (£62.50 a month in revenue); 6 would pay" in (
        page.words
    )
    # Its curve: every price point of the two campaigns (the asked price among them).
    assert curve_rows(page, "LS16") == [
        ("£15", "7", "3.1"),
        ("£20", "7", "3.1"),
        ("£25 (your price)", "6", "2.5"),
        ("£30", "1", "1.0"),
        ("£35", "0", "0.0"),
        ("£40", "0", "0.0"),
    ]
    assert curve_rows(page, "LS11")[0] == ("£15", "6", "5.4")
    # The form keeps what was entered, and the filter above carries the price along.
    assert page.by_id("price").attrs["value"] == "25"
    assert page.form_fields("/org/demand")["price"] == "25"
    # A price between two points: the answers at or above it are willing.
    between = await ranking(client, price="24.99")
    assert ranked(between) == ["LS16", "LS6", "LS11"]
    # Narrowed by the filter to one district; widened to everywhere: M1 and waste too.
    assert ranked(await ranking(client, postcode_prefix="LS16")) == ["LS16"]
    everywhere = await ranking(client, everywhere="on")
    assert ranked(everywhere) == ["LS6", "M1", "LS16", "LS11"]  # LS6: 3 x 60 % + 10 x 90 %


async def test_a_council_sees_the_districts_of_its_area_only(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    await leeds_demand(app_store)
    council, key = await organisation(app_store, "Leeds", {"postcode_prefixes": ["LS11"]})
    await sign_in(client, key)
    page = await ranking(client)
    # Every category, but only LS11, although the campaigns have pledgers elsewhere.
    assert ranked(page) == ["LS11"]
    assert curve_rows(page, "LS11") == [
        ("£15", "6", "5.4"),
        ("£20", "2", "1.8"),
        ("£25 (your price)", "2", "1.8"),
        ("£30", "2", "1.8"),
        ("£35", "2", "1.8"),
    ]
    found = await where_to_build(
        app_store.database, council.id, DemandFilter(), AskedPrice(2500, "gbp", "month")
    )
    assert [d.district for d in found.districts] == ["LS11"]
    assert found.scoped and found.campaigns == 2  # fibre and waste cover LS11
    assert found.districts[0].at_price.count == 2


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"price": ""}, "price", "Enter a price, like 25 or 24.99"),
        ({"price": "cheap"}, "price", "Enter a price from 0.01 to 999999.99"),
        ({"price": "0"}, "price", "Enter a price from 0.01 to 999999.99"),
        ({"price": "25.999"}, "price", "Enter a price from 0.01 to 999999.99"),
        ({"price": "1000000"}, "price", "Enter a price from 0.01 to 999999.99"),
        ({"price": "9" * 300}, "price", "Enter a price from 0.01 to 999999.99"),
        ({"currency": "btc"}, "currency", "Choose a currency from the list"),
        ({"period": "week"}, "period", "Choose a period from the list"),
    ],
)
async def test_a_bad_price_is_explained_beside_its_field(
    client: httpx.AsyncClient,
    app_store: Store,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    await leeds_demand(app_store)
    _, key = await organisation(app_store, "FibreCo", {})
    await sign_in(client, key)
    before = await table_snapshot(app_store)
    answer = await client.get("/org/demand", params={**AT_25, **params})
    assert answer.status_code == 422
    page = page_of(answer)
    assert page.summary_links() == [f"#{field}"]
    control = page.by_id(field)
    assert control.attrs["aria-invalid"] == "true"
    assert f"{field}-error" in control.attrs["aria-describedby"].split()
    assert message in page.by_id(f"{field}-error").words
    assert ranked(page) == []
    # The campaigns are still listed; only the ranking waits for a good price.
    assert "4 campaigns" in page.words
    assert await table_snapshot(app_store) == before


async def test_nothing_is_ranked_until_a_price_is_given(
    client: httpx.AsyncClient, app_store: Store
) -> None:
    _, key = await organisation(app_store, "FibreCo", {"categories": ["broadband"]})
    await sign_in(client, key)
    page = page_of(await client.get("/org/demand"))
    assert page.by_id("price").attrs["value"] == ""
    assert ranked(page) == [] and "No households to rank" not in page.words
    # A price, but no campaign asks one: said plainly.
    await make_campaign(app_store, title="No price question")
    page = await ranking(client)
    assert ranked(page) == []
    assert "no open or tipped campaign your webhook endpoints cover asks a price a month" in (
        page.words
    )
    await make_campaign(app_store, title="Priced, no pledges", price_question=MONTHLY)
    page = await ranking(client)
    assert "the 1 campaign asking a price a month in GBP has no counted pledges" in page.words
    # A bad filter: no ranking, and the price waits beside its own field, unfaulted.
    bad = await client.get("/org/demand", params={**AT_25, "category": "pizza"})
    assert bad.status_code == 422
    assert ranked(page_of(bad)) == []
    assert page_of(bad).summary_links() == ["#category"]
