"""The price each household would pay, through the JSON API alone: campaigns that ask it,
pledges that answer it, tipping on a target price and on a shared quote, the demand curve
in campaign JSON, and every bad input refused by field with nothing stored."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import services_of
from pledges.journal import events_for_campaign
from pledges.store import Store
from tests.app.api.test_openapi import record_api_answers, undeclared_answers
from tests.conftest import table_snapshot
from tests.factories import campaign_data, make_lead, pledge_data

POINTS = [1500, 2000, 2500, 3000, 3500]
QUESTION = {"currency": "gbp", "period": "month", "price_points": POINTS}
ONCE = {"currency": "gbp", "period": "once", "price_points": [25000, 50000, 100000, 150000]}
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
async def every_answer_is_declared(client: httpx.AsyncClient) -> AsyncIterator[None]:
    answers = record_api_answers(client)
    yield
    assert undeclared_answers(answers) == []


@pytest.fixture
async def lead_headers(store: Store) -> dict[str, str]:
    _, key = await make_lead(store)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def confirm(app: Starlette, client: httpx.AsyncClient) -> Callable[[str], Awaitable[Any]]:
    """Confirm the pending pledge of this email address with the token of its email, as
    the resident's click would; the answer's JSON."""
    signer = services_of(app).signer
    store = services_of(app).store

    async def confirming(email: str) -> Any:
        pledge_id = await store.database.fetch_val(
            "SELECT id FROM pledges WHERE email = :email", {"email": email}
        )
        token = signer.sign(pledge_id, "pledge-confirm")
        answer = await client.post("/api/v1/pledges/confirm", json={"token": token})
        assert answer.status_code == 200, answer.text
        return answer.json()

    return confirming


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    answer = await client.post("/api/v1/campaigns", json=campaign_data(**fields), headers=headers)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def read(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/campaigns/{slug}")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


async def pledge(client: httpx.AsyncClient, slug: str, i: int, **answers: Any) -> str:
    data = pledge_data(i, **answers)
    answer = await client.post(f"/api/v1/campaigns/{slug}/pledges", json=data)
    assert answer.status_code == 202, answer.text
    return str(data["email"])


FIRMNESS = ("interested", "will_switch", "deposit")


def by_firmness(answers: list[tuple[int | str, str]], at_least: int | None = None) -> Any:
    """A count of the confirmed pledges' (price, firmness) answers by firmness: all of them,
    or those whose price is at least `at_least`."""
    return {
        firm: sum(
            1
            for price, f in answers
            if f == firm and (at_least is None or (isinstance(price, int) and price >= at_least))
        )
        for firm in FIRMNESS
    }


# ----- the test: tipping on a target price -----------------------------------------


@pytest.mark.parametrize("below", [0, 9])
async def test_a_target_price_tips_on_the_nth_pledge_at_or_above_it_and_no_other(
    client: httpx.AsyncClient,
    lead_headers: dict[str, str],
    confirm: Callable[[str], Awaitable[Any]],
    below: int,
) -> None:
    """Points 1500..3500, a target price of 2500 and a target of 3: however many pledge
    below 2500 (or are not sure), it tips exactly when the third pledge at 2500 or more
    confirms; the curve in its JSON is non-increasing and a count of the pledges."""
    created = await create(
        client, lead_headers, price_question=QUESTION, target_price=2500, target=3
    )
    slug = created["slug"]
    assert created["threshold"] == {"target": 3, "target_price": 2500}
    assert created["progress"] == {"confirmed": 0, "percent": 0, "priced": 0}
    assert created["price_question"] == {**QUESTION, "required": False}
    confirmed: list[tuple[int | str, str]] = []
    firmness = FIRMNESS

    # Pledges under the target price (and "not sure"), all confirmed: never a tip.
    for i in range(below):
        price: int | str = (1500, 2000, "not_sure")[i % 3]
        email = await pledge(client, slug, i, max_price=price, firmness=firmness[i % 3])
        answer = await confirm(email)
        assert answer["progress"]["status"] == "open"
        confirmed.append((price, firmness[i % 3]))
    # A pledge at the top price that is never confirmed counts for nothing.
    await pledge(client, slug, 900, max_price=3500)

    above = [(2500, "interested"), (3500, "deposit"), (3000, "will_switch")]
    for n, (price, firm) in enumerate(above, start=1):
        email = await pledge(client, slug, 100 + n, max_price=price, firmness=firm)
        before = await read(client, slug)
        assert before["status"] == "open" and before["tipped_at"] is None
        answer = await confirm(email)
        confirmed.append((price, firm))
        status = "tipped" if n == len(above) else "open"
        assert answer["progress"]["status"] == status
        after = await read(client, slug)
        assert after["status"] == status
        assert after["progress"]["priced"] == n
        assert after["progress"]["confirmed"] == below + n

    tipped = await read(client, slug)
    assert tipped["tipped_at"] is not None
    demand = tipped["demand"]
    assert (demand["currency"], demand["period"], demand["unit"]) == ("gbp", "month", "people")
    assert demand["target_price"] == 2500
    assert [p["price"] for p in demand["points"]] == POINTS
    counts = [p["households"] for p in demand["points"]]
    assert counts == sorted(counts, reverse=True)
    for point in demand["points"]:
        expected = by_firmness(confirmed, at_least=point["price"])
        assert point["by_firmness"] == expected
        assert point["households"] == sum(expected.values())
        assert point["by_level"] == {"letter": 0, "vouched": 0, "email": point["households"]}
    assert demand["not_sure"] == sum(1 for price, _ in confirmed if price == "not_sure")
    assert tipped["take_up"]["by_firmness"] == by_firmness(confirmed)
    # The list gives the same curve as the campaign's own JSON.
    listed = (await client.get("/api/v1/campaigns")).json()["campaigns"]
    assert [c["demand"] for c in listed if c["slug"] == slug] == [demand]


async def test_a_campaign_without_a_price_question_has_no_curve_but_a_take_up(
    client: httpx.AsyncClient, lead_headers: dict[str, str], confirm: Callable[[str], Any]
) -> None:
    created = await create(client, lead_headers, target=5)
    assert (created["price_question"], created["demand"], created["equity_floor"]) == (
        None,
        None,
        None,
    )
    assert "target_price" not in created["threshold"] and "priced" not in created["progress"]
    # A price sent to a campaign that asks none is not kept; the firmness is.
    await confirm(await pledge(client, created["slug"], 1, max_price=2500, firmness="deposit"))
    after = await read(client, created["slug"])
    assert after["demand"] is None
    take_up = after["take_up"]
    assert take_up["by_firmness"] == {"interested": 0, "will_switch": 0, "deposit": 1}
    assert take_up["projected"] == 0.9
    assert take_up["take_up_rates_source"] == "site"
    assert take_up["assumes"] == (
        "assumes 30 % of interested, 60 % of will-switch and 90 % of deposit people sign up"
    )


async def test_a_range_of_points_take_up_rates_and_an_equity_floor_read_back(
    client: httpx.AsyncClient, lead_headers: dict[str, str], confirm: Callable[[str], Any]
) -> None:
    created = await create(
        client,
        lead_headers,
        price_question={
            "currency": "EUR",
            "period": "year",
            "min": 10000,
            "max": 20000,
            "step": 5000,
            "required": True,
        },
        take_up_rates={"interested": 10, "deposit": None},
        equity_floor={"share": 50, "districts": ["ls16", "LS16"]},
        target=2,
    )
    assert created["price_question"] == {
        "currency": "eur",
        "period": "year",
        "price_points": [10000, 15000, 20000],
        "required": True,
    }
    assert created["equity_floor"] == {
        "share": 50,
        "districts": ["LS16"],
        "priority": 0,
        "counted": 0,
        "met": True,
    }
    rates = {"interested": 10, "will_switch": 60, "deposit": 90}
    assert created["demand"]["take_up_rates"] == rates
    assert created["demand"]["take_up_rates_source"] == "campaign"
    assert created["take_up"]["take_up_rates"] == rates
    slug = created["slug"]
    # Two in LS6 would tip it, but half must come from LS16 first.
    for i in range(2):
        await confirm(await pledge(client, slug, i, max_price=20000, postcode="LS6 1AB"))
    held = await read(client, slug)
    assert held["status"] == "open"
    assert held["equity_floor"] | {"districts": None} == {
        "share": 50,
        "districts": None,
        "priority": 0,
        "counted": 2,
        "met": False,
    }
    await confirm(await pledge(client, slug, 5, max_price=10000, postcode="LS16 5AA"))
    assert (await read(client, slug))["status"] == "open"  # 1 of 3 from LS16
    await confirm(await pledge(client, slug, 6, max_price=15000, postcode="LS16 5AA"))
    tipped = await read(client, slug)
    assert tipped["status"] == "tipped"
    assert (tipped["equity_floor"]["priority"], tipped["equity_floor"]["met"]) == (2, True)
    assert [p["households"] for p in tipped["demand"]["points"]] == [4, 3, 2]
    assert tipped["demand"]["points"][0]["projected"] == {
        "households": round((4 * 60) / 100, 1),
        "revenue": round(4 * 60 * 10000 / 100),
    }


# ----- sharing a quote ---------------------------------------------------------------------


async def test_a_lower_quote_patched_in_tips_a_campaign_that_shares_it(
    client: httpx.AsyncClient,
    store: Store,
    lead_headers: dict[str, str],
    confirm: Callable[[str], Any],
) -> None:
    created = await create(
        client,
        lead_headers,
        price_question=ONCE,
        quote={"total": 900000, "currency": "gbp", "tip": True},
        target=None,
    )
    slug = created["slug"]
    assert created["threshold"] == {"target": None}
    assert created["demand"]["quote"] == {
        "total": 900000,
        "voucher_per_home": 0,
        "tip": True,
        "cost_each": [],
    }
    for i in range(4):
        await confirm(await pledge(client, slug, i, max_price=150000))
    current = await read(client, slug)
    # Four homes at £1,500 cover £6,000 of £9,000.
    assert (current["status"], current["progress"]["percent"]) == ("open", 66)
    assert {"homes": 4, "cost_each": 225000, "willing": False} in (
        current["demand"]["quote"]["cost_each"]
    )
    path = f"/api/v1/campaigns/{slug}"
    lower = {"quote": {"total": 600000, "voucher_per_home": 0, "tip": True}}
    changed = await client.patch(path, json=lower, headers=lead_headers)
    assert changed.status_code == 200, changed.text
    tipped = changed.json()
    assert (tipped["status"], tipped["progress"]["percent"]) == ("tipped", 100)
    assert tipped["tipped_at"] is not None
    assert tipped["demand"]["quote"]["total"] == 600000
    assert {"homes": 4, "cost_each": 150000, "willing": True} in (
        tipped["demand"]["quote"]["cost_each"]
    )
    assert await read(client, slug) == tipped
    events = await events_for_campaign(store.database, int(await campaign_id(store, slug)))
    assert [e.type for e in events].count("campaign.tipped") == 1
    # Whether it tips on the quote is fixed; the take-up rates are not.
    flip = await client.patch(
        path, json={"quote": {"total": 1, "tip": False}}, headers=lead_headers
    )
    assert flip.status_code == 422
    assert [e["field"] for e in flip.json()["errors"]] == ["quote.tip"]
    rates = await client.patch(
        path, json={"take_up_rates": {"will_switch": 40}}, headers=lead_headers
    )
    assert rates.status_code == 200
    assert rates.json()["take_up"]["take_up_rates"]["will_switch"] == 40


async def campaign_id(store: Store, slug: str) -> Any:
    return await store.database.fetch_val(
        "SELECT id FROM campaigns WHERE slug = :slug", {"slug": slug}
    )


async def test_a_quote_given_to_a_live_campaign_shows_the_cost_each(
    client: httpx.AsyncClient, lead_headers: dict[str, str], confirm: Callable[[str], Any]
) -> None:
    created = await create(client, lead_headers, price_question=ONCE, target=50)
    assert "quote" not in created["demand"]
    slug = created["slug"]
    for i in range(3):
        await confirm(await pledge(client, slug, i, max_price=50000))
    given = await client.patch(
        f"/api/v1/campaigns/{slug}",
        json={"quote": {"total": 150000, "voucher_per_home": 10000}},
        headers=lead_headers,
    )
    assert given.status_code == 200, given.text
    quote = given.json()["demand"]["quote"]
    # Three homes: £500 each less the £100 voucher, and they would pay £500.
    assert {"homes": 3, "cost_each": 40000, "willing": True} in quote["cost_each"]
    assert given.json()["status"] == "open"  # not a campaign that tips on the quote
    gone = await client.patch(
        f"/api/v1/campaigns/{slug}", json={"quote": None}, headers=lead_headers
    )
    assert gone.status_code == 200
    assert "quote" not in gone.json()["demand"]


# ----- bad input, by field, nothing stored -------------------------------------------------


def _range(**values: Any) -> dict[str, Any]:
    return {"price_question": {"currency": "gbp", "period": "month", **values}}


BAD_CAMPAIGNS = [
    ({"price_question": "yes"}, "price_question"),
    ({"price_question": {**QUESTION, "period": "week"}}, "price_question.period"),
    ({"price_question": {**QUESTION, "currency": "xyz"}}, "price_question.currency"),
    ({"price_question": {**QUESTION, "price_points": [1500]}}, "price_question.price_points"),
    ({"price_question": {**QUESTION, "price_points": [15, 15]}}, "price_question.price_points"),
    ({"price_question": {**QUESTION, "price_points": [0, 5]}}, "price_question.price_points"),
    ({"price_question": {**QUESTION, "required": "yes"}}, "price_question.required"),
    ({"price_question": {"currency": "gbp", "period": "month"}}, "price_question.price_points"),
    (_range(min=3000, max=2000, step=500), "price_question.max"),
    (_range(min=1, max=9000, step=1), "price_question.step"),
    (_range(min="1", max=9000, step=1000), "price_question.min"),
    ({"target_price": 2500}, "target_price"),
    ({"price_question": QUESTION, "target_price": 2600}, "target_price"),
    ({"price_question": QUESTION, "target_price": "2500"}, "target_price"),
    ({"take_up_rates": {"keen": 50}}, "take_up_rates"),
    ({"take_up_rates": {"interested": 101}}, "take_up_rates.interested"),
    ({"take_up_rates": [30, 60, 90]}, "take_up_rates"),
    ({"quote": {"total": 100000}}, "quote"),
    ({"price_question": QUESTION, "quote": {"total": 0}}, "quote.total"),
    ({"price_question": QUESTION, "quote": {"voucher_per_home": 5}}, "quote.total"),
    ({"price_question": QUESTION, "quote": {"total": 5000, "currency": "eur"}}, "quote.currency"),
    (
        {"price_question": QUESTION, "quote": {"total": 5000, "voucher_per_home": -1}},
        "quote.voucher_per_home",
    ),
    ({"price_question": QUESTION, "quote": {"total": 5000, "tip": True}}, "quote.tip"),
    ({"price_question": ONCE, "quote": {"total": 5000, "tip": True}}, "quote.tip"),
    ({"equity_floor": {"share": 0}}, "equity_floor.share"),
    ({"equity_floor": {"districts": ["LS6"]}}, "equity_floor.share"),
    ({"equity_floor": {"share": 30, "districts": ["nowhere"]}}, "equity_floor.districts[0]"),
    ({"equity_floor": {"share": 30, "districts": "LS6"}}, "equity_floor.districts"),
    ({"equity_floor": 30}, "equity_floor"),
    (
        {"money": {"currency": "eur", "deposit": 2000}, "price_question": QUESTION},
        "price_question.currency",
    ),
]


@pytest.mark.parametrize(("fields", "field"), BAD_CAMPAIGNS)
async def test_a_bad_demand_setting_is_refused_by_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    store: Store,
    lead_headers: dict[str, str],
    fields: dict[str, Any],
    field: str,
) -> None:
    before = await table_snapshot(store)
    answer = await client.post(
        "/api/v1/campaigns", json=campaign_data(**fields), headers=lead_headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert all(e["message"] for e in answer.json()["errors"])
    assert await table_snapshot(store) == before


BAD_PLEDGES = [
    ({"max_price": "lots"}, "max_price"),
    ({"max_price": 0}, "max_price"),
    ({"max_price": "2500"}, "max_price"),  # text is a form's radio button, not JSON's
    ({"max_price": True}, "max_price"),
    ({"max_price": 2600}, "max_price"),  # not one of the points
    ({"max_price": 2500, "firmness": "maybe"}, "firmness"),
    ({"max_price": 2500, "firmness": None}, "firmness"),
    ({"max_price": 2500, "firmness": "Deposit"}, "firmness"),
]


@pytest.mark.parametrize("paper", [False, True], ids=["resident", "lead-without-email"])
@pytest.mark.parametrize(("answers", "field"), BAD_PLEDGES)
async def test_a_bad_answer_is_refused_by_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    store: Store,
    lead_headers: dict[str, str],
    answers: dict[str, Any],
    field: str,
    paper: bool,
) -> None:
    created = await create(client, lead_headers, price_question=QUESTION, target=5)
    path = f"/api/v1/campaigns/{created['slug']}/pledges"
    data = pledge_data(1, **answers)
    headers: dict[str, str] = {}
    if paper:
        data.update(source="paper", email=None, attested=True)
        headers = lead_headers
    before = await table_snapshot(store)
    answer = await client.post(path, json=data, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert await table_snapshot(store) == before


async def test_a_required_price_is_required_and_kept_on_paper_too(
    client: httpx.AsyncClient, store: Store, lead_headers: dict[str, str]
) -> None:
    created = await create(
        client, lead_headers, price_question={**QUESTION, "required": True}, target=5
    )
    path = f"/api/v1/campaigns/{created['slug']}/pledges"
    before = await table_snapshot(store)
    for answers in ({}, {"max_price": "not_sure"}, {"max_price": None}):
        refused = await client.post(path, json=pledge_data(1, **answers))
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["max_price"]
    assert await table_snapshot(store) == before
    paper = pledge_data(2, source="paper", max_price=3000, firmness="interested")
    recorded = await client.post(path, json=paper, headers=lead_headers)
    assert recorded.status_code == 201, recorded.text
    neighbour = pledge_data(3, source="paper", email="", attested=True, max_price=3500)
    assert (await client.post(path, json=neighbour, headers=lead_headers)).status_code == 201
    demand = (await read(client, created["slug"]))["demand"]
    top = demand["points"][-1]
    assert (top["price"], top["households"], top["by_level"]["vouched"]) == (3500, 1, 1)
    at_3000 = demand["points"][3]
    assert at_3000["by_firmness"] == {"interested": 1, "will_switch": 1, "deposit": 0}


BAD_EDITS = [
    ({"quote": {"total": 0}}, 422, "quote.total"),
    ({"quote": {"total": 5000, "currency": "usd"}}, 422, "quote.currency"),
    ({"quote": {"total": 5000, "tip": True}}, 422, "quote.tip"),
    ({"quote": "cheap"}, 422, "quote"),
    ({"take_up_rates": {"deposit": 150}}, 422, "take_up_rates.deposit"),
    ({"take_up_rates": {"sure": 50}}, 422, "take_up_rates"),
    ({"target_price": 3000}, 409, "target_price"),
    ({"price_question": {**QUESTION, "required": True}}, 409, "price_question"),
    ({"equity_floor": {"share": 10}}, 409, "equity_floor"),
]


@pytest.mark.parametrize(("change", "status", "field"), BAD_EDITS)
async def test_a_live_campaign_refuses_a_bad_or_fixed_demand_edit_by_field(
    client: httpx.AsyncClient,
    store: Store,
    lead_headers: dict[str, str],
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    created = await create(
        client, lead_headers, price_question=QUESTION, target_price=2500, target=5
    )
    before = await table_snapshot(store)
    answer = await client.patch(
        f"/api/v1/campaigns/{created['slug']}", json=change, headers=lead_headers
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert await table_snapshot(store) == before


async def test_a_quote_needs_a_price_question_on_a_live_campaign_too(
    client: httpx.AsyncClient, store: Store, lead_headers: dict[str, str]
) -> None:
    created = await create(client, lead_headers, target=5)
    before = await table_snapshot(store)
    answer = await client.patch(
        f"/api/v1/campaigns/{created['slug']}",
        json={"quote": {"total": 5000}},
        headers=lead_headers,
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["quote"]
    assert await table_snapshot(store) == before


async def test_a_draft_takes_every_demand_setting_and_can_drop_them(
    client: httpx.AsyncClient, lead_headers: dict[str, str]
) -> None:
    created = await create(client, lead_headers, draft=True, target=5)
    path = f"/api/v1/campaigns/{created['slug']}"
    settings = {
        "price_question": ONCE,
        "target_price": 50000,
        "quote": {"total": 1000000, "voucher_per_home": 20000},
        "equity_floor": {"share": 25, "districts": ["LS6"]},
    }
    changed = await client.patch(path, json=settings, headers=lead_headers)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["threshold"]["target_price"] == 50000
    assert body["demand"]["quote"]["voucher_per_home"] == 20000
    assert body["equity_floor"]["share"] == 25
    dropped = await client.patch(
        path,
        json={"price_question": None, "target_price": None, "quote": None, "equity_floor": None},
        headers=lead_headers,
    )
    assert dropped.status_code == 200, dropped.text
    plain = dropped.json()
    assert (plain["price_question"], plain["demand"], plain["equity_floor"]) == (None, None, None)
    assert "target_price" not in plain["threshold"]


# ----- the list: one query for every curve -------------------------------------------------


async def test_the_list_reads_every_curve_in_one_query(
    app: Starlette,
    client: httpx.AsyncClient,
    lead_headers: dict[str, str],
    confirm: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = services_of(app).store.database
    counted: Counter[str] = Counter()
    for name in ("fetch_all", "fetch_one", "fetch_val", "execute", "iterate"):
        method = getattr(db, name)

        def counting(*args: Any, _name: str = name, _method: Any = method, **kw: Any) -> Any:
            counted[_name] += 1
            return _method(*args, **kw)

        monkeypatch.setattr(db, name, counting)

    async def queries_to_list() -> int:
        counted.clear()
        answer = await client.get("/api/v1/campaigns", params={"limit": 50})
        assert answer.status_code == 200
        return sum(counted.values())

    slugs, two = [], 0
    for n in range(5):
        made = await create(client, lead_headers, price_question=QUESTION, target=9)
        slugs.append(made["slug"])
        await confirm(await pledge(client, made["slug"], n, max_price=POINTS[n]))
        if n == 1:
            two = await queries_to_list()
    assert await queries_to_list() == two
    listed = {c["slug"]: c for c in (await client.get("/api/v1/campaigns")).json()["campaigns"]}
    for n, slug in enumerate(slugs):
        assert listed[slug] == await read(client, slug)
        assert [p["households"] for p in listed[slug]["demand"]["points"]] == [
            1 if p <= POINTS[n] else 0 for p in POINTS
        ]
